"""Fixtures shared by the component tests of serving, batch scoring, evaluation and monitoring:
the one trained-model builder (benchmarks.small_classifier), run once per session at the
precision KFP_NLP_TEST_PRECISION names (default `auto`)."""

import functools
from pathlib import Path

import pytest

import components.finetune.config
from benchmarks.small_classifier import SmallClassifier, train


def train_at(precision: str, out: Path, multi_label: bool = False) -> SmallClassifier:
    """`train`, fine-tuning at `precision`: every FinetuneConfig it makes gets that precision."""
    with pytest.MonkeyPatch.context() as patch:
        config = components.finetune.config.FinetuneConfig
        patch.setattr(
            components.finetune.config,
            "FinetuneConfig",
            functools.partial(config, precision=precision),
        )
        return train(out, multi_label=multi_label)


@pytest.fixture(scope="session")
def small_model(
    tmp_path_factory: pytest.TempPathFactory, training_precision: str
) -> SmallClassifier:
    """A fine-tuned, calibrated intent classifier (Model artifact folder) and its held-out test
    split."""
    return train_at(training_precision, tmp_path_factory.mktemp("small-classifier"))


@pytest.fixture(scope="session")
def small_multi_label_model(
    tmp_path_factory: pytest.TempPathFactory, training_precision: str
) -> SmallClassifier:
    """A fine-tuned multi-label intent classifier (decision thresholds tuned on validation) and
    its held-out test split, from the sample's multi-label variant."""
    return train_at(
        training_precision, tmp_path_factory.mktemp("small-multi-label"), multi_label=True
    )
