"""Command line: `python -m components.finetune --train T --validation V --output DIR [...]`.

Every setting of FinetuneConfig is a flag (see `--help`). `--num-workers N` trains with N DDP
processes; `--num-nodes N --launcher trainjob` trains on N nodes as a Kubeflow Trainer TrainJob
(`--render-trainjob PATH` writes it without submitting); `--checkpoint-uri` makes the run
resumable (re-run the same command after a kill).
"""

import json
from pathlib import Path

from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.finetune.report import training_report_html


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(prog="python -m components.finetune", description=__doc__)
    parser.add_argument("--train", required=True, help="training Dataset (Parquet), local or S3")
    parser.add_argument("--validation", required=True, help="validation Dataset (Parquet)")
    parser.add_argument(
        "--output", required=True, help="empty folder or s3:// prefix for the Model"
    )
    parser.add_argument("--report", default="", help="also write the training curves (HTML) here")
    parser.add_argument(
        "--render-trainjob",
        default="",
        metavar="PATH",
        help="with --launcher trainjob: write the TrainJob it would submit (YAML) and exit",
    )
    add_arguments(parser, FinetuneConfig)
    args = parser.parse_args(argv)
    config = from_arguments(FinetuneConfig, args)
    if args.render_trainjob:
        render = args.render_trainjob
        finetune(args.train, args.validation, args.output, config, render_trainjob=render)
        print(f"wrote the TrainJob to {args.render_trainjob}; nothing was submitted")
        return
    result = finetune(args.train, args.validation, args.output, config)
    if args.report:
        Path(args.report).write_text(training_report_html(result))
    print(json.dumps({"metrics": result["metrics"], "labels": result["labels"]}))


if __name__ == "__main__":
    run_cli(main)
