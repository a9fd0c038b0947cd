"""The bridge between KFP artifacts and prepare_dataset: paths in, metadata and metrics out."""

from typing import Any

from components.common.errors import KfpNlpError
from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.prepare import prepare_dataset
from components.prepare.result import PrepareOutputs


def run_component(
    source_uri: str,
    source: Any,
    train: Any,
    validation: Any,
    test: Any,
    metrics: Any,
    report: Any,
    source_fingerprint: str = "",
    **settings: Any,
) -> None:
    """Run prepare_dataset on KFP artifact objects (anything with .path and .metadata).

    `source_fingerprint` keys KFP's cache and is kept in each split's metadata as provenance.
    """
    if (source is None) == (not source_uri):
        raise KfpNlpError("give exactly one of source_uri or a source Dataset artifact")
    config = PrepareConfig(**settings)
    outputs = PrepareOutputs(train.path, validation.path, test.path, report.path)
    result = prepare_dataset(source_uri or source.path, outputs, config)
    for name, artifact in zip(SPLITS, (train, validation, test), strict=True):
        artifact.metadata.update(result.splits[name])
        if source_fingerprint:
            artifact.metadata["source_fingerprint"] = source_fingerprint
    for key, value in result.metrics().items():
        metrics.log_metric(key, value)
