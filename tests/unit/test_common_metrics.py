"""The one macro-F1 equals scikit-learn's f1_score(average="macro") for each choice of the
classes it averages over, on random single- and multi-label predictions, including classes that
the truth or the predictions lack."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from components.common.metrics import ClassCounts, confusion_matrices, macro_f1

pytestmark = pytest.mark.unit

CASES = [(n, k, seed) for seed, (n, k) in enumerate([(40, 4), (200, 5), (60, 9), (500, 7)])]


def _single_label(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ids where class 0 is never predicted, class k-2 never true and class k-1 neither,
    so the three choices of classes give three different means."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k - 2, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k - 1, n))
    return y, np.where(pred == 0, 1, pred)


def _multi_label(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot rows where no row holds label 0 and none is predicted the last label."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    y[:, 0] = 0
    pred = np.where(rng.random((n, k)) < 0.7, y, 1 - y)
    pred[:, -1] = 0
    return y, pred


@pytest.mark.parametrize(("n", "k", "seed"), CASES)
def test_single_label_macro_f1_equals_scikit_learn(n: int, k: int, seed: int) -> None:
    y, pred = _single_label(n, k, seed)
    expected = {
        "truth": f1_score(y, pred, labels=np.unique(y), average="macro"),
        "observed": f1_score(y, pred, average="macro", zero_division=0),
        "all": f1_score(y, pred, labels=range(k), average="macro", zero_division=0),
    }
    for averaged, value in expected.items():
        assert macro_f1(y, pred, k, averaged) == pytest.approx(value, abs=1e-12), averaged
    assert len({round(v, 9) for v in expected.values()}) == 3


@pytest.mark.parametrize(("n", "k", "seed"), CASES)
def test_multi_label_macro_f1_equals_scikit_learn(n: int, k: int, seed: int) -> None:
    y, pred = _multi_label(n, k, seed)
    present = np.flatnonzero(y.sum(axis=0))
    observed = np.flatnonzero(y.sum(axis=0) + pred.sum(axis=0))
    expected = {
        "truth": f1_score(y, pred, labels=present, average="macro"),
        "observed": f1_score(y, pred, labels=observed, average="macro", zero_division=0),
        "all": f1_score(y, pred, average="macro", zero_division=0),
    }
    for averaged, value in expected.items():
        assert macro_f1(y, pred, k, averaged) == pytest.approx(value, abs=1e-12), averaged


def test_resampled_confusion_matrices_give_each_resample_its_own_macro_f1() -> None:
    y, pred = _single_label(300, 6, 11)
    rows = np.random.default_rng(0).integers(0, len(y), (50, len(y)))
    batched = ClassCounts.of_confusion(confusion_matrices(y[rows], pred[rows], 6)).macro_f1()
    one_by_one = [f1_score(y[r], pred[r], labels=np.unique(y[r]), average="macro") for r in rows]
    np.testing.assert_allclose(batched, one_by_one, atol=1e-12)


def test_nothing_to_average_over_is_zero_and_an_unknown_choice_is_refused() -> None:
    empty = np.zeros((4, 3), dtype=int)
    assert macro_f1(empty, empty, 3, "truth") == 0.0
    assert macro_f1(empty, empty, 3, "observed") == 0.0
    with pytest.raises(ValueError, match="not one of truth, observed, all"):
        macro_f1(np.array([0, 1]), np.array([0, 1]), 2, "present")  # type: ignore[arg-type]
