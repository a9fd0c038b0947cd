"""One DDP worker: `python -m torch.distributed.run ... -m components.finetune.worker JOB`.

`finetune` launches this through torchrun when `num_workers > 1`, with JOB a local job file
that holds everything the worker needs, already checked by the launching process. The nodes of
a TrainJob run it with JOB an s3:// job file staged by the launcher (components/finetune/
staging.py); torchrun there takes the rendezvous from the environment Kubeflow Trainer injects.
On the SDK's container backend the nodes run `run_node` with the job file in the folder the
backend mounts.
"""

import io
import os
import sys
from pathlib import Path
from typing import TextIO

from components.common.errors import run_cli
from components.common.uri import is_s3
from components.finetune.staging import run_staged
from components.finetune.train import Job, train_worker


class NodeTagged(io.TextIOBase):
    """Prefixes every line with `[node N] `: the launcher tells the nodes' logs apart by it."""

    def __init__(self, stream: TextIO, node: str):
        self.stream, self.tag, self.pending = stream, f"[node {node}] ", ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.stream.write(self.tag + line + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def run_node(job_uri: str) -> None:
    """One process of a TrainJob node, on the job staged at `job_uri`, its output tagged."""
    # torchrun sets GROUP_RANK to this node's rank and RANK to this process's global rank.
    node = os.environ.get("GROUP_RANK", "0")
    sys.stdout = NodeTagged(sys.__stdout__, node)
    sys.stderr = NodeTagged(sys.__stderr__, node)
    run_staged(job_uri, rank=int(os.environ.get("RANK", "0")))


def main(argv: list[str] | None = None) -> None:
    (job,) = sys.argv[1:] if argv is None else argv
    if is_s3(job):
        run_node(job)
    else:
        train_worker(Job.read(Path(job)))


if __name__ == "__main__":
    run_cli(main)
