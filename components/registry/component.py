"""KFP components over the model registry: register a model, promote it, find the champion."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    registry_root: str,
    model_name: str,
    metadata: dict = {},  # noqa: B006 - KFP reads the default from the signature; never mutated
) -> NamedTuple("Outputs", [("version", str), ("uri", str)]):
    """Copy a fine-tuned model into the registry as a new version.

    Args:
        model: Model folder written by finetune_classifier (its manifest is verified first).
        registry_root: Local folder or s3://bucket/prefix that holds the registry.
        model_name: Name of the model in the registry.
        metadata: Extra facts kept with the version (the artifact's metadata is kept too).

    Returns:
        version: The registered version (the existing one if these files were registered before).
        uri: Folder or S3 prefix that holds the version's files.
    """
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.registry.kfp_io import register_component

    with one_line_errors():
        version, uri = register_component(model, registry_root, model_name, metadata)
    return namedtuple("Outputs", ["version", "uri"])(version, uri)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def promote_champion(
    registry_root: str, model_name: str, version: str, alias: str = "champion"
) -> str:
    """Point the champion alias at a version; run it only after that version was deployed.

    Args:
        registry_root: Local folder or s3://bucket/prefix that holds the registry.
        model_name: Name of the model in the registry.
        version: Registered version to promote (register_model's `version` output).
        alias: Alias to move.

    Returns:
        Output: The version the alias pointed at before ("" for the first champion).
    """
    from components.common.errors import one_line_errors
    from components.registry.kfp_io import promote_component

    with one_line_errors():
        return promote_component(registry_root, model_name, version, alias)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def resolve_model(
    registry_root: str,
    model_name: str,
    alias: str = "champion",
    required: bool = False,
    dataset: Input[Dataset] = None,
) -> NamedTuple(
    "Outputs", [("found", bool), ("version", str), ("uri", str), ("content_sha256", str)]
):
    """Find the version an alias points at (the model in production), without copying it.

    Args:
        registry_root: Local folder or s3://bucket/prefix that holds the registry.
        model_name: Name of the model in the registry.
        alias: Alias to resolve.
        required: Fail when the alias is not set; otherwise `found` is False.
        dataset: A Dataset of this run (prepare_dataset's train split); a champion for other
            labels then fails this step, in seconds, before anything is trained.

    Returns:
        found: Whether the alias points at a version.
        version: The version found ("" if none).
        uri: Folder or S3 prefix of the version found, immutable ("" if none).
        content_sha256: The version's content hash (of every model file; "" if none).
    """
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.registry.kfp_io import resolve_component

    with one_line_errors():
        found, version, uri, content = resolve_component(
            registry_root, model_name, alias, required, dataset
        )
    return namedtuple("Outputs", ["found", "version", "uri", "content_sha256"])(
        found, version, uri, content
    )
