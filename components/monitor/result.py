"""The outcome of monitoring a window: what the decision, the report and the metrics read."""

from dataclasses import dataclass, field
from typing import Any

from components.monitor.windows import Window


@dataclass
class Monitoring:
    """The outcome: decision, tests, estimate, and what the report draws."""

    drift_detected: bool
    reason: str
    labels: list[str]
    reference_size: int
    current_size: int
    tests: list[dict[str, Any]] = field(default_factory=list)
    threshold: float = 0.0
    estimate: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    reference: Window | None = None
    current: Window | None = None
