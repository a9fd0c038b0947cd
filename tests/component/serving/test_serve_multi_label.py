"""A multi-label model served and batch-scored as a user meets it: label sets, not one label.

The model is the real MiniLM with a head trained with binary cross-entropy on sample replies, a
third of them joining two replies of different intents (the `small_multi_label_model` fixture),
its decision thresholds in config.json. Whether a reply gets no label depends on what training
produced (bf16 and fp32 training differ), so the model served here is a copy whose thresholds are
raised, from its own scores, just above every score of its least confident held-out reply. A
real server process answers real HTTP requests on loopback; every answer is compared with host
scoring (load_classifier, predict_proba and label_sets), and the thresholds are shown to be the
model's own by editing them in a copy.
"""

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import tritonclient.http as triton

from components.batch_predict.config import BatchPredictConfig
from components.batch_predict.predict import batch_predict
from components.common.artifacts import MANIFEST_NAME, write_manifest
from components.common.errors import KfpNlpError
from components.common.inference import (
    THRESHOLDS_KEY,
    Classifier,
    label_sets,
    load_classifier,
    predict_proba,
)
from components.common.splits import read_split
from components.common.tables import write_table
from components.serve.config import ExportConfig, ServeConfig
from components.serve.errors import ModelNotReady
from components.serve.onnx_export import export_onnx
from components.serve.release import choose_backend
from components.serve.server import TextClassifierModel

# Above a score by more than served and host scores differ (1e-4), well below any gap in them.
MARGIN = 0.01


def host(model_dir: Path, texts: list[str]) -> tuple[Classifier, np.ndarray, list[list[str]]]:
    """The classifier, its fp32 probabilities and label sets, scored here without a server."""
    classifier = load_classifier(model_dir)
    probs = predict_proba(classifier, texts, precision="fp32")
    return classifier, probs, label_sets(classifier, probs)


def with_thresholds(model_dir: Path, dest: Path, thresholds: dict[str, float]) -> Path:
    """A copy of a model folder with some decision thresholds changed, its manifest rewritten."""
    copy = shutil.copytree(model_dir, dest)
    config = json.loads((copy / "config.json").read_text())
    config[THRESHOLDS_KEY].update(thresholds)
    (copy / "config.json").write_text(json.dumps(config))
    provenance = json.loads((copy / MANIFEST_NAME).read_text())["provenance"]
    (copy / MANIFEST_NAME).unlink()
    write_manifest(copy, provenance)
    return copy


def runner_up(classifier: Classifier, scores: np.ndarray, label: str) -> int:
    """The index of the best-scoring label other than `label`."""
    others = scores.copy()
    others[classifier.labels.index(label)] = -1.0
    return int(others.argmax())


@pytest.fixture(scope="module")
def held_out(small_multi_label_model) -> list[str]:
    return read_split(small_multi_label_model.test_path, "test").texts[:64]


@pytest.fixture(scope="module")
def model_dir(small_multi_label_model, held_out, tmp_path_factory) -> Path:
    """The trained model, its thresholds raised where needed so that the least confident
    held-out reply has no label at or above its threshold, whatever the training's precision."""
    classifier, probs, _ = host(small_multi_label_model.model_dir, held_out)
    thresholds = np.asarray(classifier.thresholds)
    quiet = probs[int(np.argmin((probs / thresholds).max(1)))]
    raised = np.maximum(thresholds, np.minimum(quiet + MARGIN, 1.0))
    return with_thresholds(
        small_multi_label_model.model_dir,
        tmp_path_factory.mktemp("thresholds") / "model",
        dict(zip(classifier.labels, raised.tolist(), strict=True)),
    )


@pytest.fixture(scope="module")
def expected(model_dir, held_out):
    """Host scoring of the held-out replies: among them replies with two labels, one, and none
    at or above threshold."""
    return host(model_dir, held_out)


@pytest.fixture(scope="module")
def payload_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("payloads")


@pytest.fixture(scope="module")
def server(model_dir, start_server, payload_root):
    return start_server(
        model_dir,
        "replies",
        "--precision",
        "fp32",
        "--payload-log-uri",
        str(payload_root),
        "--payload-log-flush-s",
        "0.2",
    )


def v2_body(texts: list[str], probabilities: bool = False) -> dict:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    if probabilities:
        body["parameters"] = {"return_probabilities": True}
    return body


def test_v1_answers_every_label_at_or_above_its_threshold(server, held_out, expected):
    classifier, probs, sets = expected
    # The held-out replies exercise every kind of answer.
    assert {len(s) for s in sets} >= {0, 1, 2}
    response = server.v1({"instances": held_out, "parameters": {"return_probabilities": True}})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["labels"] for p in predictions] == sets
    for prediction, row in zip(predictions, probs, strict=True):
        chosen = [row[classifier.labels.index(name)] for name in prediction["labels"]]
        np.testing.assert_allclose(prediction["label_probabilities"], chosen, atol=1e-4)
        floors = [classifier.thresholds[classifier.labels.index(n)] for n in prediction["labels"]]
        assert all(p >= t for p, t in zip(prediction["label_probabilities"], floors, strict=True))
        served = [prediction["probabilities"][name] for name in classifier.labels]
        np.testing.assert_allclose(served, row, atol=1e-4)
    short = server.v1({"instances": held_out[:1]}).json()["predictions"][0]
    assert set(short) == {"labels", "label_probabilities"}


def test_an_empty_label_set_is_an_empty_list(server, held_out, expected):
    _, _, sets = expected
    none = [text for text, chosen in zip(held_out, sets, strict=True) if not chosen]
    assert none
    predictions = server.v1({"instances": none}).json()["predictions"]
    assert predictions == [{"labels": [], "label_probabilities": []}] * len(none)
    outputs = {o["name"]: o for o in server.v2(v2_body(none)).json()["outputs"]}
    assert outputs["labels"]["data"] == ["[]"] * len(none)
    assert not any(outputs["label_indicators"]["data"])


def test_v2_decodes_to_the_same_label_sets_without_ragged_tensors(server, held_out, expected):
    classifier, probs, sets = expected
    n, k = probs.shape
    response = server.v2(v2_body(held_out, probabilities=True))
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert [outputs[name]["datatype"] for name in outputs] == ["BYTES", "BYTES", "BOOL", "FP32"]
    assert outputs["labels"]["shape"] == [n]
    assert [json.loads(row) for row in outputs["labels"]["data"]] == sets
    picked = [json.loads(row) for row in outputs["label_probabilities"]["data"]]
    for row, names, values in zip(probs, sets, picked, strict=True):
        np.testing.assert_allclose(
            values, [row[classifier.labels.index(x)] for x in names], atol=1e-4
        )
    metadata = requests.get(f"{server.url}/v2/models/replies", timeout=10).json()
    columns = {o["name"]: o.get("parameters", {}) for o in metadata["outputs"]}
    assert columns["label_indicators"]["labels"] == classifier.labels
    assert outputs["label_indicators"]["shape"] == [n, k]
    matrix = np.array(outputs["label_indicators"]["data"]).reshape(n, k)
    assert [
        [columns["label_indicators"]["labels"][j] for j in np.flatnonzero(r)] for r in matrix
    ] == sets
    scores = np.array(outputs["probabilities"]["data"]).reshape(n, k)
    np.testing.assert_allclose(scores, probs, atol=1e-4)


def test_the_payload_log_records_the_label_set(server, payload_root, held_out, expected):
    classifier, _, sets = expected
    texts = held_out[:20]
    assert server.v1({"instances": texts}).status_code == 200
    wanted = {
        hashlib.sha256(t.encode()).hexdigest(): s for t, s in zip(texts, sets[:20], strict=True)
    }
    logged: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not wanted.keys() <= logged.keys():
        time.sleep(0.3)
        for part in payload_root.rglob("part-*.parquet"):
            for row in pq.read_table(part, partitioning=None).to_pylist():
                logged[row["text_sha256"]] = row
    for digest, chosen in wanted.items():
        row = logged[digest]
        assert "predicted_label" not in row
        assert row["predicted_labels"] == chosen
        floors = [classifier.thresholds[classifier.labels.index(n)] for n in chosen]
        assert all(p >= t for p, t in zip(row["label_probabilities"], floors, strict=True))


def test_decision_thresholds_come_from_the_models_config(
    model_dir, start_server, held_out, expected, tmp_path
):
    classifier, probs, sets = expected
    # The one-label reply whose best other label scores highest; in the copy its label's
    # threshold is above its score and the other label's below its own, whatever the scores.
    single = [i for i, s in enumerate(sets) if len(s) == 1]
    row = max(single, key=lambda i: probs[i][runner_up(classifier, probs[i], sets[i][0])])
    dropped = sets[row][0]
    other = runner_up(classifier, probs[row], dropped)
    added = classifier.labels[other]
    top, second = float(probs[row][classifier.labels.index(dropped)]), float(probs[row][other])
    copy = with_thresholds(
        model_dir, tmp_path / "model", {dropped: (top + 1) / 2, added: second / 2}
    )

    edited = start_server(copy, "edited", "--precision", "fp32")
    answer = edited.v1({"instances": [held_out[row]]}).json()["predictions"][0]
    assert answer["labels"] == [added]
    assert sets[row] == [dropped]
    assert [p["labels"] for p in edited.v1({"instances": held_out}).json()["predictions"]] == (
        host(copy, held_out)[2]
    )


def read_label_sets(output: Path, fmt: str, delimiter: str) -> pd.DataFrame:
    """The predictions file as a frame with `labels` and `label_probabilities` as lists."""
    if fmt == "parquet":
        table = pq.read_table(output)
        assert table.schema.field("labels").type == pa.list_(pa.string())
        return table.to_pandas()
    if fmt == "jsonl":
        return pd.read_json(output, lines=True)
    frame = pd.read_csv(output, keep_default_na=False)
    return frame.assign(
        labels=[cell.split(delimiter) if cell else [] for cell in frame["labels"]],
        label_probabilities=[
            [float(v) for v in cell.split(delimiter)] if cell else []
            for cell in frame["label_probabilities"]
        ],
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_batch_predict_writes_label_sets(model_dir, held_out, expected, fmt, tmp_path):
    classifier, probs, sets = expected
    source = tmp_path / "replies.jsonl"
    frame = pd.DataFrame({"reply_id": range(len(held_out)), "text": held_out})
    write_table(pa.Table.from_pandas(frame, preserve_index=False), source, "jsonl")
    output = tmp_path / f"predictions.{fmt}"
    batch_predict(
        str(source),
        str(model_dir),
        str(output),
        BatchPredictConfig(chunk_rows=32, label_delimiter=";"),
    )
    result = read_label_sets(output, fmt, ";")
    assert list(result.columns) == ["reply_id", "labels", "label_probabilities"]
    assert result["reply_id"].tolist() == list(range(len(held_out)))
    assert [list(x) for x in result["labels"]] == sets
    values = [list(x) for x in result["label_probabilities"]]
    for row, names, got in zip(probs, sets, values, strict=True):
        np.testing.assert_allclose(got, [row[classifier.labels.index(x)] for x in names], atol=1e-4)


def test_onnx_int8_release_qualifies_on_subset_accuracy(small_multi_label_model, tmp_path):
    split = read_split(small_multi_label_model.test_path, "test")
    out = tmp_path / "onnx-model"
    metrics = export_onnx(
        str(small_multi_label_model.model_dir),
        out,
        str(small_multi_label_model.test_path),
        ExportConfig(),
    )
    _, _, sets = host(small_multi_label_model.model_dir, split.texts)
    exact = np.mean([set(p) == set(t) for p, t in zip(sets, split.labels, strict=True)])
    assert metrics["test_rows"] == len(split.texts)
    assert metrics["accuracy_fp32"] == pytest.approx(exact, abs=1e-9)
    assert metrics["accuracy_int8"] >= metrics["accuracy_fp32"] - 0.03
    assert metrics["accuracy_metric"] == "subset_accuracy"
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["provenance"]["onnx"]["accuracy_metric"] == "subset_accuracy"
    int8 = load_classifier(out, onnx_file="onnx/model_int8.onnx")
    assert int8.multi_label
    agree = np.mean(
        [
            a == b
            for a, b in zip(label_sets(int8, predict_proba(int8, split.texts)), sets, strict=True)
        ]
    )
    assert agree >= 0.9
    # The release rule, at its default allowed drop, serves this model's int8 copy.
    allowed = ExportConfig().max_int8_accuracy_drop
    choice = choose_backend(
        metrics["accuracy_fp32"], metrics["accuracy_int8"], allowed, "subset accuracy"
    )
    assert choice.backend == "onnx", choice.reason
    assert choice.reason.startswith("ONNX int8: int8 subset accuracy ")


def test_a_csv_delimiter_inside_a_label_is_refused_before_anything_is_written(
    small_multi_label_model, held_out, tmp_path
):
    source = tmp_path / "replies.jsonl"
    write_table(pa.table({"text": held_out[:4]}), source, "jsonl")
    output = tmp_path / "predictions.csv"
    with pytest.raises(KfpNlpError) as raised:
        batch_predict(
            str(source),
            str(small_multi_label_model.model_dir),
            str(output),
            BatchPredictConfig(label_delimiter="_"),
        )
    assert str(raised.value) == (
        "label 'discount_question' contains the label delimiter '_', so its CSV cells could not "
        "be split again; pass another --label-delimiter or write Parquet"
    )
    assert list(tmp_path.iterdir()) == [source]


def test_outputs_are_described_once_the_model_is_known(small_multi_label_model):
    model = TextClassifierModel(
        "replies", ServeConfig(model_dir=str(small_multi_label_model.model_dir))
    )
    with pytest.raises(ModelNotReady):
        model.get_output_types()
    assert model.load() is True
    assert [o["name"] for o in model.get_output_types()] == [
        "labels",
        "label_probabilities",
        "label_indicators",
        "probabilities",
    ]


def test_an_open_inference_protocol_client_decodes_the_label_sets(server, held_out, expected):
    classifier, _, sets = expected
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        texts = triton.InferInput("text", [len(held_out)], "BYTES")
        texts.set_data_from_numpy(np.array(held_out, dtype=object))
        wanted = [triton.InferRequestedOutput(n) for n in ("labels", "label_indicators")]
        result = client.infer("replies", inputs=[texts], outputs=wanted)
    finally:
        client.close()
    assert [json.loads(row) for row in result.as_numpy("labels")] == sets
    indicators = result.as_numpy("label_indicators")
    assert indicators.dtype == bool
    assert [[classifier.labels[j] for j in np.flatnonzero(r)] for r in indicators] == sets
