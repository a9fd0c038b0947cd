"""Fine-tuning the real MiniLM in-process: the Model artifact, its metrics and its loading."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import LABELS, plain_predictions, read_manifest, reply_rows, write_dataset
from safetensors.torch import load_file
from sklearn.metrics import f1_score

from components.common.artifacts import verify_manifest
from components.common.inference import THRESHOLDS_KEY, load_classifier, predict_proba
from components.finetune.checkpoint import CheckpointStore
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.finetune.report import training_report_html


def test_model_artifact_is_self_contained(reference_run, splits):
    result, model_dir = reference_run
    names = {p.name for p in model_dir.iterdir()}
    assert "model.safetensors" in names
    assert not any(n.endswith(".bin") for n in names)
    assert {"config.json", "tokenizer.json", "kfp_nlp_manifest.json"} <= names
    config = json.loads((model_dir / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    assert config["label2id"] == {label: i for i, label in enumerate(LABELS)}
    manifest = verify_manifest(model_dir)
    provenance = manifest["provenance"]
    assert set(manifest["files"]) == names - {"kfp_nlp_manifest.json"}
    assert provenance["labels"] == LABELS
    assert provenance["task"] == "single_label"
    assert len(provenance["data_sha256"]) == 64
    assert len(provenance["base_model_sha256"]) == 64
    assert provenance["training_config"]["learning_rate"] == 1e-4
    assert provenance["versions"]["kfp_nlp"]
    assert provenance["metrics"] == result["metrics"]
    # One evaluation per epoch, each with the curves the KFP UI shows.
    assert [h["epoch"] for h in result["history"]] == [1.0, 2.0]
    assert result["metrics"]["val_macro_f1"] > 0.8
    # Temperature scaling on the validation split is stored where every scorer reads it, and
    # does not make the probabilities less calibrated on the data it was fitted to.
    assert config["calibration_temperature"] == provenance["calibration"]["temperature"] > 0
    assert result["metrics"]["val_ece"] <= result["metrics"]["val_ece_uncalibrated"]


def test_plain_transformers_load_gives_the_same_predictions(reference_run, splits):
    result, model_dir = reference_run
    _, validation = splits
    texts = pq.read_table(validation).column("text").to_pylist()
    truth = pq.read_table(validation).column("label").to_pylist()
    plain = plain_predictions(model_dir, texts).numpy()
    shared = predict_proba(load_classifier(model_dir), texts, precision="fp32")
    np.testing.assert_allclose(plain, shared, atol=1e-4)
    predicted = [LABELS[i] for i in plain.argmax(1)]
    f1 = f1_score(truth, predicted, average="macro")
    # Training evaluated under bf16 autocast; the fp32 reload may differ by a prediction or two.
    assert f1 == pytest.approx(result["metrics"]["val_macro_f1"], abs=0.05)


def test_keeps_the_best_weights_not_the_last(splits, tmp_path):
    """A learning rate far too high makes the validation score stall or fall after the first
    evaluations: early stopping ends the run, and the Model holds the best weights seen, not
    the last ones (which the final checkpoint keeps beside them)."""
    train, validation = splits
    checkpoints = tmp_path / "checkpoints"
    config = FinetuneConfig(
        batch_size=16,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        eval_steps=2,
        max_steps=12,
        early_stopping_patience=2,
        max_train_samples=96,
        log_steps=2,
        checkpoint_uri=str(checkpoints),
    )
    result = finetune(str(train), str(validation), str(tmp_path / "model"), config)
    history = result["history"]
    scores = [h["val_macro_f1"] for h in history]
    best = int(np.argmax(scores))
    assert result["training"]["best_step"] == history[best]["step"]
    assert result["training"]["stopped_early"]
    assert len(history) == best + 1 + config.early_stopping_patience

    store = CheckpointStore(str(checkpoints))
    final = store.load(store.latest_marker())
    saved = load_file(tmp_path / "model" / "model.safetensors")
    shared = sorted(set(saved) & set(final["model"]))
    assert "classifier.weight" in shared
    assert all(torch.equal(saved[k], final["best_weights"][k]) for k in shared)
    assert not all(torch.equal(saved[k], final["model"][k]) for k in shared)

    texts = pq.read_table(validation).column("text").to_pylist()
    truth = pq.read_table(validation).column("label").to_pylist()
    predicted = [LABELS[i] for i in plain_predictions(tmp_path / "model", texts).argmax(1)]
    f1 = f1_score(truth, predicted, labels=LABELS, average="macro", zero_division=0)
    assert f1 == pytest.approx(max(scores), abs=0.05)


def test_multi_label(tmp_path):
    rows = reply_rows(120, seed=3)
    # Every complaint also asks about an order: two labels on one text.
    multi = [(t, [y, "order_status"] if y == "complaint" else [y]) for t, y in rows]
    train = write_dataset(tmp_path / "train.parquet", multi[:90], "train")
    validation = write_dataset(tmp_path / "validation.parquet", multi[90:], "validation")
    config = FinetuneConfig(batch_size=16, learning_rate=2e-4, max_steps=6, log_steps=3)
    result = finetune(str(train), str(validation), str(tmp_path / "model"), config)
    assert result["task"] == "multi_label"
    model_dir = tmp_path / "model"
    config_json = json.loads((model_dir / "config.json").read_text())
    assert config_json["problem_type"] == "multi_label_classification"
    assert read_manifest(model_dir)["provenance"]["task"] == "multi_label"
    classifier = load_classifier(model_dir)
    assert classifier.multi_label
    probs = predict_proba(classifier, ["the blender arrived broken and i am angry"])
    # Independent sigmoids, not a softmax: the scores need not sum to one.
    assert probs.shape == (1, len(LABELS))
    assert abs(float(probs.sum()) - 1.0) > 1e-3
    # One decision threshold per label, tuned on validation, stored where label_sets reads it.
    stored = config_json[THRESHOLDS_KEY]
    assert list(stored) == LABELS and stored == result["calibration"][THRESHOLDS_KEY]
    assert classifier.thresholds == [stored[label] for label in LABELS]
    assert all(0.05 <= t <= 0.95 for t in stored.values())
    tuned, default = (
        result["metrics"][f"val_macro_f1_at_{k}"] for k in ("thresholds", "default_threshold")
    )
    assert tuned >= default
    assert "Decision thresholds" in training_report_html(result)


def test_pickle_weights_load_only_when_allowed(splits, base_model_dir, tmp_path):
    """A base model with only `pytorch_model.bin` trains when the user allows pickle weights;
    the Model written is safetensors either way."""
    train, validation = splits
    folder = tmp_path / "base"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (folder / name).symlink_to(base_model_dir / name)
    torch.save(load_file(base_model_dir / "model.safetensors"), folder / "pytorch_model.bin")
    config = FinetuneConfig(
        base_model=str(folder),
        allow_pickle_weights=True,
        max_steps=1,
        batch_size=8,
        max_train_samples=16,
    )
    finetune(str(train), str(validation), str(tmp_path / "model"), config)
    names = {p.name for p in (tmp_path / "model").iterdir()}
    assert "model.safetensors" in names
    assert not any(n.endswith(".bin") for n in names)
