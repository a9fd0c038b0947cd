"""Fixtures shared by the component tests of serving, batch scoring, evaluation and monitoring:
the one trained-model builder (benchmarks.small_classifier), run once per session."""

import pytest

from benchmarks.small_classifier import SmallClassifier, train


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SmallClassifier:
    """A fine-tuned, calibrated intent classifier (Model artifact folder) and its held-out test
    split."""
    return train(tmp_path_factory.mktemp("small-classifier"))


@pytest.fixture(scope="session")
def small_multi_label_model(tmp_path_factory: pytest.TempPathFactory) -> SmallClassifier:
    """A fine-tuned multi-label intent classifier (decision thresholds tuned on validation) and
    its held-out test split, from the sample's multi-label variant."""
    return train(tmp_path_factory.mktemp("small-multi-label"), multi_label=True)
