"""Shared pieces of the fault battery: running a command line in-process, small inputs.

The battery's faults are real: S3 faults come from the fault-injecting proxy in front of the
loopback S3 server (tests/conftest.py), kills are SIGKILL of real processes, corrupted models
are damaged files on disk.
"""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from components.common.artifacts import write_manifest
from components.common.errors import run_cli

CliMain = Callable[[list[str] | None], object]


@pytest.fixture
def run_failing(capsys: pytest.CaptureFixture) -> Callable[..., str]:
    """Run a command line in-process expecting the one-line failure with exit status `code`
    (2: bad input, 3: a service kept failing); return that line."""

    def run(main: CliMain, argv: list[str], code: int = 2) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exit_info.value.code == code, err
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        return lines[0]

    return run


@pytest.fixture(scope="session")
def small_csv(sample_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 sample replies with their intents, as the CSV the prepare step reads."""
    path = tmp_path_factory.mktemp("small") / "replies.csv"
    pd.read_csv(sample_csv, nrows=600).to_csv(path, index=False)
    return path


@pytest.fixture
def make_model_folder() -> Callable[[Path, int], Path]:
    """Makes a model folder with a manifest whose weights (real safetensors) take `mib` MiB."""

    def make(folder: Path, mib: int = 12) -> Path:
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"id2label": {"0": "no", "1": "yes"}}')
        weights = torch.arange(mib * 1024 * 1024, dtype=torch.int64).to(torch.uint8)
        save_file({"classifier.weight": weights}, str(folder / "model.safetensors"))
        write_manifest(folder, {"task": "single_label"})
        return folder

    return make
