"""Maps the KFP artifacts of export_onnx onto the plain call."""

from pathlib import Path
from typing import Any

from components.serve.config import ExportConfig
from components.serve.onnx_export import export_onnx


def run_export(model: Any, test: Any, onnx_model: Any, metrics: Any, **settings: Any) -> None:
    """Export `model`, measuring on `test`; log both accuracies as metrics."""
    results = export_onnx(model.path, Path(onnx_model.path), test.path, ExportConfig(**settings))
    for name, value in results.items():
        metrics.log_metric(name, value)
    onnx_model.metadata.update({"backend": "onnx", **results})
