"""One URI layer for local paths, `file://` and `s3://`.

Reading hands back a local file (an S3 object is downloaded to a temporary file first); writing
goes to a temporary local file that is committed only when the `with` block succeeds: renamed
into place locally, uploaded as one object to S3. A failure therefore never leaves a
half-written file or object behind.

S3 goes through boto3 with the standard retry mode. The endpoint comes from `AWS_ENDPOINT_URL`
(MinIO, a loopback test server); credentials from boto3's usual chain (IRSA on a cluster).
"""

import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components.common.errors import KfpNlpError

S3_MAX_ATTEMPTS = 5
# Multipart uploads above this size; boto3 aborts a failed multipart upload, so no part is left.
_TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, use_threads=False)


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
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def s3_client():
    """A boto3 S3 client for the endpoint in `AWS_ENDPOINT_URL` (AWS itself when unset)."""
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", S3_MAX_ATTEMPTS))
    return _s3_client_for(os.environ.get("AWS_ENDPOINT_URL") or None, attempts)


def _s3_error(uri: str, exc: Exception) -> KfpNlpError:
    """Turn a boto3 failure into a one-line message that says what to do."""
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
            return KfpNlpError(
                f"the S3 endpoint kept failing for {uri} (HTTP {status} {code} after "
                f"{S3_MAX_ATTEMPTS} attempts); check the object store's health or "
                "AWS_ENDPOINT_URL and run again"
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
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(uri, exc) from exc


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local file holding the object at `uri`; temporary for S3 objects."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.exists():
            raise KfpNlpError(f"{uri} does not exist; check the path")
        if not path.is_file():
            raise KfpNlpError(f"{uri} is not a file; name a file, not a folder")
        yield path
        return
    location = parse_s3(uri)
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-") as tmp:
        target = Path(tmp) / (Path(location.key).name or "object")
        with s3_errors(uri):
            s3_client().download_file(location.bucket, location.key, str(target), Config=_TRANSFER)
        yield target


@contextlib.contextmanager
def atomic_output(uri: str) -> Iterator[Path]:
    """A temporary local path to write; it becomes `uri` only if the block succeeds."""
    if is_s3(uri):
        location = parse_s3(uri)
        with tempfile.TemporaryDirectory(prefix="kfp-nlp-") as tmp:
            staged = Path(tmp) / (Path(location.key).name or "object")
            yield staged
            with s3_errors(uri):
                client = s3_client()
                client.upload_file(str(staged), location.bucket, location.key, Config=_TRANSFER)
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
        return path
    names = list_files(uri)
    if not names:
        raise KfpNlpError(f"nothing found under {uri}; check the prefix")
    location = parse_s3(uri)
    prefix = location.key.rstrip("/")
    with s3_errors(uri):
        for name in names:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            key = f"{prefix}/{name}" if prefix else name
            s3_client().download_file(location.bucket, key, str(target), Config=_TRANSFER)
    return dest


def upload_dir(src: Path, uri: str) -> None:
    """Copy every file of a local folder under `uri` (an S3 prefix or a local folder)."""
    if not is_s3(uri):
        dest = local_path(uri)
        with atomic_output(str(dest)) as staged:
            shutil.copytree(src, staged)
        return
    location = parse_s3(uri)
    prefix = location.key.rstrip("/")
    with s3_errors(uri):
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(src)}" if prefix else str(path.relative_to(src))
            s3_client().upload_file(str(path), location.bucket, key, Config=_TRANSFER)


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
