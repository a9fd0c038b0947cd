"""Map the KFP artifacts of `monitor_classifier` onto the plain call (no kfp import)."""

from typing import Any

from components.common.errors import KfpNlpError
from components.monitor.config import MonitorConfig
from components.monitor.monitor import monitor, scalar_metrics
from components.monitor.outputs import write_report
from components.registry.registry import resolve


def _source(artifact: Any, value: str, what: str, required: bool) -> str:
    if artifact is not None and value:
        raise KfpNlpError(f"both a {what} artifact and {what}_uri were given; pass only one")
    if artifact is None and not value and required:
        raise KfpNlpError(f"no {what}; pass a {what} artifact or {what}_uri")
    return artifact.path if artifact is not None else value


def run_component(
    model: Any,
    model_uri: str,
    registry_uri: str,
    model_name: str,
    reference: Any,
    reference_uri: str,
    current: Any,
    current_uri: str,
    metrics: Any,
    report: Any,
    **settings: Any,
) -> tuple[bool, str]:
    """Monitor the model (artifact, URI, or the registry's champion); write the report and
    metrics; return (drift_detected, reason)."""
    config = MonitorConfig(**settings)
    if model is None and not model_uri and registry_uri:
        model_uri = resolve(registry_uri, model_name)
        print(f"monitoring the champion of {model_name!r}: {model_uri}")
    result = monitor(
        _source(model, model_uri, "model", True),
        _source(current, current_uri, "current", True),
        _source(reference, reference_uri, "reference", False),
        config,
    )
    write_report(result, report.path)
    for name, value in scalar_metrics(result).items():
        metrics.log_metric(name, value)
    report.metadata.update({"drift_detected": result.drift_detected, "reason": result.reason})
    return result.drift_detected, result.reason
