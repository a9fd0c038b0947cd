"""A training job as the nodes of a TrainJob see it: everything under one prefix they share.

The launcher step `stage`s the job (the worker's job file, the splits and, unless the image ships
it, the base model) under a `Place`: `<staging_uri>/<job name>/` on S3, or, for the SDK's
container backend on one machine, the per-job folder the backend mounts into every node
container. Every node runs `run_staged` (through `python -m components.finetune.worker
.../job.json`): it copies the inputs into its own scratch space, trains as one member of the job,
and rank 0 writes the model and the training result back under `output/`. The launcher then
`fetch`es them, so the rest of the fine-tune step (calibration, manifest, KFP outputs) does not
change. Checkpoints go to the job's checkpoint location, which every node reads when a restarted
TrainJob resumes.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from components.common.uri import (
    download_dir,
    is_s3,
    join,
    local_copy,
    local_path,
    read_bytes,
    upload_dir,
    upload_file,
)
from components.finetune import base_model
from components.finetune.train import Job, train_worker

JOB_FILE = "job.json"
MODEL = "output/model"
RESULT = "output/result.json"


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a TrainJob's nodes meet: `prefix` as the launcher reaches it, `nodes` as the nodes
    do. The same S3 prefix for both, or a host folder and the path it is mounted at."""

    prefix: str
    nodes: str

    def for_nodes(self, uri: str) -> str:
        """`uri` under `prefix` as the nodes name it."""
        return self.nodes + uri[len(self.prefix) :] if uri.startswith(self.prefix) else uri

    def for_launcher(self, uri: str) -> str:
        """A path the nodes name, under `nodes`, as the launcher reaches it."""
        return self.prefix + uri[len(self.nodes) :] if uri.startswith(self.nodes) else uri


def stage(job: Job, place: Place, config_base_model: str) -> str:
    """Copy what the nodes need under the place; returns the nodes' name for their job file.

    The bundled base model (`config_base_model` empty) and one already on S3 are not copied:
    every node reads them where they are.
    """
    inputs = join(place.prefix, "input")
    if not is_s3(place.prefix):
        # The nodes run as the image's unprivileged user: they write the outputs and
        # checkpoints beside the inputs.
        local_path(place.prefix).mkdir(parents=True, exist_ok=True)
        os.chmod(local_path(place.prefix), 0o777)
    if config_base_model == "" or is_s3(config_base_model):
        base = config_base_model
    else:
        base = join(inputs, "base_model")
        upload_dir(Path(job.base_model_dir), base)
    upload_file(Path(job.train_path), join(inputs, "train.parquet"))
    upload_file(Path(job.validation_path), join(inputs, "validation.parquet"))
    staged = dataclasses.replace(
        job,
        base_model_dir=place.for_nodes(base),
        train_path=place.for_nodes(join(inputs, "train.parquet")),
        validation_path=place.for_nodes(join(inputs, "validation.parquet")),
        output_dir=place.for_nodes(join(place.prefix, MODEL)),
        result_path=place.for_nodes(join(place.prefix, RESULT)),
    )
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-stage-") as scratch:
        path = Path(scratch) / JOB_FILE
        staged.write(path)
        upload_file(path, join(place.prefix, JOB_FILE))
    return place.for_nodes(join(place.prefix, JOB_FILE))


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
    model = download_dir(join(prefix, MODEL), Path(job.output_dir))
    if model != Path(job.output_dir):  # a local folder is read where it is
        shutil.copytree(model, job.output_dir, dirs_exist_ok=True)
    Path(job.result_path).write_bytes(read_bytes(join(prefix, RESULT)))
