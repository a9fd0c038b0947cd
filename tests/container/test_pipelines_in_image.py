"""Both pipelines, every step in the component image, each container a restricted pod.

The steps run through kfp.local.DockerRunner (see conftest.py): the code that runs is the image's,
not this checkout's virtual environment. What is checked is what a user checks after a run: the
outputs exist and hold the right things, the gate decided, the registry moved, the predictions
landed on S3, and a step that fails says so.
"""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from docker.types import Mount
from in_image import UID, owned_by_container_user, restricted_runner
from kfp import dsl, local
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict
from components.common.image import IMAGE
from components.common.uri import s3_client
from components.prepare.component import prepare_dataset
from components.registry.registry import current_version, version_uri
from components.sample_data import LABELS, write_sample
from pipelines.scoring import batch_scoring

pytestmark = pytest.mark.timeout(2400)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def describe_container() -> str:
    """What a step can see of its own container: user, capabilities, filesystems, network."""
    import json
    import os
    import pathlib

    def writable(folder: str) -> bool:
        try:
            (pathlib.Path(folder) / ".probe").touch()
        except OSError:
            return False
        return True

    status = dict(
        line.split(":\t", 1) for line in pathlib.Path("/proc/self/status").read_text().splitlines()
    )
    devices = pathlib.Path("/proc/net/dev").read_text().splitlines()[2:]
    folders = ("/", "/opt/venv", "/opt/kfp-nlp", "/etc", "/tmp")
    return json.dumps(
        {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "effective_capabilities": int(status["CapEff"], 16),
            "no_new_privileges": status["NoNewPrivs"].strip(),
            "writable": [folder for folder in folders if writable(folder)],
            "interfaces": [line.split(":")[0].strip() for line in devices],
        }
    )


def test_every_step_runs_as_a_restricted_pod(docker_client, tmp_path: Path):
    local.init(runner=restricted_runner(), pipeline_root=str(owned_by_container_user(tmp_path)))
    seen = json.loads(describe_container().output)
    assert (seen["uid"], seen["gid"]) == (UID, UID)
    assert seen["effective_capabilities"] == 0
    assert seen["no_new_privileges"] == "1"
    assert seen["writable"] == ["/tmp"]
    assert seen["interfaces"] == ["lo"]  # no network at all, loopback aside


def test_training_pipeline_trains_gates_and_releases(training_run):
    outputs = training_run.outputs
    data = outputs["data_metrics"].metadata
    assert data["rows_read"] == 600
    assert data["train_rows"] > data["test_rows"] > 0
    report = Path(outputs["data_report"].path).read_text()
    assert report.startswith("# Data report")
    assert all(label in report for label in LABELS)

    assert 0 <= outputs["training_metrics"].metadata["val_macro_f1"] <= 1
    assert "<html" in Path(outputs["training_curves"].path).read_text().lower()
    evaluation = outputs["evaluation_metrics"].metadata
    assert 0.3 <= evaluation["macro_f1"] <= 1
    assert 0 <= evaluation["baseline_macro_f1"] <= 1
    assert "<html" in Path(outputs["evaluation_report"].path).read_text().lower()
    predictions = pd.read_parquet(outputs["predictions"].path)
    assert len(predictions) == data["test_rows"]

    # The gate approved (macro-F1 above the 0.3 asked for, no champion yet), so the release
    # steps ran in the image: the model is registered and is now the champion.
    assert outputs["approved"] is True, outputs["reason"]
    assert "approved" in outputs["reason"]
    version = current_version(str(training_run.registry), "reply-intents")
    assert version is not None
    released = Path(version_uri(str(training_run.registry), "reply-intents", version))
    assert (released / "model.safetensors").read_bytes() == (
        Path(outputs["model"].path) / "model.safetensors"
    ).read_bytes()


def test_trained_model_loads_and_predicts_on_the_host(training_run):
    model_dir = training_run.outputs["model"].path
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    assert sorted(model.config.id2label.values()) == sorted(LABELS)
    texts = pd.read_csv(training_run.table)["reply_text"].head(50).tolist()
    with torch.inference_mode():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    labels = {model.config.id2label[i] for i in logits.argmax(-1).tolist()}
    assert len(labels) > 1  # trained, not collapsed onto one class


def test_batch_scoring_reads_and_writes_s3_from_the_image(
    training_run, s3_bucket: str, s3_endpoint: str, tmp_path: Path
):
    table = Path(write_sample(str(tmp_path / "to-score.csv"), rows=120, seed=11))
    s3_client().upload_file(str(table), s3_bucket, "in/replies.csv")
    registry = str(training_run.registry)
    mounts = [Mount(registry, registry, type="bind", read_only=True)]
    # Both steps reach the S3 endpoint on the host's loopback, so this run has the host's network.
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    runner = restricted_runner(network="host", environment=env, mounts=mounts)
    local.init(runner=runner, pipeline_root=str(owned_by_container_user(tmp_path / "runs")))
    batch_scoring(
        input_uri=f"s3://{s3_bucket}/in/replies.csv",
        output_uri=f"s3://{s3_bucket}/out/predictions.parquet",
        registry_uri=str(training_run.registry),
        model_name="reply-intents",
        text_column="reply_text",
    )

    s3_client().download_file(s3_bucket, "out/predictions.parquet", str(tmp_path / "p.parquet"))
    scored = pd.read_parquet(tmp_path / "p.parquet")
    # The same scorer on the host, on the same model and table, gives the same answers.
    expected = tmp_path / "host.parquet"
    batch_predict(
        str(table),
        training_run.outputs["model"].path,
        str(expected),
        BatchPredictConfig(text_column="reply_text"),
    )
    host = pd.read_parquet(expected)
    assert len(scored) == 120
    assert scored["message_id"].tolist() == host["message_id"].tolist()
    assert scored["label"].tolist() == host["label"].tolist()
    assert set(scored["label"]) <= set(LABELS)
    pd.testing.assert_series_equal(scored["probability"], host["probability"], atol=1e-5)


def test_a_failing_step_is_reported_failed_with_its_error(docker_client, tmp_path: Path, capfd):
    local.init(runner=restricted_runner(), pipeline_root=str(owned_by_container_user(tmp_path)))
    with pytest.raises(RuntimeError, match="FAILURE"):
        prepare_dataset(source_uri="/no/such/replies.csv")
    logs = capfd.readouterr()
    # kfp indents each chunk of the streamed log, and a chunk may end mid-line: compare the
    # text without its whitespace.
    shown = "".join((logs.out + logs.err).split())
    expected = "error: /no/such/replies.csv does not exist; check the path"
    assert "".join(expected.split()) in shown
