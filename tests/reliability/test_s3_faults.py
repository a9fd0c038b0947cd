"""S3 faults from a real fault-injecting proxy: nothing half-written, nothing orphaned, reads
retried, one line on failure.

Every test here runs the real command lines or stores against the loopback S3 server through
boto3; the proxy answers 503 SlowDown or 500, drops connections before the answer or in the
middle of a body, or dies. The shared `s3_bucket` fixture asserts at teardown that no multipart
upload was left open.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from components.common import uri
from components.common.artifacts import local_model_dir
from components.common.errors import KfpNlpError
from components.finetune.checkpoint import CheckpointStore
from components.prepare.__main__ import main as prepare_cli
from components.registry import registry
from components.registry.__main__ import main as registry_cli
from tests.conftest import open_uploads

pytestmark = pytest.mark.unit

OUTPUTS = ("train.parquet", "validation.parquet", "test.parquet", "report.md", "metrics.json")
COLUMNS = ["--text-columns", "reply_text", "--label-column", "intent"]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three attempts per request (the default is five) keep the failing cases short, and
    objects from 5 MiB go up in parts, so small test models exercise multipart uploads."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("KFP_NLP_S3_MULTIPART_MB", "5")


def put_source(bucket: str, csv: Path) -> str:
    uri.s3_client().upload_file(str(csv), bucket, "raw/replies.csv")
    return f"s3://{bucket}/raw/replies.csv"


def assert_unreadable(prefix: str) -> None:
    """No output of the set can be read: each is missing or refused as incomplete."""
    for name in OUTPUTS:
        with (
            pytest.raises(KfpNlpError, match=r"does not exist|not completely written"),
            uri.local_copy(uri.join(prefix, name)),
        ):
            pass


@pytest.mark.parametrize("fault", ["503", "dead"])
def test_prepare_whose_endpoint_fails_mid_upload_publishes_nothing(
    fault, flaky_s3, s3_bucket, s3_endpoint, small_csv, run_failing, monkeypatch
):
    """Issue 1: the endpoint starts failing every request (503 SlowDown, or dead) after the
    first output went up: one line, exit 3, and not one output readable."""
    source = put_source(s3_bucket, small_csv)
    prefix = f"s3://{s3_bucket}/prepared"
    proxy = flaky_s3()
    uploads = 0

    def from_second_output(request) -> bool:
        nonlocal uploads
        if request.method == "PUT" and "/prepared/" in request.path:
            uploads += not request.path.endswith(".kfp_nlp_incomplete")
        return uploads >= 2

    proxy.add(fault, from_second_output)
    line = run_failing(prepare_cli, ["--source", source, "--output-dir", prefix, *COLUMNS], 3)
    assert "SlowDown" in line or "HTTP 503" in line or "cannot reach S3" in line

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert "train.parquet" in uri.list_files(prefix)  # a leftover is there, and refused:
    assert_unreadable(prefix)


def test_prepare_cleans_up_after_an_upload_that_kept_failing(
    flaky_s3, s3_bucket, small_csv, run_failing
):
    """Issue 1: one output's upload fails every attempt, then the endpoint recovers: what
    went up is removed again, so the prefix is as empty as before."""
    source = put_source(s3_bucket, small_csv)
    prefix = f"s3://{s3_bucket}/prepared"
    proxy = flaky_s3()
    proxy.add("503", lambda r: r.method == "PUT" and r.path.endswith("/test.parquet"), times=3)
    line = run_failing(prepare_cli, ["--source", source, "--output-dir", prefix, *COLUMNS], 3)
    assert "test.parquet" in line and "HTTP 503 SlowDown after 3 attempts" in line
    assert uri.list_files(prefix) == []


def test_prepare_through_faults_writes_the_whole_set(flaky_s3, s3_bucket, small_csv, capsys):
    """A 500, a 503, a lost answer and a cut body along the way are all retried."""
    source = put_source(s3_bucket, small_csv)
    prefix = f"s3://{s3_bucket}/prepared"
    proxy = flaky_s3()
    proxy.add("500", lambda r: r.method == "GET", times=1)
    proxy.add("503", lambda r: r.path.endswith("/train.parquet"), times=2)
    proxy.add("cut-headers", lambda r: r.path.endswith("/report.md"), times=1)
    proxy.add("cut-body", lambda r: r.method == "GET" and r.path.endswith(".csv"), times=1)
    prepare_cli(["--source", source, "--output-dir", prefix, *COLUMNS])
    assert sorted(uri.list_files(prefix)) == sorted(OUTPUTS)
    assert sum(proxy.injected.values()) == 5
    with uri.local_copy(uri.join(prefix, "metrics.json")) as path:
        assert json.loads(path.read_text())["rows_read"] == 600


def test_register_dying_mid_multipart_upload_leaves_no_parts(
    flaky_s3, s3_bucket, tmp_path, run_failing, make_model_folder
):
    """Issue 1: UploadPart keeps failing half-way through the weights: one line, no version,
    no object, no open upload (the teardown checks the last)."""
    model = make_model_folder(tmp_path / "model")
    root = f"s3://{s3_bucket}/registry"
    proxy = flaky_s3()
    proxy.add("503", lambda r: "partNumber=2" in r.query, times=3)
    argv = ["register", str(model), "--registry-root", root, "--model-name", "intents"]
    line = run_failing(registry_cli, argv, 3)
    assert "model.safetensors" in line and "503" in line
    assert uri.list_files(root) == []


def test_lost_create_multipart_answer_leaves_no_orphan(
    flaky_s3, s3_bucket, s3_endpoint, tmp_path, capsys, make_model_folder
):
    """Issue 2: S3 created the upload but its answer was lost; boto3 retried and succeeded.
    The first upload is aborted, and the registered model is whole."""
    model = make_model_folder(tmp_path / "model")
    root = f"s3://{s3_bucket}/registry"
    proxy = flaky_s3()
    proxy.add("cut-headers", lambda r: r.method == "POST" and r.query == "uploads", times=1)
    registry_cli(["register", str(model), "--registry-root", root, "--model-name", "intents"])
    assert proxy.injected["cut-headers"] == 1
    assert open_uploads(s3_endpoint, s3_bucket) == []
    (version,) = registry.list_versions(root, "intents")
    with local_model_dir(registry.version_uri(root, "intents", version)) as folder:
        assert (folder / "model.safetensors").stat().st_size > 12 * 1024 * 1024


def test_checkpoint_marker_read_survives_a_cut_body(flaky_s3, s3_bucket):
    """Issue 3: the connection drops in the middle of the completion marker's body; the read
    is retried and the run resumes from its checkpoint."""
    store = CheckpointStore(f"s3://{s3_bucket}/checkpoints")
    marker = {"step": 40, "fingerprint": "a" * 64, "epoch": 1}
    store.save({"weights": torch.arange(16.0)}, marker)
    proxy = flaky_s3()
    proxy.add("cut-body", lambda r: r.method == "GET" and r.path.endswith("/COMPLETE"), times=1)
    assert store.latest_marker() == marker
    assert proxy.injected["cut-body"] == 1
    assert torch.equal(store.load(marker)["weights"], torch.arange(16.0))


@pytest.mark.parametrize("reader", ["read_bytes", "local_copy", "download_dir"])
def test_every_reader_retries_a_cut_body(reader, flaky_s3, s3_bucket, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    uri.s3_client().put_object(Bucket=s3_bucket, Key="set/blob.bin", Body=data)
    location = f"s3://{s3_bucket}/set/blob.bin"
    proxy = flaky_s3()
    proxy.add("cut-body", lambda r: r.method == "GET" and r.path.endswith("/blob.bin"), times=2)
    if reader == "read_bytes":
        assert uri.read_bytes(location) == data
    elif reader == "local_copy":
        with uri.local_copy(location) as path:
            assert path.read_bytes() == data
    else:
        folder = uri.download_dir(f"s3://{s3_bucket}/set", tmp_path)
        assert (folder / "blob.bin").read_bytes() == data
    assert proxy.injected["cut-body"] == 2


def test_a_killed_trainings_upload_is_aborted_on_resume(s3_bucket, s3_endpoint):
    """Issue 2: a save killed mid-upload leaves an open multipart upload and a state object
    without marker; the resumed run's cleanup removes both and keeps the complete one."""
    store = CheckpointStore(f"s3://{s3_bucket}/run")
    store.save({"w": torch.zeros(4)}, {"step": 10})
    client = uri.s3_client()
    client.create_multipart_upload(Bucket=s3_bucket, Key="run/step-00000020/state.pt")
    client.put_object(Bucket=s3_bucket, Key="run/step-00000030/state.pt", Body=b"partial")
    store.clean_incomplete()
    assert open_uploads(s3_endpoint, s3_bucket) == []
    assert uri.list_files(store.uri) == ["step-00000010/COMPLETE", "step-00000010/state.pt"]
    assert store.latest_marker() == {"step": 10}


def test_s3_lifecycle_rule_is_accepted_by_s3(s3_bucket):
    """The safety net docs/reliability.md documents (manifests/s3/lifecycle.json) is a valid bucket
    lifecycle configuration: S3 itself accepts it."""
    path = Path(__file__).resolve().parents[2] / "manifests" / "s3" / "lifecycle.json"
    rules = json.loads(path.read_text())
    client = uri.s3_client()
    client.put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration=rules)
    (rule,) = client.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
