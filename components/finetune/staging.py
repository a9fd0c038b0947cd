"""A training job as the nodes of a TrainJob see it: everything under one S3 prefix.

The launcher step `stage`s the job (the worker's job file, the splits and, unless the image ships
it, the base model) under `<staging_uri>/<job name>/`. Every node runs `run_staged` (through
`python -m components.finetune.worker s3://.../job.json`): it copies the inputs into its own
scratch space, trains as one member of the job, and rank 0 writes the model and the training
result back under `output/`. The launcher then `fetch`es them, so the rest of the fine-tune step
(calibration, manifest, KFP outputs) does not change. Checkpoints go to the job's S3 checkpoint
location, which every node reads when a restarted TrainJob resumes.
"""

import contextlib
import dataclasses
import json
import tempfile
from pathlib import Path

from components.common.uri import (
    download_dir,
    is_s3,
    join,
    local_copy,
    read_bytes,
    upload_dir,
    upload_file,
)
from components.finetune import base_model
from components.finetune.train import Job, train_worker

JOB_FILE = "job.json"
MODEL = "output/model"
RESULT = "output/result.json"


def stage(job: Job, prefix: str, config_base_model: str) -> str:
    """Upload what the nodes need under `prefix`; returns the URI of the nodes' job file.

    The bundled base model (`config_base_model` empty) and one already on S3 are not copied:
    every node reads them where they are.
    """
    inputs = join(prefix, "input")
    if config_base_model == "" or is_s3(config_base_model):
        base = config_base_model
    else:
        base = join(inputs, "base_model")
        upload_dir(Path(job.base_model_dir), base)
    upload_file(Path(job.train_path), join(inputs, "train.parquet"))
    upload_file(Path(job.validation_path), join(inputs, "validation.parquet"))
    staged = dataclasses.replace(
        job,
        base_model_dir=base,
        train_path=join(inputs, "train.parquet"),
        validation_path=join(inputs, "validation.parquet"),
        output_dir=join(prefix, MODEL),
        result_path=join(prefix, RESULT),
    )
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-stage-") as scratch:
        path = Path(scratch) / JOB_FILE
        staged.write(path)
        upload_file(path, join(prefix, JOB_FILE))
    return join(prefix, JOB_FILE)


def run_staged(job_uri: str, rank: int) -> None:
    """One node process: copy the staged inputs here, train, and (rank 0) write the outputs."""
    staged = Job(**json.loads(read_bytes(job_uri)))
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kfp-nlp-node-")))
        local = dataclasses.replace(
            staged,
            base_model_dir=str(base_model.resolve(staged.base_model_dir, scratch)),
            train_path=str(stack.enter_context(local_copy(staged.train_path))),
            validation_path=str(stack.enter_context(local_copy(staged.validation_path))),
            output_dir=str(scratch / "model"),
            result_path=str(scratch / "result.json"),
        )
        train_worker(local)
        if rank == 0:
            upload_dir(Path(local.output_dir), staged.output_dir)
            upload_file(Path(local.result_path), staged.result_path)


def fetch(prefix: str, job: Job) -> None:
    """Copy the model and the training result rank 0 wrote under `prefix` to the job's paths."""
    download_dir(join(prefix, MODEL), Path(job.output_dir))
    Path(job.result_path).write_bytes(read_bytes(join(prefix, RESULT)))
