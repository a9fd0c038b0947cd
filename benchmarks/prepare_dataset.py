"""prepare_dataset against a plain pandas implementation of the same steps, on the same file.

    python -m benchmarks.prepare_dataset [--rows 10000000]

Builds a CSV of short campaign replies (the sample data, varied so most rows stay distinct),
then runs each implementation in its own process and reports rows/s and peak resident memory.
The baseline reads the whole file with pandas, normalises, deduplicates, drops rare labels and
makes a stratified split with scikit-learn, then writes three Parquet files: the steps
prepare_dataset streams through with pyarrow.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from components.sample_data import generate

_SEED_ROWS = 100_000


def build_csv(path: Path, rows: int) -> None:
    """Write `rows` replies: the sample data, repeated with varied order numbers and sign-offs."""
    base = generate(min(rows, _SEED_ROWS), seed=11)[["customer_id", "reply_text", "intent"]]
    rng = np.random.default_rng(0)
    suffixes = np.array(["", "", "thanks", "pls", "asap", "order", "ref", "re:", "fwd"])
    written = 0
    with pacsv.CSVWriter(path, pa.schema([(c, pa.string()) for c in base.columns])) as writer:
        while written < rows:
            chunk = base.iloc[: rows - written].copy()
            numbers = rng.integers(0, 10_000_000, len(chunk)).astype(str)
            words = suffixes[rng.integers(0, len(suffixes), len(chunk))]
            vary = rng.random(len(chunk)) < 0.7
            chunk.loc[vary, "reply_text"] = (
                chunk.loc[vary, "reply_text"] + " " + words[vary] + " " + numbers[vary]
            )
            writer.write_table(pa.Table.from_pandas(chunk, preserve_index=False))
            written += len(chunk)


def run_ours(source: str, out: str) -> None:
    from components.prepare.config import PrepareConfig
    from components.prepare.prepare import PrepareOutputs, prepare_dataset

    config = PrepareConfig(text_columns=["reply_text"], label_column="intent")
    outputs = PrepareOutputs(
        *(f"{out}/{n}.parquet" for n in ("train", "validation", "test")), report=f"{out}/report.md"
    )
    prepare_dataset(source, outputs, config)


def run_pandas(source: str, out: str) -> None:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    text = frame["reply_text"].str.normalize("NFKC").str.replace(r"\s+", " ", regex=True)
    frame["text"] = text.str.strip()
    frame["label"] = frame["intent"].str.strip()
    frame = frame[(frame["text"] != "") & (frame["label"] != "")]
    frame = frame.drop_duplicates("text")
    frame["key"] = frame["text"].str.lower().str.replace(r"[\W_]+", "", regex=True)
    frame = frame.drop_duplicates("key")  # near-duplicates would leak between splits
    counts = frame["label"].value_counts()
    frame = frame[frame["label"].isin(counts[counts >= 10].index)]
    train, rest = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=42)
    validation, test = train_test_split(
        rest, test_size=0.5, stratify=rest["label"], random_state=42
    )
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        part[["text", "label", "customer_id"]].to_parquet(f"{out}/{name}.parquet")


def measure(which: str, source: Path, workdir: Path) -> dict[str, float]:
    """Run one implementation in a fresh process; its wall time and peak resident memory."""
    out = workdir / which
    out.mkdir()
    code = (
        "import json, resource, sys, time\n"
        f"from benchmarks.prepare_dataset import run_{which}\n"
        "t = time.perf_counter()\n"
        f"run_{which}({str(source)!r}, {str(out)!r})\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_kib': peak}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        workdir = Path(tmp)
        source = workdir / "replies.csv"
        started = time.perf_counter()
        build_csv(source, args.rows)
        size_mb = source.stat().st_size / 1e6
        print(
            f"{args.rows:,} rows, {size_mb:,.0f} MB CSV built "
            f"in {time.perf_counter() - started:.0f}s"
        )
        results = {which: measure(which, source, workdir) for which in ("pandas", "ours")}
    print("\n| implementation | seconds | rows/s | peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    for which, label in (("pandas", "plain pandas + scikit-learn"), ("ours", "prepare_dataset")):
        r = results[which]
        print(
            f"| {label} | {r['seconds']:.1f} | {args.rows / r['seconds']:,.0f} | "
            f"{r['peak_kib'] / 1024:,.0f} |"
        )
    speed = results["pandas"]["seconds"] / results["ours"]["seconds"]
    memory = results["pandas"]["peak_kib"] / results["ours"]["peak_kib"]
    print(f"\nprepare_dataset: {speed:.2f}x the rows/s of pandas, {memory:.2f}x less peak memory")


if __name__ == "__main__":
    main()
