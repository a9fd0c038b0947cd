"""Batch prediction end to end: real model, real S3 API on loopback, a real interruption.

S3 is moto's ThreadedMotoServer reached through boto3 (AWS_ENDPOINT_URL). The interrupted run is
a real `python -m components.batch_predict` process killed with SIGKILL part way.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kfp import dsl, local

from components.batch_predict.component import batch_predict as batch_predict_component
from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict
from components.common.errors import KfpNlpError
from components.common.inference import load_classifier, predict_proba
from components.common.tables import write_table
from components.common.uri import s3_client
from components.sample_data import generate

REPO = Path(__file__).resolve().parents[3]


def replies_csv(path: Path, rows: int) -> pd.DataFrame:
    frame = generate(rows, seed=11)[["message_id", "channel", "reply_text"]]
    write_table(pa.Table.from_pandas(frame, preserve_index=False), path, "csv")
    return frame


def expected_labels(model_dir: Path, texts: list[str]) -> list[str]:
    classifier = load_classifier(model_dir)
    scores = predict_proba(classifier, texts, precision="fp32")
    return [classifier.labels[i] for i in scores.argmax(1)]


def part_objects(bucket: str, prefix: str) -> dict[str, str]:
    listing = s3_client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["ETag"] for o in listing.get("Contents", []) if "/part-" in o["Key"]}


def test_interrupted_s3_run_resumes_and_writes_every_row_once(small_model, s3_bucket, tmp_path):
    frame = replies_csv(tmp_path / "replies.csv", 480)
    s3 = s3_client()
    s3.upload_file(str(tmp_path / "replies.csv"), s3_bucket, "in/replies.csv")
    s3_model = f"s3://{s3_bucket}/model"
    for path in small_model.model_dir.iterdir():
        s3.upload_file(str(path), s3_bucket, f"model/{path.name}")
    output = f"s3://{s3_bucket}/out/predictions.parquet"
    args = [
        "--input-uri",
        f"s3://{s3_bucket}/in/replies.csv",
        "--model-uri",
        s3_model,
        "--output-uri",
        output,
        "--text-column",
        "reply_text",
        "--id-columns",
        "message_id",
        "--chunk-rows",
        "16",
        "--precision",
        "fp32",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "components.batch_predict", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(part_objects(s3_bucket, "out/")) < 3 and time.monotonic() < deadline:
        assert process.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = part_objects(s3_bucket, "out/")
    assert 3 <= len(finished) < 30
    keys = s3.list_objects_v2(Bucket=s3_bucket, Prefix="out/")["Contents"]
    assert "out/predictions.parquet" not in {o["Key"] for o in keys}

    config = BatchPredictConfig(
        text_column="reply_text", id_columns=["message_id"], chunk_rows=16, precision="fp32"
    )
    summary = batch_predict(f"s3://{s3_bucket}/in/replies.csv", s3_model, output, config)

    assert summary.resumed_chunks >= len(finished)
    assert summary.scored_chunks + summary.resumed_chunks == summary.chunks == 30
    local = tmp_path / "predictions.parquet"
    s3.download_file(s3_bucket, "out/predictions.parquet", str(local))
    result = pq.read_table(local).to_pandas()
    assert result.columns.tolist() == ["message_id", "label", "probability"]
    assert result["message_id"].tolist() == frame["message_id"].tolist()
    assert result["label"].tolist() == expected_labels(
        small_model.model_dir, frame["reply_text"].tolist()
    )
    assert part_objects(s3_bucket, "out/") == {}


def test_rerun_with_other_settings_refuses_leftover_parts(small_model, tmp_path):
    replies_csv(tmp_path / "replies.csv", 30)
    parts = tmp_path / "parts"
    (parts).mkdir()
    (parts / "job.json").write_text('{"input_sha256": "another input"}')
    config = BatchPredictConfig(text_column="reply_text", parts_uri=str(parts))
    with pytest.raises(KfpNlpError, match="another input, model or settings"):
        batch_predict(
            str(tmp_path / "replies.csv"), str(small_model.model_dir), str(tmp_path / "o"), config
        )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"text_column": "body"}, "has no column 'body'"),
        ({"text_column": "reply_text", "id_columns": ["nope"]}, "has no column 'nope'"),
        ({"text_column": "reply_text", "id_columns": ["label"]}, "would clash"),
    ],
)
def test_bad_columns_are_named_and_nothing_is_written(small_model, tmp_path, settings, message):
    replies_csv(tmp_path / "replies.csv", 20)
    output = tmp_path / "out.parquet"
    with pytest.raises(KfpNlpError, match=message):
        batch_predict(
            str(tmp_path / "replies.csv"),
            str(small_model.model_dir),
            str(output),
            BatchPredictConfig(**settings),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replies.csv"]


def test_changed_model_file_is_refused(small_model, tmp_path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(small_model.model_dir, model_dir)
    with (model_dir / "config.json").open("a") as f:
        f.write(" ")
    replies_csv(tmp_path / "replies.csv", 20)
    with pytest.raises(KfpNlpError, match="does not match its manifest"):
        batch_predict(
            str(tmp_path / "replies.csv"),
            str(model_dir),
            str(tmp_path / "out.parquet"),
            BatchPredictConfig(text_column="reply_text"),
        )
    assert not (tmp_path / "out.parquet").exists()


def test_cli_reports_bad_input_in_one_line_with_exit_2(small_model, tmp_path):
    replies_csv(tmp_path / "replies.csv", 20)
    command = [sys.executable, "-m", "components.batch_predict"]
    command += ["--input-uri", str(tmp_path / "replies.csv")]
    command += ["--model-uri", str(small_model.model_dir)]
    command += ["--output-uri", str(tmp_path / "out.csv")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "has no column 'text'" in done.stderr


def test_component_scores_a_dataset_artifact_with_kfp_local(small_model, tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))

    @dsl.pipeline
    def score() -> dsl.Dataset:
        model = dsl.importer(
            artifact_uri=str(small_model.model_dir), artifact_class=dsl.Model, reimport=False
        )
        table = dsl.importer(
            artifact_uri=str(small_model.test_path), artifact_class=dsl.Dataset, reimport=False
        )
        task = batch_predict_component(
            model=model.output, table=table.output, chunk_rows=128, precision="fp32"
        )
        return task.outputs["predictions"]

    run = score()
    result = pq.read_table(run.output.path).to_pandas()
    test = pd.read_parquet(small_model.test_path)
    assert len(result) == len(test)
    assert result["message_id"].tolist() == test["message_id"].tolist()
    assert "text" not in result.columns
    assert np.mean(result["label"].to_numpy() == test["label"].to_numpy()) >= 0.8
    assert run.output.metadata["rows"] == len(test)


def test_payload_columns_make_the_output_a_monitorable_log(small_model, tmp_path):
    """With payload_columns the predictions carry the server's payload-log columns, and the
    monitor reads them as it reads a hash-only payload log."""
    import hashlib

    from components.monitor.config import MonitorConfig
    from components.monitor.monitor import monitor

    frame = generate(260, seed=4)
    frame = frame[frame["reply_text"].str.strip() != ""].head(120)
    source = tmp_path / "replies.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "predictions.parquet"
    config = BatchPredictConfig(
        text_column="reply_text", id_columns=["message_id"], precision="fp32", payload_columns=True
    )
    batch_predict(str(source), str(small_model.model_dir), str(output), config)
    result = pq.read_table(output).to_pandas()
    assert "label" not in result.columns
    texts = frame["reply_text"].tolist()
    assert result["predicted_label"].tolist() == expected_labels(small_model.model_dir, texts)
    assert result["text_length"].tolist() == [len(t) for t in texts]
    assert result["text_sha256"].tolist() == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert (result["token_count"] > 2).all() and result["version"].str.startswith("sha256-").all()
    assert result["probabilities"].map(len).eq(7).all()

    verdict = monitor(
        str(small_model.model_dir), str(output), str(small_model.test_path), MonitorConfig()
    )
    assert [t["name"] for t in verdict.tests] == ["text length", "predicted labels", "confidence"]
    assert verdict.drift_detected is False, verdict.reason
