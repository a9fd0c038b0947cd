"""finetune_classifier against a Hugging Face `Trainer` configured like run_glue, same data.

    python -m benchmarks.finetune [--train-examples 512] [--epochs 3] [--seeds 2] [--threads N]

The data is the sample data (components.sample_data) passed through prepare_dataset, as in the
pipeline. Both sides fine-tune the same base model (all-MiniLM-L6-v2) on the same first N
training examples for the same epochs, batch size, learning rate, warmup and weight decay:

- baseline: `Trainer` with run_glue's defaults: every text padded to max_length 128, fp32;
- ours: `finetune` (tokenised once, length-grouped batches padded per batch, bf16 autocast
  where the CPU runs it natively).

Throughput is training examples per second of training time (model loading, evaluation and
saving excluded on both sides). Both models are then scored the same way, with
components.common.inference in fp32, for validation macro-F1. Achieved FLOP/s counts the useful
work only: the matmuls of non-padding tokens (6 x non-embedding parameters per token, plus
attention over each text's real length), divided by training time, as a fraction of the peak
that a large matmul reaches in this same run (fp32 and bf16).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from sklearn.metrics import f1_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainingArguments,
)

from components.common.inference import load_classifier, predict_proba
from components.finetune.base_model import default_base_model
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.prepare.config import PrepareConfig
from components.prepare.prepare import PrepareOutputs, prepare_dataset
from components.sample_data import write_sample

BATCH_SIZE = 32
LEARNING_RATE = 2e-4
WARMUP_RATIO = 0.06
WEIGHT_DECAY = 0.01
MAX_LENGTH = 128
SEED = 42


def matmul_peak(dtype: torch.dtype, size: int = 2048, seconds: float = 2.0) -> float:
    """FLOP/s of the best of repeated square matmuls in `dtype` (this run's practical peak)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def training_flops(lengths: np.ndarray, epochs: int) -> float:
    """Matmul FLOPs to train on texts of these (non-padding) token lengths, forward + backward."""
    model = AutoModelForSequenceClassification.from_pretrained(
        default_base_model(), num_labels=7, local_files_only=True
    )
    config = model.config
    embedding = sum(
        p.numel() for n, p in model.named_parameters() if "embeddings" in n and p.ndim == 2
    )
    dense = sum(p.numel() for p in model.parameters()) - embedding
    per_token = 6 * dense
    # QK^T and AV: 2 matmuls x 2 FLOPs x length x hidden per token and layer, x3 for backward.
    attention = 12 * config.num_hidden_layers * config.hidden_size
    tokens = lengths.sum()
    return float(epochs * (per_token * tokens + attention * (lengths.astype(float) ** 2).sum()))


def prepared_splits(workdir: Path) -> tuple[Path, Path]:
    source = str(workdir / "replies.csv")
    write_sample(source)
    outputs = PrepareOutputs(
        *(str(workdir / f"{n}.parquet") for n in ("train", "validation", "test")),
        report=str(workdir / "report.md"),
    )
    prepare_dataset(
        source, outputs, PrepareConfig(text_columns=["reply_text"], label_column="intent")
    )
    return Path(outputs.train), Path(outputs.validation)


def run_trainer(train: Path, n: int, epochs: int, labels: list[str], seed: int, out: Path) -> float:
    """The run_glue-style baseline; returns its training examples per second."""
    tokenizer = AutoTokenizer.from_pretrained(default_base_model(), local_files_only=True)
    table = pq.read_table(train).slice(0, n)
    encoded = tokenizer(
        table.column("text").to_pylist(),
        padding="max_length",
        max_length=MAX_LENGTH,
        truncation=True,
    )
    index = {label: i for i, label in enumerate(labels)}
    targets = [index[label] for label in table.column("label").to_pylist()]
    dataset = [
        {"input_ids": ids, "attention_mask": mask, "labels": target}
        for ids, mask, target in zip(
            encoded["input_ids"], encoded["attention_mask"], targets, strict=True
        )
    ]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        default_base_model(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=index,
        local_files_only=True,
    )
    steps = epochs * -(-n // BATCH_SIZE)
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=BATCH_SIZE,
        num_train_epochs=epochs,
        learning_rate=LEARNING_RATE,
        warmup_steps=int(WARMUP_RATIO * steps),
        weight_decay=WEIGHT_DECAY,
        seed=seed,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset)
    metrics = trainer.train().metrics
    trainer.save_model(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    return metrics["train_samples_per_second"]


def macro_f1(model_dir: Path, validation: Path) -> float:
    table = pq.read_table(validation)
    classifier = load_classifier(model_dir)
    probs = predict_proba(classifier, table.column("text").to_pylist(), precision="fp32")
    predicted = [classifier.labels[i] for i in probs.argmax(1)]
    return float(f1_score(table.column("label").to_pylist(), predicted, average="macro"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--seeds",
        type=int,
        default=2,
        help="runs per side with different seeds; macro-F1 varies by a few points between "
        "seeds on a few hundred examples, so the comparison uses the mean",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="compute threads for both sides and the peak (0: torch's default); on a shared "
        "machine 1 avoids OpenMP threads waiting on each other",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        workdir = Path(tmp)
        train, validation = prepared_splits(workdir)
        train_rows = pq.read_table(train).num_rows
        n = min(args.train_examples, train_rows)
        labels = sorted(set(pq.read_table(train).column("label").to_pylist()))
        tokenizer = AutoTokenizer.from_pretrained(default_base_model(), local_files_only=True)
        texts = pq.read_table(train).slice(0, n).column("text").to_pylist()
        lengths = np.array(
            [
                len(ids)
                for ids in tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
            ]
        )
        useful = training_flops(lengths, args.epochs)
        peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}

        baseline, ours = [], []
        for seed in range(SEED, SEED + args.seeds):
            rate = run_trainer(train, n, args.epochs, labels, seed, workdir / f"baseline-{seed}")
            baseline.append((rate, macro_f1(workdir / f"baseline-{seed}" / "model", validation)))
            config = FinetuneConfig(
                epochs=args.epochs,
                batch_size=BATCH_SIZE,
                learning_rate=LEARNING_RATE,
                warmup_ratio=WARMUP_RATIO,
                weight_decay=WEIGHT_DECAY,
                max_length=MAX_LENGTH,
                seed=seed,
                max_train_samples=n,
                log_steps=10_000,
            )
            out = workdir / f"ours-{seed}"
            training = finetune(str(train), str(validation), str(out), config)["training"]
            rate = training["train_samples"] / training["train_seconds"]
            ours.append((rate, macro_f1(out, validation)))

    baseline_rate, baseline_f1 = np.mean(baseline, axis=0)
    ours_rate, ours_f1 = np.mean(ours, axis=0)
    rows = [
        ("HF Trainer (pad 128, fp32)", baseline_rate, baseline_f1),
        (f"finetune_classifier ({training['precision']})", ours_rate, ours_f1),
    ]
    print(
        f"\n{n} training examples x {args.epochs} epoch(s), batch {BATCH_SIZE}, "
        f"mean of {args.seeds} seed(s) per side (macro-F1 per seed: baseline "
        f"{', '.join(f'{f1:.3f}' for _, f1 in baseline)}; ours "
        f"{', '.join(f'{f1:.3f}' for _, f1 in ours)}), "
        f"{lengths.mean():.1f} real tokens per text (max {lengths.max()}); "
        f"{torch.get_num_threads()} thread(s); matmul peak fp32 "
        f"{peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s"
    )
    print(
        "| run | examples/s | ratio | val macro-F1 | useful GFLOP/s | % fp32 peak | % bf16 peak |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rate, f1 in rows:
        flops = useful / (n * args.epochs / rate)
        print(
            f"| {name} | {rate:.1f} | {rate / baseline_rate:.2f}x | {f1:.4f} | "
            f"{flops / 1e9:.0f} | {100 * flops / peaks['fp32']:.0f}% | "
            f"{100 * flops / peaks['bf16']:.0f}% |"
        )
    print(f"\nmacro-F1 difference (ours - baseline): {100 * (ours_f1 - baseline_f1):+.1f} points")


if __name__ == "__main__":
    main()
