"""Shared pieces of the fault battery: running a command line in-process, small inputs.

The battery's faults are real: S3 faults come from the fault-injecting proxy in front of the
loopback S3 server (tests/conftest.py), kills are SIGKILL of real processes, corrupted models
are damaged files on disk.
"""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from components.common.errors import run_cli

CliMain = Callable[[list[str] | None], object]


@pytest.fixture
def run_failing(capsys: pytest.CaptureFixture) -> Callable[[CliMain, list[str]], str]:
    """Run a command line in-process expecting the one-line failure; return that line."""

    def run(main: CliMain, argv: list[str]) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exit_info.value.code == 2, err
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        return lines[0]

    return run


@pytest.fixture(scope="session")
def small_csv(sample_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 sample replies with their intents, as the CSV the prepare step reads."""
    path = tmp_path_factory.mktemp("small") / "replies.csv"
    pd.read_csv(sample_csv, nrows=600).to_csv(path, index=False)
    return path
