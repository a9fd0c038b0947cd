"""The evaluation report: one self-contained HTML page (template `evaluate/report.html`).

Here the page's pictures (matplotlib figures, inlined as PNG) and tables are built from the
evaluation; the template lays them out with the text around them, escaping every value.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from components.common.html_report import num, png, render
from components.evaluate.baseline import BASELINE_NAME
from components.evaluate.metrics import reported_metrics
from components.evaluate.result import Evaluation

_COUNT_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")
_MULTI_LABEL_COUNT_METRICS = ("subset_accuracy", "macro_f1", "micro_f1", "weighted_f1")
_PER_CLASS_HEADER = [
    "label",
    "precision",
    "recall",
    "F1",
    "support",
    "predicted",
    "ROC-AUC",
    "PR-AUC",
]


def confusion_figure(matrix: list[list[int]], labels: list[str]) -> Figure:
    """Heat map of the confusion matrix, coloured by row share, annotated with counts."""
    cm = np.array(matrix, dtype=float)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = min(max(4.0, 0.7 * len(labels) + 2), 16.0)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    for (i, j), count in np.ndenumerate(cm):
        color = "white" if share[i, j] > 0.5 else "black"
        ax.text(j, i, f"{int(count)}", ha="center", va="center", color=color, fontsize=9)
    ax.set_title("Confusion matrix")
    return fig


def per_class_figure(per_class: list[dict[str, Any]]) -> Figure:
    """Precision, recall and F1 per class as grouped bars (undefined values are not drawn)."""
    labels = [row["label"] for row in per_class]
    x = np.arange(len(labels))
    fig = Figure(figsize=(min(max(6.0, 1.1 * len(labels) + 2), 20.0), 4))
    ax = fig.add_subplot()
    for offset, name in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1"), strict=True):
        values = [np.nan if row[name] is None else row[name] for row in per_class]
        ax.bar(x + offset, values, width=0.27, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("score")
    ax.legend(loc="upper center", ncol=3)
    ax.set_title("Per-class precision, recall and F1")
    return fig


def reliability_figure(calibration: dict[str, list], ece: float) -> Figure:
    """Reliability diagram: accuracy against mean confidence per bin, with bin counts below."""
    fig = Figure(figsize=(6, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lower = np.array(calibration["lower"])
    width = lower[1] - lower[0]
    accuracy = [np.nan if a is None else a for a in calibration["accuracy"]]
    top.bar(lower, accuracy, width=width, align="edge", edgecolor="black", label="accuracy")
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.legend(loc="upper left")
    top.set_title(f"Reliability diagram (ECE {ece:.4f})")
    bottom.bar(lower, calibration["count"], width=width, align="edge", color="grey")
    bottom.set_xlabel("confidence (top label)")
    bottom.set_ylabel("texts")
    bottom.set_xlim(0, 1)
    return fig


def comparison_figure(
    challenger: dict[str, Any], champion: dict[str, Any], metrics: Sequence[str]
) -> Figure:
    """Challenger and champion side by side on the count-based metrics."""
    x = np.arange(len(metrics))
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [champion[m] for m in metrics], width=0.4, label="champion", color="grey")
    ax.bar(x + 0.2, [challenger[m] for m in metrics], width=0.4, label="challenger")
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.2)
    ax.legend(loc="upper center", ncol=2)
    ax.set_title("Champion vs challenger")
    return fig


def slice_figure(slices: list[dict[str, Any]], metric: str) -> Figure:
    """The headline metric per slice value, with its bootstrap interval."""
    names = [f"{row['column']}={row['value']} (n={row['n']})" for row in slices]
    values = np.array([row[metric] if row[metric] is not None else np.nan for row in slices])
    low = np.array([row[f"{metric}_ci"][0] for row in slices])
    high = np.array([row[f"{metric}_ci"][1] for row in slices])
    fig = Figure(figsize=(8, max(2.5, 0.35 * len(slices) + 1)))
    ax = fig.add_subplot()
    y = np.arange(len(slices))
    errors = np.vstack([np.maximum(values - low, 0), np.maximum(high - values, 0)])
    ax.barh(y, values, xerr=errors, capsize=3)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} per slice (with confidence interval)")
    return fig


def _count_metrics(evaluation: Evaluation) -> tuple[str, ...]:
    return _MULTI_LABEL_COUNT_METRICS if evaluation.test.multi_label else _COUNT_METRICS


def _metric_rows(evaluation: Evaluation) -> list[list[Any]]:
    decision = evaluation.decision
    champion = decision.champion
    return [
        [name, num(decision.challenger[name])] + ([num(champion[name])] if champion else [])
        for name in reported_metrics(evaluation.test.multi_label)
    ]


def _per_class_rows(evaluation: Evaluation) -> list[list[Any]]:
    rows = [
        [r["label"]]
        + [num(r[k]) for k in ("precision", "recall", "f1")]
        + [r["support"], r["predicted"], num(r["roc_auc"]), num(r["pr_auc"])]
        for r in evaluation.decision.challenger["per_class"]
    ]
    if evaluation.thresholds is not None:
        for row, threshold in zip(rows, evaluation.thresholds, strict=True):
            row.append(f"{threshold:.2f}")
    return rows


def _slice_table(evaluation: Evaluation, metric: str) -> dict[str, Any]:
    """The slice table's header and rows, and a note per column not shown in full."""
    slices = evaluation.slices
    champion_key = f"champion_{metric}"
    has_champion = bool(slices) and champion_key in slices[0]
    names = reported_metrics(evaluation.test.multi_label)
    header = ["column", "value", "n", *names, f"{metric} CI"]
    header += ["champion " + metric] if has_champion else []
    rows = [
        [r["column"], r["value"], r["n"]]
        + [num(r[name]) for name in names]
        + ["{:.3f} to {:.3f}".format(*r[f"{metric}_ci"])]
        + ([num(r[champion_key])] if has_champion else [])
        for r in slices
    ]
    shown = Counter(r["column"] for r in slices)
    totals = {r["column"]: r["values_in_column"] for r in slices}
    partial = [(c, totals[c], count) for c, count in shown.items() if totals[c] > count]
    return {"header": header, "rows": rows, "partial": partial}


def _pictures(evaluation: Evaluation, metric: str) -> dict[str, str]:
    """The page's figures as inline PNG, by section."""
    decision = evaluation.decision
    report = decision.challenger
    pictures = {"per_class": png(per_class_figure(report["per_class"]))}
    if not evaluation.test.multi_label:
        labels = evaluation.test.labels
        pictures["confusion"] = png(confusion_figure(report["confusion_matrix"], labels))
        pictures["reliability"] = png(reliability_figure(report["calibration"], report["ece"]))
    if decision.comparison is not None:
        figure = comparison_figure(report, decision.champion, _count_metrics(evaluation))
        pictures["comparison"] = png(figure)
    if evaluation.slices:
        pictures["slices"] = png(slice_figure(evaluation.slices, metric))
    return pictures


def render_report(evaluation: Evaluation) -> str:
    """The whole report as one HTML document."""
    metric = evaluation.config.headline_metric
    decision = evaluation.decision
    return render(
        "evaluate/report.html",
        evaluation=evaluation,
        decision=decision,
        metric=metric,
        level=f"{evaluation.config.confidence:.0%}",
        metric_rows=_metric_rows(evaluation),
        check_rows=[
            [c["check"], "yes" if c["passed"] else "no", c["detail"]] for c in decision.checks
        ],
        per_class_header=[*_PER_CLASS_HEADER]
        + (["threshold"] if evaluation.thresholds is not None else []),
        per_class_rows=_per_class_rows(evaluation),
        baseline_rows=[
            [name, num(decision.challenger[name]), num(decision.baseline[name])]
            for name in _count_metrics(evaluation)
        ]
        if decision.baseline_comparison
        else [],
        slice_table=_slice_table(evaluation, metric),
        mistake_rows=[
            [m["text"], m["label"], m["predicted"], f"{m['confidence']:.3f}", m["row"]]
            for m in evaluation.mistakes
        ],
        pictures=_pictures(evaluation, metric),
        baseline_name=BASELINE_NAME,
    )
