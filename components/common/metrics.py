"""Counts-based classification metrics shared by every stage: macro-F1 and calibration error.

Macro-F1 has one implementation here, used by training (validation macro-F1), evaluation (and
its bootstrap), threshold tuning and monitoring. It works from per-class counts (true positives,
support, predictions), so one vectorised pass scores thousands of bootstrap resamples. Per-class
F1 is 2·TP / (support + predicted), and 0 where a class is neither true nor predicted
(scikit-learn's `zero_division=0`). Stages differ only in which classes the mean runs over,
each matching a scikit-learn call:

- `"truth"` (evaluation, threshold tuning): the classes the truth contains; a class absent from
  the test set has no F1 and is listed as absent instead. As
  `f1_score(y, p, labels=<classes with support>, average="macro")`.
- `"observed"` (monitoring): the classes in the truth or the predictions; for class ids that is
  scikit-learn's default, `f1_score(y, p, average="macro")`.
- `"all"` (training's validation): every class of the model, one seen nowhere scoring 0. As
  `f1_score(y, p, labels=range(k), average="macro", zero_division=0)`, which for multi-hot rows
  is scikit-learn's default.

With no class to average over, macro-F1 is 0.0.

Single-label data is class ids; multi-label data is multi-hot rows (n, labels).
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

Averaged = Literal["truth", "observed", "all"]


def confusion_matrices(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices (rows: true class, columns: predicted class) for the last axis.

    `y_true` and `y_pred` have the same shape `(..., n)`; the result has shape
    `(..., n_classes, n_classes)`, one matrix per leading index (one per bootstrap resample).
    """
    lead = y_true.shape[:-1]
    groups = int(np.prod(lead)) if lead else 1
    cell = y_true.reshape(groups, -1) * n_classes + y_pred.reshape(groups, -1)
    offsets = np.arange(groups)[:, None] * n_classes * n_classes
    counts = np.bincount((cell + offsets).ravel(), minlength=groups * n_classes * n_classes)
    return counts.reshape(*lead, n_classes, n_classes)


@dataclass(frozen=True)
class ClassCounts:
    """Per class: true positives, support (true rows) and predicted rows, shape (..., classes)."""

    tp: np.ndarray
    support: np.ndarray
    predicted: np.ndarray

    @classmethod
    def of_confusion(cls, cm: np.ndarray) -> "ClassCounts":
        """The counts of confusion matrices of shape (..., k, k)."""
        tp = np.diagonal(cm, axis1=-2, axis2=-1)
        return cls(tp.astype(float), cm.sum(axis=-1).astype(float), cm.sum(axis=-2).astype(float))

    @classmethod
    def of_multi_hot(cls, y_true: np.ndarray, y_pred: np.ndarray) -> "ClassCounts":
        """The counts of multi-hot truth and predictions of shape (..., n, labels)."""
        truth, predicted = y_true.astype(bool), y_pred.astype(bool)
        return cls(
            (truth & predicted).sum(axis=-2).astype(float),
            truth.sum(axis=-2).astype(float),
            predicted.sum(axis=-2).astype(float),
        )

    @classmethod
    def of(cls, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> "ClassCounts":
        """The counts of class ids (n,) or of multi-hot rows (n, labels)."""
        if y_true.ndim == 2:
            return cls.of_multi_hot(y_true, y_pred)
        return cls.of_confusion(confusion_matrices(y_true, y_pred, n_classes))

    def f1(self) -> np.ndarray:
        """Per-class F1; 0 for a class neither true nor predicted (zero_division=0)."""
        denominator = self.support + self.predicted
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, 2 * self.tp / denominator, 0.0)

    def macro_f1(self, averaged: Averaged = "truth") -> np.ndarray:
        """The mean per-class F1 over the classes `averaged` names (see the module docstring)."""
        if averaged == "truth":
            included = self.support > 0
        elif averaged == "observed":
            included = (self.support + self.predicted) > 0
        elif averaged == "all":
            included = np.ones_like(self.support, dtype=bool)
        else:
            raise ValueError(f"averaged={averaged!r} is not one of truth, observed, all")
        classes = included.sum(axis=-1)
        total = np.where(included, self.f1(), 0.0).sum(axis=-1)
        return np.where(classes > 0, total / np.maximum(classes, 1), 0.0)


def macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, averaged: Averaged = "truth"
) -> float:
    """Macro-F1 of class ids (n,) or multi-hot rows (n, labels), over the classes `averaged`
    names: "truth" (those in y_true), "observed" (in y_true or y_pred) or "all"."""
    return float(ClassCounts.of(y_true, y_pred, n_classes).macro_f1(averaged))


def finite_or_none(value: float | None) -> float | None:
    """The value as a float, or None where it is undefined (None, NaN or infinite)."""
    return None if value is None or not np.isfinite(value) else float(value)


def calibration_bins(y_true: np.ndarray, probs: np.ndarray, bins: int) -> dict[str, list]:
    """Top-label reliability: per equal-width confidence bin, mean confidence, accuracy, count.

    Bin b holds confidences in (b/bins, (b+1)/bins]; the first bin also holds exactly 0.
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return {
        "lower": [b / bins for b in range(bins)],
        "upper": [(b + 1) / bins for b in range(bins)],
        "confidence": [finite_or_none(v) for v in mean_conf],
        "accuracy": [finite_or_none(v) for v in accuracy],
        "count": [int(c) for c in count],
    }


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: the count-weighted mean gap between confidence and accuracy per bin."""
    table = calibration_bins(y_true, probs, bins)
    gaps = [
        n * abs(c - a)
        for n, c, a in zip(table["count"], table["confidence"], table["accuracy"], strict=True)
        if n
    ]
    return float(sum(gaps) / len(y_true))
