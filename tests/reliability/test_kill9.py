"""SIGKILL at random points and in the middle of checkpoint saves, locally and on S3.

The processes are real (`python -m components.prepare`, a checkpointing loop over the real
CheckpointStore); nothing catches SIGKILL, so what they leave is what a killed pod leaves.
Kill times come from a seeded generator (KFP_NLP_BATTERY_SEED, default 0).
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.common import uri
from components.common.errors import KfpNlpError
from components.finetune.checkpoint import CheckpointStore
from tests.conftest import open_uploads

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = ("train.parquet", "validation.parquet", "test.parquet", "report.md", "metrics.json")
# Saves 12 MiB states forever, printing each step once its checkpoint is complete.
SAVER = """
import sys, torch
from components.finetune.checkpoint import CheckpointStore
store = CheckpointStore(sys.argv[1])
store.clean_incomplete()
for step in range(1, 100000):
    store.save({"w": torch.full((3 * 1024 * 1024,), float(step))}, {"step": step})
    print(step, flush=True)
"""


@pytest.fixture
def rng() -> random.Random:
    return random.Random(int(os.environ.get("KFP_NLP_BATTERY_SEED", "0")))


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "KFP_NLP_S3_MULTIPART_MB": "5", "PYTHONUNBUFFERED": "1", **extra}


def start_saver(location: str) -> subprocess.Popen:
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, location],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert saver.stdout.readline().strip() == "1", "the saver never completed a checkpoint"
    return saver


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def assert_resumable(location: str) -> int:
    """A fresh run's cleanup, then its newest checkpoint loads and matches its marker."""
    store = CheckpointStore(location)
    store.clean_incomplete()
    marker = store.latest_marker()
    assert marker is not None
    assert float(store.load(marker)["w"][0]) == marker["step"]
    return marker["step"]


def test_kill_during_local_checkpoint_saves(tmp_path: Path, rng: random.Random) -> None:
    location = str(tmp_path / "checkpoints")
    for _ in range(2):
        saver = start_saver(location)
        time.sleep(rng.uniform(0.0, 0.5))
        kill(saver)
        assert_resumable(location)
        assert not list(Path(location).glob(".tmp-*"))


def test_kill_during_s3_checkpoint_upload(s3_bucket: str, s3_endpoint: str) -> None:
    """Killed while a multipart upload of the state is open: the resumed run aborts it (the
    bucket fixture then finds no open upload) and resumes from the last complete step."""
    location = f"s3://{s3_bucket}/run"
    saver = start_saver(location)
    deadline = time.monotonic() + 60
    while not open_uploads(s3_endpoint, s3_bucket):
        assert time.monotonic() < deadline, "no multipart upload was ever open"
        time.sleep(0.01)
    kill(saver)
    assert open_uploads(s3_endpoint, s3_bucket)
    assert assert_resumable(location) >= 1
    assert open_uploads(s3_endpoint, s3_bucket) == []


def test_kill_prepare_at_random_points(s3_bucket: str, small_csv: Path, rng: random.Random) -> None:
    """Whatever the moment of the kill, the output set is either whole or not readable."""
    uri.s3_client().upload_file(str(small_csv), s3_bucket, "raw.csv")
    for round_ in range(3):
        prefix = f"s3://{s3_bucket}/prepared-{round_}"
        command = [sys.executable, "-m", "components.prepare", "--source"]
        command += [f"s3://{s3_bucket}/raw.csv", "--output-dir", prefix]
        command += ["--text-columns", "reply_text", "--label-column", "intent"]
        process = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 4.0))
        kill(process)
        readable = []
        for name in OUTPUTS:
            try:
                with uri.local_copy(uri.join(prefix, name)) as path:
                    readable.append(path.stat().st_size > 0)
            except KfpNlpError as exc:
                assert "does not exist" in str(exc) or "not completely written" in str(exc)
        assert readable in ([], [True] * len(OUTPUTS)), readable
