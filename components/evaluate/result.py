"""The result of an evaluation: everything its outputs are written from."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from components.evaluate.config import EvaluateConfig
from components.evaluate.examples import Examples
from components.evaluate.gate import Decision


@dataclass
class Evaluation:
    """Everything the outputs are written from."""

    test: Examples
    config: EvaluateConfig
    probs: np.ndarray
    champion_probs: np.ndarray | None
    decision: Decision
    slices: list[dict[str, Any]]
    mistakes: list[dict[str, Any]]
    model_source: str
    champion_source: str | None
    # The challenger's temperature and its test ECE without it (see `uncalibrated_ece`).
    calibration: dict[str, float] | None = None
    # Multi-label: each model's multi-hot predictions ("challenger", "champion", "baseline")
    # and the challenger's decision thresholds, both in the test set's label order.
    predicted: dict[str, np.ndarray] | None = None
    thresholds: list[float] | None = None
