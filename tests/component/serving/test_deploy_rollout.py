"""Rolling out an InferenceService through the real Kubernetes Python client.

No Kubernetes API server runs here. The client talks HTTP to a local stand-in: a real HTTP
server on loopback that speaks the few endpoints a rollout uses (get, create, merge-patch of
serving.kserve.io/v1beta1 inferenceservices) and plays the KServe controller by setting the
Ready condition a moment after each spec change. Not exercised: authentication, admission
webhooks, real revisions and traffic splitting (the stand-in only reports them).
"""

import copy
import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from components.common.errors import KfpNlpError
from components.deploy import rollout
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy

PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(/(?P<name>[^/?]+))?"
)


def merge(target: dict, patch: dict) -> dict:
    """RFC 7386 JSON merge patch."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class StandInApi:
    """A loopback HTTP server standing in for the Kubernetes API and the KServe controller."""

    def __init__(self, becomes_ready: Callable[[dict], bool]):
        self.objects: dict[tuple[str, str], dict] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.becomes_ready = becomes_ready
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api.handle(self, "GET")

            def do_POST(self) -> None:
                api.handle(self, "POST")

            def do_PATCH(self) -> None:
                api.handle(self, "PATCH")

            def do_DELETE(self) -> None:
                api.handle(self, "DELETE")

            def do_PUT(self) -> None:
                api.handle(self, "PUT")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def not_found(self, handler, name: str) -> None:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        self.reply(handler, 404, {**status, "reason": "NotFound", "message": f"{name} not found"})

    def handle(self, handler, method: str) -> None:
        match = PATH.match(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append((method, handler.path, handler.headers.get("Content-Type", "")))
        if not match:
            self.not_found(handler, handler.path)
            return
        key = (match["ns"], match["name"] or (body or {}).get("metadata", {}).get("name"))
        current = self.objects.get(key)
        if method == "GET":
            if current is None:
                self.not_found(handler, key[1])
                return
            self.reconcile(current)
            self.reply(handler, 200, current)
        elif method == "POST" and current is None:
            body["metadata"].update(generation=1, resourceVersion="1")
            self.objects[key] = body
            self.reply(handler, 201, body)
        elif method == "PATCH" and current is not None:
            assert handler.headers["Content-Type"] == "application/merge-patch+json"
            updated = merge(current, body)
            if updated["spec"] != current["spec"]:
                updated["metadata"]["generation"] += 1
            self.objects[key] = updated
            self.reply(handler, 200, updated)
        else:
            self.reply(handler, 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed"})

    def reconcile(self, service: dict) -> None:
        """Play the controller: the status catches up with the spec one GET later."""
        status = service.setdefault("status", {})
        generation = service["metadata"]["generation"]
        if status.get("seen") != generation:
            status["seen"] = generation
            return
        ready = self.becomes_ready(service["spec"])
        name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
        status["observedGeneration"] = generation
        if ready:
            status["url"] = f"http://{name}.{ns}.example.com"
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "" if ready else "RevisionFailed",
                "message": "" if ready else "Revision failed: container exited with code 1",
            }
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def model_uri_of(spec: dict) -> str:
    env = spec["predictor"]["containers"][0]["env"]
    return next(e["value"] for e in env if e["name"] == "STORAGE_URI")


@pytest.fixture
def stand_in(monkeypatch) -> Iterator[StandInApi]:
    monkeypatch.setattr(rollout, "POLL_SECONDS", 0.05)
    api = StandInApi(lambda spec: "broken" not in model_uri_of(spec))
    yield api
    api.stop()


def kube(api: StandInApi) -> client.ApiClient:
    return client.ApiClient(client.Configuration(host=api.url))


def config(**settings) -> DeployConfig:
    return DeployConfig(name="intents", namespace="team-a", timeout_seconds=1, **settings)


def test_first_deploy_creates_and_reports_the_url(stand_in, tmp_path):
    result = deploy(config(), "s3://models/intents/v1", kube(stand_in), tmp_path / "isvc.yaml")
    assert result.action == "created"
    assert result.url == "http://intents.team-a.example.com"
    assert [m for m, _, _ in stand_in.requests][:2] == ["GET", "POST"]
    written = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert written["spec"] == stand_in.objects[("team-a", "intents")]["spec"]


def test_redeploy_patches_in_place_and_never_deletes(stand_in):
    deploy(config(), "s3://models/intents/v1", kube(stand_in))
    deploy(config(canary_traffic_percent=20), "s3://models/intents/v2", kube(stand_in))
    result = deploy(config(), "s3://models/intents/v2", kube(stand_in))

    assert result.action == "patched"
    methods = {m for m, _, _ in stand_in.requests}
    assert methods == {"GET", "POST", "PATCH"}
    assert [m for m, _, _ in stand_in.requests].count("POST") == 1
    service = stand_in.objects[("team-a", "intents")]
    assert model_uri_of(service["spec"]) == "s3://models/intents/v2"
    # The canary share of the second deploy is removed by the third, not left behind.
    assert "canaryTrafficPercent" not in service["spec"]["predictor"]


def test_failed_rollout_restores_the_serving_revision(stand_in):
    deploy(config(), "s3://models/intents/v1", kube(stand_in))

    with pytest.raises(KfpNlpError, match="previous revision keeps serving") as failure:
        deploy(config(), "s3://models/intents/broken", kube(stand_in))

    assert "RevisionFailed" in str(failure.value)
    service = stand_in.objects[("team-a", "intents")]
    assert model_uri_of(service["spec"]) == "s3://models/intents/v1"
    assert "DELETE" not in {m for m, _, _ in stand_in.requests}


def test_first_deploy_that_never_becomes_ready_is_reported(stand_in):
    with pytest.raises(KfpNlpError, match="did not become Ready within 1s"):
        deploy(config(), "s3://models/intents/broken", kube(stand_in))


def test_dry_run_renders_without_calling_the_api(stand_in, tmp_path):
    result = deploy(config(dry_run=True), "s3://models/intents/v1", None, tmp_path / "isvc.yaml")
    assert result.action == "rendered"
    assert stand_in.requests == []
    assert "kind: InferenceService" in (tmp_path / "isvc.yaml").read_text()


def test_component_dry_run_writes_the_manifest_artifact_with_kfp_local(small_model, tmp_path):
    """The KFP component under the real local runner; a dry run needs no cluster."""
    from kfp import dsl, local

    from components.deploy.component import deploy_inference_service
    from components.deploy.render import render, to_manifest

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))

    @dsl.pipeline
    def rollout_pipeline() -> dsl.Artifact:
        task = deploy_inference_service(
            model_uri=str(small_model.model_dir), name="intents", dry_run=True
        )
        return task.outputs["manifest"]

    manifest = rollout_pipeline().output
    written = yaml.safe_load(Path(manifest.path).read_text())
    expected = to_manifest(render(DeployConfig(name="intents"), str(small_model.model_dir)))
    assert written == expected
    assert manifest.metadata == {"action": "rendered", "url": ""}
