"""Temperature scaling: one number that makes a fine-tuned classifier's probabilities honest.

Fine-tuned transformers are over-confident (the demo model says 0.99 where it is right less
often). Dividing the logits by a temperature T > 1 softens them without changing any
prediction; T is chosen to minimise the negative log-likelihood on the validation split
(Guo et al., 2017), and stored in the model's config.json where every scorer reads it.

A multi-label model then gets one decision threshold per label, tuned on the same validation
split on the calibrated probabilities: the point of a grid (0.05 to 0.95 by 0.01) that maximises
that label's F1, the one nearest 0.5 among ties. A label without validation positives keeps
DEFAULT_THRESHOLD, since F1 cannot rank thresholds for it. The thresholds go into config.json
(THRESHOLDS_KEY), where `label_sets` reads them.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from components.common.inference import (
    DEFAULT_THRESHOLD,
    TEMPERATURE_KEY,
    THRESHOLDS_KEY,
    load_classifier,
    probabilities,
    score_logits,
    tokenize,
)
from components.common.metrics import expected_calibration_error, macro_f1

# The search range of log(T): temperatures from 0.05 to 20.
_LOG_T_BOUNDS = (float(np.log(0.05)), float(np.log(20.0)))
# The candidate decision thresholds of a multi-label model.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def _nll(logits: np.ndarray, targets: np.ndarray, multi_label: bool, temperature: float) -> float:
    probs = np.clip(probabilities(logits, multi_label, temperature).astype(np.float64), 1e-12, 1)
    if multi_label:
        inverse = np.clip(1 - probs, 1e-12, 1)
        return float(-(targets * np.log(probs) + (1 - targets) * np.log(inverse)).mean())
    return float(-np.log(probs[np.arange(len(targets)), targets]).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, multi_label: bool) -> float:
    """The temperature minimising the validation NLL; `targets`: class ids, or multi-hot rows."""
    result = minimize_scalar(
        lambda log_t: _nll(logits, targets, multi_label, float(np.exp(log_t))),
        bounds=_LOG_T_BOUNDS,
        method="bounded",
    )
    return round(float(np.exp(result.x)), 4)


def tune_thresholds(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per label (column), the grid threshold with the best F1 on (probs, multi-hot targets)."""
    chosen = np.full(probs.shape[1], DEFAULT_THRESHOLD)
    predicted = probs[:, :, None] >= THRESHOLD_GRID  # rows x labels x grid
    truth = targets.astype(bool)[:, :, None]
    tp = (predicted & truth).sum(0)
    f1 = 2 * tp / (predicted.sum(0) + truth.sum(0))
    # Among equal F1s, the threshold nearest the default: the least surprising choice.
    nearest = np.argsort(np.abs(THRESHOLD_GRID - DEFAULT_THRESHOLD), kind="stable")
    for label in np.flatnonzero(targets.sum(0) > 0):
        scores = f1[label, nearest]
        chosen[label] = THRESHOLD_GRID[nearest[int(np.argmax(scores))]]
    return chosen


def calibrate(
    model_dir: Path, texts: list[str], targets: np.ndarray, max_length: int, batch_size: int
) -> dict[str, Any]:
    """Fit the temperature of the model in `model_dir` on validation data and store it; for a
    multi-label model, also tune and store a decision threshold per label.

    Returns the temperature; for single-label models the validation ECE before and after, for
    multi-label ones the thresholds and the validation macro-F1 at 0.5 and at them.
    """
    classifier = load_classifier(model_dir, max_length)
    logits = score_logits(classifier, tokenize(classifier, texts), batch_size, "fp32")
    temperature = fit_temperature(logits, targets, classifier.multi_label)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config[TEMPERATURE_KEY] = temperature
    result: dict[str, Any] = {"temperature": temperature}
    if classifier.multi_label:
        probs = probabilities(logits, True, temperature)
        thresholds = tune_thresholds(probs, targets)
        tuned = {label: float(t) for label, t in zip(classifier.labels, thresholds, strict=True)}
        config[THRESHOLDS_KEY] = tuned
        result[THRESHOLDS_KEY] = tuned
        default = np.full(len(thresholds), DEFAULT_THRESHOLD)
        # Macro-F1 over the labels with validation positives, as the evaluation averages.
        for key, at in (("default_threshold", default), ("thresholds", thresholds)):
            result[f"val_macro_f1_at_{key}"] = macro_f1(targets, probs >= at, len(at))
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if not classifier.multi_label:
        result["val_ece_uncalibrated"] = expected_calibration_error(
            targets, probabilities(logits, False)
        )
        result["val_ece"] = expected_calibration_error(
            targets, probabilities(logits, False, temperature)
        )
    return result
