"""The model server under operations: overload, deadlines, SIGTERM, a taken port, broken weights.

Real `kfp-nlp serve` processes on loopback and real HTTP clients; nothing is patched. Timing
assertions are relative to what the same server measured in the same test.
"""

import concurrent.futures
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from components.common.artifacts import MANIFEST_NAME, write_manifest
from components.common.errors import KfpNlpError
from components.common.inference import load_classifier
from pipelines.cli import main as cli_main
from tests.component.serving.conftest import REPO, total

LONG = "my parcel never arrived and the tracking link shows nothing at all since monday " * 3
BIG = [f"{LONG} {i}" for i in range(64)]


def send_all(server, bodies: list[dict], workers: int) -> list[requests.Response]:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda body: server.v1(body, timeout=120), bodies))


@pytest.fixture(scope="module")
def small_queue(small_model, start_server):
    """A server whose queue holds two full requests and whose deadline is a quarter second."""
    return start_server(
        small_model.model_dir,
        "intents",
        "--max-queue-texts",
        "128",
        "--request-timeout-s",
        "0.25",
        "--max-batch-texts",
        "64",
    )


def test_overload_gets_503_with_retry_after_at_once_and_good_requests_resume(small_queue):
    before = small_queue.metrics()
    began = time.perf_counter()
    responses = send_all(small_queue, [{"instances": BIG}] * 12, workers=12)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    refused = [r for r in responses if r.status_code == 503]
    assert refused, statuses
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["content-type"] == "application/json"
    errors = [r.json()["error"] for r in refused]
    full = [e for e in errors if "overloaded (" in e]
    late = [e for e in errors if "deadline" in e]
    assert full and late and len(full) + len(late) == len(refused), errors
    assert time.perf_counter() - began < 60

    after = small_queue.metrics()

    def rejected(reason: str) -> float:
        name = "kfp_nlp_rejected_requests_total"
        return total(after, name, reason=reason) - total(before, name, reason=reason)

    assert rejected("queue_full") == len(full)
    assert rejected("deadline") == len(late)
    requests_503 = total(after, "kfp_nlp_requests_total", status="503") - total(
        before, "kfp_nlp_requests_total", status="503"
    )
    assert requests_503 == len(refused)

    # A client that honours Retry-After gets through once the batch in progress is done.
    for _ in range(10):
        good = small_queue.v1({"instances": ["STOP"]}, timeout=30)
        if good.status_code != 503:
            break
        time.sleep(int(good.headers["Retry-After"]))
    assert good.status_code == 200
    assert good.json()["predictions"][0]["label"] == "unsubscribe"
    assert requests.get(f"{small_queue.url}/v2/models/intents/ready", timeout=5).ok


def test_sigterm_drains_admitted_requests_then_exits(small_model, start_server):
    server = start_server(small_model.model_dir, "draining", "--drain-timeout-s", "60")
    body = {"instances": BIG[:32]}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(server.v1, body, timeout=120) for _ in range(4)]
        # Wait until all four are admitted: each text is either queued or already in a batch.
        admitted = 0.0
        deadline = time.monotonic() + 60
        while admitted < 4 * 32 and time.monotonic() < deadline:
            samples = server.metrics()
            admitted = total(samples, "kfp_nlp_queued_texts") + total(
                samples, "kfp_nlp_batch_texts_sum"
            )
        assert admitted == 4 * 32
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        ready = requests.get(f"{server.url}/v2/models/draining/ready", timeout=10)
        live = requests.get(f"{server.url}/v2/health/live", timeout=10)
        late = server.v1({"instances": ["STOP"]}, timeout=10)
        answers = [p.result() for p in pending]
    assert ready.status_code == 503
    assert live.json() == {"live": True}
    assert late.status_code == 503 and int(late.headers["Retry-After"]) >= 1
    assert [a.status_code for a in answers] == [200] * 4
    assert all(len(a.json()["predictions"]) == 32 for a in answers)
    assert server.process.wait(timeout=60) == 0
    assert time.monotonic() - signalled < 60
    assert "SIGTERM: not ready any more" in server.log.read_text()


def serve_command(model_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "serve", "--model-dir", str(model_dir), *args]


def test_a_taken_port_is_one_line_and_nothing_announced(small_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            serve_command(small_model.model_dir, "--port", str(port)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert "serving model" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use); stop whatever "
        "uses that port, or pass another --port (or --host)"
    )


@pytest.fixture(scope="module")
def damaged_model(small_model, tmp_path_factory) -> Path:
    """A model whose safetensors header is damaged, with a manifest regenerated to match."""
    folder = tmp_path_factory.mktemp("damaged") / "model"
    shutil.copytree(small_model.model_dir, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"x" * 32
    weights.write_bytes(bytes(data))
    provenance = json.loads((folder / MANIFEST_NAME).read_text())["provenance"]
    write_manifest(folder, provenance)
    return folder


def test_the_shared_loader_refuses_damaged_weights_in_one_line(damaged_model):
    with pytest.raises(KfpNlpError) as refused:
        load_classifier(damaged_model)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"cannot load the weights {damaged_model / 'model.safetensors'}")
    assert "SafetensorError" in message and "copy the model folder again" in message


def test_a_server_whose_model_cannot_load_exits_non_zero_in_one_line(damaged_model):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    done = subprocess.run(
        serve_command(damaged_model, "--port", str(number)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    # The manifest check refuses the damaged header before any weights are read.
    weights = damaged_model / "model.safetensors"
    assert last.startswith(f"error: model weights {weights} are corrupted or truncated")
    assert "copy the model folder again" in last
    assert "Traceback" not in done.stderr
    assert "is ready" not in done.stderr


def test_serve_help_names_the_program(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["serve", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kfp-nlp serve ")
    assert "--max-queue-texts" in out and "--request-timeout-s" in out
