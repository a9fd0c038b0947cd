"""Exit statuses that say whose fault a failure is, seen from a real component process.

2: bad input, one line, never retried; 3: a service kept failing after the retries, one line
naming it; 1: anything else, traceback kept. S3 is the loopback S3 server, behind the
fault-injecting proxy (tests/conftest.py) where a test needs faults; an unreachable endpoint is
a closed loopback port.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from components.common import uri
from components.common.errors import EXIT_CODES_HELP, TransientError
from components.common.uri import s3_client

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def snapshot_cli(location: str, endpoint: str = "") -> subprocess.CompletedProcess:
    """`python -m components.snapshot LOCATION` in its own process, three S3 attempts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_MAX_ATTEMPTS": "3"}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    command = [sys.executable, "-m", "components.snapshot", location]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one `error: ...` line a failed step prints, and nothing on stdout."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_object(s3_bucket: str) -> str:
    s3_client().put_object(Bucket=s3_bucket, Key="raw/replies.csv", Body=b"text,label\nhi,yes\n")
    return f"s3://{s3_bucket}/raw/replies.csv"


def test_bad_input_exits_2_with_one_line(tmp_path: Path):
    done = snapshot_cli(str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    assert "missing.csv does not exist" in error_line(done)


def test_bad_input_on_s3_is_not_retried(flaky_s3, s3_bucket: str):
    proxy = flaky_s3()
    done = snapshot_cli(f"s3://{s3_bucket}/no/such.csv", proxy.url)
    assert done.returncode == 2
    assert "nothing found at" in error_line(done)
    # One HEAD of the key, one listing of it as a prefix: each asked once, none retried.
    assert proxy.requests == 2


@pytest.mark.parametrize("fault", ["503", "dead"])
def test_an_s3_outage_is_retried_and_the_step_succeeds(fault, flaky_s3, s3_object: str):
    """Two requests in a row answered 503 SlowDown, or dropped: the answer is the same as
    without faults."""
    proxy = flaky_s3()
    fault_free = snapshot_cli(s3_object, proxy.url)
    proxy.add(fault, lambda request: True, times=2)
    done = snapshot_cli(s3_object, proxy.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == fault_free.stdout and done.stdout.startswith("sha256:")
    assert proxy.injected[fault] == 2


def test_an_s3_endpoint_that_keeps_failing_exits_3_naming_it(flaky_s3, s3_object: str):
    proxy = flaky_s3(failures=-1)
    done = snapshot_cli(s3_object, proxy.url)
    assert done.returncode == 3
    line = error_line(done)
    assert f"the S3 endpoint {proxy.url} kept failing" in line
    assert "HTTP 500 after 3 attempts" in line
    assert proxy.requests == 3


def test_an_unreachable_s3_endpoint_exits_3_naming_it():
    endpoint = f"http://127.0.0.1:{closed_port()}"
    done = snapshot_cli("s3://bucket/raw/replies.csv", endpoint)
    assert done.returncode == 3
    line = error_line(done)
    assert f"cannot reach S3 at {endpoint}" in line and "EndpointConnectionError" in line


def test_a_body_that_keeps_breaking_off_is_read_again_then_transient(
    flaky_s3, s3_object: str, monkeypatch: pytest.MonkeyPatch
):
    """boto3 does not retry a body cut short after its headers; the S3 layer does, boundedly."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    proxy = flaky_s3()
    proxy.add("cut-body", lambda request: request.method == "GET")
    with pytest.raises(TransientError, match=f"cannot reach S3 at {proxy.url} .* 3 attempts"):
        uri.read_bytes(s3_object)
    assert proxy.injected["cut-body"] == 3


def test_a_malformed_endpoint_is_a_configuration_error():
    done = snapshot_cli("s3://bucket/raw/replies.csv", "localhost:9000")
    assert done.returncode == 2
    assert "AWS_ENDPOINT_URL 'localhost:9000' is not a URL" in error_line(done)


def test_an_unexpected_failure_keeps_its_traceback_and_exits_1():
    """Reading /proc/self/mem fails with EIO, which no step anticipates: that is a bug."""
    done = snapshot_cli("/proc/self/mem")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "OSError" in done.stderr.strip().splitlines()[-1]


COMMAND_LINES = [
    "components.prepare.__main__",
    "components.finetune.__main__",
    "components.evaluate.__main__",
    "components.batch_predict.__main__",
    "components.deploy.__main__",
    "components.monitor.__main__",
    "components.registry.__main__",
    "components.snapshot.__main__",
    "components.serve.server",
    "components.serve.onnx_export",
]


@pytest.mark.parametrize("module", COMMAND_LINES)
def test_every_help_lists_the_exit_statuses(module: str, capsys: pytest.CaptureFixture):
    main = __import__(module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.endswith(EXIT_CODES_HELP)
