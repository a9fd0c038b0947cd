"""From KFP artifact objects to the plain `finetune` call, and the results back to KFP."""

from pathlib import Path
from typing import Any

from components.common import uri
from components.common.inference import THRESHOLDS_KEY
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.finetune.report import training_report_html
from components.finetune.trainjob import write_rendered


def metric_name(entry: dict[str, Any]) -> str:
    """`epoch_N` for an evaluation at the end of an epoch, else `step_N`."""
    epoch = entry["epoch"]
    if abs(epoch - round(epoch)) < 1e-6:
        return f"epoch_{round(epoch)}"
    return f"step_{entry['step']}"


def run_scoped_checkpoints(model_uri: str) -> str:
    """Where a step keeps its checkpoints when none are named: beside its model output, under
    the pipeline root. KFP gives a retried or rescheduled task the same output URIs, so a retry
    finds the checkpoints of the attempt it replaces, and another run never does."""
    if model_uri.startswith("minio://"):
        # KFP's own name for its MinIO bucket; the step reaches it through the S3 API.
        model_uri = "s3://" + model_uri.removeprefix("minio://")
    if "://" in model_uri and not uri.is_s3(model_uri) and not model_uri.startswith("file://"):
        print(
            f"checkpoints: the pipeline root of {model_uri} is not S3 or local; set checkpoint_uri"
        )
        return ""
    return model_uri.rstrip("/") + "-checkpoints"


def run_scoped_staging(model_uri: str) -> str:
    """Where a TrainJob's nodes meet when no staging_uri is named: beside the model output, if
    the pipeline root is on S3 (which the nodes reach); else none, and the check says so."""
    if model_uri.startswith("minio://"):
        model_uri = "s3://" + model_uri.removeprefix("minio://")
    return model_uri.rstrip("/") + "-trainjob" if uri.is_s3(model_uri) else ""


def _keep_trainjob(artifact: Any, result: dict[str, Any], launcher: str) -> None:
    """The TrainJob the step submitted (YAML), or a line saying where it trained instead."""
    if artifact is None:
        return
    Path(artifact.path).parent.mkdir(parents=True, exist_ok=True)
    if result.get("trainjob") is None and launcher == "trainjob":
        Path(artifact.path).write_text(
            "# launcher=trainjob on the SDK's container backend: the nodes ran as containers on"
            " this machine, staged in the folder it mounts; no TrainJob object was submitted\n"
        )
    elif result.get("trainjob") is None:
        Path(artifact.path).write_text("# launcher=inline: trained in the step's own pod\n")
    else:
        write_rendered(Path(artifact.path), result["trainjob"])


def run_component(
    train: Any,
    validation: Any,
    model: Any,
    metrics: Any,
    training_curves: Any,
    trainjob: Any = None,
    base_model_artifact: Any = None,
    base_model_fingerprint: str = "",
    check_only: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Fine-tune from KFP artifacts; log metrics, the model's metadata and the curves page.

    `base_model_fingerprint` only keys KFP's cache (the training reads the base model itself).
    Without a `checkpoint_uri` the run checkpoints to `run_scoped_checkpoints` and removes them
    once the model is written. `check_only` checks the settings and inputs and writes nothing.
    """
    if base_model_artifact is not None:
        settings["base_model"] = base_model_artifact.path
    scoped = "" if settings.get("checkpoint_uri") else run_scoped_checkpoints(model.uri)
    if scoped:
        settings["checkpoint_uri"] = scoped
    if settings.get("launcher") == "trainjob" and not settings.get("staging_uri"):
        settings["staging_uri"] = run_scoped_staging(model.uri)
    config = FinetuneConfig(**settings)
    if check_only:
        checked = finetune(train.path, validation.path, model.path, config, check_only=True)
        print(f"fine-tune settings and inputs checked: {checked['task']}, {checked['labels']}")
        _keep_trainjob(trainjob, checked, config.launcher)
        return checked
    result = finetune(train.path, validation.path, model.path, config)
    _keep_trainjob(trainjob, result, config.launcher)
    if scoped:
        uri.delete_tree(scoped)
    model.metadata.update(
        {
            "framework": "transformers",
            "task": result["task"],
            "labels": result["labels"],
            "base_model": result["base_model"],
            **result["metrics"],
        }
    )
    if THRESHOLDS_KEY in result["calibration"]:
        model.metadata[THRESHOLDS_KEY] = result["calibration"][THRESHOLDS_KEY]
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
