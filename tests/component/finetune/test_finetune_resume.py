"""Kill the real CLI with SIGKILL in the middle of a checkpoint save, stop it with SIGTERM, and
re-run it: it resumes from the newest complete checkpoint and ends where an uninterrupted run
ends."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
from conftest import REFERENCE_SETTINGS, plain_predictions

from components.finetune.checkpoint import CheckpointStore

REPO = Path(__file__).resolve().parents[3]


def _command(train: Path, validation: Path, output: Path, checkpoints: Path) -> list[str]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in REFERENCE_SETTINGS.items()]
    return [
        sys.executable,
        "-m",
        "components.finetune",
        f"--train={train}",
        f"--validation={validation}",
        f"--output={output}",
        f"--checkpoint-uri={checkpoints}",
        *flags,
    ]


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _complete_steps(checkpoints: Path) -> list[str]:
    return sorted(p.name for p in checkpoints.glob("step-*") if (p / "COMPLETE").is_file())


def test_resume_after_sigkill_mid_save_and_sigterm(splits, reference_run, tmp_path):
    train, validation = splits
    checkpoints, output = tmp_path / "checkpoints", tmp_path / "model"
    command = _command(train, validation, output, checkpoints)

    # 1. SIGKILL while the second checkpoint is being written.
    process = _start(command)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if _complete_steps(checkpoints) and list(checkpoints.glob(".tmp-*")):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    assert process.wait() == -signal.SIGKILL
    assert list(checkpoints.glob(".tmp-*")), "the kill was meant to land during a save"
    killed_at = _complete_steps(checkpoints)
    assert killed_at == ["step-00000004"]
    assert not output.exists()

    # 2. Resume, then SIGTERM: the worker saves a checkpoint and exits 143.
    process = _start(command)
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if "resumed from checkpoint at step 4" in "".join(seen) and line.startswith(
            "[finetune] step "
        ):
            process.send_signal(signal.SIGTERM)
            break
    process.stdout.read()
    assert process.wait() == 128 + signal.SIGTERM
    interrupted_at = CheckpointStore(str(checkpoints)).latest_marker()["step"]
    assert interrupted_at > 4
    assert not output.exists()

    # 3. Run again to the end.
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"resumed from checkpoint at step {interrupted_at}" in finished.stdout
    assert not list(checkpoints.glob(".tmp-*"))

    _, reference_model = reference_run
    texts = pq.read_table(validation).column("text").to_pylist()
    resumed = plain_predictions(output, texts)
    uninterrupted = plain_predictions(reference_model, texts)
    agreement = (resumed.argmax(1) == uninterrupted.argmax(1)).float().mean()
    assert agreement >= 0.95
    assert (resumed - uninterrupted).abs().max() < 0.1


def test_sigterm_without_checkpoint_location_exits_without_a_model(splits, tmp_path):
    train, validation = splits
    command = _command(train, validation, tmp_path / "model", tmp_path / "unused")
    command = [c for c in command if not c.startswith("--checkpoint-uri")]
    process = _start(command)
    for line in process.stdout:
        if line.startswith("[finetune] step "):
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stdout.read()
    assert process.wait() == 128 + signal.SIGTERM
    assert "no checkpoint location set" in rest
    assert not (tmp_path / "model").exists()
    assert os.listdir(tmp_path) == []
