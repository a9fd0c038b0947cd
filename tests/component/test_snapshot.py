"""snapshot_source on real files and the loopback S3 server: the identity follows the content."""

import subprocess
import sys
from pathlib import Path

from components.common.uri import s3_client
from components.snapshot.snapshot import snapshot, snapshot_fingerprint

REPO = Path(__file__).resolve().parents[2]


def test_a_local_file_is_identified_by_its_bytes(tmp_path: Path):
    table = tmp_path / "latest.csv"
    table.write_text("text,label\nhi,a\n")
    first = snapshot_fingerprint(str(table))
    table.write_text("text,label\nhi,a\n")
    assert snapshot_fingerprint(str(table)) == first
    table.write_text("text,label\nho,a\n")
    assert snapshot_fingerprint(str(table)) != first
    assert snapshot_fingerprint(f"file://{table}") != first, "the location is part of it"
    assert snapshot_fingerprint("") == ""


def test_a_local_folder_lists_every_file(tmp_path: Path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "model" / "model.safetensors").write_bytes(b"weights")
    identity = snapshot(str(tmp_path / "model"))
    assert [name for name, _ in identity["files"]] == ["config.json", "model.safetensors"]


def test_an_s3_prefix_is_a_manifest_of_its_objects(s3_bucket: str):
    for key, body in (("base/config.json", b"{}"), ("base/model.safetensors", b"w")):
        s3_client().put_object(Bucket=s3_bucket, Key=key, Body=body)
    identity = snapshot(f"s3://{s3_bucket}/base")
    assert identity["kind"] == "s3-prefix"
    assert [o[0] for o in identity["objects"]] == ["config.json", "model.safetensors"]
    before = snapshot_fingerprint(f"s3://{s3_bucket}/base")
    s3_client().put_object(Bucket=s3_bucket, Key="base/model.safetensors", Body=b"w2")
    assert snapshot_fingerprint(f"s3://{s3_bucket}/base") != before


def test_a_versioned_object_is_identified_by_its_version(s3_bucket: str):
    client = s3_client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    put = client.put_object(Bucket=s3_bucket, Key="latest.csv", Body=b"text,label\n")
    identity = snapshot(f"s3://{s3_bucket}/latest.csv")
    assert identity["kind"] == "s3-version"
    assert identity["version_id"] == put["VersionId"]


def test_nothing_there_is_one_line_and_exit_2(s3_bucket: str, tmp_path: Path):
    for missing in (f"s3://{s3_bucket}/nothing/here.csv", str(tmp_path / "absent.csv")):
        done = subprocess.run(
            [sys.executable, "-m", "components.snapshot", missing],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
