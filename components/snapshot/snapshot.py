"""The identity of the content behind a URI, cheap to compute and changing when the content does.

KFP caches a step by its spec, its parameter values and its input artifacts' identities, never by
the bytes behind a URI. A recurring run that reads a mutable location (`s3://.../latest.csv`)
therefore needs the content's identity as a parameter of the steps that read it:

- an S3 object in a versioned bucket: its VersionId (a new one for every write);
- an S3 object in an unversioned bucket: ETag, size and LastModified (no object is read);
- an S3 prefix (a folder of files, e.g. a model): the list of those three facts for every object;
- a local file: the sha256 of its bytes; a local folder: the sha256 of every file.

`snapshot` returns the identity as a plain record; `fingerprint` condenses it to one string.
"""

import hashlib
import json
from typing import Any

from components.common import uri
from components.common.artifacts import sha256_file
from components.common.errors import KfpNlpError
from components.common.locations import S3Location


def _s3_object(location: S3Location, head: dict[str, Any]) -> dict[str, Any]:
    version = head.get("VersionId")
    if version and version != "null":
        return {"kind": "s3-version", "key": location.key, "version_id": version}
    return {
        "kind": "s3-object",
        "key": location.key,
        "etag": head["ETag"],
        "size": head["ContentLength"],
        "last_modified": head["LastModified"].isoformat(),
    }


def _s3_prefix(location_uri: str) -> dict[str, Any]:
    location = uri.parse_s3(location_uri)
    prefix = location.key.rstrip("/") + "/" if location.key.strip("/") else ""
    objects = []
    with uri.s3_errors(location_uri):
        pages = uri.s3_client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=location.bucket, Prefix=prefix):
            objects.extend(
                [
                    obj["Key"][len(prefix) :],
                    obj["ETag"],
                    obj["Size"],
                    obj["LastModified"].isoformat(),
                ]
                for obj in page.get("Contents", [])
                if not obj["Key"].endswith("/")
            )
    if not objects:
        raise KfpNlpError(f"nothing found at {location_uri}; check the bucket, key or prefix")
    return {"kind": "s3-prefix", "prefix": prefix, "objects": sorted(objects)}


def _s3(location_uri: str) -> dict[str, Any]:
    location = uri.parse_s3(location_uri)
    # A key that names an object is that object; anything else is read as a prefix.
    if location.key and not location.key.endswith("/") and uri.exists(location_uri):
        with uri.s3_errors(location_uri):
            head = uri.s3_client().head_object(Bucket=location.bucket, Key=location.key)
        return {"bucket": location.bucket, **_s3_object(location, head)}
    return {"bucket": location.bucket, **_s3_prefix(location_uri)}


def _local(location_uri: str) -> dict[str, Any]:
    path = uri.local_path(location_uri)
    if path.is_file():
        return {"kind": "file-sha256", "sha256": sha256_file(path)}
    if path.is_dir():
        files = [
            [str(p.relative_to(path)), sha256_file(p)]
            for p in sorted(path.rglob("*"))
            if p.is_file()
        ]
        if files:
            return {"kind": "folder-sha256", "files": files}
        raise KfpNlpError(f"{location_uri} is an empty folder; point at the data or model files")
    raise KfpNlpError(f"{location_uri} does not exist; check the path")


def snapshot(location_uri: str) -> dict[str, Any]:
    """The identity of what `location_uri` (local path, file:// or s3://) holds right now.

    The location itself is part of the identity: the same bytes at another URI are another input.
    """
    if not location_uri:
        raise KfpNlpError("the location to snapshot is empty; pass a local path or s3:// URI")
    content = _s3(location_uri) if uri.is_s3(location_uri) else _local(location_uri)
    return {"uri": location_uri, **content}


def fingerprint(identity: dict[str, Any]) -> str:
    """One short string for an identity record: `sha256:<hex>` of its canonical JSON."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def snapshot_fingerprint(location_uri: str) -> str:
    """`fingerprint(snapshot(location_uri))`, or "" for an empty location (nothing to read)."""
    return fingerprint(snapshot(location_uri)) if location_uri else ""


def describe(identity: dict[str, Any]) -> str:
    """One line for logs: where, and what pins the content."""
    kind = identity["kind"]
    if kind == "s3-version":
        detail = f"version {identity['version_id']}"
    elif kind == "s3-object":
        detail = f"ETag {identity['etag']}, {identity['size']} bytes, {identity['last_modified']}"
    elif kind == "file-sha256":
        detail = f"sha256 {identity['sha256'][:16]}"
    else:
        count = len(identity.get("objects") or identity.get("files") or [])
        detail = f"{count} files"
    return f"{identity['uri']}: {kind} ({detail})"
