"""Kubernetes API failures during a rollout: retried where they may pass, then exit 3 naming
the API server; a refusal that is the user's to fix is exit 2 at once.

The API server is the loopback stand-in of the rollout tests (a real HTTP server the real
Kubernetes client talks to), answering chosen requests with an error status first. The exit
statuses are checked on the real `python -m components.deploy` process, configured through a
kubeconfig file as on a workstation.
"""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from components.common.errors import TransientError
from components.deploy import rollout
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy
from tests.component.serving.test_deploy_rollout import StandInApi, model_uri_of
from tests.k8s_standin import reply, status

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


class BusyApi(StandInApi):
    """The stand-in, answering the next requests of a method as `faults[method]` lists:
    `(status, reason)` for an error answer, None for the stand-in's own answer."""

    def __init__(self):
        super().__init__(lambda spec: True)
        self.faults: dict[str, list[tuple[int, str] | None]] = {}

    def handle(self, handler, method: str) -> None:
        pending = self.faults.get(method)
        fault = pending.pop(0) if pending else None
        if fault is None:
            super().handle(handler, method)
            return
        code, reason = fault
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.requests.append((method, handler.path, f"answered {code}"))
        reply(handler, code, status(code, reason, "injected"))

    def count(self, method: str) -> int:
        return [m for m, _, _ in self.requests].count(method)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[BusyApi]:
    monkeypatch.setattr(rollout, "POLL_SECONDS", 0.05)
    stand_in = BusyApi()
    yield stand_in
    stand_in.stop()


def config() -> DeployConfig:
    return DeployConfig(name="intents", namespace="team-a", timeout_seconds=5)


def deploy_to(api: BusyApi, model: str) -> rollout.Rollout:
    return deploy(config(), model, client.ApiClient(client.Configuration(host=api.url)))


def deploy_cli(server: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`python -m components.deploy` against `server`, through a kubeconfig file."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stand-in", "cluster": {"server": server}}],
                "users": [{"name": "deployer", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "here", "context": {"cluster": "stand-in", "user": "deployer"}}
                ],
                "current-context": "here",
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = ["--name", "intents", "--namespace", "team-a", "--storage-uri", "s3://models/v1"]
    command = [sys.executable, "-m", "components.deploy", *argv, "--timeout-seconds", "5"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_conflicting_patches_are_retried_and_the_rollout_completes(api: BusyApi):
    deploy_to(api, "s3://models/intents/v1")
    api.faults["PATCH"] = [(409, "Conflict"), (409, "Conflict")]
    result = deploy_to(api, "s3://models/intents/v2")
    assert result.action == "patched"
    assert model_uri_of(api.objects[("team-a", "intents")]["spec"]) == "s3://models/intents/v2"
    assert api.count("PATCH") == 3


def test_a_busy_api_server_during_the_wait_is_ridden_out(api: BusyApi):
    api.faults["GET"] = [None, (503, "ServiceUnavailable"), (503, "ServiceUnavailable")]
    result = deploy_to(api, "s3://models/intents/v1")
    assert result.action == "created" and result.url
    assert api.faults["GET"] == []  # both 503 answers were given, and ridden out


def test_an_api_server_that_keeps_answering_503_exits_3_naming_it(api: BusyApi, tmp_path):
    api.faults["GET"] = [(503, "ServiceUnavailable")] * 10
    done = deploy_cli(api.url, tmp_path)
    assert done.returncode == 3
    line = error_line(done)
    assert f"the Kubernetes API at {api.url} kept failing to get" in line
    assert f"503 Service Unavailable after {rollout.API_ATTEMPTS} attempts" in line
    assert api.count("GET") == rollout.API_ATTEMPTS and api.count("POST") == 0


def test_an_unreachable_api_server_exits_3_naming_it(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = deploy_cli(server, tmp_path)
    assert done.returncode == 3
    assert f"cannot reach the Kubernetes API at {server}" in error_line(done)


def test_a_forbidden_deploy_exits_2_without_retrying(api: BusyApi, tmp_path):
    api.faults["GET"] = [(403, "Forbidden")]
    done = deploy_cli(api.url, tmp_path)
    assert done.returncode == 2
    assert "grant the step's service account get, create and patch" in error_line(done)
    assert api.count("GET") == 1


def test_a_service_created_meanwhile_is_transient_and_not_retried(api: BusyApi):
    api.faults["POST"] = [(409, "AlreadyExists")]
    with pytest.raises(TransientError, match="another deploy created the InferenceService"):
        deploy_to(api, "s3://models/intents/v1")
    assert api.count("POST") == 1
