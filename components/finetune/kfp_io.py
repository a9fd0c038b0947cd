"""From KFP artifact objects to the plain `finetune` call, and the results back to KFP."""

from pathlib import Path
from typing import Any

from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.finetune.report import training_report_html


def metric_name(entry: dict[str, Any]) -> str:
    """`epoch_N` for an evaluation at the end of an epoch, else `step_N`."""
    epoch = entry["epoch"]
    if abs(epoch - round(epoch)) < 1e-6:
        return f"epoch_{round(epoch)}"
    return f"step_{entry['step']}"


def run_component(
    train: Any,
    validation: Any,
    model: Any,
    metrics: Any,
    training_curves: Any,
    base_model_artifact: Any = None,
    **settings: Any,
) -> dict[str, Any]:
    """Fine-tune from KFP artifacts; log metrics, the model's metadata and the curves page."""
    if base_model_artifact is not None:
        settings["base_model"] = base_model_artifact.path
    config = FinetuneConfig(**settings)
    result = finetune(train.path, validation.path, model.path, config)
    model.metadata.update(
        {
            "framework": "transformers",
            "task": result["task"],
            "labels": result["labels"],
            "base_model": result["base_model"],
            **result["metrics"],
        }
    )
    for entry in result["history"]:
        name = metric_name(entry)
        for key in ("train_loss", "val_loss", "val_macro_f1"):
            metrics.log_metric(f"{name}_{key}", round(entry[key], 6))
    for key, value in result["metrics"].items():
        metrics.log_metric(key, round(value, 6))
    training = result["training"]
    if training["train_seconds"] > 0:
        rate = training["train_samples"] / training["train_seconds"]
        metrics.log_metric("train_examples_per_second", round(rate, 2))
    Path(training_curves.path).parent.mkdir(parents=True, exist_ok=True)
    Path(training_curves.path).write_text(training_report_html(result))
    return result
