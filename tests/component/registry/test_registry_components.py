"""The registry's KFP components run by the real kfp.local runner against the S3 server."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl, local
from kfp.dsl import Model

from components.common.image import IMAGE
from components.registry import registry
from components.registry.component import promote_champion, register_model, resolve_model
from components.registry.config import RegistryConfig


@dsl.pipeline
def register_and_promote(model_uri: str, registry_root: str, model_name: str) -> str:
    imported = dsl.importer(artifact_uri=model_uri, artifact_class=Model)
    registered = register_model(
        model=imported.output,
        registry_root=registry_root,
        model_name=model_name,
        metadata={"f1": 0.9},
    )
    promote_champion(
        registry_root=registry_root,
        model_name=model_name,
        version=registered.outputs["version"],
    )
    return registered.outputs["version"]


@pytest.fixture
def local_runner(tmp_path: Path) -> None:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))


def test_register_promote_then_resolve_the_champion(
    local_runner: None, registry_root: str, model_dir: Path
) -> None:
    missing = resolve_model(registry_root=registry_root, model_name="intents")
    assert missing.outputs["found"] is False
    assert missing.outputs["uri"] == ""

    version = register_and_promote(
        model_uri=str(model_dir), registry_root=registry_root, model_name="intents"
    ).output

    assert registry.current_version(registry_root, "intents") == version
    assert registry.registration(registry_root, "intents", version)["metadata"]["f1"] == 0.9
    found = resolve_model(registry_root=registry_root, model_name="intents", required=True)
    assert found.outputs["found"] is True
    assert found.outputs["version"] == version
    assert found.outputs["uri"] == registry.version_uri(registry_root, "intents", version)
    # The champion is named, not copied: its files stay in the registry's immutable version.
    assert (
        found.outputs["content_sha256"]
        == registry.registration(registry_root, "intents", version)["content_sha256"]
    )
    assert version.endswith(found.outputs["content_sha256"][:12])


def test_signatures_mirror_the_config() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(RegistryConfig)}
    for component in (register_model, promote_champion, resolve_model):
        parameters = inspect.signature(component.python_func).parameters
        for name, default in defaults.items():
            if name in parameters:
                expected = inspect.Parameter.empty if default is dataclasses.MISSING else default
                assert parameters[name].default == expected, (component.name, name)


def test_components_compile_to_the_component_image(tmp_path: Path) -> None:
    for component in (register_model, promote_champion, resolve_model):
        path = tmp_path / f"{component.name}.yaml"
        compiler.Compiler().compile(component, str(path))
        spec = yaml.safe_load(path.read_text())
        (executor,) = spec["deploymentSpec"]["executors"].values()
        assert executor["container"]["image"] == IMAGE
