"""`python -m components.batch_predict`: score a table with a Model artifact, resumably."""

import logging

from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict
from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(
        prog="python -m components.batch_predict",
        description="Score a table of texts with a Model artifact; run again to resume.",
    )
    parser.add_argument("--input-uri", required=True, help="table to score (local or s3://)")
    parser.add_argument("--model-uri", required=True, help="Model artifact folder or s3:// prefix")
    parser.add_argument("--output-uri", required=True, help="predictions table to write")
    add_arguments(parser, BatchPredictConfig)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = batch_predict(
        args.input_uri, args.model_uri, args.output_uri, from_arguments(BatchPredictConfig, args)
    )
    print(
        f"{summary.rows} rows in {summary.chunks} chunks written to {summary.output_uri} "
        f"({summary.scored_chunks} scored now, {summary.resumed_chunks} already done)"
    )


if __name__ == "__main__":
    run_cli(main)
