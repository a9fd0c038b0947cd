"""The `evaluate_classifier` KFP component: a typed signature over `kfp_io.run_component`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
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
        headline_metric: accuracy, macro_f1, micro_f1 or weighted_f1: the metric compared with
            the champion and given a bootstrap confidence interval.
        thresholds: absolute requirements, comma-separated, e.g. "macro_f1>=0.8,ece<=0.1".
        max_regression: largest allowed drop of the headline metric against the champion, at
            the lower confidence bound of the paired bootstrap difference.
        require_improvement: approve only a challenger better than the champion with the given
            confidence.
        require_beat_baseline: approve only a model whose headline metric is above the TF-IDF
            baseline's (needs train).
        confidence: confidence level of the bootstrap intervals.
        bootstrap_resamples: resamples per bootstrap interval.
        seed: seed of the bootstrap resampling.
        slice_columns: comma-separated test set columns to report per value; "text_length"
            slices by word count.
        calibration_bins: bins of the expected calibration error and the reliability diagram.
        mistakes_shown: how many of the most confident mistakes the report lists.
        max_length: tokens per text when scoring.
        batch_size: texts per scoring batch.
        precision: scoring precision: auto, fp32, bf16 or fp16.

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
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.evaluate.kfp_io import run_component

    with one_line_errors():
        approved, reason = run_component(
            model=model,
            test=test,
            metrics=metrics,
            classification_metrics=classification_metrics,
            report=report,
            predictions=predictions,
            champion=champion,
            champion_uri=champion_uri,
            train=train,
            headline_metric=headline_metric,
            thresholds=thresholds,
            max_regression=max_regression,
            require_improvement=require_improvement,
            require_beat_baseline=require_beat_baseline,
            confidence=confidence,
            bootstrap_resamples=bootstrap_resamples,
            seed=seed,
            slice_columns=slice_columns,
            calibration_bins=calibration_bins,
            mistakes_shown=mistakes_shown,
            max_length=max_length,
            batch_size=batch_size,
            precision=precision,
        )
    return namedtuple("Outputs", ["approved", "reason"])(approved, reason)
