"""Fixtures for the serving stage: small real trained classifiers, and running model servers.

The models are the real MiniLM with a fresh head for the seven sample intents, trained briefly
on sample replies (benchmarks.small_classifier), saved as Model artifacts with their manifests.
They are built once per session (the `small_model` and `small_multi_label_model` fixtures in
tests/component/conftest.py).
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.net import free_port

REPO = Path(__file__).resolve().parents[3]


class RunningServer:
    """A `python -m components.serve` process on loopback."""

    def __init__(self, model_dir: Path, name: str, log: Path, *args: str, pass_name: bool = True):
        self.port = free_port()
        self.log = log
        self.name = name
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "components.serve", "--model-dir", str(model_dir)]
        command += ["--port", str(self.port), *args]
        if pass_name:
            command += ["--model-name", name]
        # The log goes to a file: an unread pipe would fill up and stall the server.
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-4000:]}")
            try:
                if requests.get(f"{self.url}/v2/models/{self.name}/ready", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server at {self.url} not ready within {timeout}s")

    def v1(self, body: object, **kwargs: object) -> requests.Response:
        return requests.post(f"{self.url}/v1/models/{self.name}:predict", json=body, **kwargs)

    def v2(self, body: object, **kwargs: object) -> requests.Response:
        return requests.post(f"{self.url}/v2/models/{self.name}/infer", json=body, **kwargs)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """The server's Prometheus samples, parsed with prometheus_client's own parser."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningServer]]:
    """Start model servers for a test module; every one is stopped when the module ends."""
    started: list[RunningServer] = []

    def start(model_dir: Path, name: str, *args: str, pass_name: bool = True) -> RunningServer:
        log = tmp_path_factory.mktemp("server") / f"{name}.log"
        server = RunningServer(model_dir, name, log, *args, pass_name=pass_name)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )
