"""What the built image holds and how it runs, checked on the image itself.

A platform team pushes this image to its registry and runs it under the "restricted" Pod Security
Standard: it must declare a numeric non-root user, need nothing writable but /tmp, and carry
nothing of the machine that built it (the proxy CA the build trusted, credentials, local paths),
neither in its files nor in its history.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from in_image import REPO, UID

pytestmark = pytest.mark.timeout(2400)

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PUBLIC_CAS = Path("/usr/share/ca-certificates")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", re.S)
SECRET_ENV = re.compile(r"AWS_|TOKEN|PASSWORD|SECRET|PROXY|PIP_CERT|CA_BUNDLE|SSL_CERT", re.I)


def build_host_only_certificates() -> list[str]:
    """The CA certificates this machine trusts beyond Debian's public set (e.g. a TLS proxy's),
    each as one line of its base64 body: what a build that baked the host's trust store in
    would leave behind."""
    if not HOST_CA.is_file():
        return []
    public = {body for path in PUBLIC_CAS.rglob("*.crt") for body in PEM.findall(path.read_text())}
    return [body.splitlines()[3] for body in PEM.findall(HOST_CA.read_text()) if body not in public]


def run_in_image(docker_client, image: str, script: str, **options) -> str:
    logs = docker_client.containers.run(
        image, ["sh", "-c", script], network_mode="none", remove=True, **options
    )
    return logs.decode()


def test_declares_a_numeric_non_root_user(docker_client, image: str):
    config = docker_client.images.get(image).attrs["Config"]
    assert config["User"] == f"{UID}:{UID}"
    # One write: podman's Docker API lost the second line of a container that exits at once.
    ids = run_in_image(docker_client, image, 'echo "$(id -u) $(id -g)"')
    assert ids.split() == [str(UID), str(UID)]


def test_its_user_can_write_only_to_tmp(docker_client, image: str):
    # Even with a writable root filesystem, nothing outside /tmp is the image user's to change.
    find = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -writable -print"
    assert run_in_image(docker_client, image, f"{find} 2>/dev/null; true").split() == ["/tmp"]


def test_nothing_of_the_build_machine_is_in_the_image_or_its_history(
    docker_client, image: str, tmp_path: Path
):
    certificates = build_host_only_certificates()
    # The checkout and the folder the local torch wheel came from are this machine's paths.
    needles = [str(REPO), *certificates, *torch_wheel_folders()]
    (tmp_path / "needles").write_text("\n".join(needles) + "\n")

    attrs = docker_client.images.get(image).attrs
    history = [step.get("CreatedBy", "") for step in docker_client.api.history(image)]
    described = "\n".join([*history, *attrs["Config"].get("Env", []), str(attrs["Config"])])
    assert not [needle for needle in needles if needle in described]
    assert not [v for v in attrs["Config"].get("Env", []) if SECRET_ENV.search(v.split("=")[0])]

    # Every file of the image, searched for the same strings.
    everything = "$(ls -d /* | grep -vxE '/(proc|sys|dev)')"
    grep = f"grep -rlaF -f /needles {everything}; true"
    found = run_in_image(
        docker_client,
        image,
        grep,
        user="0:0",
        volumes={str(tmp_path / "needles"): {"bind": "/needles", "mode": "ro"}},
    )
    assert found.split() == ["/needles"]


def torch_wheel_folders() -> list[str]:
    """The local folders pip's configuration names as find-links (the torch wheel's source)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    folders = re.findall(r"find-links='([^']*)'", listed)
    return sorted({f.removeprefix("file://") for value in folders for f in shlex.split(value)})
