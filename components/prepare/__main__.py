"""Command line for prepare_dataset, to run or debug the step without KFP.

    python -m components.prepare --source data.csv --output-dir out/ \
        --text-columns reply_text --label-column intent

writes out/train.parquet, out/validation.parquet, out/test.parquet, out/metrics.json and
out/report.md (the output directory may be an s3:// prefix).
"""

from components.common import uri
from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import KfpNlpError, run_cli
from components.prepare.config import PrepareConfig
from components.prepare.prepare import prepare_dataset
from components.prepare.result import PrepareOutputs


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, prepare the dataset, and print where the outputs are."""
    parser = argument_parser(
        prog="python -m components.prepare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--source", required=True, help="raw table: path or s3:// URI")
    parser.add_argument("--output-dir", required=True, help="folder or s3:// prefix for outputs")
    add_arguments(parser, PrepareConfig)
    args = parser.parse_args(argv)
    config = from_arguments(PrepareConfig, args)
    out = args.output_dir
    if not uri.is_s3(out) and uri.local_path(out).is_file():
        raise KfpNlpError(
            f"--output-dir {out} is an existing file; pass a folder (new or existing) or an "
            "s3:// prefix"
        )
    outputs = PrepareOutputs(
        *(uri.join(out, f"{name}.parquet") for name in ("train", "validation", "test")),
        report=uri.join(out, "report.md"),
        metrics=uri.join(out, "metrics.json"),
    )
    result = prepare_dataset(args.source, outputs, config)
    for name, facts in result.splits.items():
        print(f"{name}: {facts['rows']} rows -> {getattr(outputs, name)}")
    print(f"report: {outputs.report}")


if __name__ == "__main__":
    run_cli(main)
