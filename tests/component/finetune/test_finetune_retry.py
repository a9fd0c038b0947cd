"""A fine-tuning step killed mid-run and run again as KFP retries it resumes from its checkpoint.

The step is the compiled finetune_classifier command with its executor input, as the KFP
launcher runs it (tests/kfp_launcher.py); the pipeline passes no checkpoint_uri, so the step
checkpoints beside its model output. SIGKILL to its process group stands in for a preempted
node; the retry is the same command with the same executor input, which is what the backend
runs again (it gives a retried task the same output URIs).
"""

import json
import os
import signal
import time
from pathlib import Path

from kfp_launcher import command, start

# Eight optimizer steps, a checkpoint every two: small, and still killed mid-run.
SETTINGS = {
    "epochs": 2,
    "batch_size": 16,
    "learning_rate": 1e-4,
    "max_train_samples": 64,
    "max_length": 32,
    "checkpoint_steps": 2,
    "log_steps": 2,
}


def _complete_steps(checkpoints: Path) -> list[str]:
    return sorted(p.name for p in checkpoints.glob("step-*") if (p / "COMPLETE").is_file())


def test_a_killed_fine_tune_resumes_from_its_run_scoped_checkpoint(splits, tmp_path: Path):
    train, validation = splits
    outputs = tmp_path / "pipeline-root" / "run-1" / "finetune-classifier"
    cmd = command(
        "finetune_classifier",
        outputs,
        SETTINGS,
        {
            "train": (str(train), "system.Dataset"),
            "validation": (str(validation), "system.Dataset"),
        },
    )
    checkpoints = outputs.parent / "finetune-classifier" / "model-checkpoints"

    first = start(cmd)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None and not _complete_steps(checkpoints):
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    saved = int(_complete_steps(checkpoints)[-1].removeprefix("step-"))
    assert not (outputs / "model" / "model.safetensors").exists()

    retry = start(cmd)
    stdout, stderr = retry.communicate(timeout=300)

    assert retry.returncode == 0, stderr
    assert f"resumed from checkpoint at step {saved}" in stdout + stderr
    assert (outputs / "model" / "model.safetensors").is_file()
    executor_output = json.loads((outputs / "executor_output.json").read_text())
    assert executor_output["artifacts"]["model"]["artifacts"][0]["metadata"]["labels"]
    # The run-scoped checkpoints are removed once the model is written.
    assert not checkpoints.exists()
