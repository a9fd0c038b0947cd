"""How the tier runs containers: the restricted settings, and a Docker client kfp can trust.

kfp 2.17's DockerRunner starts every task's container with `auto_remove=True`, streams its logs,
then asks for its exit status. By then the engine has often removed the container: podman 4.3's
Docker API answers 404 and kfp counts that as exit status 0, so a step that failed inside its
container is reported SUCCESS with no outputs. kfp passes `auto_remove=True` itself (a runner
argument cannot override it) and no engine setting keeps an auto-removed container's status, so
the fix sits where kfp makes its client, `docker.from_env()` (public API): the client here creates
the container without auto-removal and removes it right after its exit status was read, which is
what `docker run --rm` does.
"""

import os
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container, ContainerCollection

from components.common.image import RUNTIME_UID as UID

REPO = Path(__file__).resolve().parents[2]

# The restricted Pod Security Standard, as kfp's DockerRunner passes it to the Docker API.
# DockerRunner's keyword arguments are its public way to set `containers.run` options (kfp.local
# config); they hold for Docker and podman alike and sit here in plain sight, which a podman-only
# containers.conf default would not (nor could it make the root filesystem read-only).
RESTRICTED = {
    "user": f"{UID}:{UID}",
    "read_only": True,
    "tmpfs": {"/tmp": "rw,nosuid,nodev,mode=1777"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


class _RemovedAfterWait(Container):
    def wait(self, **kwargs: Any) -> dict:
        try:
            return super().wait(**kwargs)
        finally:
            self.remove(force=True)


class _Containers(ContainerCollection):
    def run(self, image: str, command: Any = None, **kwargs: Any) -> Any:
        if not kwargs.pop("auto_remove", False):
            return super().run(image, command, **kwargs)
        container = super().run(image, command, **kwargs)
        return _RemovedAfterWait(attrs=container.attrs, client=self.client, collection=self)


class ExitStatusKeepingClient(docker.DockerClient):
    """`docker.DockerClient` whose auto-removed containers are removed only after `wait()`."""

    @property
    def containers(self) -> ContainerCollection:
        return _Containers(client=self)


def restricted_runner(network: str = "none", **extra: Any) -> Any:
    """A DockerRunner whose containers run as the restricted Pod Security Standard."""
    from kfp import local

    return local.DockerRunner(network_mode=network, **RESTRICTED, **extra)


def owned_by_container_user(path: Path) -> Path:
    """Make a host folder the container's uid owns, as a pod's fsGroup makes its volumes."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path
