"""Multi-label evaluation from constructed predictions: every number is scikit-learn's on the
same predictions, the gate decides on macro-F1 over labels, and the report, predictions table
and metrics show the multi-label results with the per-label thresholds and the baseline."""

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from components.common.inference import Classifier
from components.evaluate.baseline import multi_label_baseline_predictions
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import assemble
from components.evaluate.examples import Examples
from components.evaluate.gate import decide
from components.evaluate.metrics import bootstrap_interval, multi_label_report
from components.evaluate.outputs import predictions_table, scalar_metrics, summary
from components.evaluate.report import render_report
from components.evaluate.scoring import multi_hot

LABELS = ["complaint", "discount_question", "order_status", "refund"]


def _data(n: int, seed: int, skill: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot truth (label 'refund' never occurs) and sigmoid probabilities that follow it."""
    rng = np.random.default_rng(seed)
    truth = (rng.uniform(size=(n, len(LABELS))) < 0.35).astype(np.int64)
    truth[:, 3] = 0
    logits = rng.normal(size=truth.shape) + skill * (2 * truth - 1)
    return truth, 1 / (1 + np.exp(-logits))


def test_every_number_is_scikit_learns_on_the_same_predictions():
    truth, probs = _data(300, 0)
    thresholds = np.array([0.4, 0.5, 0.6, 0.5])
    predicted = (probs >= thresholds).astype(np.int64)
    report = multi_label_report(truth, probs, predicted, LABELS)
    present = [i for i in range(len(LABELS)) if truth[:, i].any()]
    assert report["accuracy"] == report["subset_accuracy"] == accuracy_score(truth, predicted)
    assert report["hamming_loss"] == pytest.approx(hamming_loss(truth, predicted), abs=1e-15)
    assert report["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro"))
    for average in ("macro", "weighted"):
        expected = f1_score(truth, predicted, average=average, labels=present)
        assert report[f"{average}_f1"] == pytest.approx(expected, abs=1e-12)
    for i, row in enumerate(report["per_class"]):
        assert row["support"] == truth[:, i].sum() and row["predicted"] == predicted[:, i].sum()
        if i not in present:
            # Undefined, never a 0.0 that could pass a gate.
            assert row["recall"] is row["f1"] is row["roc_auc"] is row["pr_auc"] is None
            continue
        assert row["precision"] == pytest.approx(precision_score(truth[:, i], predicted[:, i]))
        assert row["recall"] == pytest.approx(recall_score(truth[:, i], predicted[:, i]))
        assert row["f1"] == pytest.approx(f1_score(truth[:, i], predicted[:, i]))
        assert row["roc_auc"] == roc_auc_score(truth[:, i], probs[:, i])
        assert row["pr_auc"] == average_precision_score(truth[:, i], probs[:, i])
    assert report["roc_auc"] == pytest.approx(
        roc_auc_score(truth[:, present], probs[:, present], average="macro")
    )
    assert report["pr_auc"] == pytest.approx(
        average_precision_score(truth[:, present], probs[:, present], average="macro")
    )
    assert report["absent_classes"] == ["refund"]
    assert report["log_loss"] is report["ece"] is None


def test_the_bootstrap_resamples_rows_of_label_sets():
    truth, probs = _data(120, 1)
    predicted = (probs >= 0.5).astype(np.int64)
    other = (probs >= 0.7).astype(np.int64)
    low, high = bootstrap_interval(truth, predicted, 4, "macro_f1", 50, 0.9, 7, other)
    # The same resamples, one at a time, through scikit-learn.
    rng = np.random.default_rng(7)
    deltas = []
    for _ in range(50):
        rows = rng.integers(0, len(truth), size=(1, len(truth)))[0]
        labels = [i for i in range(4) if truth[rows, i].any()]

        def f1(pred, rows=rows, labels=labels):
            return f1_score(truth[rows], pred[rows], average="macro", labels=labels)

        deltas.append(f1(predicted) - f1(other))
    assert (low, high) == pytest.approx(tuple(np.quantile(deltas, [0.05, 0.95])), abs=1e-12)


def test_the_gate_decides_on_macro_f1_of_label_sets():
    truth, probs = _data(300, 2)
    good = (probs >= 0.5).astype(np.int64)
    champion_probs = np.clip(probs + np.random.default_rng(3).normal(0, 0.6, probs.shape), 0, 1)
    worse = (champion_probs >= 0.5).astype(np.int64)
    config = EvaluateConfig(
        thresholds="macro_f1>=0.5,hamming_loss<=0.3", max_regression=0.0, require_beat_baseline=True
    )
    predicted = {"challenger": good, "champion": worse, "baseline": worse}
    decision = decide(
        truth,
        probs,
        LABELS,
        config,
        champion_probs,
        baseline_probs=champion_probs,
        predicted=predicted,
    )
    assert decision.approved, decision.reason
    assert [c["check"] for c in decision.checks] == [
        "macro_f1>=0.5",
        "hamming_loss<=0.3",
        "champion",
        "baseline",
    ]
    assert decision.comparison.delta == pytest.approx(
        f1_score(truth, good, average="macro", labels=[0, 1, 2])
        - f1_score(truth, worse, average="macro", labels=[0, 1, 2])
    )
    assert decision.comparison.delta_low > 0 and decision.baseline_comparison.beats
    # The same models swapped: the worse one is refused against the better champion.
    swapped = {"challenger": worse, "champion": good, "baseline": good}
    refused = decide(
        truth, champion_probs, LABELS, config, probs, baseline_probs=probs, predicted=swapped
    )
    assert not refused.approved and "vs champion" in refused.reason
    assert "does not beat the TF-IDF" in refused.reason


def test_the_one_vs_rest_baseline_predicts_label_sets():
    train_sets = [["complaint"], ["complaint", "refund"], ["order_status"]] * 10
    texts = {"complaint": "this is broken and bad", "refund": "give me my money back"}
    texts["order_status"] = "where is my parcel"
    train = [" ".join(texts[label] for label in row) for row in train_sets]
    probs, predicted = multi_label_baseline_predictions(
        train,
        train_sets,
        ["this is broken and bad give me my money back", "where is my parcel"],
        ["complaint", "discount_question", "order_status", "refund"],
        seed=0,
    )
    assert predicted.tolist() == [[1, 0, 0, 1], [0, 0, 1, 0]]
    # A label no train row has gets probability 0; the rule is probability >= 0.5.
    assert (probs[:, 1] == 0).all() and ((probs >= 0.5) == predicted).all()


def test_report_predictions_and_metrics_show_the_multi_label_results():
    truth, probs = _data(200, 4)
    thresholds = [0.4, 0.5, 0.6, 0.5]
    predicted = (probs >= np.array(thresholds)).astype(np.int64)
    names = [[LABELS[i] for i in np.flatnonzero(row)] for row in truth]
    texts = [f"reply number {i}" for i in range(len(truth))]
    table = pa.table({"text": texts, "label": pa.array(names, pa.list_(pa.string()))})
    test = Examples(table, texts, names, LABELS, True, "test.parquet", multi_label=True)
    baseline = np.clip(probs[:, ::-1], 0, 1)
    config = EvaluateConfig(slice_columns="text_length")
    evaluation = assemble(
        test,
        config,
        probs,
        None,
        "model",
        None,
        baseline_probs=baseline,
        predicted={"challenger": predicted, "baseline": (baseline >= 0.5).astype(np.int64)},
    )
    evaluation.thresholds = thresholds
    html_text = render_report(evaluation)
    assert "Per label" in html_text and "Confusion matrix" not in html_text
    assert "<th>threshold</th>" in html_text and "<td>0.60</td>" in html_text
    assert "subset_accuracy" in html_text and "hamming_loss" in html_text
    assert "one-vs-rest, each label predicted at probability 0.5 or more" in html_text
    rows = predictions_table(evaluation).to_pylist()
    assert [row["predicted_labels"] for row in rows[:5]] == [
        [LABELS[i] for i in np.flatnonzero(row)] for row in predicted[:5]
    ]
    assert sum(row["correct"] for row in rows) == round(
        accuracy_score(truth, predicted) * len(truth)
    )
    metrics = scalar_metrics(evaluation, config)
    assert metrics["hamming_loss"] == pytest.approx(hamming_loss(truth, predicted))
    assert "baseline_macro_f1" in metrics and "ece" not in metrics
    facts = summary(evaluation)
    assert facts["multi_label"] and facts["decision_thresholds"]["order_status"] == 0.6
    assert facts["mistakes"] and set(facts["mistakes"][0]) >= {"label", "predicted"}


def test_a_models_predictions_follow_its_own_thresholds_and_label_order():
    classifier = Classifier(
        model=None,
        tokenizer=None,
        labels=["b", "a", "c"],
        multi_label=True,
        max_length=8,
        thresholds=[0.9, 0.2, 0.5],
    )
    # Columns in the test set's label order a, b, c: a clears its 0.2, b misses its 0.9.
    probs = np.array([[0.3, 0.8, 0.5], [0.1, 0.95, 0.49]])
    assert multi_hot(classifier, probs, ["a", "b", "c"]).tolist() == [[1, 0, 1], [0, 1, 0]]
