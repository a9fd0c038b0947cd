"""Payload logs written by a real model server under concurrent HTTP load.

Every scored text lands in the time-partitioned Parquet log exactly once, including those
still buffered when SIGTERM arrives; rejected requests are not logged; and a sink that cannot
be written loses records (counted in /metrics) but never a request.
"""

import concurrent.futures
import signal
import time
from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from tests.component.serving.conftest import total

REQUESTS = 60


def _texts(i: int) -> list[str]:
    return [f"where is my order number {i}-{j}, it is late" for j in range(1 + i % 3)]


def _send(server, i: int) -> requests.Response:
    texts = _texts(i)
    if i % 2:
        tensor = {"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}
        return server.v2({"inputs": [tensor]}, timeout=60)
    return server.v1({"instances": texts}, timeout=60)


def _read_log(root: Path) -> pa.Table:
    parts = sorted(root.rglob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p, partitioning=None) for p in parts]), parts


def test_every_scored_text_is_logged_once_and_none_lost_on_sigterm(
    small_model, start_server, tmp_path
):
    root = tmp_path / "payloads"
    server = start_server(
        small_model.model_dir,
        "logged",
        "--payload-log-uri",
        str(root),
        "--payload-log-text",
        "text",
        "--payload-log-probabilities",
        # Longer than the test: everything is still buffered at SIGTERM and must be flushed then.
        "--payload-log-flush-s",
        "600",
    )
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: _send(server, i), range(REQUESTS)))
    rejected = server.v1({"instances": []}, timeout=10)
    assert [a.status_code for a in answers] == [200] * REQUESTS
    assert rejected.status_code == 400
    assert not list(root.rglob("*.parquet"))
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0

    table, parts = _read_log(root)
    sent = sorted(t for i in range(REQUESTS) for t in _texts(i))
    assert sorted(table.column("text").to_pylist()) == sent
    assert len(set(table.column("request_id").to_pylist())) == REQUESTS
    rows = table.to_pylist()
    assert {r["model"] for r in rows} == {"logged"}
    assert all(r["version"].startswith("sha256-") for r in rows)
    assert {r["protocol"] for r in rows} == {"v1", "v2"}
    for row in rows:
        assert row["text_length"] == len(row["text"])
        assert 5 < row["token_count"] < 30
        assert len(row["probabilities"]) == 7
        assert abs(max(row["probabilities"]) - row["probability"]) < 1e-6
    # The answer a client got is the row that was logged.
    first = answers[0].json()["predictions"][0]
    logged = next(r for r in rows if r["text"] == _texts(0)[0])
    assert logged["predicted_label"] == first["label"]
    assert abs(logged["probability"] - first["probability"]) < 1e-6
    for part in parts:
        stamp = pq.read_table(part, partitioning=None).column("timestamp")[0].as_py()
        expected = stamp.astimezone(UTC).strftime("date=%Y-%m-%d/hour=%H")
        assert part.parent.relative_to(root).as_posix() == expected


def test_an_unwritable_sink_counts_drops_and_every_request_succeeds(
    small_model, start_server, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    server = start_server(
        small_model.model_dir,
        "unlogged",
        "--payload-log-uri",
        str(blocker / "payloads"),
        "--payload-log-flush-s",
        "0.2",
    )
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: _send(server, i), range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    texts = sum(len(_texts(i)) for i in range(20))
    deadline = time.monotonic() + 30
    dropped = 0.0
    while dropped < texts and time.monotonic() < deadline:
        samples = server.metrics()
        dropped = total(samples, "kfp_nlp_payload_log_dropped_records_total", reason="write_error")
        time.sleep(0.2)
    assert dropped == texts
    assert total(samples, "kfp_nlp_payload_log_records_total") == 0
    assert requests.get(f"{server.url}/v2/models/unlogged/ready", timeout=10).ok
    assert server.v1({"instances": ["still answering"]}, timeout=30).status_code == 200
