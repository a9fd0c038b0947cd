"""Reading and writing files, objects and whole folders at any URI: local, `file://`, `s3://`.

Reading hands back a local file (an S3 object is downloaded to a temporary file first); writing
goes to a temporary local file that is committed only when the `with` block succeeds: renamed
into place locally, uploaded as one object to S3. A failure therefore never leaves a
half-written file or object behind.

A set of outputs (`atomic_outputs`, `upload_dir`) is published under a pending marker
(`.kfp_nlp_incomplete`, put in each target folder first and removed last). Every reader here
(`local_copy`, `download_dir`) refuses a file whose folder holds that marker, and a writer that
fails removes what it already wrote, so a set is seen whole or not at all, even when S3 fails
half-way or the writer is killed.

The parts: `components.common.locations` parses URIs; `components.common.s3` holds the S3
client, its retries and the errors S3 failures become (exit 2 for what the user must fix, exit
3 for an endpoint that kept failing).
"""

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from components.common.errors import KfpNlpError, OneLineError
from components.common.locations import folder_of, is_s3, join, local_path, parse_s3
from components.common.s3 import (
    read_object,
    s3_client,
    s3_error,
    s3_errors,
    transfer_config,
    upload,
)

PENDING = ".kfp_nlp_incomplete"


def read_bytes(uri: str) -> bytes:
    """The whole content of a (small) file or object; a body cut short is read again."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.is_file():
            raise KfpNlpError(f"{uri} does not exist; check the path")
        return path.read_bytes()
    location = parse_s3(uri)
    with s3_errors(uri):
        return read_object(location)


def _refuse_pending(folder: str, what: str) -> None:
    """A file of a set that is still being written, or whose writer died, is never read."""
    if exists(join(folder, PENDING)):
        raise KfpNlpError(
            f"{what} belongs to an output set that was not completely written ({PENDING} is "
            f"in {folder}: its writer failed or is still running); run the step that writes it "
            "again"
        )


def upload_file(path: Path, uri: str) -> None:
    """Copy one local file to an S3 object (no unfinished multipart upload stays behind) or to a
    local path (whole or not at all)."""
    if not is_s3(uri):
        with atomic_output(uri) as staged:
            shutil.copyfile(path, staged)
        return
    with s3_errors(uri):
        upload(path, parse_s3(uri))


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local file holding the object at `uri`; temporary for S3 objects."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.exists():
            raise KfpNlpError(f"{uri} does not exist; check the path")
        if not path.is_file():
            raise KfpNlpError(f"{uri} is not a file; name a file, not a folder")
        _refuse_pending(folder_of(uri), uri)
        yield path
        return
    location = parse_s3(uri)
    _refuse_pending(folder_of(uri), uri)
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-") as tmp:
        target = Path(tmp) / (Path(location.key).name or "object")
        with s3_errors(uri):
            s3_client().download_file(
                location.bucket, location.key, str(target), Config=transfer_config()
            )
        yield target


@contextlib.contextmanager
def atomic_output(uri: str) -> Iterator[Path]:
    """A temporary local path to write; it becomes `uri` only if the block succeeds."""
    if is_s3(uri):
        location = parse_s3(uri)
        with tempfile.TemporaryDirectory(prefix="kfp-nlp-") as tmp:
            staged = Path(tmp) / (Path(location.key).name or "object")
            yield staged
            upload_file(staged, uri)
        return
    final = local_path(uri)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer, threads included: two writers of one file never share a staging path.
    staged = final.with_name(f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield staged
        os.replace(staged, final)
    finally:
        if staged.exists():
            shutil.rmtree(staged) if staged.is_dir() else staged.unlink()


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return local_path(uri).exists()
    location = parse_s3(uri)
    try:
        s3_client().head_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise s3_error(uri, exc) from exc
    except BotoCoreError as exc:
        raise s3_error(uri, exc) from exc
    return True


def list_files(uri: str) -> list[str]:
    """Relative paths of every file under a folder or S3 prefix, sorted."""
    if not is_s3(uri):
        root = local_path(uri)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    location = parse_s3(uri)
    prefix = location.key.rstrip("/") + "/" if location.key else ""
    names: list[str] = []
    with s3_errors(uri):
        pages = s3_client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=location.bucket, Prefix=prefix):
            names.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
    return sorted(n for n in names if n and not n.endswith("/"))


def download_dir(uri: str, dest: Path) -> Path:
    """Copy every file under an S3 prefix into `dest` (a local folder is returned as is)."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.is_dir():
            raise KfpNlpError(f"{uri} is not a folder; name the folder that holds the files")
        _refuse_pending(uri, uri)
        return path
    names = list_files(uri)
    if not names:
        raise KfpNlpError(f"nothing found under {uri}; check the prefix")
    if PENDING in names:
        _refuse_pending(uri, uri)
    location = parse_s3(uri)
    prefix = location.key.rstrip("/")
    with s3_errors(uri):
        for name in names:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            key = f"{prefix}/{name}" if prefix else name
            s3_client().download_file(location.bucket, key, str(target), Config=transfer_config())
    return dest


def _put_pending(folder: str) -> None:
    marker = join(folder, PENDING)
    if is_s3(marker):
        location = parse_s3(marker)
        with s3_errors(marker):
            s3_client().put_object(Bucket=location.bucket, Key=location.key, Body=b"")
        return
    path = local_path(marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _remove(uri: str) -> None:
    if not is_s3(uri):
        local_path(uri).unlink(missing_ok=True)
        return
    location = parse_s3(uri)
    with s3_errors(uri):
        s3_client().delete_object(Bucket=location.bucket, Key=location.key)


def _commit(path: Path, target: str) -> None:
    """Make `target` hold the file at `path`: an upload to S3, a rename locally."""
    if is_s3(target):
        upload_file(path, target)
        return
    final = local_path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, final)


def _publish(files: list[tuple[Path, str]]) -> None:
    """Commit several files as one set under pending markers; on failure remove what was done.

    Targets that held an older set keep their folder's pending marker after a failure: the old
    set is already partly replaced and must not be read as whole.
    """
    folders = sorted({folder_of(target) for _, target in files})
    replaced = any(exists(target) for _, target in files)
    written: list[str] = []
    try:
        for folder in folders:
            _put_pending(folder)
        for path, target in files:
            _commit(path, target)
            written.append(target)
    except BaseException:
        # Files go before markers, so markers stay wherever a leftover could remain.
        with contextlib.suppress(OneLineError, OSError):
            for target in written:
                _remove(target)
            if not replaced:
                for folder in folders:
                    _remove(join(folder, PENDING))
        raise
    for folder in folders:
        _remove(join(folder, PENDING))


@contextlib.contextmanager
def atomic_outputs(targets: dict[str, str]) -> Iterator[dict[str, Path]]:
    """Temporary local paths to write, one per target; the targets appear together or not at all.

    Every reader here refuses a target while its set is incomplete (see the module docstring).
    """
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-set-") as tmp:
        staged: dict[str, Path] = {}
        for index, (name, target) in enumerate(targets.items()):
            if is_s3(target):
                staged[name] = Path(tmp) / f"{index}-{Path(parse_s3(target).key).name}"
                continue
            final = local_path(target)
            if final.is_dir():
                raise KfpNlpError(f"{target} is a folder; name a file path for the {name} output")
            final.parent.mkdir(parents=True, exist_ok=True)
            # Next to its target, so the commit is a rename within one filesystem.
            staged[name] = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
        try:
            yield staged
            _publish([(staged[name], target) for name, target in targets.items()])
        finally:
            for path in staged.values():
                path.unlink(missing_ok=True)


def upload_dir(src: Path, uri: str) -> None:
    """Copy every file of a local folder under `uri` (S3 prefix or local folder) as one set."""
    if not is_s3(uri):
        dest = local_path(uri)
        with atomic_output(str(dest)) as staged:
            shutil.copytree(src, staged)
        return
    files = sorted(p for p in src.rglob("*") if p.is_file())
    _publish([(path, join(uri, str(path.relative_to(src)))) for path in files])


def delete_tree(uri: str) -> None:
    """Remove a local folder or every object under an S3 prefix (nothing there is fine)."""
    if not is_s3(uri):
        shutil.rmtree(local_path(uri), ignore_errors=True)
        return
    location = parse_s3(uri)
    prefix = location.key.rstrip("/")
    names = list_files(uri)
    with s3_errors(uri):
        for start in range(0, len(names), 1000):
            keys = [{"Key": f"{prefix}/{n}" if prefix else n} for n in names[start : start + 1000]]
            s3_client().delete_objects(Bucket=location.bucket, Delete={"Objects": keys})
