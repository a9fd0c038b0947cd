"""The evaluation report: one self-contained HTML page with its pictures embedded as PNG.

The KFP UI shows an HTML artifact in a sandboxed frame with no access to other files, so every
picture is a matplotlib figure rendered to PNG and inlined as a base64 `data:` URI. Texts and
labels come from users' data and are escaped everywhere.
"""

import base64
import html
import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from components.evaluate.baseline import BASELINE_NAME
from components.evaluate.metrics import reported_metrics

if TYPE_CHECKING:
    from components.evaluate.evaluation import Evaluation

_DPI = 100
_COUNT_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")
_MULTI_LABEL_COUNT_METRICS = ("subset_accuracy", "macro_f1", "micro_f1", "weighted_f1")
CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td { white-space: nowrap; }
td.text { text-align: left; max-width: 560px; white-space: normal; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.approved { background: #e3f5e1; border: 1px solid #4caf50; }
.rejected { background: #fde7e7; border: 1px solid #e53935; }
.na { color: #999; } img { max-width: 100%; display: block; margin: 8px 0; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return '<span class="na">undefined</span>'
    return f"{value:.{digits}f}"


def png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{encoded}">'


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 0) -> str:
    """An HTML table; cells must already be escaped. The first `text_columns` are left-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{cell}</td>' if i < text_columns else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


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


def _count_metrics(evaluation: "Evaluation") -> tuple[str, ...]:
    return _MULTI_LABEL_COUNT_METRICS if evaluation.test.multi_label else _COUNT_METRICS


def _summary_section(evaluation: "Evaluation", metric: str) -> str:
    decision = evaluation.decision
    champion = decision.champion
    header = ["metric", "challenger"] + (["champion"] if champion else [])
    rows = [
        [_e(name), _num(decision.challenger[name])] + ([_num(champion[name])] if champion else [])
        for name in reported_metrics(evaluation.test.multi_label)
    ]
    low, high = decision.headline_interval
    level = f"{evaluation.config.confidence:.0%}"
    absent = decision.challenger["absent_classes"]
    multi_note = (
        "<p>Multi-label: a row's prediction is every label at or above that label's decision "
        "threshold (tuned on the validation split, see the per-label table); subset accuracy "
        "counts rows whose whole label set is right, Hamming loss the share of wrong label "
        "decisions; F1 averages run over labels.</p>"
        if evaluation.test.multi_label
        else ""
    )
    absent_note = (
        f"<p>Classes absent from the test set (their recall and F1 are undefined and they "
        f"are left out of the averages): {_e(', '.join(absent))}</p>"
        if absent
        else ""
    )
    checks = html_table(
        ["check", "passed", "detail"],
        [
            [_e(c["check"]), "yes" if c["passed"] else "no", _e(c["detail"])]
            for c in decision.checks
        ],
        text_columns=1,
    )
    return (
        f"<h2>Metrics</h2><p>{_e(metric)}: <b>{_num(decision.challenger[metric])}</b> "
        f"({level} bootstrap CI {_num(low)} to {_num(high)}) on "
        f"{decision.challenger['n']} test texts.</p>{multi_note}{absent_note}"
        f"{html_table(header, rows, text_columns=1)}"
        + (f"<h2>Gate checks</h2>{checks}" if decision.checks else "")
    )


def _per_class_section(
    per_class: list[dict[str, Any]], thresholds: list[float] | None = None
) -> str:
    header = ["label", "precision", "recall", "F1", "support", "predicted", "ROC-AUC", "PR-AUC"]
    rows = [
        [_e(r["label"])]
        + [_num(r[k]) for k in ("precision", "recall", "f1")]
        + [str(r["support"]), str(r["predicted"]), _num(r["roc_auc"]), _num(r["pr_auc"])]
        for r in per_class
    ]
    if thresholds is not None:
        header.append("threshold")
        for row, threshold in zip(rows, thresholds, strict=True):
            row.append(f"{threshold:.2f}")
    return html_table(header, rows, text_columns=1)


def _comparison_section(evaluation: "Evaluation") -> str:
    decision = evaluation.decision
    if decision.comparison is None:
        return "<h2>Champion vs challenger</h2><p>No champion was given: absolute checks only.</p>"
    c = decision.comparison
    figure = png(
        comparison_figure(decision.challenger, decision.champion, _count_metrics(evaluation))
    )
    level = f"{evaluation.config.confidence:.0%}"
    return (
        "<h2>Champion vs challenger</h2>"
        f"<p>Champion: {_e(evaluation.champion_source)}. Both models scored on the same "
        f"{decision.challenger['n']} texts; {_e(c.metric)} difference "
        f"(challenger - champion) {c.delta:+.4f}, paired bootstrap {level} CI "
        f"{c.delta_low:+.4f} to {c.delta_high:+.4f}; required lower bound "
        f"{'above' if evaluation.config.require_improvement else 'at least'} "
        f"{c.required_low:+.4f}.</p>{figure}"
    )


def _baseline_section(evaluation: "Evaluation") -> str:
    """The model beside a TF-IDF + logistic regression baseline trained on the same train split."""
    decision = evaluation.decision
    c = decision.baseline_comparison
    if c is None:
        return (
            "<h2>Classic baseline</h2><p>No train split was given, so no "
            f"{_e(BASELINE_NAME)} baseline was scored.</p>"
        )
    rows = [
        [_e(name), _num(decision.challenger[name]), _num(decision.baseline[name])]
        for name in _count_metrics(evaluation)
    ]
    level = f"{evaluation.config.confidence:.0%}"
    required = evaluation.config.require_beat_baseline
    multi = evaluation.test.multi_label
    verdict = "beats" if c.beats else "does not beat"
    return (
        "<h2>Classic baseline</h2>"
        f"<p>{_e(BASELINE_NAME)} (word uni- and bigrams"
        + ("; one-vs-rest, each label predicted at probability 0.5 or more" if multi else "")
        + "), trained on the same train split and "
        f"scored on the same {decision.challenger['n']} test texts. The model {verdict} it: "
        f"{_e(c.metric)} difference (model - baseline) {c.delta:+.4f}, paired bootstrap "
        f"{level} CI {c.delta_low:+.4f} to {c.delta_high:+.4f}"
        + (
            "; the gate requires the model to beat it (require_beat_baseline).</p>"
            if required
            else ".</p>"
        )
        + html_table(["metric", "model", "baseline"], rows, text_columns=1)
    )


def _slice_section(evaluation: "Evaluation", metric: str) -> str:
    slices = evaluation.slices
    if not slices:
        return ""
    champion_key = f"champion_{metric}"
    has_champion = bool(slices) and champion_key in slices[0]
    names = reported_metrics(evaluation.test.multi_label)
    header = ["column", "value", "n", *names]
    header += [f"{metric} CI"] + (["champion " + metric] if has_champion else [])
    rows = []
    for r in slices:
        low, high = r[f"{metric}_ci"]
        rows.append(
            [_e(r["column"]), _e(r["value"]), str(r["n"])]
            + [_num(r[name]) for name in names]
            + [f"{low:.3f} to {high:.3f}"]
            + ([_num(r[champion_key])] if has_champion else [])
        )
    shown = Counter(r["column"] for r in slices)
    totals = {r["column"]: r["values_in_column"] for r in slices}
    notes = "".join(
        f"<p>{_e(column)} has {totals[column]} values; the {count} most frequent are shown.</p>"
        for column, count in shown.items()
        if totals[column] > count
    )
    return (
        "<h2>Slices</h2>"
        + png(slice_figure(slices, metric))
        + html_table(header, rows, text_columns=2)
        + notes
    )


def _mistakes_section(mistakes: list[dict[str, Any]]) -> str:
    if not mistakes:
        return "<h2>Most confident mistakes</h2><p>None: every test text was classified right.</p>"
    rows = [
        [_e(m["text"]), _e(m["label"]), _e(m["predicted"]), f"{m['confidence']:.3f}", str(m["row"])]
        for m in mistakes
    ]
    return "<h2>Most confident mistakes</h2>" + html_table(
        ["text", "true label", "predicted", "confidence", "row"], rows, text_columns=3
    )


def _calibration_note(evaluation: "Evaluation", ece: float | None) -> str:
    if not evaluation.calibration:
        return ""
    c = evaluation.calibration
    if ece is None:
        return (
            f"<p>Temperature scaling (T = {c['temperature']:.3g}, fitted on the validation "
            "split) divides the logits before the sigmoids; the decision thresholds apply to "
            "these calibrated probabilities.</p>"
        )
    return (
        f"<p>Temperature scaling (T = {c['temperature']:.3g}, fitted on the validation split): "
        f"ECE {c['ece_uncalibrated']:.4f} before, {ece:.4f} after.</p>"
    )


def _class_sections(evaluation: "Evaluation") -> list[str]:
    """Confusion matrix, per-class table and calibration; multi-label data has no confusion
    matrix or reliability diagram (one label per row), and its per-label table has thresholds."""
    report = evaluation.decision.challenger
    if evaluation.test.multi_label:
        return [
            "<h2>Per label</h2>",
            png(per_class_figure(report["per_class"])),
            _per_class_section(report["per_class"], evaluation.thresholds),
            "<h2>Calibration</h2>",
            _calibration_note(evaluation, None),
        ]
    return [
        "<h2>Confusion matrix</h2>",
        png(confusion_figure(report["confusion_matrix"], evaluation.test.labels)),
        "<h2>Per class</h2>",
        png(per_class_figure(report["per_class"])),
        _per_class_section(report["per_class"]),
        "<h2>Calibration</h2>",
        _calibration_note(evaluation, report["ece"]),
        png(reliability_figure(report["calibration"], report["ece"])),
    ]


def render_report(evaluation: "Evaluation") -> str:
    """The whole report as one HTML document."""
    decision = evaluation.decision
    metric = evaluation.config.headline_metric
    verdict = "approved" if decision.approved else "rejected"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>Evaluation report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Evaluation report</h1>",
        f'<p class="verdict {verdict}">{_e(decision.reason)}</p>',
        f"<p>Model: {_e(evaluation.model_source)}<br>Test set: {_e(evaluation.test.source)}"
        f"<br>Labels: {_e(', '.join(evaluation.test.labels))}</p>",
        _summary_section(evaluation, metric),
        _comparison_section(evaluation),
        _baseline_section(evaluation),
        *_class_sections(evaluation),
        _slice_section(evaluation, metric),
        _mistakes_section(evaluation.mistakes),
        "</body></html>",
    ]
    return "\n".join(parts)
