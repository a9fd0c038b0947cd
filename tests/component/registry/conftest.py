"""Registry fixtures: a registry root on a local folder or the loopback S3 server, and models."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from components.common.artifacts import write_manifest


@pytest.fixture(params=["local", "s3"])
def registry_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry root: a local folder, or a prefix in a fresh bucket on the S3 server."""
    if request.param == "local":
        return str(tmp_path / "registry")
    return f"s3://{request.getfixturevalue('s3_bucket')}/models"


def make_model(folder: Path, weights: bytes) -> Path:
    """A model folder of the shape finetune_classifier writes: files plus a verified manifest."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"id2label": {"0": "complaint", "1": "positive"}}')
    tensor = torch.frombuffer(bytearray(weights), dtype=torch.uint8)
    save_file({"classifier.weight": tensor}, str(folder / "model.safetensors"))
    write_manifest(folder, {"base_model": "all-MiniLM-L6-v2", "task": "single_label"})
    return folder


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model-a", b"weights-a" * 100)


@pytest.fixture
def other_model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model-b", b"weights-b" * 100)
