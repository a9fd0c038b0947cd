"""Temperature scaling: one number that makes a fine-tuned classifier's probabilities honest.

Fine-tuned transformers are over-confident (the demo model says 0.99 where it is right less
often). Dividing the logits by a temperature T > 1 softens them without changing any
prediction; T is chosen to minimise the negative log-likelihood on the validation split
(Guo et al., 2017), and stored in the model's config.json where every scorer reads it.
"""

import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from components.common.inference import (
    TEMPERATURE_KEY,
    load_classifier,
    probabilities,
    score_logits,
    tokenize,
)
from components.evaluate.metrics import expected_calibration_error

# The search range of log(T): temperatures from 0.05 to 20.
_LOG_T_BOUNDS = (float(np.log(0.05)), float(np.log(20.0)))


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


def calibrate(
    model_dir: Path, texts: list[str], targets: np.ndarray, max_length: int, batch_size: int
) -> dict[str, float]:
    """Fit the temperature of the model in `model_dir` on validation data and store it.

    Returns the temperature and, for single-label models, the validation ECE before and after.
    """
    classifier = load_classifier(model_dir, max_length)
    logits = score_logits(classifier, tokenize(classifier, texts), batch_size, "fp32")
    temperature = fit_temperature(logits, targets, classifier.multi_label)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config[TEMPERATURE_KEY] = temperature
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    result = {"temperature": temperature}
    if not classifier.multi_label:
        result["val_ece_uncalibrated"] = expected_calibration_error(
            targets, probabilities(logits, False)
        )
        result["val_ece"] = expected_calibration_error(
            targets, probabilities(logits, False, temperature)
        )
    return result
