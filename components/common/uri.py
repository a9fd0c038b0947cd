"""One URI layer for local paths, `file://` and `s3://`.

Reading hands back a local file (an S3 object is downloaded to a temporary file first); writing
goes to a temporary local file that is committed only when the `with` block succeeds: renamed
into place locally, uploaded as one object to S3. A failure therefore never leaves a
half-written file or object behind.

A set of outputs (`atomic_outputs`, `upload_dir`) is published under a pending marker
(`.kfp_nlp_incomplete`, put in each target folder first and removed last). Every reader here
(`local_copy`, `download_dir`) refuses a file whose folder holds that marker, and a writer that
fails removes what it already wrote, so a set is seen whole or not at all, even when S3 fails
half-way or the writer is killed.

S3 goes through boto3 with the standard retry mode; a connection cut in the middle of a body is
retried like a 503. Objects from `KFP_NLP_S3_MULTIPART_MB` MiB (default 64) upload in parts, and
every unfinished multipart upload of the key is aborted afterwards, whether the upload worked or
not: an upload whose CreateMultipartUpload answer was lost and retried leaves no parts behind.
The endpoint comes from `AWS_ENDPOINT_URL` (MinIO, a loopback test server); credentials from
boto3's usual chain (IRSA on a cluster).
"""

import contextlib
import functools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from components.common.errors import KfpNlpError

S3_MAX_ATTEMPTS = 5
PENDING = ".kfp_nlp_incomplete"
MULTIPART_MB_ENV = "KFP_NLP_S3_MULTIPART_MB"
# A body cut short after the headers arrived: botocore does not retry these by itself.
_BODY_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
)


def _transfer() -> TransferConfig:
    threshold = int(float(os.environ.get(MULTIPART_MB_ENV, "64")) * 1024 * 1024)
    return TransferConfig(multipart_threshold=threshold, use_threads=False)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def parse_s3(uri: str) -> S3Location:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise KfpNlpError(f"{uri!r} is not an S3 URI; write it as s3://BUCKET/KEY")
    return S3Location(parsed.netloc, parsed.path.lstrip("/"))


def local_path(uri: str) -> Path:
    """The local path a non-S3 URI names (`file:///x`, `/x` or a relative path)."""
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        scheme = uri.split("://", 1)[0]
        raise KfpNlpError(
            f"unsupported URI scheme {scheme!r} in {uri!r}; use a local path, file:// or s3://"
        )
    return Path(uri)


def join(uri: str, *parts: str) -> str:
    """`uri` with path parts appended, for S3 prefixes and local folders alike."""
    if is_s3(uri):
        return "/".join([uri.rstrip("/"), *parts])
    return str(local_path(uri).joinpath(*parts))


@functools.lru_cache(maxsize=8)
def _s3_client_for(endpoint: str | None, max_attempts: int):
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def s3_client():
    """A boto3 S3 client for the endpoint in `AWS_ENDPOINT_URL` (AWS itself when unset)."""
    return _s3_client_for(os.environ.get("AWS_ENDPOINT_URL") or None, _attempts())


def _attempts() -> int:
    return int(os.environ.get("AWS_MAX_ATTEMPTS", S3_MAX_ATTEMPTS))


def _s3_error(uri: str, exc: Exception) -> KfpNlpError:
    """Turn a boto3 failure into a one-line message that says what to do."""
    if isinstance(exc, Boto3Error):
        # boto3's transfer manager wraps the client error it gave up on.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError | BotoCoreError):
            return _s3_error(uri, cause)
        return KfpNlpError(
            f"the transfer of {uri} failed ({str(exc).splitlines()[0]}); check the object "
            "store's health or AWS_ENDPOINT_URL and run again"
        )
    if isinstance(exc, NoCredentialsError):
        return KfpNlpError(
            f"no AWS credentials to read or write {uri}; on a cluster run the step with an "
            "IRSA service account; locally set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "404", "NotFound"):
            return KfpNlpError(f"{uri} does not exist; check the bucket and key")
        if code == "NoSuchBucket":
            return KfpNlpError(f"the bucket of {uri} does not exist; check the bucket name")
        if code in ("AccessDenied", "403", "Forbidden"):
            return KfpNlpError(
                f"access to {uri} was denied; give the role the step runs as s3:GetObject, "
                "s3:PutObject and s3:ListBucket on it"
            )
        if status >= 500:
            # Fewer attempts than configured when boto3's retry quota ran out under many faults.
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            answer = f"HTTP {status}" + (f" {code}" if code != str(status) else "")
            return KfpNlpError(
                f"the S3 endpoint kept failing for {uri} ({answer} after {attempts} "
                "attempts); check the object store's health or AWS_ENDPOINT_URL and run again"
            )
        return KfpNlpError(f"S3 refused the request for {uri}: {code} {error.get('Message', '')}")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "the AWS default endpoint")
    return KfpNlpError(
        f"cannot reach S3 at {endpoint} for {uri} ({type(exc).__name__}); "
        "check AWS_ENDPOINT_URL and the network, then run again"
    )


@contextlib.contextmanager
def s3_errors(uri: str) -> Iterator[None]:
    """Translate boto3 failures inside the block into KfpNlpError."""
    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        raise _s3_error(uri, exc) from exc


def read_bytes(uri: str) -> bytes:
    """The whole content of a (small) file or object; a body cut short is read again."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.is_file():
            raise KfpNlpError(f"{uri} does not exist; check the path")
        return path.read_bytes()
    location = parse_s3(uri)
    attempts = _attempts()
    with s3_errors(uri):
        for attempt in range(attempts):
            body = s3_client().get_object(Bucket=location.bucket, Key=location.key)["Body"]
            try:
                return body.read()
            except _BODY_ERRORS:
                if attempt == attempts - 1:
                    raise
                time.sleep(min(0.1 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


def _folder(uri: str) -> str:
    """The folder or S3 prefix that holds `uri`."""
    if is_s3(uri):
        return uri.rstrip("/").rsplit("/", 1)[0]
    return str(local_path(uri).parent)


def _refuse_pending(folder: str, what: str) -> None:
    """A file of a set that is still being written, or whose writer died, is never read."""
    if exists(join(folder, PENDING)):
        raise KfpNlpError(
            f"{what} belongs to an output set that was not completely written ({PENDING} is "
            f"in {folder}: its writer failed or is still running); run the step that writes it "
            "again"
        )


def _upload(path: Path, location: S3Location) -> None:
    """Upload one file, then abort any multipart upload of its key that is still open."""
    config = _transfer()
    try:
        s3_client().upload_file(str(path), location.bucket, location.key, Config=config)
    except Exception:
        if path.stat().st_size >= config.multipart_threshold:
            with contextlib.suppress(ClientError, BotoCoreError, KfpNlpError):
                _abort_uploads(location, exact=True)
        raise
    if path.stat().st_size >= config.multipart_threshold:
        _abort_uploads(location, exact=True)


def upload_file(path: Path, uri: str) -> None:
    """Upload one local file to an S3 object (no unfinished multipart upload stays behind)."""
    with s3_errors(uri):
        _upload(path, parse_s3(uri))


def _abort_uploads(location: S3Location, exact: bool) -> int:
    client = s3_client()
    aborted = 0
    pages = client.get_paginator("list_multipart_uploads")
    for page in pages.paginate(Bucket=location.bucket, Prefix=location.key):
        for upload in page.get("Uploads", []):
            if exact and upload["Key"] != location.key:
                continue
            with contextlib.suppress(ClientError):  # completed or aborted meanwhile
                client.abort_multipart_upload(
                    Bucket=location.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
    return aborted


def abort_uploads(uri: str) -> int:
    """Abort every unfinished multipart upload under an S3 prefix; how many there were.

    For prefixes only one writer uses (a training run's checkpoints): a killed writer's
    uploads are billed until aborted and never visible otherwise.
    """
    if not is_s3(uri):
        return 0
    location = parse_s3(uri)
    # Only this prefix's own folder: s3://b/run1 must not reach into s3://b/run10.
    folder = S3Location(location.bucket, location.key.rstrip("/") + "/" if location.key else "")
    with s3_errors(uri):
        return _abort_uploads(folder, exact=False)


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local file holding the object at `uri`; temporary for S3 objects."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.exists():
            raise KfpNlpError(f"{uri} does not exist; check the path")
        if not path.is_file():
            raise KfpNlpError(f"{uri} is not a file; name a file, not a folder")
        _refuse_pending(_folder(uri), uri)
        yield path
        return
    location = parse_s3(uri)
    _refuse_pending(_folder(uri), uri)
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-") as tmp:
        target = Path(tmp) / (Path(location.key).name or "object")
        with s3_errors(uri):
            s3_client().download_file(
                location.bucket, location.key, str(target), Config=_transfer()
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
        raise _s3_error(uri, exc) from exc
    except BotoCoreError as exc:
        raise _s3_error(uri, exc) from exc
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
            s3_client().download_file(location.bucket, key, str(target), Config=_transfer())
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
    folders = sorted({_folder(target) for _, target in files})
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
        with contextlib.suppress(KfpNlpError, OSError):
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
