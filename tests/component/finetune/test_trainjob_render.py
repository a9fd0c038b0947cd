"""The TrainJob the fine-tune launcher submits, rendered offline and checked against the CRD.

`python -m components.finetune ... --launcher trainjob --render-trainjob PATH` runs every check
of a real run (splits, base model, checkpoints on the loopback S3) and writes the TrainJob it
would submit. tests/data/trainer.kubeflow.org_trainjobs.yaml is Kubeflow Trainer's CRD; the
rendered object must pass its schema with unknown fields refused. Not exercised here: the
Trainer controller and its CEL rules (tests/container/test_trainjob_in_containers.py runs the
job for real as containers; tests/component/finetune/test_trainjob_kubernetes.py submits it
through the SDK's Kubernetes backend to an API stand-in).
"""

import copy
import subprocess
import sys

import pytest
import yaml

from components.common.image import IMAGE, RUNTIME_UID
from tests import crd

CRD_FILE = "trainer.kubeflow.org_trainjobs.yaml"


def render(splits, tmp_path, name: str, *flags: str) -> subprocess.CompletedProcess:
    train, validation = splits
    command = [
        sys.executable,
        "-m",
        "components.finetune",
        "--train",
        str(train),
        "--validation",
        str(validation),
        "--output",
        str(tmp_path / "model"),
        "--render-trainjob",
        str(tmp_path / name),
        *flags,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture
def rendered(splits, tmp_path, s3_bucket) -> dict:
    flags = (
        "--launcher=trainjob",
        "--num-nodes=3",
        "--num-workers=2",
        "--node-cpu=4",
        "--node-memory=16Gi",
        "--node-gpus=1",
        "--deadline-seconds=7200",
        f"--staging-uri=s3://{s3_bucket}/staging",
    )
    done = render(splits, tmp_path, "trainjob.yaml", *flags)
    assert done.returncode == 0, done.stderr
    assert "nothing was submitted" in done.stdout
    return yaml.safe_load((tmp_path / "trainjob.yaml").read_text())


def test_rendered_trainjob_passes_the_trainer_crd_strictly(rendered):
    assert crd.errors(rendered, CRD_FILE, "v1alpha1") == []


def test_rendered_trainjob_runs_our_worker_on_the_component_image(rendered, s3_bucket):
    assert rendered["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
    assert rendered["kind"] == "TrainJob"
    name = rendered["metadata"]["name"]
    assert name.startswith("kfp-nlp-ft-")
    spec = rendered["spec"]
    assert spec["runtimeRef"] == {"name": "torch-distributed", "kind": "ClusterTrainingRuntime"}
    assert spec["activeDeadlineSeconds"] == 7200
    trainer = spec["trainer"]
    assert trainer["image"] == IMAGE
    assert trainer["numNodes"] == 3
    assert trainer["command"] == [
        "torchrun",
        "--nproc-per-node=2",
        "-m",
        "components.finetune.worker",
        f"s3://{s3_bucket}/staging/{name}/job.json",
    ]
    quantities = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1}
    assert trainer["resourcesPerNode"] == {"requests": quantities, "limits": quantities}
    # Where S3 is reaches the nodes; credentials never enter the TrainJob.
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)


def test_the_nodes_run_restricted_under_the_trainer_service_account(rendered):
    (patch,) = rendered["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    pod = node["template"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kfp-nlp-trainer"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == RUNTIME_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_the_crd_check_refuses_an_unknown_field(rendered):
    typo = copy.deepcopy(rendered)
    typo["spec"]["trainer"]["numProcsPerNode"] = 2
    assert any(
        "'numProcsPerNode' was unexpected" in e for e in crd.errors(typo, CRD_FILE, "v1alpha1")
    )


def test_a_retry_gets_the_same_name_and_other_data_another(splits, tmp_path, s3_bucket):
    staging = f"--staging-uri=s3://{s3_bucket}/staging"
    first = render(splits, tmp_path, "a.yaml", "--launcher=trainjob", staging)
    again = render(splits, tmp_path, "b.yaml", "--launcher=trainjob", staging)
    other = render(splits, tmp_path, "c.yaml", "--launcher=trainjob", staging, "--seed=7")
    assert first.returncode == again.returncode == other.returncode == 0
    names = [
        yaml.safe_load((tmp_path / f).read_text())["metadata"]["name"]
        for f in ("a.yaml", "b.yaml", "c.yaml")
    ]
    assert names[0] == names[1] != names[2]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--num-nodes=2",), "num_nodes=2 needs launcher=trainjob"),
        (("--launcher=trainjob",), "launcher=trainjob needs an s3:// staging_uri"),
        (("--launcher=trainjob", "--node-memory=16 GB"), "node_memory must be a Kubernetes"),
        (("--launcher=trainjob", "--num-nodes=0"), "num_nodes must be 1 to 64"),
    ],
)
def test_bad_multi_node_settings_fail_in_one_line_before_anything_runs(
    splits, tmp_path, flags, message
):
    done = render(splits, tmp_path, "bad.yaml", *flags)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert message in line
    assert not (tmp_path / "bad.yaml").exists()
