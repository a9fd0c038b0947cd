"""Multi-node fine-tuning as TrainJob containers against one node, same data, same run.

    make image && python -m benchmarks.trainjob [--steps 40] [--batch-size 16]

Three ways to train the same job (same splits, seed, global batch and steps):
- 1 process (the default inline fine-tune);
- 1 node x 2 DDP workers in the step (`--num-workers 2`);
- 2 nodes x 1 process as a TrainJob through the kubeflow SDK's container backend: two
  containers of the component image on a per-job network, rendezvous over TCP, job and model
  through an S3 endpoint (moto on this host's address).

Examples/s is the training loop's own rate (`train_samples / train_seconds` in the model's
manifest); start-up is the rest of the wall clock: for the TrainJob, staging, starting the
containers, the rendezvous, loading the model in each node and fetching the result. On a
machine with few cores the containers share them, so this measures the cost of going multi-node,
not a speed-up. Needs Docker or podman (`DOCKER_HOST` naming a Docker API socket, or podman
installed, whose API is started here) and the image from `make image`.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.finetune import cpu_description

REPO = Path(__file__).resolve().parents[1]


def _host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]


def _podman_api(stack: ExitStack, workdir: Path) -> str:
    sock = workdir / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(REPO / "scripts" / "containers.conf")}
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"], env=env
    )
    stack.callback(service.terminate)
    for _ in range(300):
        if sock.exists():
            return f"unix://{sock}"
        time.sleep(0.2)
    raise SystemExit("podman system service did not open its socket")


def _s3(stack: ExitStack) -> dict[str, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="0.0.0.0", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    env = {
        "AWS_ENDPOINT_URL": f"http://{_host_address()}:{server.get_host_and_port()[1]}",
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(env)
    boto3.client("s3").create_bucket(Bucket="kfp-nlp-bench")
    return env


def _splits(workdir: Path) -> tuple[Path, Path]:
    from components.prepare.__main__ import main as prepare
    from components.sample_data import write_sample

    table = write_sample(str(workdir / "replies.csv"), rows=2000)
    out = workdir / "prepared"
    columns = ("--text-column", "reply_text", "--label-column", "intent")
    prepare(["--source", table, *columns, "--output-dir", str(out)])
    return out / "train.parquet", out / "validation.parquet"


def _train(env: dict, splits: tuple[Path, Path], out: Path, args, *flags: str) -> dict:
    command = [
        *(sys.executable, "-m", "components.finetune"),
        *("--train", str(splits[0]), "--validation", str(splits[1]), "--output", str(out)),
        f"--max-steps={args.steps}",
        f"--batch-size={args.batch_size}",
        f"--eval-steps={args.steps}",
        "--max-length=64",
        "--precision=fp32",
        *flags,
    ]
    started = time.monotonic()
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    training = json.loads((out / "kfp_nlp_manifest.json").read_text())["provenance"]["training"]
    rate = training["train_samples"] / training["train_seconds"]
    return {"rate": rate, "wall": wall, "startup": wall - training["train_seconds"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-tj-")))
        env = {**os.environ, **_s3(stack)}
        env.setdefault("DOCKER_HOST", _podman_api(stack, workdir))
        splits = _splits(workdir)
        nodes = (
            "--launcher=trainjob",
            "--num-nodes=2",
            "--trainjob-backend=container",
            "--staging-uri=s3://kfp-nlp-bench/staging",
        )
        rows = [
            ("1 process", _train(env, splits, workdir / "one", args)),
            (
                "1 node x 2 workers (DDP)",
                _train(env, splits, workdir / "ddp", args, "--num-workers=2"),
            ),
            (
                "2 nodes x 1 process (TrainJob, containers)",
                _train(env, splits, workdir / "tj", args, *nodes),
            ),
        ]
    print(f"CPU: {cpu_description()}")
    print(f"{args.steps} steps x global batch {args.batch_size}, max_length 64, fp32")
    print("| run | examples/s | vs 1 process | wall s | start-up and hand-over s |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0][1]["rate"]
    for name, row in rows:
        print(
            f"| {name} | {row['rate']:.1f} | {row['rate'] / base:.2f}x | {row['wall']:.1f} | "
            f"{row['startup']:.1f} |"
        )


if __name__ == "__main__":
    main()
