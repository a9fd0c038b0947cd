"""The most confident mistakes: the wrong test rows the model was surest of, for the report."""

from typing import Any

import numpy as np

from components.evaluate.examples import Examples

# Texts longer than this are shortened in the report's list of mistakes (not in predictions).
MISTAKE_CHARS = 400


def _shorten(text: str) -> str:
    return text if len(text) <= MISTAKE_CHARS else text[: MISTAKE_CHARS - 1] + "…"


def _multi_label_mistakes(
    test: Examples, probs: np.ndarray, predicted: np.ndarray, count: int
) -> list[dict[str, Any]]:
    """Rows whose predicted set is not the true set, the most confidently wrong first: the
    confidence of a wrong decision is p for a label predicted wrongly, 1 - p for one missed."""
    truth = test.y_true
    wrong_cells = predicted != truth
    confidence = np.where(wrong_cells, np.where(predicted == 1, probs, 1 - probs), 0).max(axis=1)
    wrong = np.flatnonzero(wrong_cells.any(axis=1))
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    labels = np.array(test.labels, dtype=object)
    return [
        {
            "row": int(i),
            "text": _shorten(test.texts[i]),
            "label": ", ".join(labels[truth[i] == 1]) or "(none)",
            "predicted": ", ".join(labels[predicted[i] == 1]) or "(none)",
            "confidence": float(confidence[i]),
        }
        for i in worst
    ]


def most_confident_mistakes(
    test: Examples, probs: np.ndarray, count: int, multi_hot_pred: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Up to `count` wrong rows, the most confident first (multi-label: by `multi_hot_pred`)."""
    if multi_hot_pred is not None:
        return _multi_label_mistakes(test, probs, multi_hot_pred, count)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    wrong = np.flatnonzero(predicted != test.y_true)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    return [
        {
            "row": int(i),
            "text": _shorten(test.texts[i]),
            "label": test.labels[test.y_true[i]],
            "predicted": test.labels[predicted[i]],
            "confidence": float(confidence[i]),
        }
        for i in worst
    ]
