"""Rolling out an InferenceService through the real Kubernetes Python client, against the
loopback stand-in of tests/k8s_standin.py (which says what it does not exercise)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from components.common.errors import KfpNlpError
from components.deploy import rollout
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy
from tests.k8s_standin import StandInApi


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
