"""`python -m components.monitor`: drift and a label-free quality estimate for a classifier.

Prints one JSON object (drift_detected, reason, reference and estimated macro-F1, the tests,
the report's path); exit status 0 whether or not drift was found.
"""

from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli
from components.monitor.config import MonitorConfig
from components.monitor.monitor import monitor
from components.monitor.outputs import summary_json, write_report


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(
        prog="python -m components.monitor",
        description="Compare what a classifier saw with its reference; decide on drift.",
    )
    parser.add_argument("--model-uri", required=True, help="Model artifact folder or s3:// prefix")
    parser.add_argument(
        "--current-uri",
        required=True,
        help="the window: a payload-log folder or s3:// prefix, or a table of texts",
    )
    parser.add_argument(
        "--reference-uri",
        default="",
        help="table of reference texts; empty: the model's test split, from its provenance",
    )
    parser.add_argument("--report-path", required=True, help="HTML report to write")
    add_arguments(parser, MonitorConfig)
    args = parser.parse_args(argv)
    config = from_arguments(MonitorConfig, args)
    result = monitor(args.model_uri, args.current_uri, args.reference_uri, config)
    write_report(result, args.report_path)
    print(summary_json(result, args.report_path))


if __name__ == "__main__":
    run_cli(main)
