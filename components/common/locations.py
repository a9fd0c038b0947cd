"""Where a URI points: `s3://BUCKET/KEY`, `file:///path`, or a plain local path.

Parsing only, no I/O: `is_s3` tells the two worlds apart, `parse_s3` splits an S3 URI into
bucket and key, `local_path` gives the path a non-S3 URI names, and `join` and `folder_of`
build URIs for S3 prefixes and local folders alike.
"""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from components.common.errors import KfpNlpError


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


def folder_of(uri: str) -> str:
    """The folder or S3 prefix that holds `uri`."""
    if is_s3(uri):
        return uri.rstrip("/").rsplit("/", 1)[0]
    return str(local_path(uri).parent)
