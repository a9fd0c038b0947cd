"""Small real upstream artifacts for evaluate_classifier: test Datasets and MiniLM classifiers.

The test set has the shape prepare_dataset writes (text, label, kept columns such as `channel`,
and the `kfp_nlp` Parquet metadata). The models are the real all-MiniLM-L6-v2 with a
classification head for our labels, built by the one test-model builder
(`benchmarks.small_classifier.build_model`) and saved as finetune_classifier saves a model
(safetensors, tokenizer, `kfp_nlp_manifest.json`). The "trained" model learns its head on the
frozen encoder (seconds on a CPU, clearly better than chance); the "untrained" one keeps its
random head (chance level).
"""

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import torch

from benchmarks.small_classifier import build_model
from components.common.artifacts import encode_dataset_metadata, write_manifest
from components.common.tables import write_parquet

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

INTENTS = {
    "complaint": [
        "this is the worst service i have ever had",
        "my package arrived broken and nobody helps",
        "terrible experience, very disappointed with you",
        "i am furious, the product stopped working",
    ],
    "discount_question": [
        "is there a discount code for this sale",
        "do you have any coupon or promo this week",
        "can i get a percent off if i buy two",
        "when is the next sale with lower prices",
    ],
    "order_status": [
        "where is my order, it has not arrived",
        "can you tell me when my delivery will ship",
        "tracking number for my parcel please",
        "my order is late, what is the shipping status",
    ],
    "other": [
        "who is this",
        "wrong number i think",
        "what time is it over there",
        "ok",
    ],
    "positive": [
        "love it, thanks so much",
        "great product, very happy with it",
        "awesome, thank you for the quick help",
        "you guys are the best, wonderful",
    ],
    "product_question": [
        "does this jacket come in size large",
        "is the blender dishwasher safe",
        "what colours does the phone case come in",
        "how long does the battery last on this model",
    ],
    "unsubscribe": [
        "stop sending me messages",
        "unsubscribe me from this list now",
        "please remove my number, no more texts",
        "opt out, stop all emails",
    ],
}
LABELS = sorted(INTENTS)
_PREFIXES = ["", "hi, ", "hello! ", "hey ", "excuse me, "]
_SUFFIXES = ["", " thanks", "!", " please", " ??", " - sent from my phone"]


def intent_rows(per_label: int, seed: int) -> pd.DataFrame:
    """Replies to marketing messages with their intent, channel and locale."""
    rng = random.Random(seed)
    rows = []
    for label, templates in INTENTS.items():
        for i in range(per_label):
            text = rng.choice(_PREFIXES) + rng.choice(templates) + rng.choice(_SUFFIXES)
            rows.append(
                {
                    "id": f"{label}-{i}",
                    "text": text,
                    "label": label,
                    "channel": rng.choice(["sms", "email"]),
                    "locale": rng.choice(["en-US", "en-GB"]),
                }
            )
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def write_dataset(frame: pd.DataFrame, path: Path, labels: list[str] | None = None) -> Path:
    """Write `frame` as a Dataset Parquet with the facts prepare_dataset records."""
    labels = labels if labels is not None else LABELS
    counts = frame["label"].value_counts().to_dict() if "label" in frame else {}
    facts = {
        "labels": labels,
        "label_counts": {k: int(v) for k, v in counts.items()},
        "rows": len(frame),
        "split": "test",
        "source_uri": "memory://intent-fixture",
        "multi_label": False,
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_parquet(table, path, encode_dataset_metadata(facts))
    return path


@pytest.fixture(scope="session")
def evaluate_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders: `trained`, `untrained`, `broken` (NaN weights), `other_task`."""
    root = tmp_path_factory.mktemp("evaluate-models")
    models = {
        "trained": build_model(root / "trained", LABELS, intent_rows(12, seed=1)),
        "untrained": build_model(root / "untrained", LABELS, None, seed=3),
        "other_task": build_model(root / "other_task", ["negative", "positive"], None),
    }
    broken = root / "broken"
    shutil.copytree(models["untrained"], broken)
    from safetensors.torch import load_file, save_file

    weights = load_file(broken / "model.safetensors")
    weights["classifier.bias"] = torch.full_like(weights["classifier.bias"], float("nan"))
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    write_manifest(broken, {"task": "single_label", "labels": LABELS})
    models["broken"] = broken
    return models


@pytest.fixture(scope="session")
def evaluate_test_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A held-out test Dataset: 20 replies per intent, with channel and locale columns."""
    return write_dataset(intent_rows(20, seed=2), tmp_path_factory.mktemp("test") / "test.parquet")


@pytest.fixture
def dataset_writer(tmp_path: Path) -> Callable[..., Path]:
    """Write a variant of the test set (a bad one, usually) and return its path."""

    def write(frame: pd.DataFrame, labels: list[str] | None = None) -> Path:
        return write_dataset(frame, tmp_path / "variant.parquet", labels)

    return write
