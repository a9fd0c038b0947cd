"""Fixtures for submit and schedule: the KFP API stand-in and a compiled tiny pipeline."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp import compiler
from kfp_standin import KfpStandIn, serve, tiny_pipeline


@pytest.fixture
def kfp_api() -> Iterator[KfpStandIn]:
    """The KFP API stand-in, listening on a free port of 127.0.0.1."""
    state = KfpStandIn()
    server = serve(state)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def compiled_dir(tmp_path: Path) -> Path:
    """A folder holding tiny-pipeline.yaml, compiled the way `kfp-nlp compile` compiles."""
    folder = tmp_path / "compiled"
    folder.mkdir()
    compiler.Compiler().compile(tiny_pipeline, str(folder / "tiny-pipeline.yaml"))
    return folder
