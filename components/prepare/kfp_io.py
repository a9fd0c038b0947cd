"""The bridge between KFP artifacts and prepare_dataset: paths in, metadata and metrics out."""

from typing import Any

from components.common.errors import KfpNlpError
from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.prepare import PrepareOutputs, prepare_dataset


def run_component(
    source_uri: str,
    source: Any,
    train: Any,
    validation: Any,
    test: Any,
    metrics: Any,
    report: Any,
    **settings: Any,
) -> None:
    """Run prepare_dataset on KFP artifact objects (anything with .path and .metadata)."""
    if (source is None) == (not source_uri):
        raise KfpNlpError("give exactly one of source_uri or a source Dataset artifact")
    config = PrepareConfig(**settings)
    outputs = PrepareOutputs(train.path, validation.path, test.path, report.path)
    result = prepare_dataset(source_uri or source.path, outputs, config)
    for name, artifact in zip(SPLITS, (train, validation, test), strict=True):
        artifact.metadata.update(result.splits[name])
    for key, value in result.metrics().items():
        metrics.log_metric(key, value)
