"""Fine-tuning defaults on realistic data, against TF-IDF + logistic regression on the same split.

    python -m benchmarks.defaults [--data local_outputs/realistic/fortunes.csv] \
        [--configs previous,defaults] [--seeds 42]

The data is the realistic table of benchmarks.realistic_data (real fortune texts in 15 topic
classes; built, and fetched once with apt, when the CSV is missing). It is split once by the
pipeline's own prepare_dataset (its defaults: stratified 80/10/10). The classic baseline of
every evaluation (components.evaluate.baseline) is trained on the train split; each fine-tuning
configuration runs `finetune` on train with validation for early stopping and the best weights,
like the pipeline. Every side is scored by test macro-F1, on the test split that none of them
selects on; the table gives each run's wall clock and its ratio to the baseline's macro-F1.

A configuration is `previous` (the defaults before they were chosen on this data), `defaults`
(FinetuneConfig's defaults today) or `name=value` overrides of the defaults joined by `+`, for
example `learning_rate=1e-4+epochs=4`. Precision is `auto` (bf16 where the CPU runs it natively).
"""

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from sklearn.metrics import f1_score

from benchmarks.finetune import cpu_description, test_macro_f1
from benchmarks.realistic_data import realistic_table
from components.evaluate.baseline import BASELINE_NAME, baseline_predictions
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune
from components.prepare.config import PrepareConfig
from components.prepare.prepare import PrepareOutputs, prepare_dataset

# The fine-tuning defaults before they were measured on realistic data.
PREVIOUS = {"epochs": 3, "learning_rate": 5e-5, "warmup_ratio": 0.06, "max_length": 128}


def settings(spec: str) -> dict[str, object]:
    """The FinetuneConfig overrides that a configuration spec names."""
    if spec == "previous":
        return dict(PREVIOUS)
    if spec == "defaults":
        return {}
    fields = {f.name: f.type for f in dataclasses.fields(FinetuneConfig)}
    overrides: dict[str, object] = {}
    for item in spec.split("+"):
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise SystemExit(f"error: {item!r} is not name=value of a FinetuneConfig field")
        overrides[name] = int(value) if fields[name] in (int, "int") else float(value)
    return overrides


def split(data: Path, workdir: Path) -> dict[str, Path]:
    names = ("train", "validation", "test")
    outputs = PrepareOutputs(
        *(str(workdir / f"{n}.parquet") for n in names), report=str(workdir / "report.md")
    )
    prepare_dataset(str(data), outputs, PrepareConfig())
    return {n: workdir / f"{n}.parquet" for n in names}


def run_baseline(splits: dict[str, Path], seed: int) -> tuple[float, float]:
    train, test = pq.read_table(splits["train"]), pq.read_table(splits["test"])
    labels = sorted(set(train.column("label").to_pylist()))
    started = time.perf_counter()
    probs = baseline_predictions(
        train.column("text").to_pylist(),
        train.column("label").to_pylist(),
        test.column("text").to_pylist(),
        labels,
        seed,
    )
    seconds = time.perf_counter() - started
    predicted = [labels[i] for i in probs.argmax(1)]
    return float(f1_score(test.column("label").to_pylist(), predicted, average="macro")), seconds


def run_config(
    splits: dict[str, Path], overrides: dict[str, object], seed: int, out: Path
) -> dict[str, object]:
    config = FinetuneConfig(**{"log_steps": 50, **overrides, "seed": seed})
    started = time.perf_counter()
    result = finetune(str(splits["train"]), str(splits["validation"]), str(out), config)
    seconds = time.perf_counter() - started
    training = result["training"]
    return {
        "config": config,
        "seconds": seconds,
        "steps": training["steps"],
        "best_step": training["best_step"],
        "stopped_early": training["stopped_early"],
        "precision": training["precision"],
        "val_f1": result["metrics"]["val_macro_f1"],
        "test_f1": test_macro_f1(out, splits["test"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("local_outputs/realistic/fortunes.csv"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/kfp-nlp/realistic")
    parser.add_argument(
        "--configs",
        default="previous,defaults",
        help="comma-separated configurations: previous, defaults or name=value+name=value",
    )
    parser.add_argument("--seeds", default="42", help="comma-separated seeds, one run each")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="compute threads (0: torch's default); 1 lets runs share a busy machine side by side",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.exists():
        realistic_table(args.cache, args.data)
    seeds = [int(s) for s in args.seeds.split(",")]
    specs = args.configs.split(",")
    print(f"CPU: {cpu_description()}")
    print(f"compute threads: {torch.get_num_threads()}")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-defaults-") as tmp:
        workdir = Path(tmp)
        splits = split(args.data, workdir)
        rows = {n: pq.read_table(p).num_rows for n, p in splits.items()}
        classes = len(set(pq.read_table(splits["train"]).column("label").to_pylist()))
        baseline_f1, baseline_seconds = run_baseline(splits, seeds[0])
        print(
            f"{args.data}: {classes} classes; train {rows['train']}, validation "
            f"{rows['validation']}, test {rows['test']} rows (prepare_dataset's defaults)"
        )
        print(f"{BASELINE_NAME}: test macro-F1 {baseline_f1:.3f} in {baseline_seconds:.1f} s")
        print(
            "\n| run | settings | seed | steps (best) | early stop | precision | time s "
            "| val macro-F1 | test macro-F1 | vs TF-IDF |"
        )
        print("|---|---|---:|---:|---|---|---:|---:|---:|---:|")
        print(
            f"| {BASELINE_NAME} | scikit-learn | {seeds[0]} | | | fp64 | {baseline_seconds:.1f} "
            f"| | {baseline_f1:.3f} | 1.00x |"
        )
        for spec in specs:
            overrides = settings(spec)
            for seed in seeds:
                r = run_config(splits, overrides, seed, workdir / f"model-{len(os.listdir(tmp))}")
                c = r["config"]
                shown = (
                    f"lr {c.learning_rate:g}, {c.epochs} epochs, warm-up {c.warmup_ratio:g}, "
                    f"patience {c.early_stopping_patience}, max_length {c.max_length}, "
                    f"batch {c.batch_size}"
                )
                print(
                    f"| {spec} | {shown} | {seed} | {r['steps']} ({r['best_step']}) | "
                    f"{'yes' if r['stopped_early'] else 'no'} | {r['precision']} | "
                    f"{r['seconds']:.0f} | {r['val_f1']:.3f} | {r['test_f1']:.3f} | "
                    f"{r['test_f1'] / baseline_f1:.2f}x |",
                    flush=True,
                )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
