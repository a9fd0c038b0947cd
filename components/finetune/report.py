"""Training curves for people: an HTML page (chart + table, template `finetune/report.html`)
for the KFP UI's HTML viewer."""

from typing import Any

from matplotlib.figure import Figure

from components.common.html_report import png, render
from components.common.inference import THRESHOLDS_KEY

COLUMNS = ("step", "epoch", "train_loss", "val_loss", "val_macro_f1", "val_accuracy")


def _chart(history: list[dict[str, Any]]) -> Figure:
    epochs = [h["epoch"] for h in history]
    figure = Figure(figsize=(9, 3.2), layout="tight")
    losses, f1 = figure.subplots(1, 2)
    losses.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    losses.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
    losses.set_xlabel("epoch")
    losses.set_title("Loss")
    losses.legend()
    f1.plot(epochs, [h["val_macro_f1"] for h in history], marker="o", color="tab:green")
    f1.set_xlabel("epoch")
    f1.set_title("Validation macro-F1")
    return figure


def training_report_html(result: dict[str, Any]) -> str:
    """A self-contained HTML page: the training curves, one table row per evaluation and, for
    a multi-label model, the decision threshold tuned per label on the validation split."""
    history = result["history"]
    calibration = result.get("calibration") or {}
    return render(
        "finetune/report.html",
        result=result,
        training=result["training"],
        chart=png(_chart(history), alt="training curves", dpi=90),
        columns=COLUMNS,
        rows=[
            [f"{h[c]:.4f}" if isinstance(h[c], float) else h[c] for c in COLUMNS] for h in history
        ],
        calibration=calibration,
        thresholds=[
            [label, f"{value:.2f}"] for label, value in calibration.get(THRESHOLDS_KEY, {}).items()
        ],
    )
