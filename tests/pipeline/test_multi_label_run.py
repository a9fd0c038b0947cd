"""A multi-label table through `kfp-nlp run text_classifier_training --local`, end to end.

The table is built from the sample data: single-intent replies, and replies made of two
replies of different intents labelled with both ("complaint|discount_question"). The run goes
through the real kfp.local runner: prepare, fine-tune (tiny settings), evaluate, register and
release; the test then reads what a user sees, scores the registered model on this host, and
starts the model server with the arguments of the InferenceService the release rendered, on the
registered version, and asks it over HTTP. Not exercised: KServe's storage initializer copying
the version to /mnt/models (the test passes the registry folder itself).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import requests
import yaml

from components.common.artifacts import dataset_metadata
from components.common.config import add_arguments, from_arguments
from components.common.inference import THRESHOLDS_KEY, label_sets, load_classifier, predict_proba
from components.deploy.render import MODEL_MOUNT
from components.registry.registry import version_uri
from components.sample_data import generate
from components.serve.config import ServeConfig
from tests.component.serving.conftest import RunningServer


def multi_label_table(path: Path) -> Path:
    """Sample replies: 240 with one intent, 120 made of two replies of different intents."""
    frame = generate(rows=600, seed=11)
    frame = frame[frame["reply_text"].str.strip() != ""].reset_index(drop=True)
    single = frame.iloc[:240]
    rng = np.random.default_rng(0)
    rest = frame.iloc[240:].reset_index(drop=True)
    texts, labels = list(single["reply_text"]), list(single["intent"])
    while len(texts) < 360:
        a, b = rest.iloc[rng.choice(len(rest), size=2, replace=False)].itertuples()
        if a.intent != b.intent:
            texts.append(f"{a.reply_text} {b.reply_text}")
            labels.append(f"{a.intent}|{b.intent}")
    pd.DataFrame({"reply_text": texts, "intent": labels}).to_csv(path, index=False)
    return path


def test_a_multi_label_table_trains_evaluates_and_registers_a_label_set_model(tmp_path: Path):
    data = multi_label_table(tmp_path / "replies.csv")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pipelines.cli", "run", "text_classifier_training"),
            *("--local", "--json", "--workdir", str(tmp_path / "work")),
            *("--param", f"data_uri={data}", "--param", "label_delimiter=|"),
            *("--param", "text_column=reply_text", "--param", "label_column=intent"),
            *("--param", "max_steps=24", "--param", "max_length=48"),
            *("--param", "learning_rate=0.0005", "--param", "batch_size=8"),
            # A few steps make no model a gate should pass; here the release is what is tested.
            *("--param", "thresholds=", "--param", "require_beat_baseline=false"),
            *("--param", "slice_columns=text_length"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    outputs = summary["outputs"]

    # prepare_dataset says multi-label, with the rows that carry two labels.
    data_report = Path(outputs["data_report"]["path"]).read_text()
    assert "multi-label" in data_report and "## Label sets" in data_report
    (train_split,) = (tmp_path / "work" / "runs").glob("**/prepare-dataset/train")
    train_facts = dataset_metadata(train_split)
    assert train_facts["multi_label"] is True and train_facts["labels_per_row"]["2"] > 50
    assert outputs["data_metrics"]["metadata"]["mean_labels_per_row"] > 1.2
    assert outputs["model"]["metadata"]["task"] == "multi_label"

    # The evaluation reports the multi-label metrics and the baseline beside the model.
    metrics = outputs["evaluation_metrics"]["metadata"]
    for name in ("subset_accuracy", "hamming_loss", "macro_f1", "micro_f1", "weighted_f1"):
        assert 0 <= metrics[name] <= 1, name
    assert "baseline_macro_f1" in metrics and "ece" not in metrics
    evaluation_report = Path(outputs["evaluation_report"]["path"]).read_text()
    assert "Per label" in evaluation_report and "<th>threshold</th>" in evaluation_report
    assert outputs["approved"] is True, outputs["reason"]

    # The registered champion holds its decision thresholds, one per label.
    registry = tmp_path / "work" / "registry"
    model_dir = Path(version_uri(str(registry), "text-classifier", summary["registry_version"]))
    config = json.loads((model_dir / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert set(config[THRESHOLDS_KEY]) == set(labels) == set(train_facts["labels"])

    # Scored on this host as every stage scores: label sets, some with two labels.
    classifier = load_classifier(model_dir, max_length=48)
    texts = pd.read_csv(data)["reply_text"].tolist()[-60:]
    predicted = label_sets(classifier, predict_proba(classifier, texts))
    assert len(predicted) == 60 and all(set(row) <= set(labels) for row in predicted)
    assert any(len(row) >= 2 for row in predicted), predicted

    # The released InferenceService's server, on the registered version, answers label sets.
    manifest = yaml.safe_load(Path(summary["manifest"]).read_text())
    (container,) = manifest["spec"]["predictor"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["STORAGE_URI"].rstrip("/") == str(model_dir).rstrip("/")
    args = [str(model_dir) if arg == MODEL_MOUNT else arg for arg in container["args"]]
    args[args.index("--host") + 1] = "127.0.0.1"
    parser = argparse.ArgumentParser()
    add_arguments(parser, ServeConfig)
    served = from_arguments(ServeConfig, parser.parse_args(args))
    onnx_file = served.onnx_file if served.backend == "onnx" else ""
    same_backend = load_classifier(model_dir, served.max_length, onnx_file)
    # One text at a time on both sides: int8 ONNX quantizes activations per batch, so only the
    # same batches give the same numbers.
    host = np.vstack([predict_proba(same_backend, [t], precision=served.precision) for t in texts])
    # The server gets the rendered args; only the model folder and a free port are its own.
    port = args.index("--port")
    rendered = args[2:port] + args[port + 2 :]
    server = RunningServer(
        model_dir, served.model_name, tmp_path / "server.log", *rendered, pass_name=False
    )
    try:
        server.wait_ready()
        answers = [
            requests.post(
                f"{server.url}/v1/models/{served.model_name}:predict",
                json={"instances": [text], "parameters": {"return_probabilities": True}},
                timeout=60,
            )
            for text in texts
        ]
    finally:
        server.stop()
    assert [answer.status_code for answer in answers] == [200] * len(texts), answers[0].text
    answered = [answer.json()["predictions"][0] for answer in answers]
    sets = [prediction["labels"] for prediction in answered]
    assert sets == label_sets(same_backend, host)
    assert any(len(row) >= 2 for row in sets), sets
    served_probs = np.array([[row["probabilities"][label] for label in labels] for row in answered])
    np.testing.assert_allclose(served_probs, host, atol=1e-4)
