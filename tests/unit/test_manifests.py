"""The Kubernetes manifests: rendered by kustomize, validated offline, checked by checkov.

Each overlay is rendered with `kubectl kustomize` (kubectl from the pinned tools environment,
`make tools`). Core objects are validated with kubernetes-validate (strict: unknown fields are
errors); the InferenceService against KServe's CRD schema with unknown fields refused, as the API
server's strict field validation does; the predictor's pod spec, as KServe turns it into a pod,
against the Kubernetes Pod schema, the "restricted" Pod Security Standard and checkov.

Not exercised: a Kubernetes API server, KServe's controller and webhooks, IRSA itself.
"""

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.common.image import DEFAULT_IMAGE
from tests import crd

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv-tools" / "bin"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.33.0"
POD_FIELDS = ("containers", "securityContext", "volumes", "serviceAccountName")


def tool(name: str) -> str:
    """A tool from .venv-tools; missing fails in CI and skips (with the fix) elsewhere."""
    path = TOOLS / name
    if path.exists():
        return str(path)
    reason = f"{path} is missing; install the manifest tools with `make tools`"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every overlay as kubectl kustomize renders it, as a list of objects."""
    kubectl = tool("kubectl")
    return {
        overlay: list(
            yaml.safe_load_all(
                subprocess.run(
                    [kubectl, "kustomize", str(REPO / "manifests" / "overlays" / overlay)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
        )
        for overlay in OVERLAYS
    }


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def predictor_pod(service: dict[str, Any]) -> dict[str, Any]:
    """The pod KServe runs for the predictor: its pod-spec fields, the service's annotations."""
    predictor = service["spec"]["predictor"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{service['metadata']['name']}-predictor",
            "namespace": service["metadata"]["namespace"],
            "annotations": service["metadata"].get("annotations", {}),
        },
        "spec": {
            "automountServiceAccountToken": predictor.get("automountServiceAccountToken", True),
            **{key: predictor[key] for key in POD_FIELDS if key in predictor},
        },
    }


@pytest.fixture(scope="module")
def isvc_validator() -> jsonschema.Draft7Validator:
    return crd.validator("kserve-inferenceservices-crd.yaml", "v1beta1")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_identities_rbac_and_the_service(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    namespace = {"dev": "kfp-nlp-dev", "prod": "kfp-nlp"}[overlay]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ClusterRole", "kfp-nlp-trainingruntime-reader"),
        ("ClusterRoleBinding", f"kfp-nlp-trainingruntime-reader-{namespace}"),
        ("InferenceService", "kfp-nlp-classifier"),
        ("Role", "kfp-nlp-deployer"),
        ("Role", "kfp-nlp-trainjob-launcher"),
        ("RoleBinding", "kfp-nlp-deployer"),
        ("RoleBinding", "kfp-nlp-trainjob-launcher"),
        ("ServiceAccount", "kfp-nlp-runner"),
        ("ServiceAccount", "kfp-nlp-serving"),
        ("ServiceAccount", "kfp-nlp-trainer"),
    ]
    namespaced = [o for o in objects if not o["kind"].startswith("Cluster")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespace}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_and_the_predictor_pod_validate_strictly(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    core = [o for o in objects if o["kind"] != "InferenceService"]
    for obj in [*core, predictor_pod(one(objects, "InferenceService"))]:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_refuses_an_unknown_field(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    account = copy.deepcopy(one(rendered["prod"], "ServiceAccount", "kfp-nlp-runner"))
    account["automountServiceAcountToken"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(account, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_service_matches_the_kserve_crd(
    rendered: dict[str, list[dict[str, Any]]],
    isvc_validator: jsonschema.Draft7Validator,
    overlay: str,
) -> None:
    service = one(rendered[overlay], "InferenceService")
    errors = [e.message for e in isvc_validator.iter_errors(service)]
    assert errors == []


def test_the_crd_check_refuses_unknown_fields(
    rendered: dict[str, list[dict[str, Any]]], isvc_validator: jsonschema.Draft7Validator
) -> None:
    service = copy.deepcopy(one(rendered["prod"], "InferenceService"))
    service["spec"]["predictor"]["serviceAcountName"] = "typo"
    service["spec"]["predictor"]["containers"][0]["securityContext"]["readOnlyRoot"] = True
    messages = " ".join(e.message for e in isvc_validator.iter_errors(service))
    assert "'serviceAcountName' was unexpected" in messages
    assert "'readOnlyRoot' was unexpected" in messages


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_spec_meets_the_restricted_pod_security_standard(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    spec = predictor_pod(one(rendered[overlay], "InferenceService"))["spec"]
    pod_security = spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    scratch = {v["name"] for v in spec["volumes"] if set(v) == {"name", "emptyDir"}}
    assert {v["name"] for v in spec["volumes"]} == scratch  # no hostPath or other volume types
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["readOnlyRootFilesystem"] is True
        assert security["runAsNonRoot"] is True
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/tmp"] in scratch


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_predictor_serves_our_pinned_image_from_s3(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    predictor = one(objects, "InferenceService")["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == DEFAULT_IMAGE
    assert not container["image"].endswith(":latest")
    assert container["command"] + container["args"] == [
        *("python", "-m", "components.serve", "--model-dir", "/mnt/models"),
        *("--model-name", "reply-intents", "--host", "0.0.0.0"),
    ]
    # Ready only once the model is loaded: the model's own endpoint, not the server's.
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/reply-intents/ready"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["STORAGE_URI"].startswith(f"s3://kfp-nlp-{overlay}-models/registry/")
    serving = one(objects, "ServiceAccount", predictor["serviceAccountName"])
    assert serving["metadata"]["name"] == "kfp-nlp-serving"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_accounts_carry_their_irsa_role(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    for name in ("kfp-nlp-runner", "kfp-nlp-serving", "kfp-nlp-trainer"):
        account = one(rendered[overlay], "ServiceAccount", name)
        role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        expected = name.replace("kfp-nlp-", f"kfp-nlp-{overlay}-")
        assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/{expected}", role)


def test_the_runner_may_only_manage_inference_services(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["prod"]
    assert one(objects, "Role", "kfp-nlp-deployer")["rules"] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "verbs": ["get", "list", "watch", "create", "patch"],
        }
    ]
    binding = one(objects, "RoleBinding", "kfp-nlp-deployer")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kfp-nlp-deployer",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kfp-nlp-runner", "namespace": "kfp-nlp"}
    ]


def test_the_trainjob_launcher_may_only_run_trainjobs_in_its_namespace(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """What the fine-tune launcher does through the kubeflow SDK, and nothing more: TrainJobs
    (create, follow, delete), the runtimes they refer to (read) and the nodes' pods and logs."""
    objects = rendered["prod"]
    assert one(objects, "Role", "kfp-nlp-trainjob-launcher")["rules"] == [
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainjobs"],
            "verbs": ["create", "get", "list", "watch", "delete"],
        },
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainingruntimes"],
            "verbs": ["get"],
        },
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
    ]
    runner = [{"kind": "ServiceAccount", "name": "kfp-nlp-runner", "namespace": "kfp-nlp"}]
    assert one(objects, "RoleBinding", "kfp-nlp-trainjob-launcher")["subjects"] == runner
    assert one(objects, "ClusterRole")["rules"] == [
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["clustertrainingruntimes"],
            "verbs": ["get"],
        }
    ]
    assert one(objects, "ClusterRoleBinding")["subjects"] == runner
    # The nodes' identity reaches S3 through IRSA and needs no Kubernetes API at all.
    assert (
        one(objects, "ServiceAccount", "kfp-nlp-trainer")["automountServiceAccountToken"] is False
    )


def test_checkov_reports_no_failed_check(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """checkov over every overlay and the predictor pods; each skip carries a written reason."""
    checkov = tool("checkov")
    for overlay, objects in rendered.items():
        pod = predictor_pod(one(objects, "InferenceService"))
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all([*objects, pod]))
    result = subprocess.run(
        [
            checkov,
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} == {"CKV_K8S_43", "CKV2_K8S_6"}
    assert all(len(c["check_result"]["suppress_comment"]) > 40 for c in skipped)
    assert result.returncode == 0, result.stderr[-2000:]
