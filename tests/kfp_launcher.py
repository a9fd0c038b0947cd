"""Run a compiled component's container command the way the KFP launcher runs it in a pod.

The launcher substitutes the executor input (artifact URIs, parameter values, output files) for
`{{$}}` in the container args from the compiled YAML and runs the command; a retry or a
rescheduled pod runs the same command with the same executor input again. Here the command runs
as a local process with this virtualenv's `python3` first on PATH (the image's interpreter on a
cluster), and artifact URIs are local paths, which the KFP SDK uses as paths unchanged. Not
exercised: the launcher's own upload of outputs to the pipeline root and its MLMD records.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = REPO / "pipelines" / "compiled" / "components"


def _artifact(uri: str, schema: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "artifacts": [
            {"name": "", "type": {"schemaTitle": schema}, "uri": uri, "metadata": metadata or {}}
        ]
    }


def command(
    component: str,
    outputs: Path,
    parameters: dict[str, Any],
    artifacts: dict[str, tuple[str, str]] | None = None,
) -> list[str]:
    """The command line of compiled component `component` (e.g. "prepare_dataset") for these
    inputs; `artifacts` maps an input name to (uri, schema title); outputs go under `outputs`."""
    spec = yaml.safe_load((COMPONENTS / f"{component}.yaml").read_text())
    (container,) = (e["container"] for e in spec["deploymentSpec"]["executors"].values())
    (definition,) = spec["components"].values()
    declared = definition.get("outputDefinitions", {})
    executor_input = {
        "inputs": {
            "parameterValues": parameters,
            "artifacts": {
                name: _artifact(uri, schema) for name, (uri, schema) in (artifacts or {}).items()
            },
        },
        "outputs": {
            "artifacts": {
                name: _artifact(str(outputs / name), d["artifactType"]["schemaTitle"])
                for name, d in declared.get("artifacts", {}).items()
            },
            "parameters": {
                name: {"outputFile": str(outputs / "parameters" / name)}
                for name in declared.get("parameters", {})
            },
            "outputFile": str(outputs / "executor_output.json"),
        },
    }
    document = json.dumps(executor_input)
    return container["command"] + [arg.replace("{{$}}", document) for arg in container["args"]]


def environment() -> dict[str, str]:
    """This environment with the virtualenv's interpreter as `python3`, as in the image."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def start(cmd: list[str]) -> subprocess.Popen:
    """Start the step in its own process group (a pod: killing it kills everything in it)."""
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
