"""Multi-node fine-tuning for real: a 2-node TrainJob run as containers of the component image.

The launcher is the fine-tune step itself (kfp.local's subprocess runner here, a pod on a
cluster). It submits the TrainJob through the `kubeflow` SDK's container backend, which starts
one container per node on a per-job network; torchrun's rendezvous goes over TCP between them;
the job, the data and the model travel through an S3 endpoint (moto) the containers reach on the
host's address, as nodes reach S3 on a cluster. Not exercised here: the Trainer controller and
its pods (tests/component/finetune/test_trainjob_render.py checks the TrainJob against its CRD).
"""

import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.common.image import IMAGE
from components.finetune import trainjob

REPO = Path(__file__).resolve().parents[2]
FAST = ("--max-length=32", "--batch-size=16", "--precision=fp32", "--log-steps=2")


def host_address() -> str:
    """This machine's address on its default route, which containers on any network reach."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP: picks the route, sends nothing
        return probe.getsockname()[0]


@pytest.fixture(scope="module")
def node_env(engine, image: str) -> Iterator[dict[str, str]]:
    """The environment of a launcher: the engine's API, and an S3 endpoint the nodes reach."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="0.0.0.0", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    env = {
        **engine.env,
        "AWS_ENDPOINT_URL": f"http://{host_address()}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "KFP_NLP_BUCKET": f"trainjob-{uuid.uuid4().hex[:8]}",
    }
    if engine.docker_host:
        env["DOCKER_HOST"] = engine.docker_host
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(
        Bucket=env["KFP_NLP_BUCKET"]
    )
    yield env
    server.stop()


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Train, validation and test splits of the sample replies, as prepare_dataset writes them."""
    from components.prepare.__main__ import main as prepare
    from components.sample_data import write_sample

    root = tmp_path_factory.mktemp("trainjob-data")
    table = write_sample(str(root / "replies.csv"), rows=500)
    prepare(
        [
            *("--source", table, "--text-column", "reply_text", "--label-column", "intent"),
            *("--output-dir", str(root / "prepared")),
        ]
    )
    return tuple(root / "prepared" / f"{s}.parquet" for s in ("train", "validation", "test"))


def finetune(env: dict, out: Path, splits: tuple, *flags: str, **popen) -> subprocess.Popen:
    train, validation, _ = splits
    command = [
        *(sys.executable, "-m", "components.finetune"),
        *("--train", str(train), "--validation", str(validation), "--output", str(out)),
        *FAST,
        *flags,
    ]
    return subprocess.Popen(command, env=env, cwd=REPO, text=True, **popen)


def two_nodes(env: dict, name: str) -> tuple[str, ...]:
    return (
        "--launcher=trainjob",
        "--num-nodes=2",
        "--trainjob-backend=container",
        f"--staging-uri=s3://{env['KFP_NLP_BUCKET']}/{name}",
    )


def history(model: Path) -> list[dict]:
    return provenance(model)["history"]


def provenance(model: Path) -> dict:
    return json.loads((model / "kfp_nlp_manifest.json").read_text())["provenance"]


def test_two_nodes_train_what_one_node_with_two_workers_trains(node_env, splits, tmp_path):
    """Same seed, same global batch, same data: 2 nodes x 1 process as containers and 1 node x
    2 DDP processes in this step agree on every logged loss and on the validation macro-F1."""
    same = ("--max-steps=8", "--eval-steps=4", "--seed=3")
    started = time.monotonic()
    nodes = finetune(node_env, tmp_path / "nodes", splits, *two_nodes(node_env, "eq"), *same)
    assert nodes.wait(timeout=600) == 0
    print(f"2 containers x 1 process: {time.monotonic() - started:.0f} s")
    inline = finetune(node_env, tmp_path / "inline", splits, "--num-workers=2", *same)
    assert inline.wait(timeout=600) == 0

    on_nodes, in_step = history(tmp_path / "nodes"), history(tmp_path / "inline")
    assert [h["step"] for h in on_nodes] == [h["step"] for h in in_step] == [4, 8]
    for a, b in zip(on_nodes, in_step, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.01)
        assert abs(a["val_macro_f1"] - b["val_macro_f1"]) <= 0.01
    assert provenance(tmp_path / "nodes")["training"]["workers"] == 2


def test_a_node_killed_mid_training_fails_the_step_in_one_line_naming_it(
    node_env, splits, tmp_path, docker_client
):
    step = finetune(
        node_env,
        tmp_path / "model",
        splits,
        *two_nodes(node_env, "kill"),
        "--max-steps=400",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(step.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while not any("[node 0] [finetune] step" in line for line in lines):
        assert step.poll() is None and time.monotonic() < deadline, "".join(lines[-20:])
        time.sleep(1)
    (submitted,) = [line for line in lines if line.startswith("trainjob: submitted ")]
    name = submitted.split()[2]
    docker_client.containers.get(f"{name}-node-1").kill()
    killed = time.monotonic()
    error = step.stderr.read()
    code = step.wait(timeout=120)
    assert time.monotonic() - killed < 60
    assert code == 3  # a transient failure: a KFP retry resumes from the last checkpoint
    (line,) = error.strip().splitlines()
    assert line.startswith(f"error: TrainJob {name} failed on node 1")
    assert not (tmp_path / "model").exists()
    # The launcher deleted the job: no container of it is left.
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_nodes_that_cannot_reach_s3_say_so_in_the_steps_log(node_env, splits, tmp_path):
    """The launcher reaches S3 on loopback; the nodes, in their own network, cannot."""
    port = node_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
    env = {**node_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    step = finetune(
        env,
        tmp_path / "model",
        splits,
        *two_nodes(node_env, "unreachable"),
        "--max-steps=2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = step.communicate(timeout=300)
    assert step.returncode == 3
    node_errors = [line for line in out.splitlines() if line.startswith("[node 0] error:")]
    assert node_errors and "127.0.0.1" in node_errors[0], out[-3000:]
    assert "failed on node" in err.strip().splitlines()[-1]


def test_a_missing_image_fails_in_one_line_before_any_node_starts(
    node_env, splits, tmp_path, docker_client
):
    env = {**node_env, "KFP_NLP_IMAGE": IMAGE + "-missing"}
    step = finetune(
        env,
        tmp_path / "model",
        splits,
        *two_nodes(node_env, "missing"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = step.communicate(timeout=300)
    assert step.returncode == 2
    (line,) = err.strip().splitlines()
    assert "did not start" in line and IMAGE + "-missing" in line
    assert "trainjob: submitted" not in out
    assert docker_client.containers.list(all=True, filters={"name": "kfp-nlp-ft-"}) == []


def test_the_training_pipeline_runs_its_fine_tune_on_two_node_containers(node_env, tmp_path):
    """`kfp-nlp run text_classifier_training --local` with num_nodes=2 and launcher=trainjob,
    nothing else about where: the two nodes train in containers, staged in the folder the SDK's
    container backend mounts in each, and the evaluation step scores the model they wrote."""
    from components.sample_data import write_sample

    table = write_sample(str(tmp_path / "replies.csv"), rows=300)
    params = {
        "data_uri": table,
        "text_column": "reply_text",
        "label_column": "intent",
        "num_nodes": 2,
        "launcher": "trainjob",
        "max_steps": 20,
        "max_length": 32,
        "batch_size": 16,
        "learning_rate": 3e-4,
        "require_beat_baseline": False,
        # A bar no 20-step model clears: the gate scores it and stops before the release.
        "thresholds": "macro_f1>=1.0",
    }
    command = [sys.executable, "-m", "pipelines.cli", "run", "text_classifier_training"]
    command += ["--local", "--json", "--workdir", str(tmp_path / "work")]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    done = subprocess.run(
        command, env=node_env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    log = Path(summary["log"]).read_text()
    (name,) = re.findall(r"trainjob: submitted (kfp-nlp-ft-\w+) on container: 2 node", log)
    assert "[node 1]" in log
    assert "job /workspace/job.json" in log  # the nodes read it from the mounted folder
    assert not trainjob.container_workdir(name).exists()  # removed with the TrainJob
    outputs = summary["outputs"]
    assert provenance(Path(outputs["model"]["path"]))["training"]["workers"] == 2
    # 20 steps on seven intents: far above the 1/7 a guess scores, on any CPU.
    assert outputs["evaluation_metrics"]["metadata"]["macro_f1"] > 0.3
    assert outputs["approved"] is False
