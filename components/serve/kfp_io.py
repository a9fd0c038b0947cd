"""Maps the KFP artifacts of export_onnx onto the plain call."""

from pathlib import Path
from typing import Any

from components.serve.config import ExportConfig
from components.serve.onnx_export import export_onnx
from components.serve.release import BackendChoice, choose_backend


def run_export(
    model: Any, test: Any, onnx_model: Any, metrics: Any, **settings: Any
) -> BackendChoice:
    """Export `model`, measuring on `test`; log both accuracies; the backend to deploy."""
    config = ExportConfig(**settings)
    results = export_onnx(model.path, Path(onnx_model.path), test.path, config)
    for name, value in results.items():
        if name != "accuracy_metric":
            metrics.log_metric(name, value)
    choice = choose_backend(
        results.get("accuracy_fp32"),
        results.get("accuracy_int8"),
        config.max_int8_accuracy_drop,
        results.get("accuracy_metric", "accuracy").replace("_", " "),
    )
    onnx_model.metadata.update({**results, "backend": choice.backend, "reason": choice.reason})
    return choice
