"""Fixtures for the fine-tuning tests: small intent-labelled Dataset artifacts, the base model."""

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from components.common.artifacts import encode_dataset_metadata
from components.common.tables import write_parquet
from components.finetune.base_model import default_base_model

INTENTS = {
    "unsubscribe": [
        "stop sending me {thing}",
        "unsubscribe me please",
        "remove me from your {thing} list",
        "please stop texting me",
        "opt out of all {thing}",
    ],
    "order_status": [
        "where is my order {num}",
        "has order {num} shipped yet",
        "my package has not arrived",
        "tracking for order {num} shows nothing",
        "when will my delivery arrive",
    ],
    "discount_question": [
        "does the {pct} off code work on sale items",
        "how do i use the discount code",
        "is the {pct} coupon still valid",
        "can i combine two promo codes",
        "my discount code was not applied",
    ],
    "complaint": [
        "the {item} arrived broken and i am angry",
        "worst customer service ever",
        "you charged me twice for the {item}",
        "the {item} stopped working after a day",
        "i am very disappointed with the {item}",
    ],
    "positive": [
        "love the new {item} thanks",
        "great service as always",
        "thank you so much the {item} is perfect",
        "awesome deal happy customer",
        "the {item} is amazing",
    ],
}
SLOTS = {
    "thing": ["emails", "texts", "messages", "offers", "newsletters"],
    "num": ["1234", "5521", "9087", "4410", "7781"],
    "pct": ["10%", "20%", "15%", "25%", "30%"],
    "item": ["jacket", "blender", "phone case", "shoes", "lamp"],
}
LABELS = sorted(INTENTS)


def reply_rows(rows: int, seed: int) -> list[tuple[str, str]]:
    """`rows` short (text, intent) pairs drawn from templates; balanced across intents."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        label = LABELS[i % len(LABELS)]
        template = rng.choice(INTENTS[label])
        text = template.format(**{k: rng.choice(v) for k, v in SLOTS.items()})
        out.append((text, label))
    rng.shuffle(out)
    return out


def write_dataset(path: Path, rows: list[tuple[str, object]], split: str) -> Path:
    """A Dataset artifact as prepare_dataset writes it: Parquet + `kfp_nlp` schema metadata."""
    multi = any(isinstance(label, list) for _, label in rows)
    texts = [t for t, _ in rows]
    labels = [label for _, label in rows]
    names = sorted({x for label in labels for x in (label if multi else [label])})
    label_type = pa.list_(pa.string()) if multi else pa.string()
    table = pa.table({"text": pa.array(texts), "label": pa.array(labels, type=label_type)})
    counts: dict[str, int] = {}
    for label in labels:
        for x in label if multi else [label]:
            counts[x] = counts.get(x, 0) + 1
    facts = {
        "labels": names,
        "label_counts": counts,
        "rows": len(rows),
        "split": split,
        "source_uri": "generated",
        "multi_label": multi,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(table, path, encode_dataset_metadata(facts))
    return path


@pytest.fixture(scope="session")
def splits(tmp_path_factory) -> tuple[Path, Path]:
    """Single-label train (200 rows) and validation (60 rows) Dataset files."""
    root = tmp_path_factory.mktemp("data")
    train = write_dataset(root / "train.parquet", reply_rows(200, seed=1), "train")
    validation = write_dataset(root / "validation.parquet", reply_rows(60, seed=2), "validation")
    return train, validation


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    return default_base_model()


def read_manifest(model_dir: Path) -> dict:
    return json.loads((model_dir / "kfp_nlp_manifest.json").read_text())


# The one training configuration several tests share: small enough for seconds, large enough
# that MiniLM learns the intents (about 0.9 macro-F1 on the validation rows).
REFERENCE_SETTINGS = {
    "epochs": 2,
    "batch_size": 16,
    "learning_rate": 1e-4,
    "checkpoint_steps": 4,
    "log_steps": 4,
    "max_train_samples": 160,
}


@pytest.fixture(scope="session")
def reference_run(splits, tmp_path_factory) -> tuple[dict, Path]:
    """An uninterrupted single-worker run of REFERENCE_SETTINGS, in this process."""
    from components.finetune.config import FinetuneConfig
    from components.finetune.finetune import finetune

    train, validation = splits
    output = tmp_path_factory.mktemp("reference") / "model"
    config = FinetuneConfig(**REFERENCE_SETTINGS)
    result = finetune(str(train), str(validation), str(output), config)
    return result, output


def plain_predictions(model_dir: Path, texts: list[str]) -> torch.Tensor:
    """Class probabilities from plain `AutoModelForSequenceClassification` + `AutoTokenizer`,
    at the temperature the model's config.json records (the documented calibration)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        logits = model(**batch).logits / model.config.calibration_temperature
    if model.config.problem_type == "multi_label_classification":
        return torch.sigmoid(logits)
    return torch.softmax(logits, -1)
