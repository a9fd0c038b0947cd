"""Every metric of evaluate_classifier equals scikit-learn's on the same predictions, and
undefined metrics come out as None rather than 0.0."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from components.evaluate.metrics import (
    bootstrap_interval,
    calibration_bins,
    classification_report,
    confusion_matrices,
    expected_calibration_error,
    metric_from_confusion,
)


def _predictions(n: int, k: int, seed: int, skill: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and softmax probabilities of a noisy classifier that leans towards the truth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill
    probs = np.exp(logits)
    return y, probs / probs.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("n", "k", "seed"), [(500, 2, 1), (800, 7, 2), (60, 4, 3)])
def test_metrics_equal_scikit_learn(n: int, k: int, seed: int) -> None:
    y, probs = _predictions(n, k, seed)
    pred = probs.argmax(axis=1)
    labels = [f"class_{i}" for i in range(k)]
    every = list(range(k))

    report = classification_report(y, probs, labels)

    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for average in ("macro", "micro", "weighted"):
        expected = skm.f1_score(y, pred, labels=every, average=average)
        assert report[f"{average}_f1"] == pytest.approx(expected, abs=1e-12), average
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=every)
    for i, row in enumerate(report["per_class"]):
        assert row["label"] == labels[i]
        assert row["precision"] == pytest.approx(precision[i], abs=1e-12)
        assert row["recall"] == pytest.approx(recall[i], abs=1e-12)
        assert row["f1"] == pytest.approx(f1[i], abs=1e-12)
        assert row["support"] == support[i]
        target = y == i
        assert row["roc_auc"] == pytest.approx(skm.roc_auc_score(target, probs[:, i]), abs=1e-12)
        assert row["pr_auc"] == pytest.approx(
            skm.average_precision_score(target, probs[:, i]), abs=1e-12
        )
    if k == 2:
        expected_auc = skm.roc_auc_score(y, probs[:, 1])
    else:
        expected_auc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert report["roc_auc"] == pytest.approx(expected_auc, abs=1e-12)
    expected_ap = np.mean([skm.average_precision_score(y == i, probs[:, i]) for i in every])
    assert report["pr_auc"] == pytest.approx(expected_ap, abs=1e-12)
    assert report["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=every), abs=1e-12)
    brier = skm.brier_score_loss(y, probs[:, 1] if k == 2 else probs, labels=every)
    assert report["brier"] == pytest.approx(brier, abs=1e-12)
    assert report["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=every).tolist()
    assert report["absent_classes"] == []


def test_log_loss_clips_certain_mistakes_like_scikit_learn() -> None:
    y = np.array([0, 1, 1])
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.2, 0.8]])
    report = classification_report(y, probs, ["a", "b"])
    assert report["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=[0, 1]), rel=1e-12)


def test_absent_class_is_undefined_and_left_out_of_averages() -> None:
    y, probs = _predictions(300, 4, 5)
    keep = y != 2
    y, probs = y[keep], probs[keep]
    pred = probs.argmax(axis=1)
    assert (pred == 2).any(), "the case needs predictions of the absent class"

    report = classification_report(y, probs, ["a", "b", "c", "d"])

    absent = report["per_class"][2]
    assert absent["support"] == 0
    assert absent["recall"] is None
    assert absent["f1"] is None
    assert absent["roc_auc"] is None
    assert absent["pr_auc"] is None
    # Every prediction of the absent class is wrong: precision is defined, and it is 0.
    assert absent["precision"] == 0.0
    assert report["absent_classes"] == ["c"]
    present = [0, 1, 3]
    for average in ("macro", "weighted"):
        expected = skm.f1_score(y, pred, labels=present, average=average)
        assert report[f"{average}_f1"] == pytest.approx(expected, abs=1e-12)
    assert report["micro_f1"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    expected_auc = np.mean([skm.roc_auc_score(y == i, probs[:, i]) for i in present])
    assert report["roc_auc"] == pytest.approx(expected_auc, abs=1e-12)


def test_one_class_only_leaves_ranking_metrics_undefined() -> None:
    y = np.zeros(20, dtype=int)
    probs = np.tile([0.7, 0.2, 0.1], (20, 1))
    probs[:5] = [0.1, 0.8, 0.1]

    report = classification_report(y, probs, ["a", "b", "c"])

    assert report["roc_auc"] is None
    assert report["pr_auc"] is None
    assert report["accuracy"] == pytest.approx(0.75)
    # Never predicted, never present: nothing can be said about class c.
    c = report["per_class"][2]
    assert c["precision"] is None and c["recall"] is None and c["f1"] is None


def test_calibration_error_of_a_hand_computed_case() -> None:
    # Two bins: (0, 0.5] and (0.5, 1]. Confidences 0.9, 0.8 (one right, one wrong) -> bin 2 has
    # mean confidence 0.85 and accuracy 0.5; 0.6 and 0.7 (both right) also fall in bin 2.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.5, 0.5]])
    y = np.array([0, 1, 1, 1, 0])
    table = calibration_bins(y, probs, 2)
    assert table["count"] == [1, 4]
    assert table["confidence"][0] == pytest.approx(0.5)
    assert table["accuracy"][0] == pytest.approx(1.0)
    assert table["confidence"][1] == pytest.approx(0.75)
    assert table["accuracy"][1] == pytest.approx(0.75)
    expected = (1 * abs(0.5 - 1.0) + 4 * abs(0.75 - 0.75)) / 5
    assert expected_calibration_error(y, probs, 2) == pytest.approx(expected)


def test_calibration_bins_agree_with_scikit_learn_for_two_classes() -> None:
    # For a binary model whose top-label confidence is the positive-class probability (all
    # predictions positive), the reliability bins equal scikit-learn's calibration_curve.
    rng = np.random.default_rng(11)
    p1 = rng.uniform(0.5, 1.0, 400)
    y = (rng.uniform(size=400) < p1).astype(int)
    probs = np.column_stack([1 - p1, p1])
    table = calibration_bins(y, probs, 10)
    true_frac, mean_pred = calibration_curve(y, p1, n_bins=10)
    ours = [(c, a) for c, a in zip(table["confidence"], table["accuracy"], strict=True) if c]
    np.testing.assert_allclose([c for c, _ in ours], mean_pred, atol=1e-12)
    np.testing.assert_allclose([a for _, a in ours], true_frac, atol=1e-12)


def test_batched_confusion_matrices_equal_one_by_one() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, (7, 90))
    pred = rng.integers(0, 5, (7, 90))
    batched = confusion_matrices(y, pred, 5)
    for b in range(7):
        expected = skm.confusion_matrix(y[b], pred[b], labels=range(5))
        np.testing.assert_array_equal(batched[b], expected)
        assert metric_from_confusion(batched[b], "macro_f1") == pytest.approx(
            skm.f1_score(y[b], pred[b], labels=np.unique(y[b]), average="macro"), abs=1e-12
        )


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_data() -> None:
    small_y, small_p = _predictions(100, 3, 7, skill=1.0)
    large_y, large_p = _predictions(4000, 3, 7, skill=1.0)

    def interval(y: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
        return bootstrap_interval(y, probs.argmax(axis=1), 3, "macro_f1", 1000, 0.95, seed=0)

    low, high = interval(small_y, small_p)
    point = skm.f1_score(small_y, small_p.argmax(axis=1), average="macro")
    assert low < point < high
    assert interval(small_y, small_p) == (low, high), "same seed, same interval"
    large_low, large_high = interval(large_y, large_p)
    assert (large_high - large_low) < (high - low) / 3


def test_bootstrap_interval_matches_a_scikit_learn_bootstrap() -> None:
    """The vectorised resampling computes the same statistic per resample as a plain loop."""
    y, probs = _predictions(150, 4, 9, skill=1.0)
    pred = probs.argmax(axis=1)
    rng = np.random.default_rng(0)
    stats = []
    for _ in range(250):
        rows = rng.integers(0, len(y), len(y))
        stats.append(skm.f1_score(y[rows], pred[rows], labels=np.unique(y[rows]), average="macro"))
    expected = tuple(np.quantile(stats, [0.025, 0.975]))
    assert bootstrap_interval(y, pred, 4, "macro_f1", 250, 0.95, seed=0) == pytest.approx(expected)


def test_bootstrap_interval_of_one_row_is_its_value() -> None:
    """A slice of one test row: every resample is that row, single- or multi-label."""
    one = np.array([1])
    assert bootstrap_interval(one, one, 2, "macro_f1", 200, 0.95, 0, baseline_pred=one - 1) == (
        1.0,
        1.0,
    )
    hot = np.array([[1, 0, 1]])
    assert bootstrap_interval(hot, hot, 3, "accuracy", 200, 0.95, 0) == (1.0, 1.0)
