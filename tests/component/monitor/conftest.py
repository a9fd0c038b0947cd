"""Fixtures of the monitoring tests."""

import pyarrow.parquet as pq
import pytest
from sklearn.metrics import f1_score

from components.common.inference import load_classifier, predict_proba


@pytest.fixture(scope="session")
def reference_macro_f1(small_model) -> float:
    """The small model's macro-F1 on its reference (test) split, computed with scikit-learn, for
    checking what the monitor reports whatever the model's quality."""
    classifier = load_classifier(small_model.model_dir)
    reference = pq.read_table(small_model.test_path).to_pandas()
    probs = predict_proba(classifier, reference["text"].tolist())
    predicted = [classifier.labels[i] for i in probs.argmax(1)]
    return f1_score(reference["label"], predicted, average="macro")
