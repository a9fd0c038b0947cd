"""Where no container engine can run, the tier says so: outside CI it does not run and the run
ends with one line saying what is missing and how to get it; under CI=true it fails. Shown by
running the tier with a PATH that holds no engine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from in_image import REPO

ONE_LINE = (
    "container tier not run: no Docker daemon answers and podman is not installed; get an engine "
    "with `apt-get install podman runc debootstrap` (Debian, as root) or start a Docker daemon, "
    "then run `make test` again"
)


def run_tier_without_engine(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(tmp_path), "CI": ci}
    env.pop("DOCKER_HOST", None)
    env.pop("CONTAINERS_CONF", None)
    this = Path(__file__).relative_to(REPO)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(this.parent)]
    command += ["--deselect", str(this)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_outside_ci_the_tier_does_not_run_and_one_line_says_what_to_install(tmp_path: Path):
    run = run_tier_without_engine(tmp_path, ci="")
    assert run.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, run.stdout
    assert run.stdout.splitlines().count(ONE_LINE) == 1, run.stdout
    assert "passed" not in run.stdout


def test_in_ci_the_tier_fails_saying_what_is_missing(tmp_path: Path):
    run = run_tier_without_engine(tmp_path, ci="true")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert ONE_LINE in run.stdout
    assert "passed" not in run.stdout
