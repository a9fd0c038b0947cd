"""Map the KFP artifacts of `evaluate_classifier` onto the plain evaluation (no kfp import)."""

import contextlib
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_curve

from components.common.errors import KfpNlpError
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import evaluate
from components.evaluate.outputs import scalar_metrics, write_outputs
from components.evaluate.result import Evaluation
from components.evaluate.scoring import model_folder

# The ROC curve logged for binary tasks is thinned to at most this many points for the UI.
_ROC_POINTS = 200


def _log_classification_metrics(artifact: Any, evaluation: Evaluation) -> None:
    labels = evaluation.test.labels
    if evaluation.test.multi_label:
        # A multi-label model has no one confusion matrix: the report has a table per label.
        return
    artifact.log_confusion_matrix(labels, evaluation.decision.challenger["confusion_matrix"])
    if len(labels) != 2 or evaluation.decision.challenger["roc_auc"] is None:
        return
    fpr, tpr, thresholds = roc_curve(evaluation.test.y_true == 1, evaluation.probs[:, 1])
    step = max(1, len(fpr) // _ROC_POINTS)
    keep = sorted({*range(0, len(fpr), step), len(fpr) - 1})
    # The first threshold is +inf (nothing predicted positive); JSON has no infinity.
    thresholds = [min(float(thresholds[i]), 1.0) for i in keep]
    artifact.log_roc_curve([float(fpr[i]) for i in keep], [float(tpr[i]) for i in keep], thresholds)


def run_component(
    model: Any,
    test: Any,
    metrics: Any,
    classification_metrics: Any,
    report: Any,
    predictions: Any,
    champion: Any = None,
    champion_uri: str = "",
    train: Any = None,
    **settings: Any,
) -> tuple[bool, str]:
    """Evaluate `model` on `test` (against the champion artifact or URI, if any, and the
    baseline trained on `train`, if given), write every output artifact, and return the gate's
    (approved, reason)."""
    config = EvaluateConfig(**settings)
    if champion is not None and champion_uri:
        raise KfpNlpError(
            "both a champion artifact and champion_uri were given; pass only one of them"
        )
    champion_source = champion.uri if champion is not None else champion_uri
    with contextlib.ExitStack() as stack:
        champion_dir = None
        if champion is not None:
            champion_dir = Path(champion.path)
        elif champion_uri:
            champion_dir = stack.enter_context(model_folder(champion_uri))
        evaluation = evaluate(
            Path(model.path),
            Path(test.path),
            config,
            champion_dir=champion_dir,
            model_source=model.uri,
            champion_source=champion_source,
            test_source=test.uri,
            train_path=Path(train.path) if train is not None else None,
            train_source=train.uri if train is not None else "",
        )
    write_outputs(evaluation, report.path, predictions.path)
    for name, value in scalar_metrics(evaluation, config).items():
        metrics.log_metric(name, value)
    _log_classification_metrics(classification_metrics, evaluation)
    decision = evaluation.decision
    for artifact in (report, predictions):
        artifact.metadata.update({"approved": decision.approved, "reason": decision.reason})
    predictions.metadata.update({"labels": evaluation.test.labels, "rows": len(evaluation.probs)})
    return decision.approved, decision.reason
