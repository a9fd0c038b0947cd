"""Maps the KFP artifacts of the batch_predict component onto the plain call."""

from typing import Any

from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict
from components.common.errors import KfpNlpError


def run_component(
    model: Any, predictions: Any, table: Any, input_uri: str, **settings: Any
) -> None:
    """Score `table` (a Dataset artifact) or else `input_uri`; record facts on the output."""
    if table is None and not input_uri:
        raise KfpNlpError("nothing to score; pass a Dataset as table or an input_uri")
    source = table.path if table is not None else input_uri
    summary = batch_predict(source, model.path, predictions.path, BatchPredictConfig(**settings))
    predictions.metadata.update(
        {
            "rows": summary.rows,
            "chunks": summary.chunks,
            "scored_chunks": summary.scored_chunks,
            "resumed_chunks": summary.resumed_chunks,
            "source_uri": input_uri if table is None else table.uri,
        }
    )
