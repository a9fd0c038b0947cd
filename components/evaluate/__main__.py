r"""Evaluate a classifier from the command line, without KFP.

    python -m components.evaluate --model MODEL_DIR --test test.parquet --train train.parquet \
        --champion s3://bucket/models/current --output-dir out/ --thresholds 'macro_f1>=0.8'

Writes report.html, predictions.parquet and summary.json under --output-dir (a folder or an
s3:// prefix) and prints the gate's decision as one JSON line.
"""

import contextlib
import json
from pathlib import Path

from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli
from components.common.uri import join, local_copy
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import evaluate
from components.evaluate.outputs import write_outputs
from components.evaluate.scoring import model_folder


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(
        prog="python -m components.evaluate",
        description=__doc__,
    )
    parser.add_argument("--model", required=True, help="challenger model folder or s3:// prefix")
    parser.add_argument("--test", required=True, help="test Dataset file (local or s3://)")
    parser.add_argument("--champion", default="", help="champion model folder or s3:// prefix")
    parser.add_argument(
        "--train", default="", help="train Dataset (local or s3://) for the TF-IDF baseline"
    )
    parser.add_argument("--output-dir", required=True, help="folder or s3:// prefix for outputs")
    add_arguments(parser, EvaluateConfig)
    args = parser.parse_args(argv)
    config = from_arguments(EvaluateConfig, args)
    with contextlib.ExitStack() as stack:
        model_dir = stack.enter_context(model_folder(args.model))
        test_path = stack.enter_context(local_copy(args.test))
        champion_dir = stack.enter_context(model_folder(args.champion)) if args.champion else None
        train_path = stack.enter_context(local_copy(args.train)) if args.train else None
        evaluation = evaluate(
            model_dir,
            Path(test_path),
            config,
            champion_dir=champion_dir,
            model_source=args.model,
            champion_source=args.champion,
            test_source=args.test,
            train_path=Path(train_path) if train_path else None,
            train_source=args.train,
        )
    write_outputs(
        evaluation,
        join(args.output_dir, "report.html"),
        join(args.output_dir, "predictions.parquet"),
        join(args.output_dir, "summary.json"),
    )
    decision = {"approved": evaluation.decision.approved, "reason": evaluation.decision.reason}
    print(json.dumps(decision))
    return decision


if __name__ == "__main__":
    run_cli(main)
