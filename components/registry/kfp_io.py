"""Maps KFP artifacts (`.path`, `.metadata`) to the plain registry calls; no kfp import."""

import shutil
from pathlib import Path
from typing import Any

from components.common import uri
from components.common.artifacts import verify_manifest
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


def resolve_component(
    model: Any, registry_root: str, model_name: str, alias: str, required: bool
) -> tuple[bool, str, str]:
    """Copy the aliased version into the model artifact; `found` is False when there is none.

    With `required=False` a missing alias is not an error (a first run has no champion yet): the
    artifact is an empty folder and the pipeline branches on `found`.
    """
    config = RegistryConfig(registry_root=registry_root, model_name=model_name, alias=alias)
    target = Path(model.path)
    version = current_version(config.registry_root, config.model_name, config.alias)
    if version is None:
        if required:
            raise missing_alias_error(config.registry_root, config.model_name, config.alias)
        target.mkdir(parents=True, exist_ok=True)
        model.metadata.update({"found": False, "model_name": model_name, "alias": alias})
        return False, "", ""
    registration(config.registry_root, config.model_name, version)
    location = version_uri(config.registry_root, config.model_name, version)
    source = uri.download_dir(location, target)
    if source != target:
        shutil.copytree(source, target, dirs_exist_ok=True)
    verify_manifest(target)
    model.metadata.update(
        {
            "found": True,
            "model_name": model_name,
            "alias": alias,
            "version": version,
            "uri": location,
        }
    )
    return True, version, location
