"""The per-label decision thresholds fine-tuning stores for a multi-label model."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from components.common.inference import DEFAULT_THRESHOLD
from components.finetune.calibration import THRESHOLD_GRID, tune_thresholds


def test_each_label_gets_the_grid_threshold_with_its_best_f1():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, size=(200, 3))
    targets[:, 2] = 0  # a label with no validation positives
    # Label 0 is separable at about 0.3; label 1 is noisy.
    probs = np.column_stack(
        [
            np.where(targets[:, 0] == 1, 0.3, 0.2) + rng.uniform(0, 0.05, 200),
            np.clip(targets[:, 1] * 0.4 + rng.uniform(0, 0.6, 200), 0, 1),
            rng.uniform(0, 1, 200),
        ]
    )
    chosen = tune_thresholds(probs, targets)
    for label in (0, 1):
        scores = [
            f1_score(targets[:, label], probs[:, label] >= t, zero_division=0)
            for t in THRESHOLD_GRID
        ]
        best = max(scores)
        assert f1_score(targets[:, label], probs[:, label] >= chosen[label]) == pytest.approx(best)
        # Among the thresholds with the best F1, the one nearest 0.5.
        ties = [t for t, s in zip(THRESHOLD_GRID, scores, strict=True) if s == pytest.approx(best)]
        assert chosen[label] == min(ties, key=lambda t: abs(t - DEFAULT_THRESHOLD))
    assert 0.25 <= chosen[0] <= 0.3
    assert chosen[2] == DEFAULT_THRESHOLD
