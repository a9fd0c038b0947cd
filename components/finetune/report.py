"""Training curves for people: an HTML page (chart + table) for the KFP UI's HTML viewer."""

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a container; chosen before pyplot loads
import matplotlib.pyplot as plt

from components.common.inference import THRESHOLDS_KEY


def _chart_png(history: list[dict[str, Any]]) -> bytes:
    epochs = [h["epoch"] for h in history]
    figure, (losses, f1) = plt.subplots(1, 2, figsize=(9, 3.2))
    losses.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    losses.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
    losses.set_xlabel("epoch")
    losses.set_title("Loss")
    losses.legend()
    f1.plot(epochs, [h["val_macro_f1"] for h in history], marker="o", color="tab:green")
    f1.set_xlabel("epoch")
    f1.set_title("Validation macro-F1")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _thresholds_html(calibration: dict[str, Any]) -> str:
    """Multi-label: the decision threshold tuned per label on the validation split."""
    tuned = calibration.get(THRESHOLDS_KEY)
    if not tuned:
        return ""
    rows = "\n".join(
        f"<tr><td style='text-align:left'>{html.escape(label)}</td><td>{value:.2f}</td></tr>"
        for label, value in tuned.items()
    )
    return (
        "<h3>Decision thresholds</h3>\n<p>A label is predicted when its calibrated probability "
        "is at least its threshold, tuned for that label's F1 on the validation split "
        f"(validation macro-F1 {calibration['val_macro_f1_at_default_threshold']:.4f} at 0.5, "
        f"{calibration['val_macro_f1_at_thresholds']:.4f} at these).</p>\n"
        f"<table><tr><th>label</th><th>threshold</th></tr>\n{rows}\n</table>"
    )


def training_report_html(result: dict[str, Any]) -> str:
    """A self-contained HTML page: the training curves and one table row per evaluation."""
    history = result["history"]
    image = base64.b64encode(_chart_png(history)).decode()
    columns = ["step", "epoch", "train_loss", "val_loss", "val_macro_f1", "val_accuracy"]
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{h[c]:.4f}</td>" if isinstance(h[c], float) else f"<td>{h[c]}</td>"
            for c in columns
        )
        + "</tr>"
        for h in history
    )
    training = result["training"]
    summary = (
        f"{result['task'].replace('_', '-')} classifier on {html.escape(result['base_model'])}; "
        f"{training['steps']} steps, {training['workers']} worker(s), {training['precision']}; "
        f"best at step {training['best_step']}"
        + (" (stopped early)" if training["stopped_early"] else "")
    )
    header = "".join(f"<th>{c}</th>" for c in columns)
    thresholds = _thresholds_html(result.get("calibration") or {})
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Fine-tuning curves</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:right}}</style>
</head><body>
<h3>Fine-tuning curves</h3>
<p>{summary}</p>
<img alt="training curves" src="data:image/png;base64,{image}">
<table><tr>{header}</tr>
{rows}
</table>
{thresholds}
</body></html>
"""
