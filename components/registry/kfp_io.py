"""Maps KFP artifacts (`.path`, `.metadata`) to the plain registry calls; no kfp import."""

import json
from pathlib import Path
from typing import Any

from components.common import uri
from components.common.artifacts import dataset_metadata
from components.common.errors import KfpNlpError
from components.registry.config import RegistryConfig
from components.registry.registry import (
    current_version,
    missing_alias_error,
    register_version,
    registration,
    set_alias,
    version_uri,
)


def register_component(
    model: Any, registry_root: str, model_name: str, metadata: dict[str, Any] | None
) -> tuple[str, str]:
    """Register the model artifact's folder; its artifact metadata is kept with the version."""
    config = RegistryConfig(registry_root=registry_root, model_name=model_name)
    facts = {**dict(model.metadata or {}), **(metadata or {})}
    version = register_version(config.registry_root, config.model_name, Path(model.path), facts)
    return version, version_uri(config.registry_root, config.model_name, version)


def promote_component(registry_root: str, model_name: str, version: str, alias: str) -> str:
    """Point the alias at `version`; returns the version it pointed at before ("" if none)."""
    config = RegistryConfig(registry_root=registry_root, model_name=model_name, alias=alias)
    record = set_alias(config.registry_root, config.model_name, config.alias, version)
    return record["previous"] or ""


def _labels_of(location: str) -> tuple[list[str], bool]:
    """The labels and multi-label flag of the registered model at `location`, from its config."""
    with uri.local_copy(uri.join(location, "config.json")) as path:
        config = json.loads(path.read_text())
    id2label = config.get("id2label") or {}
    labels = [id2label[key] for key in sorted(id2label, key=int)]
    return labels, config.get("problem_type") == "multi_label_classification"


def check_comparable(location: str, model_name: str, dataset_path: Path) -> None:
    """Fail, in seconds and before any training, when the champion at `location` cannot be
    compared with a model trained on the Dataset at `dataset_path` (other labels or task)."""
    facts = dataset_metadata(dataset_path)
    if not facts.get("labels"):
        return
    labels, multi_label = _labels_of(location)
    theirs = "multi-label" if multi_label else "single-label"
    ours = "multi-label" if facts.get("multi_label") else "single-label"
    if set(labels) != set(facts["labels"]) or theirs != ours:
        raise KfpNlpError(
            f"the champion of model {model_name!r} ({location}) is a {theirs} model for other "
            f"labels ({', '.join(sorted(labels))}) than this data ({ours}: "
            f"{', '.join(sorted(facts['labels']))}); it cannot be compared, so nothing was "
            "trained: pass a model_name of its own for this task"
        )


def resolve_component(
    registry_root: str, model_name: str, alias: str, required: bool, dataset: Any = None
) -> tuple[bool, str, str, str]:
    """The aliased version: (found, version, URI, content sha256), read from the registry
    without copying the model. With `dataset` (a Dataset artifact of this run), a champion for
    other labels is an error here, before fine-tuning.

    With `required=False` a missing alias is not an error (a first run has no champion yet):
    `found` is False and the other values are empty.
    """
    config = RegistryConfig(registry_root=registry_root, model_name=model_name, alias=alias)
    version = current_version(config.registry_root, config.model_name, config.alias)
    if version is None:
        if required:
            raise missing_alias_error(config.registry_root, config.model_name, config.alias)
        print(f"no {alias!r} version of model {model_name!r} under {registry_root} yet")
        return False, "", "", ""
    record = registration(config.registry_root, config.model_name, version)
    location = version_uri(config.registry_root, config.model_name, version)
    if dataset is not None:
        check_comparable(location, model_name, Path(dataset.path))
    print(f"{alias} of model {model_name!r}: version {version} at {location}")
    return True, version, location, record["content_sha256"]
