"""Reading the two sides of a comparison into `Window`s: texts, lengths, tokens, embeddings and
calibrated probabilities, each computed once.

The current window is a table (Parquet, CSV, JSONL; local or s3://) or a payload-log prefix
(components.serve.payload_log) narrowed to a time range. A log that holds only text hashes
gives lengths and the logged probabilities; the text-based tests are then skipped.
"""

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from components.common import uri
from components.common.errors import KfpNlpError
from components.common.inference import Classifier, probabilities, tokenize
from components.common.tables import iter_batches
from components.monitor.config import MonitorConfig

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


@dataclass
class Window:
    """The texts of one side and what the tests need of them, row-aligned."""

    lengths: np.ndarray
    probs: np.ndarray
    texts: list[str] | None = None
    tokens: list[list[int]] | None = None
    embeddings: np.ndarray | None = None
    y_true: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, index: np.ndarray) -> "Window":
        """The rows at `index`, every field alike."""
        return Window(
            lengths=self.lengths[index],
            probs=self.probs[index],
            texts=None if self.texts is None else [self.texts[i] for i in index],
            tokens=None if self.tokens is None else [self.tokens[i] for i in index],
            embeddings=None if self.embeddings is None else self.embeddings[index],
            y_true=None if self.y_true is None else self.y_true[index],
        )


@torch.inference_mode()
def _forward(
    classifier: Classifier, tokens: dict[str, list[list[int]]], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and mean-pooled last hidden states (the model's own sentence embeddings)."""
    ids = tokens["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    logits = np.zeros((len(ids), len(classifier.labels)), np.float32)
    embeddings = None
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = classifier.tokenizer.pad(
            {name: [rows[i] for i in index] for name, rows in tokens.items()},
            return_tensors="pt",
        )
        out = classifier.model(**batch, output_hidden_states=True)
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (out.hidden_states[-1] * mask).sum(1) / mask.sum(1)
        if embeddings is None:
            embeddings = np.zeros((len(ids), pooled.shape[1]), np.float32)
        embeddings[index] = pooled.numpy()
        logits[index] = out.logits.float().numpy()
    return logits, embeddings


def profile(
    classifier: Classifier, texts: list[str], config: MonitorConfig, y_true: np.ndarray | None
) -> Window:
    """Score and embed `texts` with the model (one forward pass each)."""
    tokens = tokenize(classifier, texts)
    logits, embeddings = _forward(classifier, tokens, config.batch_size)
    return Window(
        lengths=np.array([len(t) for t in texts]),
        probs=probabilities(logits, False, classifier.temperature),
        texts=texts,
        tokens=tokens["input_ids"],
        embeddings=embeddings,
        y_true=y_true,
    )


def _class_ids(values: list, labels: list[str], source: str, column: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise KfpNlpError(
            f"{source} column {column!r} has labels the model does not know ({unknown[0]!r}); "
            f"the model's labels are {', '.join(labels)}"
        )
    return np.array([index[v] for v in values])


def _logged_probs(table: pa.Table, labels: list[str]) -> np.ndarray:
    """Probabilities from a hash-only log: all of them when logged, else the top one with the
    rest spread evenly (enough for the confidence-based estimate)."""
    if "probabilities" in table.column_names:
        return np.array(table.column("probabilities").to_pylist(), np.float64)
    top = np.array(table.column("probability").to_pylist(), np.float64)
    chosen = _class_ids(table.column("predicted_label").to_pylist(), labels, "log", "label")
    probs = np.repeat(((1 - top) / max(len(labels) - 1, 1))[:, None], len(labels), axis=1)
    probs[np.arange(len(top)), chosen] = top
    return probs


def _hash_only(table: pa.Table, config: MonitorConfig) -> bool:
    names = set(table.column_names)
    return config.text_column not in names and {"text_length", "probability"} <= names


def check_columns(table: pa.Table, config: MonitorConfig, source: str) -> None:
    """Fail before any scoring when a table has neither texts nor a hash-only log's columns."""
    if config.text_column not in table.column_names and not _hash_only(table, config):
        raise KfpNlpError(
            f"{source} has no column {config.text_column!r} (columns: "
            f"{', '.join(table.column_names)}); pass --text-column with the column that holds "
            "the texts"
        )


def window_from_table(
    table: pa.Table, classifier: Classifier, config: MonitorConfig, source: str
) -> Window:
    """A Window from a table with texts (scored here), or from a hash-only payload log."""
    check_columns(table, config, source)
    labelled = config.label_column in table.column_names
    if _hash_only(table, config):
        return Window(
            lengths=np.array(table.column("text_length").to_pylist()),
            probs=_logged_probs(table, classifier.labels),
        )
    keep = pc.is_valid(table.column(config.text_column))
    if labelled:
        keep = pc.and_(keep, pc.is_valid(table.column(config.label_column)))
    table = table.filter(keep)
    y_true = None
    if labelled:
        values = table.column(config.label_column).to_pylist()
        y_true = _class_ids(values, classifier.labels, source, config.label_column)
    texts = [str(t) for t in table.column(config.text_column).to_pylist()]
    return profile(classifier, texts, config, y_true)


def _window_bounds(config: MonitorConfig) -> tuple[datetime | None, datetime]:
    end = datetime.now(UTC)
    if config.window_end:
        try:
            end = datetime.fromisoformat(config.window_end)
        except ValueError as exc:
            raise KfpNlpError(
                f"window_end {config.window_end!r} is not an ISO 8601 time; "
                "write e.g. 2026-11-22T09:00:00Z"
            ) from exc
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
    start = end - timedelta(hours=config.window_hours) if config.window_hours else None
    return start, end


def read_payload_log(prefix: str, config: MonitorConfig) -> pa.Table:
    """The payload-log records under `prefix` within the configured time range."""
    start, end = _window_bounds(config)
    tables = []
    for name in uri.list_files(prefix):
        match = _PARTITION.search(name)
        if not match or not name.endswith(".parquet") or "/." in "/" + name:
            continue
        hour = datetime.fromisoformat(f"{match[1]}T{match[2]}:00:00+00:00")
        if hour > end or (start is not None and hour + timedelta(hours=1) <= start):
            continue
        with uri.local_copy(uri.join(prefix, name)) as path:
            tables.append(pq.read_table(path, partitioning=None))
    if not tables:
        raise KfpNlpError(
            f"{prefix} holds no payload-log files (date=YYYY-MM-DD/hour=HH/part-*.parquet) in "
            "the window; check the prefix, window_hours and window_end"
        )
    table = pa.concat_tables(tables, promote_options="default")
    stamps = table.column("timestamp")
    keep = pc.less_equal(stamps, pa.scalar(end, stamps.type))
    if start is not None:
        keep = pc.and_(keep, pc.greater(stamps, pa.scalar(start, stamps.type)))
    return table.filter(keep)


def read_table(source: str) -> pa.Table:
    """A whole table file (CSV, TSV, JSONL, Parquet), local or s3://."""
    with uri.local_copy(source) as path:
        return pa.Table.from_batches(list(iter_batches(path, name=source)))


def read_window(source: str, config: MonitorConfig) -> pa.Table:
    """A table file as is, or a payload-log prefix narrowed to the time range."""
    is_folder = (
        Path(uri.local_path(source)).is_dir() if not uri.is_s3(source) else not uri.exists(source)
    )
    return read_payload_log(source, config) if is_folder else read_table(source)


def sample(window: Window, most: int, seed: int) -> Window:
    """At most `most` rows, drawn without replacement (all of them, in order, when fewer)."""
    if len(window) <= most:
        return window
    index = np.sort(np.random.default_rng(seed).choice(len(window), most, replace=False))
    return window.take(index)


def reference_uri_from(provenance: dict, model_source: str) -> str:
    """The model's test split, found from its provenance: the recorded test_uri, or the test
    Dataset beside the validation Dataset it was trained with."""
    candidates = [provenance.get("test_uri", "")]
    validation = provenance.get("validation_uri", "")
    if validation:
        head, _, last = validation.rstrip("/").rpartition("/")
        candidates.append(f"{head}/{last.replace('validation', 'test')}")
    for candidate in filter(None, candidates):
        with contextlib.suppress(KfpNlpError):
            if uri.exists(candidate) and candidate != validation:
                return candidate
    raise KfpNlpError(
        f"the model {model_source} does not record a test split that still exists; "
        "pass reference_uri (a table of texts like the ones the model was tested on)"
    )
