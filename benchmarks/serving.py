"""Model server throughput and latency: ours (PyTorch, ONNX int8) against a KServe-style baseline.

    python -m benchmarks.serving [--model-dir MODEL_WITH_ONNX --test TEST.parquet]

Servers, each its own process on loopback, all on the same HTTP stack (the server's FastAPI
app under uvicorn, components.serve.http) and the same model:
(a) baseline: doing what KServe's Hugging Face runtime does for sequence classification: each
    request tokenized and scored on its own, in PyTorch fp32;
(b) ours, PyTorch fp32, and (c) ours, ONNX int8: continuous token-budget batching across
    requests (components.serve.scheduler).
One asyncio HTTP client (aiohttp) sends the test split's texts at concurrency 1, 8, 32 and 128,
one text per request, then 64 texts per request; settings alternate between servers so that
changes in background load fall on all alike. Each of ours is also compared with offline batch
scoring of the same backend in the same run (its ceiling). Last, overload: concurrency 128
against ours (int8) with a queue of 16 texts, where every request must be answered 200 or 503.
Without --model-dir, a small MiniLM classifier is trained (benchmarks.small_classifier) and
exported to ONNX first.
"""

import argparse
import asyncio
import collections
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd

from benchmarks.small_classifier import train
from components.common.backends import ONNX_INT8
from components.common.inference import load_classifier, predict_proba, score_tokens
from components.serve.config import ExportConfig, ServeConfig
from components.serve.http import listen, serve_model
from components.serve.onnx_export import export_onnx
from components.serve.server import TextClassifierModel

REPO = Path(__file__).resolve().parents[1]
NAME = "intents"
CONCURRENCY = (1, 8, 32, 128)
BATCH_TEXTS = 64
BATCH_CONCURRENCY = 8


class PerRequestModel(TextClassifierModel):
    """What KServe's Hugging Face runtime does for sequence classification: every request is
    tokenized (padded to its own longest text) and scored alone, on the event loop's thread."""

    async def scores(self, texts: list[str]) -> np.ndarray:
        return score_tokens(self.classifier, self._tokenize(texts), len(texts), precision="fp32")


def serve_baseline(model_dir: str, port: int) -> None:
    config = ServeConfig(model_dir=model_dir, max_texts=BATCH_TEXTS, max_queue_texts=4096)
    model = PerRequestModel(NAME, config, version="baseline")
    model.load()
    serve_model(model, listen("127.0.0.1", port), None, 10_000_000, drain_s=5)


def free_port() -> int:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


def start(command: list[str], base: str, log: Path) -> subprocess.Popen:
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited:\n{log.read_text()[-3000:]}")
        done = subprocess.run(
            ["curl", "-sf", f"{base}/v2/models/{NAME}/ready"], capture_output=True, check=False
        )
        if done.returncode == 0:
            return process
        time.sleep(0.5)
    process.kill()
    raise TimeoutError(f"{command} not ready")


async def load(url: str, bodies: list[list[str]], concurrency: int) -> dict:
    """Send every body with `concurrency` requests in flight; statuses, latencies, labels."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    results: list[tuple[int, float, list[str]]] = [(0, 0.0, [])] * len(bodies)
    queue = collections.deque(enumerate(bodies))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(texts: list[str]) -> tuple[int, float, list[str]]:
            began = time.perf_counter()
            try:
                async with session.post(url, json={"instances": texts}) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                return -1, time.perf_counter() - began, []
            elapsed = time.perf_counter() - began
            labels = [p["label"] for p in body["predictions"]] if status == 200 else []
            return status, elapsed, labels

        async def worker() -> None:
            while queue:
                index, texts = queue.popleft()
                results[index] = await send(texts)

        for texts in bodies[:4]:
            await send(texts)
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"elapsed": elapsed, "results": results}


def summarize(server: str, setting: str, truth: list[list[str]], run: dict) -> dict:
    """Texts/s, latency percentiles, accuracy and answers by status of one load run."""
    ok = [(r, t) for r, t in zip(run["results"], truth, strict=True) if r[0] == 200]
    latencies = np.array([r[1] for r, _ in ok]) * 1000 if ok else np.array([np.nan])
    correct = [a == b for r, t in ok for a, b in zip(r[2], t, strict=True)]
    statuses = collections.Counter(r[0] for r in run["results"])
    return {
        "server": server,
        "setting": setting,
        "texts_per_s": sum(len(r[2]) for r, _ in ok) / run["elapsed"],
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
        "accuracy": float(np.mean(correct)) if correct else float("nan"),
        "statuses": ", ".join(
            f"{'no answer' if s == -1 else s}: {n}" for s, n in sorted(statuses.items())
        ),
    }


def ceiling(model_dir: Path, texts: list[str], onnx_file: str, batch_size: int) -> float:
    """Offline batch scoring of the same backend: texts/s, best of three passes."""
    classifier = load_classifier(model_dir, 128, onnx_file)
    predict_proba(classifier, texts[:64], batch_size, "fp32")
    best = 0.0
    for _ in range(3):
        began = time.perf_counter()
        predict_proba(classifier, texts, batch_size, "fp32")
        best = max(best, len(texts) / (time.perf_counter() - began))
    return best


def cpu_description() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(
            line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
        )
        flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split())
    except (OSError, StopIteration):
        flags = set()
    wanted = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    present = [f for f in wanted if f in flags] or ["none of AVX-512/AMX"]
    return f"{model}, {os.cpu_count()} CPUs, flags: {' '.join(present)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="Model artifact with onnx/ (export_onnx)")
    parser.add_argument("--test", type=Path, help="test Dataset parquet (text, label)")
    parser.add_argument("--requests", type=int, default=600, help="single-text requests per run")
    parser.add_argument("--serve-baseline", nargs=2, metavar=("MODEL_DIR", "PORT"))
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline[0], int(args.serve_baseline[1]))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    if args.model_dir is None:
        built = train(work)
        args.model_dir, args.test = work / "model-onnx", built.test_path
        export_onnx(str(built.model_dir), args.model_dir, str(built.test_path), ExportConfig())
    test = pd.read_parquet(args.test)
    texts, labels = test["text"].tolist(), test["label"].tolist()
    single = [[texts[i % len(texts)]] for i in range(args.requests)]
    single_truth = [[labels[i % len(texts)]] for i in range(args.requests)]
    count = max(2, args.requests // BATCH_TEXTS)
    multi = [
        [texts[(i * BATCH_TEXTS + j) % len(texts)] for j in range(BATCH_TEXTS)]
        for i in range(count)
    ]
    multi_truth = [
        [labels[(i * BATCH_TEXTS + j) % len(texts)] for j in range(BATCH_TEXTS)]
        for i in range(count)
    ]

    python = sys.executable
    ours = [python, "-m", "components.serve", "--model-dir", str(args.model_dir)]
    ours += ["--model-name", NAME, "--max-queue-texts", "4096"]
    commands = {
        "KServe-style, per request (baseline)": [
            python,
            "-m",
            "benchmarks.serving",
            "--serve-baseline",
            str(args.model_dir),
        ],
        "ours, PyTorch fp32": [*ours, "--port"],
        "ours, ONNX int8": [*ours, "--backend", "onnx", "--port"],
        "ours, ONNX int8, queue of 16 texts": [
            *ours[:-1],
            "16",
            "--max-texts",
            "16",
            "--backend",
            "onnx",
            "--port",
        ],
    }
    processes, urls = [], {}
    ceilings = {}
    try:
        ceilings["ours, PyTorch fp32"] = ceiling(args.model_dir, texts * 2, "", 32)
        ceilings["ours, ONNX int8"] = ceiling(args.model_dir, texts * 2, ONNX_INT8, 32)
        for index, (name, command) in enumerate(commands.items()):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            processes.append(start([*command, str(port)], base, work / f"{index}.log"))
            urls[name] = f"{base}/v1/models/{NAME}:predict"
        rows = []
        measured = [n for n in commands if "queue of" not in n]
        settings = [(f"{c} x 1 text", single, single_truth, c) for c in CONCURRENCY]
        settings.append(
            (f"{BATCH_CONCURRENCY} x {BATCH_TEXTS} texts", multi, multi_truth, BATCH_CONCURRENCY)
        )
        for setting, bodies, truth, concurrency in settings:
            for name in measured:
                run = asyncio.run(load(urls[name], bodies, concurrency))
                rows.append(summarize(name, setting, truth, run))
        overload = [[texts[i % len(texts)]] for i in range(1024)]
        run = asyncio.run(load(urls["ours, ONNX int8, queue of 16 texts"], overload, 128))
        truth = [[labels[i % len(texts)]] for i in range(1024)]
        rows.append(
            summarize(
                "ours, ONNX int8, queue of 16 texts",
                "128 x 1 text (overload)",
                truth,
                run,
            )
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    report(rows, ceilings, len(texts))


def report(rows: list[dict], ceilings: dict[str, float], distinct: int) -> None:
    baseline = {r["setting"]: r for r in rows if "baseline" in r["server"]}
    print(f"\n{cpu_description()}; loopback; {distinct} distinct test texts")
    print(
        "offline batch scoring (ceiling): "
        + ", ".join(f"{n}: {v:.0f} texts/s" for n, v in ceilings.items())
    )
    columns = "server | requests | texts/s | vs baseline | of ceiling | p50 ms | p99 ms | accuracy"
    print(f"\n| {columns} | answers |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        base = baseline.get(r["setting"])
        ratio = f"{r['texts_per_s'] / base['texts_per_s']:.2f}x" if base else ""
        top = next((v for n, v in ceilings.items() if r["server"].startswith(n)), None)
        share = f"{r['texts_per_s'] / top:.0%}" if top else ""
        print(
            f"| {r['server']} | {r['setting']} | {r['texts_per_s']:.1f} | {ratio} | {share} "
            f"| {r['p50']:.1f} | {r['p99']:.1f} | {r['accuracy']:.3f} | {r['statuses']} |"
        )


if __name__ == "__main__":
    main()
