"""The compiled training pipeline's cache keys, computed the way the KFP backend computes them.

No KFP backend runs here, so this test replays its caching on the committed YAML: for every
task of the root DAG, in order, it builds the fields of kubeflow/pipelines' `cache_key.proto`
as `backend/src/v2/cacheutils/cache.go` fills them (input artifact names, input parameter
values, output artifact and parameter specs, container image and command/args), hashes them,
and serves the task from the cache when caching is on and an earlier run stored that key.

What the backend would do is modelled, not run: an executed task's output artifacts get a new
identity (as the backend's MLMD gives a new artifact), a cache hit reuses the stored ones, and
the only steps whose outputs are computed for real are the never-cached lookups: the real
`snapshot_source` code on the real table (local or on the loopback S3 server) and the real
`resolve_model` on a registry without a champion. The nested
release DAG and `dsl.If` conditions are not replayed.
"""

import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.registry.component import resolve_model
from components.snapshot.component import snapshot_source
from pipelines.cli import COMPILED_DIR

pytestmark = pytest.mark.pipeline

CACHED_STEPS = ("prepare-dataset", "finetune-classifier", "evaluate-classifier")
# Components (by the function their container runs) whose outputs the replay computes for real.
REAL_STEPS: dict[str, Callable[..., Any]] = {
    "snapshot_source": snapshot_source.python_func,
    "resolve_model": resolve_model.python_func,
}


def _order(tasks: dict[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(tasks):
        for name, task in tasks.items():
            if name not in done and all(d in done for d in task.get("dependentTasks", [])):
                done.append(name)
    return done


class Backend:
    """The KFP backend's cache, replayed over one compiled pipeline."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.cache: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)

    def _parameters(
        self, task: dict[str, Any], component: dict[str, Any], run: dict[str, Any]
    ) -> dict[str, Any]:
        values = {
            name: d["defaultValue"]
            for name, d in component.get("inputDefinitions", {}).get("parameters", {}).items()
            if "defaultValue" in d
        }
        for name, source in task.get("inputs", {}).get("parameters", {}).items():
            if "componentInputParameter" in source:
                values[name] = run["params"][source["componentInputParameter"]]
            elif "taskOutputParameter" in source:
                ref = source["taskOutputParameter"]
                values[name] = run["outputs"][ref["producerTask"]][ref["outputParameterKey"]]
            else:
                values[name] = source["runtimeValue"]["constant"]
        return values

    def cache_key(
        self, task: dict[str, Any], run: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any], str]:
        component = self.spec["components"][task["componentRef"]["name"]]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        container = executor["container"]
        parameters = self._parameters(task, component, run)
        artifacts = {}
        for name, source in task.get("inputs", {}).get("artifacts", {}).items():
            ref = source["taskOutputArtifact"]
            artifacts[name] = {
                "artifactNames": [run["outputs"][ref["producerTask"]][ref["outputArtifactKey"]]]
            }
        outputs = component.get("outputDefinitions", {})
        key = {
            "inputArtifactNames": artifacts,
            "inputParameterValues": parameters,
            # The URI is wiped: an output's name, type and metadata only.
            "outputArtifactsSpec": {
                name: {"type": d["artifactType"]}
                for name, d in outputs.get("artifacts", {}).items()
            },
            "outputParametersSpec": {
                name: d["parameterType"] for name, d in outputs.get("parameters", {}).items()
            },
            "containerSpec": {
                "image": container["image"],
                "cmdArgs": container.get("command", []) + container.get("args", []),
            },
        }
        canonical = json.dumps(key, sort_keys=True, separators=(",", ":"))
        args = container.get("args", [])
        function = args[args.index("--function_to_execute") + 1]
        return hashlib.sha256(canonical.encode()).hexdigest(), component, parameters, function

    def _execute(self, function: str, component: dict[str, Any], parameters: dict) -> dict:
        outputs: dict[str, Any] = {}
        definitions = component.get("outputDefinitions", {})
        for name in definitions.get("artifacts", {}):
            outputs[name] = f"artifact-{next(self.ids)}"
        for name in definitions.get("parameters", {}):
            outputs[name] = f"value-{next(self.ids)}"
        if function in REAL_STEPS:
            result = REAL_STEPS[function](**parameters)
            named = getattr(result, "_fields", None)
            outputs.update(zip(named, result, strict=True) if named else {"Output": result})
        return outputs

    def run(self, params: dict[str, Any]) -> dict[str, bool]:
        """One pipeline run; returns, per task, whether it was served from the cache."""
        root = self.spec["root"]
        defaults = {
            name: d["defaultValue"]
            for name, d in root["inputDefinitions"]["parameters"].items()
            if "defaultValue" in d
        }
        run: dict[str, Any] = {"params": {**defaults, **params}, "outputs": {}}
        hits = {}
        tasks = root["dag"]["tasks"]
        for name in _order(tasks):
            task = tasks[name]
            component = self.spec["components"][task["componentRef"]["name"]]
            if "executorLabel" not in component:
                continue
            key, component, parameters, function = self.cache_key(task, run)
            cached = task.get("cachingOptions", {}).get("enableCache", False)
            hits[name] = cached and key in self.cache
            if hits[name]:
                run["outputs"][name] = self.cache[key]
            else:
                outputs = self._execute(function, component, parameters)
                run["outputs"][name] = outputs
                self.cache[key] = outputs
        return hits


def _weekly_runs(
    data_uri: str, write: Callable[[str], None], registry: Path
) -> list[dict[str, bool]]:
    spec = yaml.safe_load((COMPILED_DIR / "text_classifier_training.yaml").read_text())
    backend = Backend(spec)
    params = {"data_uri": data_uri, "registry_uri": str(registry)}
    write("text,label\n" + "great product,positive\n" * 30 + "broken on arrival,complaint\n" * 30)
    first = backend.run(params)
    same = backend.run(params)
    write("text,label\n" + "great product,positive\n" * 40 + "broken on arrival,complaint\n" * 40)
    changed = backend.run(params)
    return [first, same, changed]


def _assert_content_addressed(runs: list[dict[str, bool]]) -> None:
    first, same, changed = runs
    for step in CACHED_STEPS:
        assert not first[step], step
        assert same[step], f"{step} ran again although the table did not change"
        assert not changed[step], f"{step} was served from the cache after the table changed"


def test_local_table_changed_behind_the_same_path_misses_the_cache(tmp_path: Path):
    table = tmp_path / "latest.csv"
    _assert_content_addressed(_weekly_runs(str(table), table.write_text, tmp_path / "registry"))


@pytest.mark.parametrize("versioned", [False, True], ids=["etag", "version-id"])
def test_s3_object_replaced_behind_the_same_key_misses_the_cache(
    s3_bucket: str, versioned: bool, tmp_path: Path
):
    from components.common.uri import s3_client

    if versioned:
        s3_client().put_bucket_versioning(
            Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
        )

    def write(text: str) -> None:
        s3_client().put_object(Bucket=s3_bucket, Key="replies/latest.csv", Body=text.encode())

    data_uri = f"s3://{s3_bucket}/replies/latest.csv"
    _assert_content_addressed(_weekly_runs(data_uri, write, tmp_path / "registry"))


def test_batch_scoring_never_serves_predictions_from_the_cache():
    # Scoring reads a table that may change behind the same URI and writes output_uri as a side
    # effect; a cache hit would skip both.
    spec = yaml.safe_load((COMPILED_DIR / "batch_scoring.yaml").read_text())
    scoring = [
        task
        for component in spec["components"].values()
        for name, task in component.get("dag", {}).get("tasks", {}).items()
        if name.startswith("batch-predict")
    ]
    assert len(scoring) == 2
    assert not any(task["cachingOptions"].get("enableCache") for task in scoring)
