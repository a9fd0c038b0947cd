"""The monitor's statistics and its once-per-window retraining claim, on synthetic numbers."""

from datetime import UTC, datetime, timedelta

import numpy as np

from components.common.metrics import macro_f1
from components.monitor import statistics as st
from components.monitor.retrain import claim_retrain


def test_mmd_permutation_p_value_separates_same_from_shifted():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(120, 8)), rng.normal(size=(80, 8))
    assert st.mmd_test(a, b, 200)[1] > 0.05
    assert st.mmd_test(a, b + 0.8, 200)[1] < 0.01


def test_expected_macro_f1_matches_the_real_one_when_labels_follow_the_probabilities():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([0.3, 0.3, 0.3], size=4000)
    cumulative = probs.cumsum(1)
    labels = (rng.random((4000, 1)) > cumulative).sum(1).clip(0, 2)
    real = macro_f1(labels, probs.argmax(1), 3, averaged="observed")
    assert abs(st.expected_macro_f1(probs) - real) < 0.02
    low, high = st.f1_interval(probs)
    assert low <= real <= high


def test_psi_and_char_kinds():
    assert st.psi(np.array([50, 50]), np.array([50, 50])) == 0
    assert st.psi(np.array([90, 10]), np.array([50, 50])) > 0.25
    kinds = [st.char_class(t) for t in ("stop", "order 42", "¿Dónde?", "!!!")]
    assert kinds == [0, 1, 2, 3]


def test_retraining_is_claimed_once_per_alert_window(tmp_path):
    registry = str(tmp_path / "registry")
    now = datetime(2026, 11, 22, 6, tzinfo=UTC)
    claim = [True, "drift: x", "data.csv", registry, "intents", 24]
    assert claim_retrain(*claim, now=now)[0] is True
    again, reason = claim_retrain(*claim, now=now + timedelta(hours=23))
    assert again is False and "already started" in reason
    assert claim_retrain(*claim, now=now + timedelta(hours=25))[0] is True
    assert claim_retrain(False, "no drift", *claim[2:], now=now)[0] is False
    assert claim_retrain(True, "drift", "", registry, "intents", 24, now=now)[0] is False
