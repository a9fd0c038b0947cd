"""One DDP worker: `python -m torch.distributed.run ... -m components.finetune.worker JOB.json`.

`finetune` launches this through torchrun when `num_workers > 1`; the job file holds everything
the worker needs, already checked by the launching process.
"""

import sys
from pathlib import Path

from components.common.errors import run_cli
from components.finetune.train import Job, train_worker


def main(argv: list[str] | None = None) -> None:
    (job_path,) = sys.argv[1:] if argv is None else argv
    train_worker(Job.read(Path(job_path)))


if __name__ == "__main__":
    run_cli(main)
