"""Pass 1 of prepare_dataset: stream the source, drop unusable rows, spool the rest.

Text is normalised (Unicode NFKC, whitespace) and labels trimmed (multi-label: split into sorted
sets); empty, too short, unlabelled and disallowed rows are counted and dropped. The survivors
go to a temporary Parquet spool, and only compact per-row keys stay in memory: 64-bit hashes of
the text and of its case- and punctuation-free form, a label code, a group hash or a timestamp.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common.artifacts import LABEL, TEXT
from components.common.errors import KfpNlpError
from components.common.tables import iter_batches
from components.prepare.config import PrepareConfig

# Joins a row's sorted label set into one key (multi-label): rows with equal sets share a key.
SET_KEY = "\x1f"


@dataclass
class Keys:
    """Compact per-row keys of the spooled rows, gathered batch by batch in pass 1."""

    text_hash: list[np.ndarray] = field(default_factory=list)
    leak_hash: list[np.ndarray] = field(default_factory=list)
    label: list[np.ndarray] = field(default_factory=list)
    group: list[np.ndarray] = field(default_factory=list)
    time: list[np.ndarray] = field(default_factory=list)
    length: list[np.ndarray] = field(default_factory=list)

    def concat(self, name: str, dtype: Any) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _hash(strings: pa.Array) -> np.ndarray:
    values = strings.to_numpy(zero_copy_only=False).astype(object)
    return pd.util.hash_array(values, categorize=False)


def _normalise_text(batch: pa.RecordBatch, columns: list[str]) -> pa.Array:
    parts = [pc.cast(batch.column(c), pa.string()) for c in columns]
    text = (
        parts[0]
        if len(parts) == 1
        else pc.binary_join_element_wise(*parts, " ", null_handling="replace", null_replacement="")
    )
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(pc.fill_null(text, ""), "NFKC"))
    # NFKC already turned exotic spaces into ' '; the costly regex runs only where needed.
    # RE2's \s leaves out the vertical tab, NEL and the line/paragraph separators: named here.
    space = r"[\s\v\x{85}\x{2028}\x{2029}]"
    messy = pc.match_substring_regex(text, r"\s\s|[\t\n\r\f\v\x{85}\x{2028}\x{2029}]")
    if pc.any(messy).as_py():
        collapsed = pc.replace_substring_regex(pc.filter(text, messy), f"{space}+", " ")
        text = pc.replace_with_mask(text, messy, collapsed)
    return text


def _leak_key(text: pa.Array) -> pa.Array:
    """The text without case, punctuation, symbols or spaces: 'STOP!!' and 'stop' meet here.

    A text made only of symbols ('👍', '??') keeps its own form, so unlike ones stay apart.
    """
    key = pc.replace_substring_regex(pc.utf8_lower(text), r"[^\p{L}\p{N}]+", "")
    return pc.if_else(pc.equal(key, ""), text, key)


def _normalise_labels(column: pa.Array) -> pa.Array:
    missing = pc.is_null(column)
    if pa.types.is_floating(column.type):
        missing = pc.or_(missing, pc.is_nan(column))
    labels = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    labels = pc.if_else(missing, pa.scalar(None, pa.string()), labels)
    return pc.if_else(pc.equal(labels, ""), pa.scalar(None, pa.string()), labels)


def is_list(data_type: pa.DataType) -> bool:
    return pa.types.is_list(data_type) or pa.types.is_large_list(data_type)


def _label_sets(column: pa.Array, delimiter: str) -> list[list[str]]:
    """Each row's labels: as listed, or split at `delimiter`; trimmed, blanks and repeats
    dropped, sorted (so equal sets are equal rows). A missing cell is the empty set."""
    sets = []
    for value in column.to_pylist():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            items = []
        elif isinstance(value, list):
            items = [str(item).strip() for item in value if item is not None]
        else:
            items = [item.strip() for item in str(value).split(delimiter)]
        sets.append(sorted({item for item in items if item}))
    return sets


def _check_columns(schema: pa.Schema, config: PrepareConfig, source: str) -> None:
    counts = Counter(schema.names)
    repeated = [c for c in config.source_columns() if counts[c] > 1]
    if repeated:
        raise KfpNlpError(
            f"{source} has the column {', '.join(repr(c) for c in repeated)} more than once; "
            "give every column of the header a unique name"
        )
    missing = [c for c in config.source_columns() if c not in schema.names]
    if not missing:
        return
    slices = [c for c in missing if c in config.slice_list]
    if slices and len(slices) == len(missing):
        raise KfpNlpError(
            f"slice column {', '.join(repr(c) for c in slices)} is not in {source} (columns: "
            f"{', '.join(repr(c) for c in schema.names)}); name existing columns in slice_columns"
        )
    if len(schema.names) == 1:
        separator = next((d for d in (";", "\t", "|", ",") if d in schema.names[0]), None)
        if separator:
            tsv = " (or format=tsv)" if separator == "\t" else ""
            raise KfpNlpError(
                f"{source} was read as one column {schema.names[0]!r}; its fields look "
                f"separated by {separator!r}: pass delimiter={separator!r}{tsv}"
            )
    raise KfpNlpError(
        f"{source} has no column {', '.join(repr(c) for c in missing)}; its columns are "
        f"{', '.join(repr(c) for c in schema.names)}: pass them as text_columns/label_column "
        "(text_column/label_column in the text-classifier-training pipeline)"
    )


def _timestamps(column: pa.Array, name: str, offset: int) -> np.ndarray:
    parsed = pd.to_datetime(column.to_pandas(), utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise KfpNlpError(
            f"time column {name!r} holds {column[row].as_py()!r} at row {offset + row + 1}, "
            "which is not a date; use ISO 8601 timestamps or drop time_column"
        )
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)


class Scan:
    """Pass 1: stream the source, drop unusable rows, spool the rest, gather their keys."""

    def __init__(self, config: PrepareConfig, spool: Path):
        self.config = config
        self.spool = spool
        self.keys = Keys()
        self.label_codes: dict[str, int] = {}
        self.rows_read = 0
        self.dropped: Counter[str] = Counter()
        self.first_unlabelled_row = 0
        self.multi_label = bool(config.label_delimiter)

    def run(self, path: Path, source: str) -> None:
        writer = None
        limit = self.config.max_rows or None
        try:
            batches = iter_batches(
                path, self.config.format, name=source, delimiter=self.config.delimiter
            )
            for batch in batches:
                if writer is None:
                    _check_columns(batch.schema, self.config, source)
                    self._detect_label_sets(batch.schema, source)
                if limit is not None:
                    batch = batch.slice(0, max(limit - self.rows_read, 0))
                if batch.num_rows:
                    table = self._clean(batch)
                    if writer is None:
                        writer = pq.ParquetWriter(self.spool, table.schema, compression="zstd")
                    writer.write_table(table)
                if limit is not None and self.rows_read >= limit:
                    break
        finally:
            if writer is not None:
                writer.close()
        if self.rows_read == 0:
            raise KfpNlpError(f"{source} has a header but no rows; point at a file with data")

    def _detect_label_sets(self, schema: pa.Schema, source: str) -> None:
        """A list-typed label column (Parquet, JSON Lines) makes the data multi-label."""
        listed = is_list(schema.field(self.config.label_column).type)
        if listed and self.config.label_delimiter:
            raise KfpNlpError(
                f"the label column {self.config.label_column!r} of {source} already holds "
                f"lists of labels; drop label_delimiter={self.config.label_delimiter!r} (it "
                "splits delimited strings, as in a CSV)"
            )
        self.multi_label = self.multi_label or listed

    def _labels(self, column: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array | None]:
        """(a key per row, null when unlabelled; the labels to write; rows outside
        allowed_labels or None). Multi-label: the key is the joined set, and allowed_labels
        removes the other labels from a set (a row left with none is not allowed)."""
        allowed = self.config.allowed_labels
        if not self.multi_label:
            labels = _normalise_labels(column)
            outside = pc.invert(pc.is_in(labels, pa.array(allowed, pa.string())))
            return labels, labels, outside if allowed else None
        sets = _label_sets(column, self.config.label_delimiter)
        outside = None
        if allowed:
            kept = [[label for label in row if label in allowed] for row in sets]
            outside = pa.array([bool(row) and not k for row, k in zip(sets, kept, strict=True)])
            sets = [k if k else row for row, k in zip(sets, kept, strict=True)]
        keys = pa.array([SET_KEY.join(row) if row else None for row in sets], pa.string())
        return keys, pa.array(sets, pa.list_(pa.string())), outside

    def _clean(self, batch: pa.RecordBatch) -> pa.Table:
        config = self.config
        offset = self.rows_read
        self.rows_read += batch.num_rows
        text = _normalise_text(batch, config.text_columns)
        labels, values, outside = self._labels(batch.column(config.label_column))
        length = pc.utf8_length(text)
        unlabelled = pc.is_null(labels)
        reasons = [
            ("empty_text", pc.equal(length, 0)),
            ("too_short", pc.less(length, config.min_text_length)),
            ("unlabeled", unlabelled),
        ]
        if outside is not None:
            reasons.append(("label_not_allowed", outside))
        keep = np.ones(batch.num_rows, dtype=bool)
        for reason, mask in reasons:
            hit = keep & pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
            if reason == "unlabeled" and hit.any() and not self.first_unlabelled_row:
                self.first_unlabelled_row = offset + int(np.flatnonzero(hit)[0]) + 1
            self.dropped[reason] += int(hit.sum())
            keep &= ~hit
        mask = pa.array(keep)
        text, labels, values, length = (pc.filter(a, mask) for a in (text, labels, values, length))
        columns = {TEXT: text, LABEL: values}
        kept = batch.filter(mask)
        for name in config.keep_columns:
            if name not in (TEXT, LABEL):
                columns[name] = kept.column(name)
        self._gather_keys(kept, text, labels, length, offset)
        for name in (config.group_column, config.time_column, *config.slice_list):
            if name and name not in columns:
                columns[name] = kept.column(name)
        return pa.table(columns)

    def _gather_keys(
        self, kept: pa.RecordBatch, text: pa.Array, labels: pa.Array, length: pa.Array, offset: int
    ) -> None:
        config, keys = self.config, self.keys
        keys.text_hash.append(_hash(text))
        keys.leak_hash.append(_hash(_leak_key(text)))
        encoded = pc.dictionary_encode(labels)
        batch_codes = np.array(
            [
                self.label_codes.setdefault(v, len(self.label_codes))
                for v in encoded.dictionary.to_pylist()
            ],
            dtype=np.int32,
        )
        keys.label.append(batch_codes[encoded.indices.to_numpy(zero_copy_only=False)])
        keys.length.append(length.to_numpy(zero_copy_only=False).astype(np.int32))
        if config.group_column:
            group = pc.fill_null(pc.cast(kept.column(config.group_column), pa.string()), "")
            keys.group.append(_hash(group))
        if config.time_column:
            keys.time.append(
                _timestamps(kept.column(config.time_column), config.time_column, offset)
            )
