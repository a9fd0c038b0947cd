"""Compilation: the committed pipelines/compiled/ is what the code compiles to, and it is safe.

What a KFP backend would do with the YAML is not exercised here (no backend runs in tests); the
YAML is checked by loading it back with the kfp SDK, which parses the same IR the backend reads.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import components

from pipelines.cli import COMPILED_DIR, compile_all, is_pinned
from pipelines.cluster import ClusterSettings


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("compiled")
    return {str(p.relative_to(out)): p.read_text() for p in compile_all(out)}


def test_committed_yaml_is_up_to_date(fresh: dict[str, str]):
    committed = {str(p.relative_to(COMPILED_DIR)) for p in COMPILED_DIR.rglob("*.yaml")}
    assert committed == set(fresh), "run `make compile` and commit pipelines/compiled/"
    for name, text in fresh.items():
        assert (COMPILED_DIR / name).read_text() == text, f"{name} is stale: run `make compile`"


def test_yaml_loads_back_and_pins_its_image(fresh: dict[str, str], tmp_path: Path):
    for name, text in fresh.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        assert components.load_component_from_file(str(path)).name
        spec = yaml.safe_load(text)
        executors = spec["deploymentSpec"]["executors"].values()
        images = [e["container"]["image"] for e in executors if "container" in e]
        assert images and all(is_pinned(image) for image in images), images


def test_yaml_holds_no_credentials(fresh: dict[str, str]):
    secret = re.compile(r"AKIA[0-9A-Z]{16}|aws_secret_access_key|AWS_SECRET|password", re.I)
    for name, text in fresh.items():
        assert not secret.search(text), name


def test_pipeline_parameters_are_described_for_the_ui(fresh: dict[str, str]):
    spec = yaml.safe_load(fresh["text_classifier_training.yaml"])
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    for name in ("data_uri", "text_column", "label_column"):
        assert parameters[name].get("description"), name


def compile_with_image(image: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "compile",
            "--image",
            image,
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_image_is_overridable_at_compile_time(tmp_path: Path):
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml/kfp-nlp:2.0.1"
    done = compile_with_image(image, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "text_classifier_training.yaml" in done.stdout
    text = (tmp_path / "text_classifier_training.yaml").read_text()
    assert f"image: {image}" in text and "ghcr.io/kfp-nlp" not in text


@pytest.mark.parametrize("image", ["example.com/kfp-nlp", "example.com/kfp-nlp:latest"])
def test_unpinned_image_is_refused(image: str, tmp_path: Path):
    done = compile_with_image(image, tmp_path)
    assert done.returncode == 2 and "is not pinned" in done.stderr
    assert not list(tmp_path.iterdir())


def test_cluster_settings_reach_the_compiled_spec(tmp_path: Path):
    """GPU, node selector and an S3 secret as env, as kfp-kubernetes writes them for the
    KFP backend (what the backend then schedules is not exercised here)."""
    settings = ClusterSettings(
        gpu=True, gpu_node_selector="node.kubernetes.io/instance-type=g5.xlarge", s3_secret="s3"
    )
    compile_all(tmp_path, settings)
    docs = list(yaml.safe_load_all((tmp_path / "text_classifier_training.yaml").read_text()))
    spec, platform = docs[0], docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    resources = spec["deploymentSpec"]["executors"]["exec-finetune-classifier"]["container"][
        "resources"
    ]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    finetune = platform["exec-finetune-classifier"]
    assert finetune["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert finetune["nodeSelector"]["labels"] == {"node.kubernetes.io/instance-type": "g5.xlarge"}
    for executor in ("exec-prepare-dataset", "exec-evaluate-classifier", "exec-resolve-model"):
        env = platform[executor]["secretAsEnv"][0]
        assert env["secretName"] == "s3" and env["optional"] is True
        assert {m["envVar"] for m in env["keyToEnv"]} == {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
        }
    default = (COMPILED_DIR / "text_classifier_training.yaml").read_text()
    assert "secretAsEnv" not in default and "nvidia.com/gpu" not in default
