"""Payload logs: every scored text, recorded in the background as time-partitioned Parquet.

    <payload_log_uri>/date=YYYY-MM-DD/hour=HH/part-<unix ms>-<random>.parquet

One row per scored text: `timestamp` (UTC), `model`, `version` (the content hash the registry
names versions by), `protocol` (v1, v2), `request_id`, `text_length` (characters),
`token_count` (tokens the model saw, after truncation), `predicted_label`, `probability` (its
calibrated probability) or, for a multi-label model, `predicted_labels` (the label set, possibly
empty) and `label_probabilities` (theirs, in the same order), `probabilities` (all of them, in
label order, when configured), and
either `text` or only `text_sha256` (the default: a log of hashes still supports drift checks
on lengths, tokens, labels and confidences, and holds no customer text; log the text itself only
where keeping it is allowed, as embedding drift needs it).

A request only appends a reference to its texts and scores to a bounded queue; a background
thread tokenizes (for the token counts), builds the rows and writes one file per partition
every `flush_s` seconds. Nothing here can slow or fail a request: a full queue or a failed write
drops the records and counts them (`on_drop(reason, n)`: a Prometheus counter in the server).
`close()` writes what is buffered, so a clean shutdown loses nothing.
"""

import os
import random
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common.inference import Classifier, tokenize
from components.common.payload import payload_columns
from components.common.uri import is_s3, join, local_path, upload_file

TEXT_MODES = ("hash", "text")


@dataclass
class _Scored:
    """One request's scored texts, as the request thread hands them over (no copying)."""

    timestamp: float
    protocol: str
    request_id: str
    texts: list[str]
    scores: np.ndarray
    classifier: Classifier


def _write(table: pa.Table, uri: str) -> None:
    """Write one part file so that readers never see half of it."""
    if is_s3(uri):
        with tempfile.TemporaryDirectory(prefix="kfp-nlp-payload-") as tmp:
            path = Path(tmp) / "part.parquet"
            pq.write_table(table, path)
            upload_file(path, uri)
        return
    target = local_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    pq.write_table(table, partial)
    os.replace(partial, target)


class PayloadLogger:
    """Records scored texts to `uri` from a background thread, with bounded memory."""

    def __init__(
        self,
        uri: str,
        model: str,
        version: str,
        text_mode: str = "hash",
        probabilities: bool = False,
        sample_rate: float = 1.0,
        max_queued_texts: int = 10_000,
        flush_s: float = 10.0,
        on_drop: Callable[[str, int], None] = lambda reason, n: None,
        on_write: Callable[[int], None] = lambda n: None,
    ):
        self.uri, self.model, self.version = uri, model, version
        self.text_mode, self.probabilities = text_mode, probabilities
        self.sample_rate, self.flush_s = sample_rate, flush_s
        self.max_queued_texts = max_queued_texts
        self.on_drop, self.on_write = on_drop, on_write
        self._queue: deque[_Scored] = deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._random = random.Random()
        self._thread = threading.Thread(target=self._run, name="payload-log", daemon=True)
        self._thread.start()

    def record(
        self, protocol: str, texts: list[str], scores: np.ndarray, classifier: Classifier
    ) -> None:
        """Hand over one request's scored texts; never raises, never blocks for long."""
        if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
            return
        with self._lock:
            if self._stopping or self._queued + len(texts) > self.max_queued_texts:
                full = True
            else:
                full = False
                self._queue.append(
                    _Scored(time.time(), protocol, uuid.uuid4().hex, texts, scores, classifier)
                )
                self._queued += len(texts)
        if full:
            self.on_drop("queue_full", len(texts))

    def close(self, timeout_s: float = 30.0) -> None:
        """Write every record still buffered, then stop the background thread."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            with self._lock:
                batch, self._queue = list(self._queue), deque()
                self._queued = 0
                stopping = self._stopping
            if batch:
                self._flush(batch)
            if stopping:
                return

    def _flush(self, batch: list[_Scored]) -> None:
        texts = sum(len(s.texts) for s in batch)
        try:
            table = self._table(batch)
        # A record that cannot even be turned into a row must not stop later ones.
        except Exception:
            self.on_drop("encode_error", texts)
            return
        hours = pc.strftime(table["timestamp"], "date=%Y-%m-%d/hour=%H").to_numpy(
            zero_copy_only=False
        )
        stamp = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
        for partition in sorted(set(hours)):
            part = table.filter(pa.array(hours == partition))
            try:
                _write(part, join(self.uri, *partition.split("/"), stamp))
            except Exception:
                self.on_drop("write_error", part.num_rows)
            else:
                self.on_write(part.num_rows)

    def _table(self, batch: list[_Scored]) -> pa.Table:
        parts = []
        for scored in batch:
            n = len(scored.texts)
            counts = [len(ids) for ids in tokenize(scored.classifier, scored.texts)["input_ids"]]
            when = datetime.fromtimestamp(scored.timestamp, UTC)
            columns = {
                "timestamp": pa.array([when] * n, pa.timestamp("us", tz="UTC")),
                "model": pa.array([self.model] * n, pa.string()),
                "version": pa.array([self.version] * n, pa.string()),
                "protocol": pa.array([scored.protocol] * n, pa.string()),
                "request_id": pa.array([scored.request_id] * n, pa.string()),
                **payload_columns(
                    scored.texts,
                    scored.scores,
                    scored.classifier,
                    counts,
                    self.text_mode,
                    self.probabilities,
                ),
            }
            parts.append(pa.table(columns))
        return pa.concat_tables(parts)
