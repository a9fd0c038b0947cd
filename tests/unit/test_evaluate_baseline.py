"""The TF-IDF + logistic regression baseline beside the model: its numbers are scikit-learn's on
the same data, the metrics and the report show it, and `require_beat_baseline` refuses a model
that does not beat it, saying so."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from components.evaluate.baseline import baseline_predictions
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import assemble
from components.evaluate.examples import Examples
from components.evaluate.outputs import scalar_metrics, summary
from components.evaluate.report import render_report
from components.sample_data import write_sample


@pytest.fixture(scope="module")
def replies(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample replies with text and label, split 60/40 (train, test)."""
    path = write_sample(str(tmp_path_factory.mktemp("sample") / "replies.csv"), rows=1000)
    frame = pd.read_csv(path)[["reply_text", "intent"]].dropna()
    frame = frame.rename(columns={"reply_text": "text", "intent": "label"})
    cut = int(len(frame) * 0.6)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def _examples(test: pd.DataFrame, labels: list[str]) -> Examples:
    table = pa.Table.from_pandas(test, preserve_index=False)
    return Examples(table, list(test["text"]), list(test["label"]), labels, True, "test.parquet")


def _model_probs(y: np.ndarray, k: int, accuracy: float, seed: int) -> np.ndarray:
    """Probabilities of a model right on a random `accuracy` share of rows."""
    rng = np.random.default_rng(seed)
    pred = y.copy()
    wrong = rng.permutation(len(y))[: round(len(y) * (1 - accuracy))]
    pred[wrong] = (y[wrong] + rng.integers(1, k, len(wrong))) % k
    probs = np.full((len(y), k), 0.1 / (k - 1))
    probs[np.arange(len(y)), pred] = 0.9
    return probs


def test_baseline_numbers_are_scikit_learns(replies) -> None:
    train, test = replies
    labels = sorted(set(train["label"]) | set(test["label"]))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    classifier = LogisticRegression(max_iter=1000, random_state=0)
    classifier.fit(vectorizer.fit_transform(train["text"]), train["label"])
    sklearn_probs = classifier.predict_proba(vectorizer.transform(test["text"]))
    sklearn_pred = classifier.predict(vectorizer.transform(test["text"]))

    probs = baseline_predictions(
        list(train["text"]), list(train["label"]), list(test["text"]), labels, seed=0
    )
    columns = [labels.index(c) for c in classifier.classes_]
    np.testing.assert_allclose(probs[:, columns], sklearn_probs)

    examples = _examples(test, labels)
    model = _model_probs(examples.y_true, len(labels), 0.9, seed=1)
    evaluation = assemble(examples, EvaluateConfig(), model, None, "model", None, False, probs)
    baseline = evaluation.decision.baseline
    assert baseline["macro_f1"] == pytest.approx(
        f1_score(test["label"], sklearn_pred, average="macro")
    )
    assert baseline["accuracy"] == pytest.approx(accuracy_score(test["label"], sklearn_pred))
    metrics = scalar_metrics(evaluation, EvaluateConfig())
    assert metrics["baseline_macro_f1"] == pytest.approx(baseline["macro_f1"])
    assert metrics["model_minus_baseline_macro_f1"] == pytest.approx(
        evaluation.decision.challenger["macro_f1"] - baseline["macro_f1"]
    )
    low, high = (metrics[f"model_minus_baseline_macro_f1_ci_{end}"] for end in ("low", "high"))
    assert low <= metrics["model_minus_baseline_macro_f1"] <= high
    assert summary(evaluation)["baseline"]["macro_f1"] == baseline["macro_f1"]
    page = render_report(evaluation)
    assert "<h2>Classic baseline</h2>" in page and "TF-IDF + logistic regression" in page


def test_a_class_missing_from_the_train_split_gets_probability_zero(replies) -> None:
    train, test = replies
    labels = [*sorted(set(train["label"])), "zz_never_trained"]
    probs = baseline_predictions(
        list(train["text"]), list(train["label"]), list(test["text"]), labels, seed=0
    )
    assert (probs[:, -1] == 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_gate_refuses_a_model_that_does_not_beat_the_baseline(replies) -> None:
    train, test = replies
    labels = sorted(set(train["label"]) | set(test["label"]))
    examples = _examples(test, labels)
    baseline = baseline_predictions(
        list(train["text"]), list(train["label"]), list(test["text"]), labels, seed=0
    )
    weak = _model_probs(examples.y_true, len(labels), 0.5, seed=2)
    required = EvaluateConfig(require_beat_baseline=True)

    refused = assemble(examples, required, weak, None, "model", None, False, baseline).decision
    assert not refused.approved
    assert refused.reason.startswith("rejected: macro_f1 0.")
    assert "does not beat the TF-IDF + logistic regression baseline's" in refused.reason
    assert "require_beat_baseline" in refused.reason

    # Off: the same model is approved; the baseline is still scored and reported.
    reported = assemble(examples, EvaluateConfig(), weak, None, "model", None, False, baseline)
    assert reported.decision.approved, reported.decision.reason
    assert reported.decision.baseline_comparison.beats is False

    # Against a baseline it does beat, the same model passes the same gate.
    weaker = _model_probs(examples.y_true, len(labels), 0.3, seed=3)
    approved = assemble(examples, required, weak, None, "model", None, False, weaker).decision
    assert approved.approved, approved.reason
    assert "beats the TF-IDF + logistic regression baseline's" in approved.reason
