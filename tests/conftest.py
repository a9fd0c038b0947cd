"""Shared fixtures: a real S3 HTTP endpoint on loopback, a fault-injecting one in front of it,
sample data, and the precision the trained-model fixtures train at. Every test gets the marker of
its tier, the folder under tests/ it lives in.

S3 is moto's ThreadedMotoServer: a real HTTP server speaking the S3 API, reached through boto3
exactly as a cluster reaches S3 or MinIO (AWS_ENDPOINT_URL). Nothing in boto3 is patched.
"""

import http.client
import http.server
import os
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.net import QuietServer

# No test may reach a model hub or AWS itself.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)

# `auto` trains in bf16 on a CPU with native bf16 (AMX, AVX-512 BF16) and in fp32 elsewhere, so a
# test that depends on what training produced can pass on one CPU and fail on another. Setting
# KFP_NLP_TEST_PRECISION=fp32 on a bf16 machine shows what the other CPUs train.
PRECISION_ENV = "KFP_NLP_TEST_PRECISION"


def pytest_configure(config: pytest.Config) -> None:
    from components.finetune.config import PRECISIONS

    chosen = os.environ.get(PRECISION_ENV, "auto")
    if chosen not in PRECISIONS:
        raise pytest.UsageError(
            f"{PRECISION_ENV} must be one of {', '.join(PRECISIONS)}, got {chosen!r}"
        )


TESTS = Path(__file__).parent
# The folders under tests/, each one tier with a marker of the same name (pyproject.toml).
TIERS = ("unit", "component", "pipeline", "reliability", "container", "docs")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier, before `-m` selects; a test file outside the tier
    folders stops the run."""
    outside = set()
    for item in items:
        path = Path(item.path)
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if tier in TIERS:
            item.add_marker(tier)
        else:
            outside.add(str(path))
    if outside:
        raise pytest.UsageError(
            f"test files outside the tier folders tests/{{{','.join(TIERS)}}}: "
            f"{', '.join(sorted(outside))}; move each into the folder of its tier"
        )


@pytest.fixture(scope="session")
def training_precision() -> str:
    """The precision the session's trained-model fixtures fine-tune at (KFP_NLP_TEST_PRECISION,
    default `auto`)."""
    return os.environ.get(PRECISION_ENV, "auto")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a real S3 API server on 127.0.0.1 for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def open_uploads(endpoint: str, bucket: str) -> list[str]:
    """The keys of the multipart uploads still open in `bucket`, asked of the server directly."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the loopback S3 server, with AWS_ENDPOINT_URL pointing at it.

    At teardown no multipart upload may remain open in it: an orphaned upload is billed
    storage that nothing ever shows or removes.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    from components.common.uri import s3_client

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    yield name
    assert open_uploads(s3_endpoint, name) == [], "incomplete multipart uploads were left behind"


@dataclass(frozen=True)
class Request:
    """What a fault rule sees of one request."""

    number: int
    method: str
    path: str
    query: str


FAULTS = ("500", "503", "cut-headers", "cut-body", "dead")


@dataclass
class Rule:
    """Inject `fault` into requests that `match`, `times` times at most (None: always)."""

    fault: str
    match: Callable[[Request], bool]
    times: int | None = None


class FlakyS3Proxy:
    """A real HTTP server in front of the S3 server that injects faults, else forwards.

    Faults: "500" (InternalError) and "503" (SlowDown) answer without reaching S3;
    "cut-headers" forwards the request, so S3 acts on it, then drops the connection before the
    response (a lost answer); "cut-body" forwards and drops the connection half-way through the
    response body; "dead" drops the connection at once (an endpoint that died). The first
    `failures` requests answer 500 (-1: every request); `rules` and `random_faults` add more.
    """

    def __init__(self, upstream: str, failures: int = 0):
        self.requests = 0
        self.injected: Counter[str] = Counter()
        self.rules: list[Rule] = []
        self._random: tuple[random.Random, float, tuple[str, ...]] | None = None
        self._lock = threading.Lock()
        if failures:
            self.add("500", lambda r: failures < 0 or r.number <= failures)
        upstream_host, upstream_port = upstream.removeprefix("http://").split(":")
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.1 answers `Expect: 100-continue` at once, as S3 does.
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{upstream_host}:{upstream_port}"
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                return reply.status, reply.getheaders(), data

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                fault = proxy.fault_for(self.command, path, query)
                if fault in ("500", "503"):
                    code = "InternalError" if fault == "500" else "SlowDown"
                    error = f"<Error><Code>{code}</Code><Message>injected</Message></Error>"
                    self._reply(int(fault), [("Content-Type", "application/xml")], error.encode())
                    if self.command != "HEAD":
                        self.wfile.write(error.encode())
                    return
                if fault == "dead":
                    self.close_connection = True
                    return
                status, headers, data = self._forward(body)
                if fault == "cut-headers":
                    self.close_connection = True
                    return
                self._reply(status, headers, data)
                if self.command == "HEAD":
                    return
                if fault == "cut-body" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, fault: str, match: Callable[[Request], bool], times: int | None = None) -> None:
        """Inject `fault` into the requests that `match` (at most `times` of them)."""
        assert fault in FAULTS, fault
        self.rules.append(Rule(fault, match, times))

    def random_faults(self, rate: float, seed: int, kinds: tuple[str, ...] = FAULTS[:4]) -> None:
        """Inject one of `kinds` into each request with probability `rate`."""
        self._random = (random.Random(seed), rate, kinds)

    def fault_for(self, method: str, path: str, query: str) -> str | None:
        with self._lock:
            self.requests += 1
            request = Request(self.requests, method, path, query)
            for rule in self.rules:
                if (rule.times is None or rule.times > 0) and rule.match(request):
                    if rule.times is not None:
                        rule.times -= 1
                    self.injected[rule.fault] += 1
                    return rule.fault
            if self._random is not None:
                rng, rate, kinds = self._random
                if rng.random() < rate:
                    fault = rng.choice(kinds)
                    self.injected[fault] += 1
                    return fault
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky_s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Make a FlakyS3Proxy in front of the loopback S3 server and point AWS_ENDPOINT_URL at it."""
    proxies = []

    def make(failures: int = 0) -> FlakyS3Proxy:
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
