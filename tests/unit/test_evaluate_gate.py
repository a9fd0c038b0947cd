"""The champion gate on constructed predictions: approves a clearly better challenger, rejects a
clearly worse one, and rejects one better only by noise when significance is required."""

import numpy as np
import pytest

from components.common.errors import KfpNlpError
from components.evaluate.config import EvaluateConfig, parse_thresholds
from components.evaluate.gate import decide

N, K = 1000, 5
LABELS = [f"intent_{i}" for i in range(K)]


def _truth(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, K, N)


def _with_accuracy(y: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    """Predictions right on a random `accuracy` share of rows, wrong (another class) elsewhere."""
    rng = np.random.default_rng(seed)
    pred = y.copy()
    wrong = rng.permutation(len(y))[: round(len(y) * (1 - accuracy))]
    pred[wrong] = (y[wrong] + rng.integers(1, K, len(wrong))) % K
    return pred


def _probs(pred: np.ndarray) -> np.ndarray:
    probs = np.full((len(pred), K), 0.1 / (K - 1))
    probs[np.arange(len(pred)), pred] = 0.9
    return probs


def test_clearly_better_challenger_is_approved() -> None:
    y = _truth()
    champion, challenger = _with_accuracy(y, 0.70, 1), _with_accuracy(y, 0.85, 2)

    decision = decide(y, _probs(challenger), LABELS, EvaluateConfig(), _probs(champion))

    assert decision.approved, decision.reason
    assert decision.reason.startswith("approved: macro_f1 vs champion +0.1")
    c = decision.comparison
    assert c.delta_low > 0.1
    assert c.delta_low < c.delta < c.delta_high


def test_clearly_worse_challenger_is_rejected() -> None:
    y = _truth()
    champion, challenger = _with_accuracy(y, 0.85, 1), _with_accuracy(y, 0.80, 2)

    decision = decide(y, _probs(challenger), LABELS, EvaluateConfig(), _probs(champion))

    assert not decision.approved
    assert decision.reason.startswith("rejected: macro_f1 vs champion -0.0")
    assert "fails a lower bound of at least -0.0100" in decision.reason
    assert decision.comparison.delta_high < 0


def _slightly_changed(y: np.ndarray, base: np.ndarray, fixed: int, broken: int) -> np.ndarray:
    """`base` with `fixed` wrong rows made right and `broken` right rows made wrong."""
    rng = np.random.default_rng(5)
    pred = base.copy()
    wrong, right = np.flatnonzero(base != y), np.flatnonzero(base == y)
    fix = rng.choice(wrong, fixed, replace=False)
    pred[fix] = y[fix]
    breaks = rng.choice(right, broken, replace=False)
    pred[breaks] = (y[breaks] + 1) % K
    return pred


def test_the_champions_own_files_are_never_approved_as_new() -> None:
    # A retrain on unchanged data (or a cached training step) hands the gate the champion itself:
    # it meets every threshold and does not regress, and still is nothing to release.
    y = _truth()
    probs = _probs(_with_accuracy(y, 0.9, 1))
    config = EvaluateConfig(thresholds="macro_f1>=0.5")

    decision = decide(y, probs, LABELS, config, probs, unchanged=True)

    assert not decision.approved
    assert decision.reason.startswith("unchanged: the challenger's model files are identical")
    assert [c["passed"] for c in decision.checks] == [True, True, False]
    assert decide(y, probs, LABELS, config, probs).approved


def test_improvement_within_the_noise_is_rejected_when_significance_is_required() -> None:
    y = _truth()
    champion = _with_accuracy(y, 0.80, 1)
    # 40 rows change: 22 fixed, 18 broken. Better on paper (+4 rows), but within the noise.
    challenger = _slightly_changed(y, champion, fixed=22, broken=18)
    assert (challenger == y).sum() == (champion == y).sum() + 4

    strict = EvaluateConfig(require_improvement=True)
    decision = decide(y, _probs(challenger), LABELS, strict, _probs(champion))

    assert decision.comparison.delta > 0
    assert decision.comparison.delta_low < 0 < decision.comparison.delta_high
    assert not decision.approved
    assert "fails a lower bound above 0 (require_improvement)" in decision.reason

    # Without the demand for significance, a non-inferior challenger passes.
    lenient = EvaluateConfig(max_regression=0.02)
    assert decide(y, _probs(challenger), LABELS, lenient, _probs(champion)).approved


def test_small_but_consistent_improvement_is_significant() -> None:
    y = _truth()
    champion = _with_accuracy(y, 0.80, 1)
    challenger = _slightly_changed(y, champion, fixed=40, broken=0)

    config = EvaluateConfig(require_improvement=True)
    decision = decide(y, _probs(challenger), LABELS, config, _probs(champion))

    assert decision.approved, decision.reason
    assert decision.comparison.delta_low > 0


def test_absolute_thresholds_alone_without_champion() -> None:
    y = _truth()
    challenger = _probs(_with_accuracy(y, 0.85, 2))

    passing = decide(y, challenger, LABELS, EvaluateConfig(thresholds="macro_f1>=0.8"))
    failing = decide(
        y, challenger, LABELS, EvaluateConfig(thresholds="macro_f1>=0.9, log_loss<=10")
    )

    assert passing.approved
    assert passing.comparison is None
    assert passing.reason.startswith("approved: macro_f1 0.8")
    assert not failing.approved
    assert failing.reason.startswith("rejected: macro_f1 0.8")
    assert "fails >= 0.9" in failing.reason
    assert "log_loss" not in failing.reason, "only failed checks are the reason for a rejection"


def test_thresholds_hold_even_when_the_champion_is_beaten() -> None:
    y = _truth()
    champion, challenger = _with_accuracy(y, 0.50, 1), _with_accuracy(y, 0.70, 2)

    config = EvaluateConfig(thresholds="accuracy>=0.75")
    decision = decide(y, _probs(challenger), LABELS, config, _probs(champion))

    assert decision.comparison.passed
    assert not decision.approved
    assert decision.reason == "rejected: accuracy 0.7000 fails >= 0.75"


def test_undefined_metric_never_passes_a_threshold() -> None:
    y = np.zeros(50, dtype=int)  # one class only: ROC-AUC is undefined
    probs = _probs(np.zeros(50, dtype=int))

    decision = decide(y, probs, LABELS, EvaluateConfig(thresholds="roc_auc>=0.0"))

    assert not decision.approved
    assert decision.challenger["roc_auc"] is None
    assert "roc_auc undefined on this test set fails >= 0" in decision.reason


def test_no_champion_and_no_thresholds_approves_with_the_interval_in_the_reason() -> None:
    y = _truth()
    decision = decide(y, _probs(_with_accuracy(y, 0.6, 3)), LABELS, EvaluateConfig())
    assert decision.approved
    assert "no thresholds and no champion" in decision.reason
    assert "95% CI" in decision.reason


def test_threshold_parsing() -> None:
    parsed = parse_thresholds(" macro_f1>=0.8 ,ece<=0.05,")
    assert [str(t) for t in parsed] == ["macro_f1>=0.8", "ece<=0.05"]
    assert parse_thresholds("") == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"thresholds": "macro_f1>0.8"}, "is not of the form METRIC>=VALUE"),
        ({"thresholds": "f2>=0.8"}, "names unknown metric 'f2'"),
        ({"thresholds": "accuracy>=0..8"}, "has no valid number"),
        ({"headline_metric": "roc_auc"}, "headline_metric 'roc_auc' is not one of"),
        ({"max_regression": -0.1}, "max_regression -0.1 is outside [0, 1]"),
        ({"confidence": 1.0}, "confidence 1.0 is outside"),
        ({"bootstrap_resamples": 10}, "bootstrap_resamples 10 is too few"),
        ({"precision": "int8"}, "precision 'int8' is not one of"),
    ],
)
def test_bad_settings_are_one_clear_error(settings: dict, message: str) -> None:
    with pytest.raises(KfpNlpError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EvaluateConfig(**settings)
