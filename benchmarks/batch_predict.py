"""Batch prediction rows/s and peak memory: ours against a transformers pipeline, two sizes.

    python -m benchmarks.batch_predict [--model-dir MODEL] [--rows 1000 4000]

The same Parquet table of sample replies is scored by `components.batch_predict` (streamed
chunks, length-sorted batches of 64; PyTorch fp32, and the int8 ONNX export) and by
`transformers.pipeline("text-classification")` with batch_size=32 over the table read with
pandas. Each run is its own process, so its peak resident memory (ru_maxrss) is its own. Two
table sizes show whether peak memory grows with the table. --model-dir takes an export_onnx
output; without it, a small MiniLM classifier is trained (benchmarks.small_classifier) and
exported first.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from benchmarks.small_classifier import train
from components.common.tables import write_parquet
from components.sample_data import generate
from components.serve.config import ExportConfig
from components.serve.onnx_export import export_onnx

REPO = Path(__file__).resolve().parents[1]


def run_ours(table: str, model_dir: str, output: str, backend: str) -> int:
    from components.batch_predict.config import BatchPredictConfig
    from components.batch_predict.predict import batch_predict

    config = BatchPredictConfig(
        text_column="reply_text", id_columns=["message_id"], backend=backend
    )
    return batch_predict(table, model_dir, output, config).rows


def run_baseline(table: str, model_dir: str, output: str) -> int:
    import pandas as pd
    from transformers import pipeline

    frame = pd.read_parquet(table)
    classify = pipeline("text-classification", model=model_dir, device="cpu")
    results = classify(frame["reply_text"].tolist(), batch_size=32, truncation=True)
    frame["label"] = [r["label"] for r in results]
    frame["probability"] = [r["score"] for r in results]
    frame[["message_id", "label", "probability"]].to_parquet(output)
    return len(frame)


def measure(which: str, table: str, model_dir: str, output: str) -> None:
    """Run one side in this process and print its time, rows and peak memory as JSON."""
    begin = time.perf_counter()
    if which == "baseline":
        rows = run_baseline(table, model_dir, output)
    else:
        rows = run_ours(table, model_dir, output, backend=which.removeprefix("ours-"))
    seconds = time.perf_counter() - begin
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def spawn(which: str, table: Path, model_dir: Path, output: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.batch_predict", "--measure", which]
    command += [str(table), str(model_dir), str(output)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--measure", nargs=4, metavar=("WHICH", "TABLE", "MODEL", "OUTPUT"))
    args = parser.parse_args(argv)
    if args.measure:
        measure(*args.measure)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    model_dir = args.model_dir
    if model_dir is None:
        built = train(work)
        model_dir = work / "model-onnx"
        export_onnx(str(built.model_dir), model_dir, str(built.test_path), ExportConfig())
    print("| rows | scorer | rows/s | vs baseline | peak MiB |")
    print("|---:|---|---:|---:|---:|")
    for rows in args.rows:
        frame = generate(rows, seed=23)[["message_id", "reply_text"]]
        table = work / f"replies-{rows}.parquet"
        write_parquet(pa.Table.from_pandas(frame, preserve_index=False), table)
        baseline = spawn("baseline", table, model_dir, work / f"baseline-{rows}.parquet")
        results = {"transformers pipeline, batch 32": baseline}
        for backend in ("pytorch", "onnx"):
            output = work / f"ours-{backend}-{rows}.parquet"
            results[f"ours, {backend}"] = spawn(f"ours-{backend}", table, model_dir, output)
        for name, result in results.items():
            speed = result["rows"] / result["seconds"]
            ratio = speed / (baseline["rows"] / baseline["seconds"])
            print(f"| {rows} | {name} | {speed:.0f} | {ratio:.2f}x | {result['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
