"""The S3 client, its retries, and S3 failures as one-line errors that say whose fault they are.

Every request goes through boto3 with the standard retry mode (`AWS_MAX_ATTEMPTS` attempts,
default 5, with jittered exponential backoff): it retries 5xx answers, throttling (503 SlowDown,
429), timeouts and connection errors itself. Only a body cut short after the headers arrived
is left to us, and `read_object` retries that with `components.common.retry`. Downloads to a
file retry cut bodies inside boto3's transfer manager.

What still fails after the retries becomes a `TransientError` (exit 3) naming the endpoint; a
missing object, a refused permission, missing credentials or a malformed location is the
user's to fix and becomes a `KfpNlpError` (exit 2).

Objects from `KFP_NLP_S3_MULTIPART_MB` MiB (default 64) upload in parts, and every unfinished
multipart upload of the key is aborted afterwards, whether the upload worked or not: an upload
whose CreateMultipartUpload answer was lost and retried leaves no parts behind. The endpoint
comes from `AWS_ENDPOINT_URL` (MinIO, a loopback test server); credentials from boto3's usual
chain (IRSA on a cluster).
"""

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from components.common.errors import KfpNlpError, OneLineError, TransientError
from components.common.locations import S3Location, is_s3, parse_s3
from components.common.retry import with_retries

S3_MAX_ATTEMPTS = 5
MULTIPART_MB_ENV = "KFP_NLP_S3_MULTIPART_MB"
# A body cut short after the headers arrived: botocore does not retry these by itself.
_BODY_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
)
# Still failing after boto3's retries: the endpoint is down, unreachable or overloaded.
_UNREACHABLE = (ConnectionError, HTTPClientError, IncompleteReadError)
_BUSY_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"})


def transfer_config() -> TransferConfig:
    """Multipart from `KFP_NLP_S3_MULTIPART_MB` MiB; one thread, so failures stay ordered."""
    threshold = int(float(os.environ.get(MULTIPART_MB_ENV, "64")) * 1024 * 1024)
    return TransferConfig(multipart_threshold=threshold, use_threads=False)


@functools.lru_cache(maxsize=8)
def _s3_client_for(endpoint: str | None, max_attempts: int):
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
    )
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
    except ValueError as exc:  # botocore's "Invalid endpoint: ..."
        raise KfpNlpError(
            f"AWS_ENDPOINT_URL {endpoint!r} is not a URL; write it as http://HOST:PORT or "
            "https://HOST, or unset it to use AWS S3"
        ) from exc


def s3_client():
    """A boto3 S3 client for the endpoint in `AWS_ENDPOINT_URL` (AWS itself when unset)."""
    return _s3_client_for(os.environ.get("AWS_ENDPOINT_URL") or None, attempts())


def attempts() -> int:
    """How many times one S3 request is tried (`AWS_MAX_ATTEMPTS`, default 5)."""
    value = os.environ.get("AWS_MAX_ATTEMPTS", str(S3_MAX_ATTEMPTS))
    if not value.isdigit() or int(value) < 1:
        raise KfpNlpError(f"AWS_MAX_ATTEMPTS must be a whole number from 1, not {value!r}")
    return int(value)


def endpoint() -> str:
    """The S3 endpoint requests go to, for messages: `AWS_ENDPOINT_URL` or AWS's own."""
    return s3_client().meta.endpoint_url


def s3_error(uri: str, exc: Exception) -> OneLineError:
    """A boto3 failure as a one-line error: transient (exit 3) or the user's to fix (exit 2)."""
    if isinstance(exc, Boto3Error):
        # boto3's transfer manager wraps the client error it gave up on.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError | BotoCoreError):
            return s3_error(uri, cause)
        return TransientError(
            f"the transfer of {uri} through the S3 endpoint {endpoint()} failed "
            f"({str(exc).splitlines()[0]}); check the object store's health, then run again"
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return KfpNlpError(
            f"no AWS credentials to read or write {uri}; on a cluster run the step with an "
            "IRSA service account; locally set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, ParamValidationError):
        reason = str(exc).strip().splitlines()[-1]
        return KfpNlpError(f"{uri} is not a valid S3 location ({reason}); check the bucket name")
    if isinstance(exc, ClientError):
        return _client_error(uri, exc)
    if isinstance(exc, _UNREACHABLE):
        return TransientError(
            f"cannot reach S3 at {endpoint()} for {uri} ({type(exc).__name__} after "
            f"{attempts()} attempts); check AWS_ENDPOINT_URL and the network, then run again"
        )
    return KfpNlpError(
        f"cannot make an S3 request for {uri} ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0]}); check AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the "
        "credentials"
    )


def _client_error(uri: str, exc: ClientError) -> OneLineError:
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
    if code in _CREDENTIAL_CODES:
        return KfpNlpError(
            f"S3 at {endpoint()} rejected the credentials for {uri} ({code}); check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the step's IRSA service account"
        )
    if status >= 500 or status == 429 or code in _BUSY_CODES:
        # Fewer attempts than configured when boto3's retry quota ran out under many faults.
        tries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        answer = f"HTTP {status}" + (f" {code}" if code != str(status) else "")
        return TransientError(
            f"the S3 endpoint {endpoint()} kept failing for {uri} ({answer} after {tries} "
            "attempts); check the object store's health, then run again"
        )
    return KfpNlpError(f"S3 refused the request for {uri}: {code} {error.get('Message', '')}")


@contextlib.contextmanager
def s3_errors(uri: str) -> Iterator[None]:
    """Translate boto3 failures inside the block into KfpNlpError or TransientError."""
    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        raise s3_error(uri, exc) from exc


class _BodyCut(Exception):
    """A body that broke off while being read, told apart from a failed GET."""


def read_object(location: S3Location) -> bytes:
    """The whole body of an object; a body cut short is read again (a fresh GET)."""
    client = s3_client()

    def read() -> bytes:
        body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
        try:
            return body.read()
        except _BODY_ERRORS as exc:
            raise _BodyCut() from exc

    # A GET that failed outright was retried by boto3 already; only cut bodies are ours.
    try:
        return with_retries(read, lambda exc: isinstance(exc, _BodyCut), attempts())
    except _BodyCut as exc:
        raise exc.__cause__ from None


def upload(path: Path, location: S3Location) -> None:
    """Upload one file, then abort any multipart upload of its key that is still open."""
    config = transfer_config()
    try:
        s3_client().upload_file(str(path), location.bucket, location.key, Config=config)
    except Exception:
        if path.stat().st_size >= config.multipart_threshold:
            with contextlib.suppress(ClientError, BotoCoreError, OneLineError):
                _abort_uploads(location, exact=True)
        raise
    if path.stat().st_size >= config.multipart_threshold:
        _abort_uploads(location, exact=True)


def _abort_uploads(location: S3Location, exact: bool) -> int:
    client = s3_client()
    aborted = 0
    pages = client.get_paginator("list_multipart_uploads")
    for page in pages.paginate(Bucket=location.bucket, Prefix=location.key):
        for upload_ in page.get("Uploads", []):
            if exact and upload_["Key"] != location.key:
                continue
            with contextlib.suppress(ClientError):  # completed or aborted meanwhile
                client.abort_multipart_upload(
                    Bucket=location.bucket, Key=upload_["Key"], UploadId=upload_["UploadId"]
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
