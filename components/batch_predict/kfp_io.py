"""Maps the KFP artifacts of the batch_predict component onto the plain call."""

import dataclasses
import shutil
from typing import Any

from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict, output_format
from components.common import uri
from components.common.errors import KfpNlpError


def run_component(
    model: Any, predictions: Any, table: Any, input_uri: str, output_uri: str, **settings: Any
) -> None:
    """Score `table` (a Dataset artifact) or else `input_uri`; record facts on the output.

    With `output_uri`, the predictions table is also copied there, for consumers outside KFP.
    """
    if table is None and not input_uri:
        raise KfpNlpError("nothing to score; pass a Dataset as table or an input_uri")
    source = table.path if table is not None else input_uri
    config = BatchPredictConfig(**settings)
    if output_uri:
        # The artifact takes the format the user's file name asks for, so the copy is exact.
        config = dataclasses.replace(config, output_format=output_format(output_uri, config))
    summary = batch_predict(source, model.path, predictions.path, config)
    if output_uri:
        with uri.atomic_output(output_uri) as staged:
            shutil.copyfile(predictions.path, staged)
    predictions.metadata.update(
        {
            "rows": summary.rows,
            "chunks": summary.chunks,
            "scored_chunks": summary.scored_chunks,
            "resumed_chunks": summary.resumed_chunks,
            "source_uri": input_uri if table is None else table.uri,
            "output_uri": output_uri,
        }
    )
