"""Multi-node fine-tuning through the `kubeflow` SDK's Kubernetes backend, against a stand-in.

`python -m components.finetune ... --launcher=trainjob --trainjob-backend=kubernetes` runs as a
subprocess, as in a KFP step, with KUBECONFIG naming tests/trainer_standin.py: a loopback HTTP
server playing the Kubernetes API, the Kubeflow Trainer controller and the kubelet. The SDK
submits the TrainJob to it over HTTP as to a cluster; the stand-in checks it against Trainer's
CRD and runs each node's command for real, as a local torchrun with the rendezvous Trainer's
torch plugin injects; the nodes read the job and write the model through the loopback S3 (moto)
the launcher staged it on. What the stand-in does not exercise (authentication, admission and
CEL rules, JobSet, scheduling, real pods, the image) is in its docstring;
tests/container/test_trainjob_in_containers.py runs the nodes as containers of the image.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from components.finetune.train import SIGTERM_EXIT
from tests.k8s_standin import kubeconfig
from tests.net import free_port
from tests.trainer_standin import TrainerStandIn

REPO = Path(__file__).resolve().parents[3]
SMALL = ("--max-steps=4", "--batch-size=8", "--max-length=32", "--precision=fp32")
TAG = re.compile(r"^\[node \d+\] ")


@pytest.fixture
def standin() -> Iterator[Callable[..., TrainerStandIn]]:
    """Make a TrainerStandIn (same options); every one is stopped, its processes killed, after
    the test."""
    made: list[TrainerStandIn] = []

    def make(**options) -> TrainerStandIn:
        made.append(TrainerStandIn(**options))
        return made[-1]

    yield make
    for api in made:
        api.stop()


def command(splits, out: Path, bucket: str, *flags: str) -> list[str]:
    train, validation = splits
    return [
        *(sys.executable, "-m", "components.finetune"),
        *("--train", str(train), "--validation", str(validation), "--output", str(out)),
        "--launcher=trainjob",
        "--num-nodes=2",
        "--trainjob-backend=kubernetes",
        f"--staging-uri=s3://{bucket}/x",
        *SMALL,
        *flags,
    ]


def launcher_env(api: TrainerStandIn, tmp_path: Path) -> dict[str, str]:
    """The step's environment: KUBECONFIG names the stand-in, and this is not a pod."""
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env["KUBECONFIG"] = str(kubeconfig(api, tmp_path / "kubeconfig"))
    return env


def finetune(api, splits, out, bucket, tmp_path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(splits, out, bucket, *flags),
        env=launcher_env(api, tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )


def start(api, splits, out, bucket, tmp_path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        command(splits, out, bucket),
        env=launcher_env(api, tmp_path),
        cwd=REPO,
        text=True,
        **popen,
    )


def shown(stdout: str, rank: int) -> list[str]:
    """The lines the step's log shows as node `rank`'s, without the prefix."""
    prefix = f"[node {rank}] "
    return [line[len(prefix) :] for line in stdout.splitlines() if line.startswith(prefix)]


def pod_log(api: TrainerStandIn, name: str, rank: int) -> list[str]:
    """Node `rank`'s log as its pod's log holds it, each line without the node's own tag."""
    log = bytes(api.history[name][rank].log).decode(errors="replace")
    return [TAG.sub("", part) for line in log.split("\n") for part in line.splitlines()]


def trainjob_gets(api: TrainerStandIn, name: str, since: int = 0) -> int:
    path = f"/trainjobs/{name}"
    return sum(1 for m, p in api.requests[since:] if m == "GET" and p.endswith(path))


def test_a_failing_node_fails_the_step_in_one_line_naming_it(standin, splits, s3_bucket, tmp_path):
    """Node 1 alone cannot reach S3 (a setting only it sees): the step fails, transiently."""
    dead = f"http://127.0.0.1:{free_port()}"
    api = standin(node_env={1: {"AWS_ENDPOINT_URL": dead, "AWS_MAX_ATTEMPTS": "1"}})
    done = finetune(api, splits, tmp_path / "model", s3_bucket, tmp_path)

    assert done.returncode == 3, done.stderr[-3000:]
    (submitted,) = api.posted
    name = submitted["metadata"]["name"]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: TrainJob {name} failed on node 1: ")
    # What went wrong there is in the step's log, under the node's prefix.
    assert f"[node 1] error: cannot reach S3 at {dead} " in done.stdout
    assert not (tmp_path / "model").exists()
    # The launcher deleted the TrainJob: a KFP retry submits a fresh one.
    assert api.deleted == [name] and api.trainjobs == {}


def test_a_retry_reattaches_to_the_running_trainjob_instead_of_submitting_another(
    standin, splits, s3_bucket, tmp_path
):
    """The first attempt's pod is lost after it submitted; its TrainJob runs on. The retry of
    the same task finds it by name and follows it; cancelling the retry deletes it."""
    api = standin(hold=True)  # the nodes stay Pending: the job is running whatever the timing
    out = tmp_path / "model"
    first = start(api, splits, out, s3_bucket, tmp_path, stdout=subprocess.DEVNULL)
    try:
        # Watching: its GET of the TrainJob before the POST (404), then _watch's first.
        api.wait_for(lambda: api.posted and trainjob_gets(api, _name(api)) >= 2, timeout=300)
    finally:
        first.kill()
        first.wait(timeout=60)
    name = _name(api)
    assert name in {key[1] for key in api.trainjobs}

    lost = len(api.requests)
    retry = start(
        api, splits, out, s3_bucket, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(retry.stdout), daemon=True)
    reader.start()
    try:
        # Re-attached (one GET of the TrainJob), then watching it (the next one).
        api.wait_for(lambda: trainjob_gets(api, name, since=lost) >= 2, timeout=300)
        retry.send_signal(signal.SIGTERM)
        code = retry.wait(timeout=120)
    finally:
        retry.kill()
    error = retry.stderr.read()
    reader.join(timeout=30)

    assert f"trainjob: re-attached to {name} (Created) on kubernetes\n" in lines, lines
    assert len(api.posted) == 1  # the retry submitted nothing
    assert code == SIGTERM_EXIT, error[-3000:]
    assert f"trainjob: step cancelled; deleted {name}\n" in lines
    assert api.deleted == [name] and api.trainjobs == {}
    assert not out.exists()


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (
            (
                403,
                "Forbidden",
                "trainjobs.trainer.kubeflow.org is forbidden: User "
                '"system:serviceaccount:kubeflow:pipeline-runner" cannot create resource',
            ),
            2,
        ),
        ((503, "ServiceUnavailable", "the server is currently unable to handle the request"), 3),
    ],
    ids=["forbidden", "unavailable"],
)
def test_an_api_server_refusing_the_trainjob_fails_in_one_line(
    standin, splits, s3_bucket, tmp_path, refusal, code
):
    """Missing RBAC is the user's to fix (exit 2); an API server that cannot answer now is
    worth a retry (exit 3). Either way the line carries the server's own words."""
    api = standin(refuse=refusal)
    done = finetune(api, splits, tmp_path / "model", s3_bucket, tmp_path)

    assert done.returncode == code, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    name = _name(api)
    assert line.startswith(f"error: TrainJob {name} did not start on kubernetes: ")
    assert f"HTTP {refusal[0]}: {refusal[2]}" in line
    assert api.trainjobs == {} and not (tmp_path / "model").exists()


def test_two_nodes_train_and_a_resubmitted_trainjob_resumes_from_its_checkpoint_on_s3(
    standin, splits, s3_bucket, tmp_path
):
    """Node 1 is stopped once a checkpoint is on S3: the TrainJob fails and the step with it
    (exit 3). KFP's retry of the step resubmits the TrainJob under the same name; its nodes
    resume from that checkpoint rather than from step 0, and the step shows each node's log."""
    from components.common.uri import s3_client

    api = standin()
    out = tmp_path / "model"
    flags = ("--max-steps=4", "--checkpoint-steps=2")
    # The same arguments, rendered first: writes the TrainJob, submits nothing.
    rendered = tmp_path / "trainjob.yaml"
    render = finetune(
        api, splits, out, s3_bucket, tmp_path, *flags, "--render-trainjob", str(rendered)
    )
    assert render.returncode == 0, render.stderr[-3000:]
    assert api.requests == []

    first = subprocess.Popen(
        command(splits, out, s3_bucket, *flags),
        env=launcher_env(api, tmp_path),
        cwd=REPO,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    s3 = s3_client()

    def checkpointed() -> list[int]:
        listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="x/").get("Contents", [])
        keys = "\n".join(o["Key"] for o in listed)
        return sorted(
            int(step) for step in re.findall(r"/checkpoints/step-(\d+)/COMPLETE$", keys, re.M)
        )

    try:
        api.wait_for(lambda: bool(api.posted), timeout=120)
        name = _name(api)
        deadline = time.monotonic() + 300
        while not checkpointed() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        saved = checkpointed()
        assert saved, "no checkpoint reached S3"
        api.history[name][1].kill()
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 3, stderr[-3000:]
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"error: TrainJob {name} failed on node 1: ")
    assert not out.exists()

    retry = finetune(api, splits, out, s3_bucket, tmp_path, *flags)

    assert retry.returncode == 0, retry.stderr[-3000:]
    assert [job["metadata"]["name"] for job in api.posted] == [name, name]
    assert f"trainjob: submitted {name} on kubernetes: 2 node(s)" in retry.stdout
    resumed = re.search(r"^\[node 0\] .*resumed from checkpoint at step (\d+)", retry.stdout, re.M)
    assert resumed, retry.stdout[-3000:]
    assert int(resumed[1]) >= saved[0]
    assert "[node 0] [finetune] step 4/4" in retry.stdout
    assert "[node 0] [finetune] step 1/4" not in retry.stdout
    manifest = json.loads((out / "kfp_nlp_manifest.json").read_text())
    assert manifest["provenance"]["training"]["workers"] == 2
    # Every node's log reaches the step's, under its own prefix, and only its own lines do.
    for rank in (0, 1):
        assert shown(retry.stdout, rank), f"nothing of node {rank} in\n{retry.stdout[-3000:]}"
        assert set(shown(retry.stdout, rank)) <= set(pod_log(api, name, rank))
    steps = [line for line in pod_log(api, name, 0) if line.startswith("[finetune]")]
    assert [line for line in shown(retry.stdout, 0) if line.startswith("[finetune]")] == steps
    # The launcher deleted the TrainJob each time; no node process is left.
    assert api.deleted == [name, name] and api.trainjobs == {}
    assert all(node.process.poll() is not None for node in api.history[name])
    assert api.unknown == []  # the SDK asked nothing the stand-in does not serve
    # What `--render-trainjob` writes is what the SDK submits.
    assert yaml.safe_load(rendered.read_text()) == api.posted[0] == api.posted[1]


def _name(api: TrainerStandIn) -> str:
    return api.posted[0]["metadata"]["name"] if api.posted else ""
