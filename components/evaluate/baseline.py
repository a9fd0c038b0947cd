"""The classic baseline every evaluation scores: TF-IDF + logistic regression.

Trained on the same train split the model was fine-tuned on and scored on the same test rows, it
says what a transformer adds over a model that costs seconds to train: a fine-tuned model that
does not beat it is not worth serving. Word unigrams and bigrams with sublinear term frequency,
and an L2-regularised logistic regression at scikit-learn's defaults otherwise.

For multi-label data it is one-vs-rest: one such logistic regression per label on the same TF-IDF
features, and a label is predicted when its probability is at least DEFAULT_THRESHOLD (0.5). Its
thresholds are not tuned on validation as the fine-tuned model's are: this is the baseline as a
user gets it from scikit-learn in a few lines.
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from components.common.inference import DEFAULT_THRESHOLD

# What the reports call it.
BASELINE_NAME = "TF-IDF + logistic regression"


def baseline_model(seed: int) -> Pipeline:
    """The unfitted baseline."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(max_iter=1000, random_state=seed),
    )


def baseline_predictions(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    labels: list[str],
    seed: int,
) -> np.ndarray:
    """Fit the baseline on the train split; its probabilities on the test texts, with columns in
    `labels` order (a class the train split lacks gets probability 0)."""
    model = baseline_model(seed).fit(train_texts, train_labels)
    fitted = model.predict_proba(test_texts)
    probs = np.zeros((len(test_texts), len(labels)), dtype=np.float64)
    column = {label: i for i, label in enumerate(labels)}
    for j, label in enumerate(model.classes_):
        probs[:, column[label]] = fitted[:, j]
    return probs


def multi_label_baseline_predictions(
    train_texts: list[str],
    train_sets: list[list[str]],
    test_texts: list[str],
    labels: list[str],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest baseline for label sets: (probabilities, multi-hot predictions at
    DEFAULT_THRESHOLD), columns in `labels` order. A label that every train row has, or none
    has, gets probability 1 or 0."""
    features = baseline_model(seed).steps[0][1]
    train_x = features.fit_transform(train_texts)
    test_x = features.transform(test_texts)
    probs = np.zeros((len(test_texts), len(labels)), dtype=np.float64)
    for j, label in enumerate(labels):
        target = np.array([label in row for row in train_sets])
        if target.all() or not target.any():
            probs[:, j] = float(target.any())
            continue
        model = LogisticRegression(max_iter=1000, random_state=seed).fit(train_x, target)
        probs[:, j] = model.predict_proba(test_x)[:, 1]
    return probs, (probs >= DEFAULT_THRESHOLD).astype(np.int64)
