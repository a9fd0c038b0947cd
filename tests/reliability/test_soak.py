"""Random S3 faults over the steps that write to S3, checked for lost or half-written data.

Each round prepares a dataset from S3 to S3, registers a 12 MiB model (uploaded in parts),
reads the version back, and saves and resumes a checkpoint, while the proxy injects a fault
(500, 503 SlowDown, an answer lost, a body cut, a dropped connection) into a random share of
the requests. A step may fail, with its one line; it may never lose or damage data: what it
published equals the fault-free result byte for byte, and what a failed step leaves is never
readable. The bucket fixture also finds no multipart upload left open.

The quick part (one round) runs with the suite; the soak runs many rounds:

    .venv/bin/python -m pytest -m soak tests/reliability -s    # KFP_NLP_SOAK_ROUNDS=30
"""

import os
from collections import Counter

import pytest
import torch

from components.common import s3, uri
from components.common.artifacts import local_model_dir
from components.common.errors import KfpNlpError, OneLineError, run_cli
from components.finetune.checkpoint import CheckpointStore
from components.prepare.__main__ import main as prepare_cli
from components.registry import registry
from tests.conftest import FAULTS

OUTPUTS = ("train.parquet", "validation.parquet", "test.parquet", "report.md", "metrics.json")
COLUMNS = ["--text-columns", "reply_text", "--label-column", "intent"]
FAULT_RATE = 0.3


def _read_set(prefix: str) -> dict[str, bytes] | None:
    """The whole output set, or None when no output of it can be read."""
    found = {}
    for name in OUTPUTS:
        try:
            with uri.local_copy(uri.join(prefix, name)) as path:
                found[name] = path.read_bytes()
        except KfpNlpError:
            found[name] = None
    readable = {k: v for k, v in found.items() if v is not None}
    assert not readable or len(readable) == len(OUTPUTS), f"half a set under {prefix}"
    return readable or None


def _attempt(step, tally: Counter) -> bool:
    """Run one step; a failure must be a one-line error (exit 2 or 3 on the CLI)."""
    try:
        step()
    except SystemExit as exc:
        assert exc.code in (2, 3)
        tally["failed steps"] += 1
        return False
    except OneLineError:
        tally["failed steps"] += 1
        return False
    tally["completed steps"] += 1
    return True


def run_rounds(rounds, flaky_s3, bucket, endpoint, small_csv, model, monkeypatch, capsys):
    """Run `rounds` rounds of the three steps under random faults; return the tally.

    A completed step must have published exactly the fault-free result; a failed one may have
    published it (the answer was lost after the write) or nothing readable. Every comparison
    made and every injected fault is counted in the tally.
    """
    monkeypatch.setenv(s3.MULTIPART_MB_ENV, "5")
    uri.s3_client().upload_file(str(small_csv), bucket, "raw.csv")
    source = f"s3://{bucket}/raw.csv"
    run_cli(prepare_cli, ["--source", source, "--output-dir", f"s3://{bucket}/clean", *COLUMNS])
    expected = _read_set(f"s3://{bucket}/clean")
    assert expected is not None, "the fault-free prepare published nothing"
    weights = (model / "model.safetensors").read_bytes()
    root = f"s3://{bucket}/registry"
    proxy = flaky_s3()
    tally: Counter[str] = Counter()
    for round_ in range(rounds):
        # Each step runs in its own process on a cluster, with a fresh boto3 retry quota.
        s3._s3_client_for.cache_clear()
        proxy.random_faults(FAULT_RATE, seed=round_, kinds=FAULTS)
        prefix = f"s3://{bucket}/prepared-{round_}"
        argv = ["--source", source, "--output-dir", prefix, *COLUMNS]
        prepared = _attempt(lambda argv=argv: run_cli(prepare_cli, argv), tally)
        name = f"soak-{round_}"
        registered = _attempt(lambda name=name: registry.register_version(root, name, model), tally)
        store = CheckpointStore(f"s3://{bucket}/ckpt-{round_}")
        state = {"w": torch.arange(float(round_ + 1))}
        step = {"step": round_ + 1}
        saved = _attempt(lambda s=store, w=state, m=step: s.save(w, m), tally)

        proxy.random_faults(0.0, seed=0)  # checks read without faults
        written = _read_set(prefix)
        assert written is not None or not prepared, "prepare completed but published nothing"
        if written is not None:
            assert written == expected, "a published set differs"
            tally["compared sets"] += 1
        versions = registry.list_versions(root, name)
        assert versions or not registered, "register_version completed but no version is listed"
        for version in versions:
            with local_model_dir(registry.version_uri(root, name, version)) as folder:
                assert (folder / "model.safetensors").read_bytes() == weights
            tally["compared versions"] += 1
        marker = store.latest_marker()
        assert marker is not None or not saved, "the checkpoint save completed but none is there"
        if marker is not None:
            assert marker["step"] == step["step"]
            assert torch.equal(store.load(marker)["w"], state["w"])
            tally["compared checkpoints"] += 1
        tally["rounds"] += 1
    tally.update({f"injected {k}": v for k, v in proxy.injected.items()})
    tally["injected"] = sum(proxy.injected.values())
    tally["requests"] = proxy.requests
    with capsys.disabled():
        print(f"\nS3 fault battery: {dict(sorted(tally.items()))}, data lost: 0")
    return tally


@pytest.mark.unit
def test_one_round_of_random_faults(
    flaky_s3, s3_bucket, s3_endpoint, small_csv, make_model_folder, tmp_path, monkeypatch, capsys
):
    model = make_model_folder(tmp_path / "model")
    tally = run_rounds(1, flaky_s3, s3_bucket, s3_endpoint, small_csv, model, monkeypatch, capsys)
    assert tally["rounds"] == 1
    assert tally["completed steps"] + tally["failed steps"] == 3
    # The round met faults, and what its steps published was compared with the fault-free result.
    assert tally["injected"] > 0
    compared = tally["compared sets"] + tally["compared versions"] + tally["compared checkpoints"]
    assert compared >= max(tally["completed steps"], 1)


@pytest.mark.soak
def test_soak(
    flaky_s3, s3_bucket, s3_endpoint, small_csv, make_model_folder, tmp_path, monkeypatch, capsys
):
    model = make_model_folder(tmp_path / "model")
    rounds = int(os.environ.get("KFP_NLP_SOAK_ROUNDS", "30"))
    tally = run_rounds(
        rounds, flaky_s3, s3_bucket, s3_endpoint, small_csv, model, monkeypatch, capsys
    )
    assert tally["rounds"] == rounds
    assert tally["injected"] > 0
