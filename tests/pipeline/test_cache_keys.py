"""The compiled training pipeline's cache, replayed with kfp's own cache code.

No pipeline engine runs the steps here: the committed YAML is replayed task by task, in kfp.local's
order, and each task's cache key is computed and looked up by kfp itself, exactly as kfp.local's
task executor does with `local.init(enable_caching=True)`: the arguments come from
`OrchestratorUtils.make_task_arguments` over an `IOStore`, the key from
`kfp.local.cache.LocalCache.compute_key` (component, image, command and args, arguments, env), and
hits from that `LocalCache` on disk. The KFP backend's driver fingerprints the same ingredients in
Go (kubeflow/pipelines `backend/src/v2/cacheutils/cache.go`, `GenerateCacheKey`: input artifact
names, input parameter values, output specs, image, command and args, env, PVCs), which kfp's
Python package does not ship; both keys change exactly when a cached step's inputs do.

What the steps would do is modelled, not run: an executed task's output artifacts are new files
(as a run writes new artifacts), a cache hit reuses the stored ones, and the only steps whose
outputs are computed for real are the never-cached lookups: the real `snapshot_source` code on
the real table (local or on the loopback S3 server) and the real `resolve_model` on a registry
without a champion. The nested release DAG and `dsl.If` conditions are not replayed.
"""

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.dsl import executor
from kfp.local import graph_utils, io, utils
from kfp.local.cache import LocalCache
from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils
from kfp.pipeline_spec import pipeline_spec_pb2

from components.registry.component import resolve_model
from components.snapshot.component import snapshot_source
from pipelines.cli import COMPILED_DIR

CACHED_STEPS = ("prepare-dataset", "finetune-classifier", "evaluate-classifier")
# Components (by the function their container runs) whose outputs the replay computes for real.
REAL_STEPS: dict[str, Callable[..., Any]] = {
    "snapshot_source": snapshot_source.python_func,
    "resolve_model": resolve_model.python_func,
}


class Replay:
    """kfp.local's cache over one compiled pipeline, run after run."""

    def __init__(self, spec: dict[str, Any], root: Path):
        self.spec = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
        self.executors = {
            name: utils.struct_to_executor_spec(executor)
            for name, executor in self.spec.deployment_spec["executors"].items()
        }
        self.cache = LocalCache(str(root / "cache"))
        self.artifacts = root / "artifacts"
        self.ids = itertools.count(1)

    def _execute(self, component: Any, container: Any, arguments: dict[str, Any]) -> dict:
        """What a run of the task outputs: new artifacts and values, real ones for REAL_STEPS."""
        outputs: dict[str, Any] = {}
        definitions = component.output_definitions
        for name, definition in definitions.artifacts.items():
            path = self.artifacts / f"{next(self.ids)}-{name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
            outputs[name] = executor.create_artifact_instance(
                {
                    "name": name,
                    "uri": str(path),
                    "metadata": {},
                    "type": {"schemaTitle": definition.artifact_type.schema_title},
                }
            )
        for name in definitions.parameters:
            outputs[name] = f"value-{next(self.ids)}"
        args = list(container.args)
        function = args[args.index("--function_to_execute") + 1]
        if function in REAL_STEPS:
            parameters = {
                k: v for k, v in arguments.items() if k in component.input_definitions.parameters
            }
            result = REAL_STEPS[function](**parameters)
            named = getattr(result, "_fields", None)
            outputs.update(zip(named, result, strict=True) if named else {"Output": result})
        return outputs

    def run(self, params: dict[str, Any]) -> dict[str, bool]:
        """One pipeline run; returns, per task, whether kfp's cache served it."""
        root = self.spec.root
        store = io.IOStore()
        arguments = OrchestratorUtils.join_user_inputs_and_defaults(
            dag_arguments=params, dag_inputs_spec=root.input_definitions
        )
        for key, value in arguments.items():
            store.put_parent_input(key, value)
        hits = {}
        order = graph_utils.topological_sort_tasks(root.dag.tasks)
        while order:
            name = order.pop()
            task = root.dag.tasks[name]
            component = self.spec.components[task.component_ref.name]
            if component.WhichOneof("implementation") != "executor_label":
                continue
            container = self.executors[component.executor_label].container
            task_arguments = OrchestratorUtils.make_task_arguments(task.inputs, store)
            outputs = None
            if task.caching_options.enable_cache:
                key = self.cache.compute_key(
                    component_name=task.component_ref.name,
                    image=container.image,
                    full_command=list(container.command) + list(container.args),
                    arguments=task_arguments,
                    env_vars={env.name: env.value for env in container.env},
                    custom_cache_key=task.caching_options.cache_key or None,
                )
                outputs = self.cache.get(key)
            hits[name] = outputs is not None
            if outputs is None:
                outputs = self._execute(component, container, task_arguments)
                if task.caching_options.enable_cache:
                    self.cache.put(key, outputs)
            for output, value in outputs.items():
                store.put_task_output(name, output, value)
        return hits


def _weekly_runs(data_uri: str, write: Callable[[str], None], work: Path) -> list[dict[str, bool]]:
    spec = yaml.safe_load((COMPILED_DIR / "text_classifier_training.yaml").read_text())
    replay = Replay(spec, work)
    registry = work / "registry"
    params = {"data_uri": data_uri, "registry_uri": str(registry)}
    write("text,label\n" + "great product,positive\n" * 30 + "broken on arrival,complaint\n" * 30)
    first = replay.run(params)
    same = replay.run(params)
    write("text,label\n" + "great product,positive\n" * 40 + "broken on arrival,complaint\n" * 40)
    changed = replay.run(params)
    return [first, same, changed]


def _assert_content_addressed(runs: list[dict[str, bool]]) -> None:
    first, same, changed = runs
    for step in CACHED_STEPS:
        assert not first[step], step
        assert same[step], f"{step} ran again although the table did not change"
        assert not changed[step], f"{step} was served from the cache after the table changed"


def test_local_table_changed_behind_the_same_path_misses_the_cache(tmp_path: Path):
    table = tmp_path / "latest.csv"
    _assert_content_addressed(_weekly_runs(str(table), table.write_text, tmp_path))


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
    _assert_content_addressed(_weekly_runs(data_uri, write, tmp_path))


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
