"""Two DDP workers (torchrun, gloo on CPU) train a model as good as one worker's."""

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REFERENCE_SETTINGS, plain_predictions

from components.finetune.checkpoint import CheckpointStore
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune

REPO = Path(__file__).resolve().parents[3]


def test_two_workers_match_one(splits, reference_run, tmp_path, capfd):
    train, validation = splits
    config = FinetuneConfig(**REFERENCE_SETTINGS, num_workers=2)
    result = finetune(str(train), str(validation), str(tmp_path / "model"), config)
    logs = capfd.readouterr().out
    assert "2 worker(s) on cpu" in logs
    assert result["training"]["workers"] == 2

    reference_result, reference_model = reference_run
    # The batch size is global, so two workers take the same optimizer steps as one.
    assert result["training"]["steps"] == reference_result["training"]["steps"]
    assert result["metrics"]["val_macro_f1"] == pytest.approx(
        reference_result["metrics"]["val_macro_f1"], abs=0.05
    )
    texts = pq.read_table(validation).column("text").to_pylist()
    two = plain_predictions(tmp_path / "model", texts).argmax(1)
    one = plain_predictions(reference_model, texts).argmax(1)
    assert (two == one).float().mean() >= 0.9


def test_sigterm_stops_both_workers_after_a_checkpoint(splits, tmp_path):
    """SIGTERM to the launching process reaches the torchrun workers: they agree to stop,
    worker 0 saves a checkpoint, the step exits 143 and writes no Model."""
    train, validation = splits
    checkpoints = tmp_path / "checkpoints"
    command = [
        sys.executable,
        "-m",
        "components.finetune",
        f"--train={train}",
        f"--validation={validation}",
        f"--output={tmp_path / 'model'}",
        f"--checkpoint-uri={checkpoints}",
        "--num-workers=2",
        "--batch-size=16",
        "--log-steps=2",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in process.stdout:
        if line.startswith("[finetune] step "):
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stdout.read()
    assert process.wait() == 128 + signal.SIGTERM
    assert "SIGTERM: saved step" in rest
    assert CheckpointStore(str(checkpoints)).latest_marker()["step"] >= 2
    assert not (tmp_path / "model").exists()
