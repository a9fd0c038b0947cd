"""Model server throughput and latency: ours (PyTorch, ONNX int8) against a plain pipeline server.

    python -m benchmarks.serving [--model-dir MODEL --test TEST.parquet] [--requests 200]

Every server runs as its own process on loopback, one at a time, and gets the same requests
(one held-out reply each) from the same HTTP client at concurrency 1 and 8. The baseline is a
`transformers` text-classification pipeline behind a plain threaded HTTP server, scoring each
request as it comes. Ours is `python -m components.serve`: micro-batching across concurrent
requests, bf16 autocast where the CPU has it (PyTorch), or the int8 ONNX export. Accuracy is
that of the served answers against the test labels. Without --model-dir, a small MiniLM
classifier is trained first (benchmarks.small_classifier) and exported to ONNX.
"""

import argparse
import concurrent.futures
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from benchmarks.small_classifier import train
from components.serve.config import ExportConfig
from components.serve.onnx_export import export_onnx

REPO = Path(__file__).resolve().parents[1]


def serve_baseline(model_dir: str, port: int) -> None:
    """A transformers pipeline behind http.server: POST /predict {"instances": [...]}."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=model_dir, device="cpu")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._reply({"ready": True})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                results = classify(body["instances"])
            predictions = [{"label": r["label"], "probability": r["score"]} for r in results]
            self._reply({"predictions": predictions})

        def _reply(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(ready_url, timeout=2).ok:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    process.kill()
    raise TimeoutError(f"{command} not ready")


def load(url: str, texts: list[str], concurrency: int) -> dict:
    """Send one request per text; elapsed time, latencies and the labels answered."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency)
    session.mount("http://", adapter)

    def send(text: str) -> tuple[float, str]:
        begin = time.perf_counter()
        response = session.post(url, json={"instances": [text]}, timeout=120)
        response.raise_for_status()
        return time.perf_counter() - begin, response.json()["predictions"][0]["label"]

    for text in texts[:4]:
        send(text)
    begin = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(send, texts))
    return {
        "elapsed": time.perf_counter() - begin,
        "latencies": [r[0] * 1000 for r in results],
        "labels": [r[1] for r in results],
    }


def summarize(name: str, concurrency: int, runs: list[dict]) -> dict:
    """Throughput, latency percentiles and accuracy over all rounds of one setting."""
    latencies = np.concatenate([r["latencies"] for r in runs])
    labels = np.concatenate([r["labels"] for r in runs])
    truth = np.concatenate([r["truth"] for r in runs])
    return {
        "server": name,
        "concurrency": concurrency,
        "throughput": len(latencies) / sum(r["elapsed"] for r in runs),
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
        "accuracy": float(np.mean(labels == truth)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="Model artifact with onnx/ (export_onnx)")
    parser.add_argument("--test", type=Path, help="test Dataset parquet (text, label)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
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
    test = pd.concat([test] * (args.requests // len(test) + 1)).head(args.requests)
    texts, truth = test["text"].tolist(), np.asarray(test["label"])

    python = sys.executable
    ours = [python, "-m", "components.serve", "--model-dir", str(args.model_dir)]
    ours += ["--port", "{port}", "--model-name", "intents"]
    servers = {
        "transformers pipeline (baseline)": (
            [python, "-m", "benchmarks.serving", "--serve-baseline", str(args.model_dir), "{port}"],
            "/",
            "/predict",
        ),
        "ours, PyTorch": (ours, "/v2/models/intents/ready", "/v1/models/intents:predict"),
        "ours, ONNX int8": (
            [*ours, "--backend", "onnx"],
            "/v2/models/intents/ready",
            "/v1/models/intents:predict",
        ),
    }
    # All servers run side by side (an idle one costs nothing) and are measured in alternating
    # rounds, so changes in the machine's background load fall on all of them alike.
    processes, urls = [], {}
    try:
        for index, (name, (command, ready, predict)) in enumerate(servers.items()):
            port = free_port()
            command = [str(port) if c == "{port}" else c for c in command]
            base = f"http://127.0.0.1:{port}"
            processes.append(start(command, base + ready, work / f"{index}.log"))
            urls[name] = base + predict
        results: dict[tuple[str, int], list[dict]] = {}
        for chunk in np.array_split(np.arange(len(texts)), args.rounds):
            for name, url in urls.items():
                for concurrency in (1, 8):
                    part = [texts[i] for i in chunk]
                    results.setdefault((name, concurrency), []).append(
                        {**load(url, part, concurrency), "truth": truth[chunk]}
                    )
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    rows = [summarize(name, concurrency, runs) for (name, concurrency), runs in results.items()]
    report(rows, len(texts))


def report(rows: list[dict], count: int) -> None:
    baseline = {r["concurrency"]: r for r in rows if "baseline" in r["server"]}
    print(f"\n{count} requests of one text each, loopback, {os.cpu_count()} CPUs\n")
    print("| server | concurrency | texts/s | vs baseline | p50 ms | p99 ms | accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["throughput"] / baseline[r["concurrency"]]["throughput"]
        print(
            f"| {r['server']} | {r['concurrency']} | {r['throughput']:.1f} | {ratio:.2f}x "
            f"| {r['p50']:.1f} | {r['p99']:.1f} | {r['accuracy']:.3f} |"
        )


if __name__ == "__main__":
    main()
