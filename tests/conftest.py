"""Shared fixtures: a real S3 HTTP endpoint on loopback, a flaky one in front of it, sample data.

S3 is moto's ThreadedMotoServer: a real HTTP server speaking the S3 API, reached through boto3
exactly as a cluster reaches S3 or MinIO (AWS_ENDPOINT_URL). Nothing in boto3 is patched.
"""

import http.client
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# No test may reach a model hub or AWS itself.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a real S3 API server on 127.0.0.1 for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the loopback S3 server, with AWS_ENDPOINT_URL pointing at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    from components.common.uri import s3_client

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    return name


class FlakyS3Proxy:
    """A real HTTP server that answers 500 to the first `failures` requests, then forwards
    every request to the S3 server behind it. `failures=-1` fails forever."""

    def __init__(self, upstream: str, failures: int):
        self.failures = failures
        self.requests = 0
        upstream_host, upstream_port = upstream.removeprefix("http://").split(":")
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failures < 0 or proxy.requests <= proxy.failures:
                    error = b"<Error><Code>InternalError</Code><Message>boom</Message></Error>"
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{upstream_host}:{upstream_port}"
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky_s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Make a FlakyS3Proxy in front of the loopback S3 server and point AWS_ENDPOINT_URL at it."""
    proxies = []

    def make(failures: int) -> FlakyS3Proxy:
        proxy = FlakyS3Proxy(s3_endpoint, failures)
        proxies.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded default's sample data (6,000 replies) as a CSV file."""
    from components.sample_data import write_sample

    path = tmp_path_factory.mktemp("sample") / "replies.csv"
    write_sample(str(path))
    return path
