"""The ONNX int8 export through kfp.local, and the model server on its ONNX Runtime backend."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kfp import dsl, local

from components.common.artifacts import verify_manifest
from components.serve.component import export_onnx

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def exported(small_model, tmp_path_factory):
    """export_onnx run by the real local KFP runner on the small model and its test split."""
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path_factory.mktemp("pipeline-root")),
    )

    @dsl.pipeline
    def export() -> dsl.Model:
        model = dsl.importer(
            artifact_uri=str(small_model.model_dir), artifact_class=dsl.Model, reimport=False
        )
        test = dsl.importer(
            artifact_uri=str(small_model.test_path), artifact_class=dsl.Dataset, reimport=False
        )
        return export_onnx(model=model.output, test=test.output).outputs["onnx_model"]

    return export().output


def test_int8_accuracy_is_measured_and_close_to_fp32(exported, small_model):
    manifest = verify_manifest(Path(exported.path))
    facts = manifest["provenance"]["onnx"]
    assert {"onnx/model.onnx", "onnx/model_int8.onnx"} <= set(manifest["files"])
    assert facts["test_rows"] == len(pd.read_parquet(small_model.test_path))
    assert facts["accuracy_fp32"] >= 0.8
    # About 200 test rows here, so one text is half a point; the benchmark checks the 1-point
    # target on a larger split.
    assert facts["accuracy_int8"] >= facts["accuracy_fp32"] - 0.02
    assert exported.metadata["accuracy_int8"] == facts["accuracy_int8"]
    assert manifest["provenance"]["task"] == "single_label"


def test_server_on_onnx_int8_agrees_with_pytorch(exported, small_model, start_server):
    onnx = start_server(Path(exported.path), "intents-int8", "--backend", "onnx")
    torch_server = start_server(small_model.model_dir, "intents", "--precision", "fp32")
    texts = pd.read_parquet(small_model.test_path)["text"].head(48).tolist()
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    int8 = {o["name"]: o["data"] for o in onnx.v2(body).json()["outputs"]}
    fp32 = {o["name"]: o["data"] for o in torch_server.v2(body).json()["outputs"]}
    assert np.mean(np.array(int8["label"]) == np.array(fp32["label"])) >= 0.95
    # int8 moves the probabilities of uncertain texts; typical ones barely change.
    gap = np.abs(np.array(int8["probability"]) - np.array(fp32["probability"]))
    assert np.median(gap) < 0.01
    v1 = onnx.v1({"instances": ["STOP texting me"]})
    assert v1.json()["predictions"][0]["label"] == "unsubscribe"


def test_onnx_backend_on_a_model_without_onnx_files_exits_2(small_model):
    command = [sys.executable, "-m", "components.serve", "--backend", "onnx"]
    command += ["--model-dir", str(small_model.model_dir), "--port", "0"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {small_model.model_dir} has no onnx/model_int8.onnx; serve the output of "
        "export_onnx or use --backend pytorch"
    )
