"""Fixtures shared by the component tests of serving and monitoring."""

import pytest

from benchmarks.small_classifier import SmallClassifier, train


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SmallClassifier:
    """A trained intent classifier (Model artifact folder) and its held-out test split."""
    return train(tmp_path_factory.mktemp("small-classifier"), rows=1000, steps=300)


@pytest.fixture(scope="session")
def small_multi_label_model(tmp_path_factory: pytest.TempPathFactory) -> SmallClassifier:
    """A trained multi-label intent classifier (decision threshold 0.5 for every label) and its
    held-out multi-label test split, about a third of its rows carrying two intents."""
    return train(
        tmp_path_factory.mktemp("small-multi-label"), rows=1000, steps=300, multi_label=True
    )
