"""The monitoring report: one self-contained HTML page (template `monitor/report.html`), its
pictures inlined as PNG as the evaluation report's are, so the KFP UI's sandboxed frame shows it."""

import numpy as np
from matplotlib.figure import Figure

from components.common.html_report import png, render
from components.monitor import statistics as st
from components.monitor.result import Monitoring

_REF, _CUR = "#607d8b", "#ef6c00"


def _distributions(result: Monitoring) -> Figure:
    """Text length and confidence, reference against the window."""
    fig = Figure(figsize=(10, 3.4))
    left, right = fig.subplots(1, 2)
    ref, cur = result.reference, result.current
    top = max(np.percentile(ref.lengths, 99), np.percentile(cur.lengths, 99), 1)
    bins = np.linspace(0, top, 30)
    for ax, a, b, title in (
        (left, ref.lengths, cur.lengths, "Characters per text"),
        (right, ref.probs.max(1), cur.probs.max(1), "Top calibrated probability"),
    ):
        edges = bins if ax is left else np.linspace(0, 1, 21)
        ax.hist(a, edges, density=True, alpha=0.55, color=_REF, label="reference")
        ax.hist(b, edges, density=True, alpha=0.55, color=_CUR, label="window")
        ax.set_title(title)
        ax.legend()
    return fig


def _shares(result: Monitoring) -> Figure:
    """Predicted label shares and the kind of text, reference against the window."""
    ref, cur = result.reference, result.current
    k = len(result.labels)
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    rows = [
        (
            left,
            np.bincount(ref.probs.argmax(1), minlength=k),
            np.bincount(cur.probs.argmax(1), minlength=k),
            result.labels,
            "Predicted labels",
        ),
    ]
    if ref.texts is not None and cur.texts is not None:
        n = len(st.TEXT_KINDS)
        rows.append(
            (
                right,
                np.bincount([st.char_class(t) for t in ref.texts], minlength=n),
                np.bincount([st.char_class(t) for t in cur.texts], minlength=n),
                list(st.TEXT_KINDS),
                "Kind of text",
            )
        )
    else:
        right.set_axis_off()
    for ax, a, b, names, title in rows:
        x = np.arange(len(names))
        ax.bar(x - 0.2, a / max(a.sum(), 1), 0.4, color=_REF, label="reference")
        ax.bar(x + 0.2, b / max(b.sum(), 1), 0.4, color=_CUR, label="window")
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel("share")
        ax.set_title(title)
        ax.legend()
    return fig


def _embeddings(result: Monitoring) -> Figure | None:
    """The sentence embeddings projected on the reference's first two principal components."""
    ref, cur = result.reference.embeddings, result.current.embeddings
    if ref is None or cur is None:
        return None
    mean = ref.mean(0)
    _, _, axes = np.linalg.svd(ref - mean, full_matrices=False)
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for points, color, name in ((ref, _REF, "reference"), (cur, _CUR, "window")):
        xy = (points - mean) @ axes[:2].T
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5, color=color, label=name)
    ax.set_title("Sentence embeddings (reference PCA)")
    ax.legend()
    return fig


def _estimate(result: Monitoring) -> Figure:
    """Estimated macro-F1 with its interval, against the reference (and the real one)."""
    e = result.estimate
    names, values, errors = [], [], []
    if e.get("reference_macro_f1") is not None:
        names.append("reference\n(real)")
        values.append(e["reference_macro_f1"])
        errors.append((0, 0))
    names.append("window\n(estimated)")
    values.append(e["expected_macro_f1"])
    errors.append(
        (
            e["expected_macro_f1"] - e["expected_macro_f1_low"],
            e["expected_macro_f1_high"] - e["expected_macro_f1"],
        )
    )
    if "macro_f1" in e:
        names.append("window\n(real, labelled)")
        values.append(e["macro_f1"])
        errors.append((0, 0))
    fig = Figure(figsize=(5, 3.4))
    ax = fig.subplots()
    x = np.arange(len(names))
    ax.bar(x, values, color=[_REF] + [_CUR] * (len(names) - 1), yerr=np.array(errors).T, capsize=6)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.05)
    ax.set_title("Macro-F1")
    return fig


def render_report(result: Monitoring) -> str:
    """The whole report as one HTML document."""
    pictures = []
    if result.reference is not None and result.current is not None and len(result.current):
        pictures = [png(_distributions(result)), png(_shares(result))]
        figure = _embeddings(result)
        if figure is not None:
            pictures.append(png(figure))
    return render(
        "monitor/report.html",
        result=result,
        test_rows=[
            [
                t["name"],
                t["what"],
                f"{t['p_value']:.3g}",
                "drift" if t["p_value"] < result.threshold else "ok",
            ]
            for t in result.tests
        ],
        estimate_picture=png(_estimate(result)) if result.tests else "",
        estimate_rows=[[k, f"{v:.4f}"] for k, v in result.estimate.items() if v is not None],
        pictures=pictures,
    )
