"""The container tier: the component image built from the Dockerfile, run the way a cluster runs it.

The image is built by `scripts/build-image.sh` (what `make image` runs) once per session; the
engine's layer cache makes that take seconds when only code changed. Pipelines run through
`kfp.local.DockerRunner` against a Docker API: a Docker daemon where one answers, else
`podman system service` started here. Every container runs as the "restricted" Pod Security
Standard and our manifests run it: uid 65532, read-only root filesystem with a writable /tmp, all
capabilities dropped, no privilege escalation, and no network unless the step needs the loopback
S3 endpoint.

Where no container engine can run, the tier does not run: outside CI its tests are deselected and
the run ends with one line saying what is missing and how to get it; with CI=true they fail with
that line.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from in_image import REPO, ExitStatusKeepingClient, owned_by_container_user, restricted_runner

from components.common.image import IMAGE

CONTAINERS_CONF = REPO / "scripts" / "containers.conf"
MISSING = (
    "container tier not run: {what}; get an engine with `apt-get install podman runc debootstrap` "
    "(Debian, as root) or start a Docker daemon, then run `make test` again"
)


@dataclass(frozen=True)
class Engine:
    """A container engine that can run the tier: the Docker API that reaches it, and the
    environment its own command line (and `make image`) needs."""

    docker_host: str
    env: dict[str, str]


def _docker_daemon_answers() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=60)
    return probe.returncode == 0


def _podman_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def missing_engine() -> str | None:
    """What keeps the tier from running, or None when an engine can."""
    if _docker_daemon_answers():
        return None
    if not shutil.which("podman"):
        return "no Docker daemon answers and podman is not installed"
    if "CONTAINERS_CONF" not in os.environ and not shutil.which("runc"):
        return "podman is installed but not runc, which scripts/containers.conf names"
    return None


_NOT_RUN = pytest.StashKey[str]()


def _needs_engine(item: pytest.Item) -> bool:
    return Path(item.path).is_relative_to(Path(__file__).parent) and "engine" in getattr(
        item, "fixturenames", ()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an engine: in CI the tier's tests stay and fail; elsewhere they are deselected
    and the end of the run says, in one line, what is missing and how to get it."""
    tier = [item for item in items if _needs_engine(item)]
    if not tier or os.environ.get("CI", "").lower() == "true":
        return
    what = missing_engine()
    if what is None:
        return
    config.stash[_NOT_RUN] = MISSING.format(what=what)
    config.hook.pytest_deselected(items=tier)
    items[:] = [item for item in items if not _needs_engine(item)]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _NOT_RUN in config.stash:
        terminalreporter.write_line(config.stash[_NOT_RUN])


def _fail(what: str) -> None:
    pytest.fail(MISSING.format(what=what), pytrace=False)


def _wait_for_socket(path: Path, service: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            _fail(f"`podman system service` exited: {log.read_text().strip()[-300:]}")
        if path.exists():
            with socket.socket(socket.AF_UNIX) as sock:
                if sock.connect_ex(str(path)) == 0:
                    return
        time.sleep(0.2)
    _fail("`podman system service` did not open its socket within 60 s")


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Docker where a daemon answers, else podman serving a Docker API on a private socket."""
    what = missing_engine()
    if what is not None:
        _fail(what)
    if _docker_daemon_answers():
        yield Engine(os.environ.get("DOCKER_HOST", ""), dict(os.environ))
        return
    env = _podman_env()
    workdir = tmp_path_factory.mktemp("podman")
    sock, log = workdir / "podman.sock", workdir / "service.log"
    with log.open("w") as sink:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_socket(sock, service, log)
        yield Engine(f"unix://{sock}", env)
    finally:
        service.terminate()
        service.wait(timeout=30)


@pytest.fixture(scope="session")
def image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The component image, built (or brought up to date from the layer cache) by `make image`."""
    log = tmp_path_factory.mktemp("image") / "build.log"
    with log.open("w") as sink:
        build = subprocess.run(
            [str(REPO / "scripts" / "build-image.sh")],
            env={**engine.env, "IMAGE": IMAGE},
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    output = log.read_text()
    if build.returncode != 0:
        pytest.fail(f"make image failed:\n{output[-4000:]}", pytrace=False)
    chosen = [line for line in output.splitlines() if line.startswith("make image:")]
    print("\n".join(chosen))
    return IMAGE


@pytest.fixture(scope="session")
def docker_client(engine: Engine, image: str) -> Iterator[Any]:
    """kfp's Docker client, pointed at the engine, keeping each container's exit status.

    kfp makes its client with `docker.from_env()`; the one made here differs only in removing an
    auto-removed container after its exit status was read (see in_image.py for why).
    """
    import docker

    with pytest.MonkeyPatch.context() as patch:
        if engine.docker_host:
            patch.setenv("DOCKER_HOST", engine.docker_host)
        patch.setattr(docker, "from_env", ExitStatusKeepingClient.from_env)
        client = docker.from_env()
        yield client
        client.close()


@dataclass(frozen=True)
class TrainingRun:
    """The training pipeline's outputs from a run in the image, and where its inputs lived."""

    outputs: dict[str, Any]
    table: Path
    registry: Path


MODEL_NAME = "reply-intents"  # the name our InferenceService serves


@pytest.fixture(scope="session")
def training_run(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    """text_classifier_training in the image on 600 sample replies, one short epoch.

    The table is mounted read-only and the registry read-write, as a pod mounts its volumes; the
    run needs no network (local data, local registry, dry-run deploy), so it has none.
    """
    from docker.types import Mount
    from kfp import local

    from components.sample_data import write_sample
    from pipelines.training import text_classifier_training

    base = tmp_path_factory.mktemp("training-in-image")
    table = Path(write_sample(str(base / "data" / "replies.csv"), rows=600))
    registry = owned_by_container_user(base / "registry")
    root = owned_by_container_user(base / "runs")
    mounts = [
        Mount(str(table.parent), str(table.parent), type="bind", read_only=True),
        Mount(str(registry), str(registry), type="bind"),
    ]
    local.init(runner=restricted_runner(mounts=mounts), pipeline_root=str(root))
    task = text_classifier_training(
        data_uri=str(table),
        registry_uri=str(registry),
        model_name=MODEL_NAME,
        text_column="reply_text",
        label_column="intent",
        epochs=1,
        learning_rate=3e-4,
        batch_size=16,
        max_length=64,
        thresholds="macro_f1>=0.3",
        # One short epoch on 600 rows does not beat TF-IDF + logistic regression; the baseline is
        # still trained and scored in the image (the test checks its metric), only not required.
        require_beat_baseline=False,
    )
    return TrainingRun(dict(task.outputs), table, registry)
