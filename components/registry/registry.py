"""A small model registry on a local folder or an S3 prefix: versions, aliases and history.

Layout under a registry root (a local folder or `s3://bucket/prefix`):

    <model>/versions/<version>/...                   the model folder as registered
    <model>/versions/<version>/registration.json     written last: a version without it is
                                                     incomplete (an upload that died) and ignored
    <model>/aliases/<alias>.json                     the version an alias points at, replaced in
                                                     one write (one PUT on S3, a rename locally)
    <model>/history/<time>-<id>.json                 one object per event, never rewritten, so
                                                     concurrent writers never lose an entry

A version is named `<UTC time>-<content hash>`: names sort by registration time, two writers
never race for a counter, and registering the same model files again returns the version that
already holds them. A recurring pipeline run finds the model in production with
`resolve(root, name)` (the `champion` alias), and moves the alias with `set_alias` only after the
new model was deployed.
"""

import contextlib
import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

from components.common import uri
from components.common.artifacts import REGISTRATION, content_sha256, verify_manifest
from components.common.errors import KfpNlpError, OneLineError

CHAMPION = "champion"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{12}$")


def check_name(value: str, what: str) -> str:
    """`value` if it is a valid model or alias name, else a KfpNlpError saying what to use."""
    if not _NAME.match(value or ""):
        raise KfpNlpError(
            f"{what} {value!r} is not valid; use 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return value


def check_version(value: str) -> str:
    if not _VERSION.match(value or ""):
        raise KfpNlpError(
            f"version {value!r} is not a registry version; versions look like "
            "20260101-120000-0123456789ab (see `python -m components.registry versions`)"
        )
    return value


def version_uri(root: str, name: str, version: str) -> str:
    """The folder (or S3 prefix) that holds one registered version's files."""
    return uri.join(root, check_name(name, "model name"), "versions", check_version(version))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _read_json(location: str) -> dict[str, Any]:
    with uri.local_copy(location) as path:
        return json.loads(path.read_text())


def _write_json(location: str, record: dict[str, Any]) -> None:
    with uri.atomic_output(location) as path:
        path.write_text(json.dumps(record, indent=2, sort_keys=True))


def _record(root: str, name: str, event: dict[str, Any]) -> None:
    """Append one history event as its own object; no existing entry is ever rewritten."""
    now = _now()
    key = f"{now.strftime('%Y%m%d-%H%M%S-%f')}-{uuid.uuid4().hex[:8]}.json"
    _write_json(uri.join(root, name, "history", key), {"at": now.isoformat(), **event})


def list_versions(root: str, name: str) -> list[str]:
    """The complete versions of model `name`, oldest first (unfinished uploads are left out)."""
    names = uri.list_files(uri.join(root, check_name(name, "model name"), "versions"))
    return sorted(
        parts[0]
        for parts in (n.split("/") for n in names)
        if len(parts) == 2 and parts[1] == REGISTRATION and _VERSION.match(parts[0])
    )


def registration(root: str, name: str, version: str) -> dict[str, Any]:
    """What was recorded when `version` was registered (metadata, provenance, content hash)."""
    location = uri.join(version_uri(root, name, version), REGISTRATION)
    if not uri.exists(location):
        known = ", ".join(list_versions(root, name)[-5:]) or "none"
        raise KfpNlpError(
            f"version {version} of model {name!r} is not registered under {root}; "
            f"pick a registered version (latest: {known})"
        )
    return _read_json(location)


def register_version(
    root: str, name: str, model_dir: Path, metadata: dict[str, Any] | None = None
) -> str:
    """Copy a model folder into the registry as a new version and return the version name.

    The folder must carry a valid `kfp_nlp_manifest.json` (every file is checked against it).
    Registering files that are already registered returns the existing version.
    """
    check_name(name, "model name")
    manifest = verify_manifest(model_dir)
    content = content_sha256(manifest)
    for version in list_versions(root, name):
        if registration(root, name, version)["content_sha256"] == content:
            return version
    now = _now()
    version = f"{now.strftime('%Y%m%d-%H%M%S')}-{content[:12]}"
    target = version_uri(root, name, version)
    # The files go up as one set (removed again if the upload fails); registration.json goes
    # last and makes the version visible.
    uri.upload_dir(model_dir, target)
    try:
        _write_json(
            uri.join(target, REGISTRATION),
            {
                "model": name,
                "version": version,
                "content_sha256": content,
                "registered_at": now.isoformat(),
                "metadata": metadata or {},
                "provenance": manifest.get("provenance", {}),
            },
        )
    except BaseException:
        with contextlib.suppress(OneLineError, OSError):
            uri.delete_tree(target)
        raise
    _record(root, name, {"event": "registered", "version": version, "metadata": metadata or {}})
    return version


def current_version(root: str, name: str, alias: str = CHAMPION) -> str | None:
    """The version `alias` points at, or None when the alias was never set."""
    location = uri.join(root, check_name(name, "model name"), "aliases", f"{alias}.json")
    if not uri.exists(location):
        return None
    return _read_json(location)["version"]


def set_alias(root: str, name: str, alias: str, version: str) -> dict[str, Any]:
    """Point `alias` at a registered version in one atomic write, and record it in the history."""
    check_name(alias, "alias")
    registration(root, name, version)
    previous = current_version(root, name, alias)
    record = {
        "alias": alias,
        "version": version,
        "previous": previous,
        "updated_at": _now().isoformat(),
    }
    _write_json(uri.join(root, name, "aliases", f"{alias}.json"), record)
    _record(
        root,
        name,
        {"event": "alias_set", "alias": alias, "version": version, "previous": previous},
    )
    return record


def missing_alias_error(root: str, name: str, alias: str) -> KfpNlpError:
    """The error that says why `alias` of model `name` points at nothing, and what to do."""
    if not list_versions(root, name):
        return KfpNlpError(
            f"no model named {name!r} is registered under {root}; register one first "
            "(register_model, or python -m components.registry register)"
        )
    return KfpNlpError(
        f"model {name!r} under {root} has no {alias!r} alias yet; promote a version "
        "(promote_champion, or python -m components.registry promote)"
    )


def resolve(root: str, name: str, alias: str = CHAMPION) -> str:
    """The URI of the version folder `alias` points at; a KfpNlpError says why there is none."""
    version = current_version(root, name, check_name(alias, "alias"))
    if version is None:
        raise missing_alias_error(root, name, alias)
    registration(root, name, version)
    return version_uri(root, name, version)


def history(root: str, name: str) -> list[dict[str, Any]]:
    """Every registration and alias change of model `name`, oldest first."""
    folder = uri.join(root, check_name(name, "model name"), "history")
    keys = [key for key in uri.list_files(folder) if not key.startswith(".")]
    return [_read_json(uri.join(folder, key)) for key in keys]
