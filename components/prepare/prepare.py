"""prepare_dataset: a raw text table in, clean and documented train/validation/test splits out.

Two streaming passes keep memory bounded by a few bytes per row, whatever the table's size:

1. Read the source batch by batch; normalise text (Unicode NFKC, whitespace) and labels; drop
   empty, too short, unlabelled and disallowed rows; spool the survivors to a temporary Parquet
   file and keep only compact per-row keys in memory (64-bit hashes of the text and of its
   case- and punctuation-free form, a label code, a group hash or a timestamp).
2. On those keys: drop duplicate texts, handle rare labels, assign splits (stratified, by group,
   or by time) and remove near-duplicates that would leak between splits; then stream the spool
   once more into the three split files.

Nothing reaches the output paths unless every check passed.
"""

import contextlib
import hashlib
import itertools
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common import uri
from components.common.artifacts import LABEL, TEXT, encode_dataset_metadata
from components.common.errors import KfpNlpError
from components.common.splits import label_matrix
from components.common.tables import iter_batches
from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.report import render_report

DROPPED, TRAIN, VALIDATION, TEST = -1, 0, 1, 2
# Joins a row's sorted label set into one key (multi-label): rows with equal sets share a key.
_SET_KEY = "\x1f"


@dataclass
class PrepareOutputs:
    """Where the results go: local paths or s3:// URIs."""

    train: str
    validation: str
    test: str
    report: str
    metrics: str = ""  # the row counts as JSON, written with the rest when given


@dataclass
class PrepareResult:
    """What prepare_dataset found and wrote: the facts for metadata, metrics and the report."""

    source_uri: str
    labels: list[str]
    rows_read: int
    dropped: dict[str, int]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicting_duplicates: int = 0
    length_percentiles: dict[str, int] = field(default_factory=dict)
    length_histogram: list[tuple[str, int]] = field(default_factory=list)
    multi_label: bool = False
    # Multi-label: kept rows by how many labels they carry.
    labels_per_row: dict[int, int] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Scalar row counts, as logged to the KFP Metrics artifact."""
        values = {"rows_read": self.rows_read}
        values.update({f"{name}_rows": facts["rows"] for name, facts in self.splits.items()})
        values.update({f"dropped_{reason}": count for reason, count in self.dropped.items()})
        values["labels"] = len(self.labels)
        values["duplicate_texts_with_conflicting_labels"] = self.conflicting_duplicates
        if self.multi_label:
            rows = sum(self.labels_per_row.values())
            labels = sum(size * n for size, n in self.labels_per_row.items())
            values["mean_labels_per_row"] = labels / max(rows, 1)
        return values


@dataclass
class _Keys:
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


def _is_list(data_type: pa.DataType) -> bool:
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


class _Scan:
    """Pass 1: stream the source, drop unusable rows, spool the rest, gather their keys."""

    def __init__(self, config: PrepareConfig, spool: Path):
        self.config = config
        self.spool = spool
        self.keys = _Keys()
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
        listed = _is_list(schema.field(self.config.label_column).type)
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
        keys = pa.array([_SET_KEY.join(row) if row else None for row in sets], pa.string())
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


def _deduplicate(text_hash: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, int]:
    """Keep the first row of each text; also count texts whose copies disagree on the label."""
    order = np.argsort(text_hash, kind="stable")
    ordered = text_hash[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    keep = np.zeros(len(order), dtype=bool)
    keep[order[starts]] = True
    run = np.cumsum(starts) - 1
    first_label = label[order][starts][run]
    conflicts = len(np.unique(run[label[order] != first_label]))
    return keep, conflicts


def _split_sizes(n: int, fractions: list[float]) -> list[int]:
    """Units per split for `n` units: every split with a positive fraction gets at least one."""
    sizes = [max(1, round(n * f)) if f > 0 else 0 for f in fractions[1:]]
    return [n - sum(sizes), *sizes]


def _units(keys: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sharing a key form a unit: (unit of each row, majority label, rows per unit)."""
    _, inverse = np.unique(keys, return_inverse=True)
    sizes = np.bincount(inverse)
    n_labels = int(label.max()) + 1
    pairs, counts = np.unique(inverse.astype(np.int64) * n_labels + label, return_counts=True)
    pair_unit, pair_label = pairs // n_labels, pairs % n_labels
    order = np.lexsort((-counts, pair_unit))
    first = np.unique(pair_unit[order], return_index=True)[1]
    majority = np.zeros(len(sizes), dtype=np.int64)
    majority[pair_unit[order][first]] = pair_label[order][first]
    return inverse, majority, sizes


def _stratified(unit_label: np.ndarray, fractions: list[float], rng) -> np.ndarray:
    """Exact shares of units per label; every label reaches every split with a positive share.

    A stratum with fewer units than splits (possible only for multi-label data, whose strata
    are each row's rarest label) goes to train whole.
    """
    split = np.zeros(len(unit_label), dtype=np.int8)
    needed = sum(1 for f in fractions if f > 0)
    for code in np.unique(unit_label):
        members = rng.permutation(np.flatnonzero(unit_label == code))
        if len(members) < needed:
            continue
        edges = np.cumsum(_split_sizes(len(members), fractions))[:-1]
        for index, part in enumerate(np.split(members, edges)):
            split[part] = index
    return split


def _balanced(unit_label: np.ndarray, unit_size: np.ndarray, fractions: list[float], rng):
    """Whole units (e.g. customers) to splits so each label's rows approach the fractions."""
    split = np.zeros(len(unit_label), dtype=np.int8)
    edges = np.cumsum(fractions)[:-1]
    for code in np.unique(unit_label):
        members = rng.permutation(np.flatnonzero(unit_label == code))
        filled = np.cumsum(unit_size[members])
        middle = (filled - unit_size[members] / 2) / filled[-1]
        split[members] = np.searchsorted(edges, middle, side="right")
    return split


def _every_label_in_train(split: np.ndarray, unit: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Multi-label: move the first unit carrying a label no train row has into train, so the
    model learns every label (stratifying on the rarest label mostly does this already)."""
    for label in range(member.shape[1]):
        if member[:, label].any() and not member[split == TRAIN, label].any():
            first = unit[np.flatnonzero(member[:, label])[0]]
            split[unit == first] = TRAIN
    return split


def _by_time(time: np.ndarray, fractions: list[float]) -> np.ndarray:
    order = np.argsort(time, kind="stable")
    assignment = np.empty(len(time), dtype=np.int8)
    edges = np.cumsum(_split_sizes(len(time), fractions))[:-1]
    for split, part in enumerate(np.split(order, edges)):
        assignment[part] = split
    return assignment


def _drop_leaks(assignment: np.ndarray, leak_hash: np.ndarray) -> int:
    """Remove validation/test rows whose near-duplicate sits in an earlier split."""
    removed = 0
    for split in (VALIDATION, TEST):
        earlier = np.isin(assignment, list(range(split)))
        leaked = (assignment == split) & np.isin(leak_hash, leak_hash[earlier])
        assignment[leaked] = DROPPED
        removed += int(leaked.sum())
    return removed


class _Plan:
    """Pass 1's keys turned into one split (or DROPPED) per spooled row."""

    def __init__(self, scan: _Scan, config: PrepareConfig, source: str):
        self.config = config
        self.source = source
        keys = scan.keys
        self.label = keys.concat("label", np.int32)
        self.length = keys.concat("length", np.int32)
        text_hash = keys.concat("text_hash", np.uint64)
        self.dropped = Counter(scan.dropped)
        self._check_unlabelled(scan)
        keep, self.conflicts = _deduplicate(text_hash, self.label)
        self.dropped["duplicate"] = int((~keep).sum())
        # Codes in label-name order, not order of first appearance: ties between labels (the
        # majority label of a near-duplicate set) and the random draws per label then do not
        # depend on the order of the source rows.
        # Multi-label: a code stands for a label set; `member` says which labels each holds.
        self.multi_label = scan.multi_label
        names = sorted(scan.label_codes)
        if names:
            by_name = np.array(
                [names.index(n) for n in sorted(scan.label_codes, key=scan.label_codes.get)]
            )
            self.label = by_name[self.label]
        label_names, self.member = _memberships(names, self.multi_label)
        keep &= self._rare_label_mask(keep, label_names)
        present = self._label_counts(keep) > 0
        self.labels = [name for name, seen in zip(label_names, present, strict=True) if seen]
        self.member = self.member[:, present]
        self.stratum = self._strata(keep)
        leak_hash = keys.concat("leak_hash", np.uint64)
        if keep.any():
            self._leak_units = _units(leak_hash[keep], self.stratum[keep])
        self._check_labels(keep, label_names)
        self.assignment = np.full(len(keep), DROPPED, dtype=np.int8)
        self.assignment[keep] = self._assign(keep, keys)
        self.dropped["near_duplicate_across_splits"] = _drop_leaks(self.assignment, leak_hash)
        self._check_splits_filled()

    def _label_counts(self, keep: np.ndarray) -> np.ndarray:
        """Kept rows per label (a multi-label row counts for each of its labels), computed per
        label key so that memory stays a few bytes per row."""
        keys = np.bincount(self.label[keep], minlength=len(self.member))
        return keys @ self.member

    def _strata(self, keep: np.ndarray) -> np.ndarray:
        """What a row is stratified on: its label, or (multi-label) its set's rarest label."""
        if not self.multi_label:
            return self.label
        counts = self._label_counts(keep)
        # Rarest first, then by name: among a set's labels, the one with the fewest rows.
        rank = np.lexsort((np.arange(len(counts)), counts))
        order = np.empty_like(rank)
        order[rank] = np.arange(len(rank))
        scored = np.where(self.member, order, len(order))
        return scored.argmin(1)[self.label] if len(self.label) else self.label

    def _check_unlabelled(self, scan: _Scan) -> None:
        if scan.dropped["unlabeled"] and not self.config.drop_unlabeled:
            raise KfpNlpError(
                f"{scan.dropped['unlabeled']} rows of {self.source} have no "
                f"{self.config.label_column!r} (NaN or empty; first at data row "
                f"{scan.first_unlabelled_row}); fill them in or pass drop_unlabeled to drop them"
            )

    def _rare_label_mask(self, keep: np.ndarray, names: list[str]) -> np.ndarray:
        """Rows carrying a label with fewer than min_label_count rows (dropped, or an error)."""
        counts = self._label_counts(keep)
        rare = [i for i, c in enumerate(counts) if 0 < c < self.config.min_label_count]
        if rare and self.config.rare_labels == "fail":
            listed = ", ".join(f"{names[i]!r} ({counts[i]} rows)" for i in rare)
            raise KfpNlpError(
                f"labels {listed} have fewer than min_label_count={self.config.min_label_count} "
                "rows; add examples, lower min_label_count, or set rare_labels=drop"
            )
        mask = ~self.member[:, rare].any(1)[self.label]
        self.dropped["rare_label"] = int((keep & ~mask).sum())
        return mask

    def _check_labels(self, keep: np.ndarray, names: list[str]) -> None:
        if not keep.any():
            raise KfpNlpError(
                f"no usable rows remain in {self.source} after cleaning (dropped: "
                f"{self._dropped_text()}); check text_columns (text_column in the "
                "text-classifier-training pipeline), label_column and the filters"
            )
        if len(self.labels) < 2:
            raise KfpNlpError(
                f"every usable row of {self.source} has the label {self.labels[0]!r}; a "
                "classifier needs at least two labels: check label_column or add other classes"
            )
        if self.config.time_column or self.config.group_column:
            return
        needed = sum(1 for f in self.config.fractions.values() if f > 0)
        if self.multi_label:
            # Distinct texts (near-duplicate sets) that carry each label.
            inverse = self._leak_units[0]
            carried = np.zeros((inverse.max() + 1, len(self.labels)), dtype=bool)
            np.logical_or.at(carried, inverse, self.member[self.label[keep]])
            counts, names = carried.sum(0), self.labels
        else:
            counts = np.bincount(self._leak_units[1], minlength=len(names))
        short = [(names[i], c) for i, c in enumerate(counts) if 0 < c < needed]
        if short:
            listed = ", ".join(f"{n!r} ({c} distinct texts)" for n, c in short)
            raise KfpNlpError(
                f"labels {listed} have too few rows to stratify into {needed} splits; add "
                f"examples, or raise min_label_count above their count so they are dropped"
            )

    def _assign(self, keep: np.ndarray, keys: _Keys) -> np.ndarray:
        """A split per kept row: by time, by group, or stratified over near-duplicate sets."""
        fractions = list(self.config.fractions.values())
        rng = np.random.default_rng(self.config.seed)
        label = self.stratum[keep]
        if self.config.time_column:
            return _by_time(keys.concat("time", np.int64)[keep], fractions)
        if self.config.group_column:
            inverse, majority, sizes = _units(keys.concat("group", np.uint64)[keep], label)
            split = _balanced(majority, sizes, fractions, rng)[inverse]
        else:
            # Near-duplicates ('STOP', 'stop!!') move together, so they never straddle splits.
            inverse, majority, _ = self._leak_units
            split = _stratified(majority, fractions, rng)[inverse]
        if self.multi_label:
            split = _every_label_in_train(split, inverse, self.member[self.label[keep]])
        return split

    def _check_splits_filled(self) -> None:
        for split, name in enumerate(SPLITS):
            if self.config.fractions[name] > 0 and not (self.assignment == split).any():
                raise KfpNlpError(
                    f"the {name} split of {self.source} came out empty (too few rows or groups "
                    f"left after cleaning); add data or set {name}_fraction to 0"
                )

    def _dropped_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()) if v) or "none"

    def split_facts(self, split: int, name: str, source_uri: str) -> dict[str, Any]:
        rows = self.assignment == split
        held = np.bincount(self.label[rows], minlength=len(self.member))
        facts = {
            "split": name,
            "rows": int(rows.sum()),
            "labels": self.labels,
            "label_counts": {
                label: int(c) for label, c in zip(self.labels, held @ self.member, strict=True)
            },
            "source_uri": source_uri,
            "multi_label": self.multi_label,
            "text_column": TEXT,
            "label_column": LABEL,
        }
        if self.multi_label:
            sizes = np.bincount(self.member.sum(1), weights=held).astype(int)
            facts["labels_per_row"] = {str(s): int(c) for s, c in enumerate(sizes) if c}
        return facts


def _memberships(keys: list[str], multi_label: bool) -> tuple[list[str], np.ndarray]:
    """The label names, sorted, and which of them each label key holds (keys x labels)."""
    if not multi_label:
        return keys, np.eye(len(keys), dtype=bool)
    sets = [key.split(_SET_KEY) for key in keys]
    names = sorted({label for labels in sets for label in labels})
    return names, label_matrix(sets, names)


def _digest_strings(digest: Any, strings: pa.Array) -> None:
    """Feed the lengths and bytes of a string array to a hash, whatever its batch boundaries."""
    strings = (
        pc.cast(strings, pa.large_string()).combine_chunks()
        if isinstance(strings, pa.ChunkedArray)
        else pc.cast(strings, pa.large_string())
    )
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)
    offsets = offsets[strings.offset : strings.offset + len(strings) + 1]
    digest.update(np.diff(offsets).tobytes())
    data = strings.buffers()[2]
    if data is not None:
        digest.update(memoryview(data)[offsets[0] : offsets[-1]])


def _write_splits(spool: Path, plan: _Plan, staged: dict[str, Path], source: str) -> dict:
    """Pass 2: stream the spool into one Parquet file per split, with its facts embedded."""
    schema = pq.read_schema(spool)
    facts = {name: plan.split_facts(split, name, source) for split, name in enumerate(SPLITS)}
    # The content hash covers what a model learns from: every text and label, in order.
    digests = {name: hashlib.sha256() for name in SPLITS}
    writers = {}
    for name in SPLITS:
        writers[name] = pq.ParquetWriter(staged[name], schema, compression="zstd")
    with contextlib.ExitStack() as stack:
        for writer in writers.values():
            stack.callback(writer.close)
        start = 0
        for batch in pq.ParquetFile(spool).iter_batches(batch_size=256 * 1024):
            where = plan.assignment[start : start + batch.num_rows]
            start += batch.num_rows
            for split, name in enumerate(SPLITS):
                chosen = where == split
                if chosen.any():
                    part = batch.filter(pa.array(chosen))
                    _digest_strings(digests[name], part.column(TEXT))
                    labels = part.column(LABEL)
                    if _is_list(labels.type):
                        sizes = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
                        digests[name].update(sizes.astype(np.int64).tobytes())
                        labels = pc.list_flatten(labels)
                    _digest_strings(digests[name], labels)
                    writers[name].write_batch(part)
        # The facts go into each file's footer, which is written when the writer closes.
        for name in SPLITS:
            facts[name]["content_hash"] = digests[name].hexdigest()
            writers[name].add_key_value_metadata(encode_dataset_metadata(facts[name]))
    return facts


def _length_summary(lengths: np.ndarray) -> tuple[dict[str, int], list[tuple[str, int]]]:
    if not len(lengths):
        return {}, []
    points = {f"p{p}": int(np.percentile(lengths, p)) for p in (5, 25, 50, 75, 95, 99)}
    points["max"] = int(lengths.max())
    edges = [1, 11, 21, 41, 81, 161, 321, 641]
    counts = np.histogram(lengths, bins=[*edges, max(int(lengths.max()) + 1, 642)])[0]
    labels = [f"{a}-{b - 1}" for a, b in itertools.pairwise(edges)] + ["641+"]
    return points, list(zip(labels, (int(c) for c in counts), strict=True))


def prepare_dataset(
    source_uri: str, outputs: PrepareOutputs, config: PrepareConfig
) -> PrepareResult:
    """Clean, deduplicate and split the table at `source_uri`, writing the splits and a report.

    Args:
        source_uri: the raw table: a local path, file:// or s3:// URI of a CSV, TSV, JSON Lines
            or Parquet file (optionally gzip-compressed).
        outputs: where the three Parquet splits and the Markdown report go.
        config: what to read and how to clean and split it.

    Returns:
        The facts of the run: labels, rows read, rows dropped by reason, per-split facts.

    Raises:
        KfpNlpError: for any bad input; then no output is written.
    """
    with (
        tempfile.TemporaryDirectory(prefix="kfp-nlp-prepare-") as tmp,
        uri.local_copy(source_uri) as path,
    ):
        spool = Path(tmp) / "spool.parquet"
        scan = _Scan(config, spool)
        scan.run(path, source_uri)
        plan = _Plan(scan, config, source_uri)
        result = PrepareResult(
            source_uri=source_uri,
            labels=plan.labels,
            rows_read=scan.rows_read,
            dropped={k: v for k, v in sorted(plan.dropped.items())},
            conflicting_duplicates=plan.conflicts,
            multi_label=plan.multi_label,
        )
        kept = plan.assignment != DROPPED
        result.length_percentiles, result.length_histogram = _length_summary(plan.length[kept])
        targets = {"train": outputs.train, "validation": outputs.validation, "test": outputs.test}
        targets["report"] = outputs.report
        if outputs.metrics:
            targets["metrics"] = outputs.metrics
        # All outputs appear together or none does, even when S3 fails half-way.
        with uri.atomic_outputs(targets) as staged:
            result.splits = _write_splits(spool, plan, staged, source_uri)
            if plan.multi_label:
                sizes: Counter[int] = Counter()
                for facts in result.splits.values():
                    sizes.update({int(k): v for k, v in facts["labels_per_row"].items()})
                result.labels_per_row = dict(sorted(sizes.items()))
            staged["report"].write_text(render_report(result, config))
            if outputs.metrics:
                staged["metrics"].write_text(json.dumps(result.metrics(), indent=2))
    return result
