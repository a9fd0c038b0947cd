"""finetune_classifier against a tuned Hugging Face `Trainer` (and run_glue's defaults), same data.

    python -m benchmarks.finetune [--train-examples 512] [--epochs 2] [--repeats 2] \
        [--threads 1,ALL_CORES]

The data is the sample data (components.sample_data) passed through prepare_dataset, as in the
pipeline. Every side fine-tunes the same base model (all-MiniLM-L6-v2) on the same first N
training examples with the same epochs, batch size, learning rate, linear warm-up and decay,
weight decay, gradient clipping and compute threads, and keeps its final weights:

- Trainer, tuned: what a competent user sets for short texts: dynamic padding
  (`DataCollatorWithPadding`), length-grouped sampling (`group_by_length`), bf16 where the CPU
  runs it natively (else fp32, and then ours trains in fp32 too), the fused AdamW;
- Trainer, run_glue defaults: every text padded to max_length 128, fp32, no length grouping;
- ours: `finetune` (length-grouped batches padded per batch, bf16 autocast where native).

Timing is the same for every side: wall clock from tokenized data in to trained weights saved
(model loading, training and saving; tokenization is timed separately and shown on its own).
Ours cannot be split at that boundary from outside, so its figure is `finetune`'s whole wall
clock minus the time its tokenizer call takes on the same texts; it still carries reading the
Parquet splits, one validation pass and hashing the manifest, which the Trainer sides skip.
Quality is macro-F1 on the test split, which no side sees while training, scored by
components.common.inference in fp32. Sides alternate order between repeats so that a change
of machine load does not fall on one side only; the table shows the median of the repeats.

Achieved FLOP/s counts the useful work only: the matmuls of non-padding tokens (6 x
non-embedding parameters per token, plus attention over each text's real length), divided by
the training wall clock, as a fraction of the peak that a large matmul reaches in this same run
(fp32 and bf16, measured at the row's thread count).
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from sklearn.metrics import f1_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

from components.common.inference import cpu_has_native_bf16, load_classifier, predict_proba
from components.finetune.base_model import default_base_model
from components.finetune.config import FinetuneConfig
from components.finetune.data import encode
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
SIDES = ("tuned", "glue", "ours")
NAMES = {
    "glue": "HF Trainer, run_glue defaults (pad 128, fp32)",
    "tuned": "HF Trainer, tuned (dynamic padding, group_by_length, {precision}, fused AdamW)",
    "ours": "finetune_classifier ({precision})",
}


def cpu_description() -> str:
    """The CPU model and the flags that decide bf16/int8 speed."""
    info = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line), "?"
    )
    flags = next(
        (line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")),
        [],
    )
    wanted = [f for f in flags if f.startswith(("avx512", "amx"))] or ["no AVX-512, no AMX"]
    return f"{model}; {os.cpu_count()} cores; {' '.join(wanted)}"


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


def prepared_splits(workdir: Path) -> dict[str, Path]:
    source = str(workdir / "replies.csv")
    write_sample(source)
    names = ("train", "validation", "test")
    outputs = PrepareOutputs(
        *(str(workdir / f"{n}.parquet") for n in names), report=str(workdir / "report.md")
    )
    prepare_dataset(
        source, outputs, PrepareConfig(text_columns=["reply_text"], label_column="intent")
    )
    return {n: workdir / f"{n}.parquet" for n in names}


def run_trainer(
    train: Path, n: int, epochs: int, labels: list[str], seed: int, out: Path, tuned: bool
) -> tuple[float, float]:
    """One Trainer run; returns (tokenization seconds, seconds from tokens to saved weights)."""
    tokenizer = AutoTokenizer.from_pretrained(default_base_model(), local_files_only=True)
    table = pq.read_table(train).slice(0, n)
    index = {label: i for i, label in enumerate(labels)}
    started = time.perf_counter()
    padding = {} if tuned else {"padding": "max_length"}
    encoded = tokenizer(
        table.column("text").to_pylist(), max_length=MAX_LENGTH, truncation=True, **padding
    )
    tokenize_seconds = time.perf_counter() - started
    targets = [index[label] for label in table.column("label").to_pylist()]
    dataset = [
        {"input_ids": ids, "attention_mask": mask, "labels": target}
        for ids, mask, target in zip(
            encoded["input_ids"], encoded["attention_mask"], targets, strict=True
        )
    ]
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        default_base_model(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=index,
        local_files_only=True,
    )
    steps = epochs * -(-n // BATCH_SIZE)
    tuning = {}
    if tuned:
        tuning = {
            "bf16": cpu_has_native_bf16(),
            "train_sampling_strategy": "group_by_length",
            "optim": "adamw_torch_fused",
        }
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
        **tuning,
    )
    collator = DataCollatorWithPadding(tokenizer) if tuned else None
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train()
    trainer.save_model(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    return tokenize_seconds, time.perf_counter() - started


def run_ours(
    splits: dict[str, Path], n: int, epochs: int, labels: list[str], seed: int, out: Path
) -> tuple[float, float]:
    """One finetune run; returns (tokenization seconds, seconds from tokens to saved weights)."""
    tokenizer = AutoTokenizer.from_pretrained(default_base_model(), local_files_only=True)
    table = pq.read_table(splits["train"]).slice(0, n)
    started = time.perf_counter()
    encode(table.column("text").to_pylist(), torch.zeros(n), tokenizer, MAX_LENGTH)
    tokenize_seconds = time.perf_counter() - started
    steps = epochs * -(-n // BATCH_SIZE)
    config = FinetuneConfig(
        epochs=epochs,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
        warmup_ratio=WARMUP_RATIO,
        weight_decay=WEIGHT_DECAY,
        max_length=MAX_LENGTH,
        seed=seed,
        max_train_samples=n,
        log_steps=10_000,
        # One validation pass, after the last step: the final weights are kept, as the Trainer's.
        eval_steps=steps + 1,
        early_stopping_patience=0,
        precision="auto" if cpu_has_native_bf16() else "fp32",
    )
    started = time.perf_counter()
    finetune(str(splits["train"]), str(splits["validation"]), str(out / "model"), config)
    return tokenize_seconds, time.perf_counter() - started - tokenize_seconds


def test_macro_f1(model_dir: Path, test: Path) -> float:
    table = pq.read_table(test)
    classifier = load_classifier(model_dir)
    probs = predict_proba(classifier, table.column("text").to_pylist(), precision="fp32")
    predicted = [classifier.labels[i] for i in probs.argmax(1)]
    return float(f1_score(table.column("label").to_pylist(), predicted, average="macro"))


def run_side(side: str, splits: dict[str, Path], n: int, args, labels, seed: int, out: Path):
    runner: Callable[[], tuple[float, float]]
    if side == "ours":
        runner = lambda: run_ours(splits, n, args.epochs, labels, seed, out)  # noqa: E731
    else:
        runner = lambda: run_trainer(  # noqa: E731
            splits["train"], n, args.epochs, labels, seed, out, tuned=side == "tuned"
        )
    tokenize_seconds, seconds = runner()
    return tokenize_seconds, seconds, test_macro_f1(out / "model", splits["test"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs per side and thread count, each with its own seed, in alternating order",
    )
    parser.add_argument(
        "--threads", default=f"1,{os.cpu_count()}", help="comma-separated thread counts to run"
    )
    args = parser.parse_args()
    precision = "bf16" if cpu_has_native_bf16() else "fp32"
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        workdir = Path(tmp)
        splits = prepared_splits(workdir)
        n = min(args.train_examples, pq.read_table(splits["train"]).num_rows)
        labels = sorted(set(pq.read_table(splits["train"]).column("label").to_pylist()))
        tokenizer = AutoTokenizer.from_pretrained(default_base_model(), local_files_only=True)
        texts = pq.read_table(splits["train"]).slice(0, n).column("text").to_pylist()
        lengths = np.array(
            [len(i) for i in tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
        )
        useful = training_flops(lengths, args.epochs)
        test_rows = pq.read_table(splits["test"]).num_rows
        print(f"CPU: {cpu_description()}")
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
            results: dict[str, list[tuple[float, float, float]]] = {s: [] for s in SIDES}
            for repeat in range(args.repeats):
                order = SIDES if repeat % 2 == 0 else SIDES[::-1]
                for side in order:
                    out = workdir / f"{side}-{threads}-{repeat}"
                    results[side].append(
                        run_side(side, splits, n, args, labels, SEED + repeat, out)
                    )
            print(
                f"\n{threads} thread(s): {n} training examples x {args.epochs} epoch(s), batch "
                f"{BATCH_SIZE}, lr {LEARNING_RATE:g}, {lengths.mean():.1f} real tokens per text "
                f"(max {lengths.max()}); median of {args.repeats} repeat(s); test macro-F1 on "
                f"{test_rows} texts; matmul peak fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 "
                f"{peaks['bf16'] / 1e9:.0f} GFLOP/s; load average now "
                f"{os.getloadavg()[0]:.1f}"
            )
            print(
                "| run | tokenize s | train s | examples/s | vs tuned | test macro-F1 (each) "
                "| useful GFLOP/s | % fp32 peak | % bf16 peak |"
            )
            print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
            tuned_rate = n * args.epochs / statistics.median(s for _, s, _ in results["tuned"])
            for side in ("glue", "tuned", "ours"):
                tokenize = statistics.median(t for t, _, _ in results[side])
                seconds = statistics.median(s for _, s, _ in results[side])
                f1s = [f for _, _, f in results[side]]
                rate = n * args.epochs / seconds
                flops = useful / seconds
                print(
                    f"| {NAMES[side].format(precision=precision)} | {tokenize:.3f} | "
                    f"{seconds:.1f} | {rate:.1f} | {rate / tuned_rate:.2f}x | "
                    f"{statistics.median(f1s):.3f} ({', '.join(f'{f:.3f}' for f in f1s)}) | "
                    f"{flops / 1e9:.0f} | {100 * flops / peaks['fp32']:.0f}% | "
                    f"{100 * flops / peaks['bf16']:.0f}% |"
                )


if __name__ == "__main__":
    main()
