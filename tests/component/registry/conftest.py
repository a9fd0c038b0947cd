"""Registry fixtures: a real S3 HTTP endpoint on loopback (moto) and a small model folder."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from components.common import uri
from components.common.artifacts import write_manifest


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, reached by boto3 through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_MAX_ATTEMPTS", "2")
        yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def registry_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry root: a local folder, or a prefix in a fresh bucket on the S3 server."""
    if request.param == "local":
        return str(tmp_path / "registry")
    request.getfixturevalue("s3_endpoint")
    bucket = f"registry-{uuid.uuid4().hex[:12]}"
    uri.s3_client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/models"


def make_model(folder: Path, weights: bytes) -> Path:
    """A model folder of the shape finetune_classifier writes: files plus a verified manifest."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"id2label": {"0": "complaint", "1": "positive"}}')
    (folder / "model.safetensors").write_bytes(weights)
    write_manifest(folder, {"base_model": "all-MiniLM-L6-v2", "task": "single_label"})
    return folder


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model-a", b"weights-a" * 100)


@pytest.fixture
def other_model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model-b", b"weights-b" * 100)
