"""The rendered InferenceService checked against KServe's real CRD schema, offline.

tests/data/kserve-inferenceservices-crd.yaml is the InferenceService CRD of KServe (OpenAPI v3
schema, from kserve/kserve config/crd/full). The API server's strict field validation rejects
unknown fields; the check below does the same by closing every object schema that declares its
properties. Not exercised here: admission webhooks and the KServe controller itself.
"""

import re
from pathlib import Path

import pytest
import yaml

from components.common.errors import KfpNlpError
from components.common.image import RUNTIME_UID
from components.deploy.config import DeployConfig
from components.deploy.render import render, to_manifest
from tests import crd

REPO = Path(__file__).resolve().parents[2]


def errors(manifest: dict) -> list[str]:
    return crd.errors(manifest, "kserve-inferenceservices-crd.yaml", "v1beta1")


@pytest.mark.parametrize("runtime", ["kfp-nlp", "huggingface"])
def test_rendered_service_is_valid_under_the_crd_schema(runtime):
    config = DeployConfig(name="intents", runtime=runtime, canary_traffic_percent=10)
    manifest = to_manifest(render(config, "s3://models/intents/v3"))
    assert errors(manifest) == []
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert manifest["kind"] == "InferenceService"


def test_schema_check_rejects_unknown_fields():
    manifest = to_manifest(render(DeployConfig(name="intents"), "s3://models/intents/v3"))
    manifest["spec"]["predictor"]["canaryPercent"] = 10
    manifest["spec"]["predictor"]["containers"][0]["securityContext"]["runAsRoot"] = False
    found = errors(manifest)
    assert len(found) == 2
    assert any("canaryPercent" in e for e in found)


def test_predictor_runs_our_server_on_the_model_restricted():
    config = DeployConfig(name="intents", backend="onnx", service_account="reader")
    predictor = to_manifest(render(config, "s3://models/intents/v3"))["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert predictor["serviceAccountName"] == "reader"
    assert "canaryTrafficPercent" not in predictor
    assert {"name": "STORAGE_URI", "value": "s3://models/intents/v3"} in container["env"]
    assert container["command"] == ["python", "-m", "components.serve"]
    assert container["args"][container["args"].index("--backend") + 1] == "onnx"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["volumeMounts"] == [{"mountPath": "/tmp", "name": "scratch"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/intents/ready"
    assert predictor["volumes"] == [{"emptyDir": {}, "name": "scratch"}]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


@pytest.mark.parametrize("runtime", ["kfp-nlp", "huggingface"])
def test_the_image_the_manifests_and_the_rendered_service_run_as_one_uid(runtime):
    config = DeployConfig(name="intents", runtime=runtime)
    predictor = to_manifest(render(config, "s3://models/intents/v3"))["spec"]["predictor"]
    (container,) = predictor.get("containers") or [predictor["model"]]
    assert container["securityContext"]["runAsUser"] == RUNTIME_UID
    assert container["securityContext"]["runAsGroup"] == RUNTIME_UID
    image_user = re.findall(r"^USER (\S+)", (REPO / "Dockerfile").read_text(), re.M)
    assert image_user == [f"{RUNTIME_UID}:{RUNTIME_UID}"]
    base = yaml.safe_load((REPO / "manifests" / "base" / "inferenceservice.yaml").read_text())
    pod = base["spec"]["predictor"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (RUNTIME_UID,) * 3


def test_huggingface_runtime_reads_the_storage_uri():
    config = DeployConfig(name="intents", runtime="huggingface")
    model = to_manifest(render(config, "s3://models/intents/v3"))["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["storageUri"] == "s3://models/intents/v3"
    assert model["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "Intents_v2"}, "not a DNS label"),
        ({"name": "intents", "runtime": "tfserving"}, "unknown runtime"),
        ({"name": "intents", "canary_traffic_percent": 100}, "out of range"),
        ({"name": "intents", "min_replicas": 3, "max_replicas": 2}, "not a range"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(KfpNlpError, match=message):
        DeployConfig(**settings)


def test_payload_log_reaches_the_model_server_it_renders():
    """The rendered args, read by the model server's own parser, turn its payload log on."""
    import argparse

    from components.common.config import add_arguments, from_arguments
    from components.serve.config import ServeConfig

    logs = "s3://bucket/payload-logs/intents"
    config = DeployConfig(name="intents", payload_log_uri=logs)
    manifest = to_manifest(render(config, "s3://models/intents/v3"))
    assert errors(manifest) == []
    (container,) = manifest["spec"]["predictor"]["containers"]
    parser = argparse.ArgumentParser()
    add_arguments(parser, ServeConfig)
    served = from_arguments(ServeConfig, parser.parse_args(container["args"]))
    assert served.payload_log_uri == logs
    assert served.payload_log_text == "hash"
    unlogged = to_manifest(render(DeployConfig(name="intents"), "s3://models/intents/v3"))
    assert "--payload-log-uri" not in unlogged["spec"]["predictor"]["containers"][0]["args"]
    with pytest.raises(KfpNlpError, match="payload_log_uri needs runtime kfp-nlp"):
        DeployConfig(name="intents", runtime="huggingface", payload_log_uri=logs)
