"""The `evaluate_classifier` KFP component: a typed signature over `kfp_io.run_component`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.config import described_by
from components.common.image import IMAGE
from components.evaluate.config import EvaluateConfig


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(EvaluateConfig)
def evaluate_classifier(
    model: Input[Model],
    test: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
    predictions: Output[Dataset],
    champion: Input[Model] = None,
    train: Input[Dataset] = None,
    champion_uri: str = "",
    headline_metric: str = "macro_f1",
    thresholds: str = "",
    max_regression: float = 0.01,
    require_improvement: bool = False,
    require_beat_baseline: bool = False,
    confidence: float = 0.95,
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    slice_columns: str = "",
    calibration_bins: int = 15,
    mistakes_shown: int = 10,
    max_length: int = 128,
    batch_size: int = 64,
    precision: str = "auto",
) -> NamedTuple("Outputs", [("approved", bool), ("reason", str)]):
    """Score a classifier on the test set, report it, and decide if it may replace the champion.

    Single- or multi-label: a multi-label model's predictions are its label sets at its
    decision thresholds (config.json), scored with subset accuracy, Hamming loss, F1 averages
    over labels and per-label scores; its baseline is one-vs-rest at probability 0.5.

    Args:
        model: the challenger, a model folder written by finetune_classifier.
        test: the test split written by prepare_dataset.
        champion: the model now in production, as an artifact (or use champion_uri).
        champion_uri: the model now in production as a local folder or s3:// prefix; empty
            and no champion artifact means absolute thresholds alone decide.
        train: the train split the model was fine-tuned on; when given, a TF-IDF + logistic
            regression baseline is trained on it and reported beside the model.

    Returns:
        metrics: headline scalars (and the champion comparison) for the KFP UI.
        classification_metrics: confusion matrix (and ROC curve for two classes); empty for
            multi-label models, whose per-label scores are in the report.
        report: HTML report with confusion matrix, per-class, calibration, slice and champion
            pictures and the most confident mistakes.
        predictions: one row per test text: its columns, predicted label, confidence and
            probabilities (multi-label: the predicted label list and whether it is the true set).
        approved: whether the challenger passed every check of the gate.
        reason: one line saying why it was approved or rejected.
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.evaluate.kfp_io import run_component

    with one_line_errors():
        approved, reason = run_component(**arguments)
    return namedtuple("Outputs", ["approved", "reason"])(approved, reason)
