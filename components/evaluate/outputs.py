"""The outputs of an evaluation: the predictions table, the JSON summary, the KFP metrics and
the HTML report, written together (each committed only when all are complete)."""

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa

from components.common.artifacts import encode_dataset_metadata
from components.common.tables import write_parquet
from components.common.uri import atomic_outputs
from components.evaluate.config import EvaluateConfig
from components.evaluate.metrics import reported_metrics
from components.evaluate.report import render_report
from components.evaluate.result import Evaluation


def predictions_table(evaluation: Evaluation) -> pa.Table:
    """One row per test example: its columns, the prediction, confidence and probabilities."""
    test, labels = evaluation.test, evaluation.test.labels
    if test.multi_label:
        return _with_columns(test.table, _multi_label_columns(evaluation))
    predicted = evaluation.probs.argmax(axis=1)
    columns = {
        "predicted_label": pa.array([labels[i] for i in predicted], pa.string()),
        "confidence": pa.array(evaluation.probs.max(axis=1)),
        "correct": pa.array(predicted == test.y_true),
        "probabilities": pa.array(list(evaluation.probs), pa.list_(pa.float64())),
    }
    if evaluation.champion_probs is not None:
        champion = evaluation.champion_probs
        columns["champion_predicted_label"] = pa.array(
            [labels[i] for i in champion.argmax(axis=1)], pa.string()
        )
        columns["champion_probabilities"] = pa.array(list(champion), pa.list_(pa.float64()))
    return _with_columns(test.table, columns)


def _multi_label_columns(evaluation: Evaluation) -> dict[str, pa.Array]:
    """Multi-label: the predicted label set of each row, whether it is the true set, and the
    probabilities (of the champion too, if there is one)."""
    labels = np.array(evaluation.test.labels, dtype=object)
    predicted = evaluation.predicted or {}

    def sets(hot: np.ndarray) -> pa.Array:
        return pa.array([list(labels[row == 1]) for row in hot], pa.list_(pa.string()))

    challenger = predicted["challenger"]
    columns = {
        "predicted_labels": sets(challenger),
        "correct": pa.array((challenger == evaluation.test.y_true).all(axis=1)),
        "probabilities": pa.array(list(evaluation.probs), pa.list_(pa.float64())),
    }
    if evaluation.champion_probs is not None:
        columns["champion_predicted_labels"] = sets(predicted["champion"])
        columns["champion_probabilities"] = pa.array(
            list(evaluation.champion_probs), pa.list_(pa.float64())
        )
    return columns


def _with_columns(table: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    table = table.replace_schema_metadata(None)
    for name, values in columns.items():
        if name in table.column_names:
            table = table.drop_columns(name)
        table = table.append_column(name, values)
    return table


def summary(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as plain JSON-able data (no texts besides the listed mistakes)."""
    decision = evaluation.decision
    return {
        "approved": decision.approved,
        "reason": decision.reason,
        "labels": evaluation.test.labels,
        "test_source": evaluation.test.source,
        "model_source": evaluation.model_source,
        "champion_source": evaluation.champion_source,
        "headline_interval": list(decision.headline_interval),
        "checks": decision.checks,
        "challenger": decision.challenger,
        "champion": decision.champion,
        "comparison": asdict(decision.comparison) if decision.comparison else None,
        "baseline": decision.baseline,
        "baseline_comparison": (
            asdict(decision.baseline_comparison) if decision.baseline_comparison else None
        ),
        "slices": evaluation.slices,
        "mistakes": evaluation.mistakes,
        "calibration": evaluation.calibration,
        "multi_label": evaluation.test.multi_label,
        "decision_thresholds": (
            dict(zip(evaluation.test.labels, evaluation.thresholds, strict=True))
            if evaluation.thresholds
            else None
        ),
    }


def scalar_metrics(evaluation: Evaluation, config: EvaluateConfig) -> dict[str, float]:
    """The headline numbers for the KFP Metrics artifact (undefined metrics are left out)."""
    decision = evaluation.decision
    metric = config.headline_metric
    names = reported_metrics(evaluation.test.multi_label)
    values: dict[str, float | None] = {k: decision.challenger[k] for k in names}
    values[f"{metric}_ci_low"], values[f"{metric}_ci_high"] = decision.headline_interval
    if decision.comparison:
        c = decision.comparison
        values |= {f"champion_{metric}": c.champion, f"delta_{metric}": c.delta}
        values |= {f"delta_{metric}_ci_low": c.delta_low, f"delta_{metric}_ci_high": c.delta_high}
    if decision.baseline_comparison:
        b = decision.baseline_comparison
        values |= {f"baseline_{metric}": b.baseline, f"model_minus_baseline_{metric}": b.delta}
        values |= {
            f"model_minus_baseline_{metric}_ci_low": b.delta_low,
            f"model_minus_baseline_{metric}_ci_high": b.delta_high,
        }
    values |= evaluation.calibration or {}
    values["approved"] = float(decision.approved)
    return {k: float(v) for k, v in values.items() if v is not None}


def write_outputs(
    evaluation: Evaluation,
    report_uri: str,
    predictions_uri: str,
    summary_uri: str | None = None,
) -> None:
    """Write the HTML report, the predictions Parquet and (optionally) the JSON summary.

    Each is a local path or an S3 URI; they appear together, once all are completely written.
    """
    html_text = render_report(evaluation)
    facts = {
        "labels": evaluation.test.labels,
        "rows": len(evaluation.test.texts),
        "split": "predictions",
        "source_uri": evaluation.test.source,
        "multi_label": evaluation.test.multi_label,
    }
    targets = {"predictions": predictions_uri, "report": report_uri}
    if summary_uri is not None:
        targets["summary"] = summary_uri
    with atomic_outputs(targets) as staged:
        write_parquet(
            predictions_table(evaluation), staged["predictions"], encode_dataset_metadata(facts)
        )
        staged["report"].write_text(html_text, encoding="utf-8")
        if summary_uri is not None:
            staged["summary"].write_text(json.dumps(summary(evaluation), indent=2))
