"""The classic baseline every evaluation scores: TF-IDF + logistic regression.

Trained on the same train split the model was fine-tuned on and scored on the same test rows, it
says what a transformer adds over a model that costs seconds to train: a fine-tuned model that
does not beat it is not worth serving. Word unigrams and bigrams with sublinear term frequency,
and an L2-regularised logistic regression at scikit-learn's defaults otherwise.
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

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
