"""The test set as evaluation reads it: texts, true labels and the label order."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from components.common.splits import label_matrix, read_split


@dataclass
class Examples:
    """The test examples: the table as read, texts, label names, the label order.

    `names` holds each row's label, or for multi-label data each row's list of labels.

    `declared` says whether the label order came from the Dataset's metadata (prepare_dataset
    records it); a plain table only shows the labels that occur in it.
    """

    table: pa.Table
    texts: list[str]
    names: list[str] | list[list[str]]
    labels: list[str]
    declared: bool
    source: str
    multi_label: bool = False

    @cached_property
    def y_true(self) -> np.ndarray:
        """Class ids (single-label), or multi-hot rows (n, labels) for multi-label data."""
        sets = self.names if self.multi_label else [[name] for name in self.names]
        return encode_label_sets(sets, self.labels, self.multi_label)


def encode_label_sets(sets: list[list[str]], labels: list[str], multi_label: bool) -> np.ndarray:
    """Class ids (single-label: each set holds one label), or multi-hot rows (n, labels)."""
    if not multi_label:
        index = {label: i for i, label in enumerate(labels)}
        return np.array([index[row[0]] for row in sets], dtype=np.int64)
    return label_matrix(sets, labels).astype(np.int64)


def read_test_set(path: Path, source: str = "") -> Examples:
    """Read a test Dataset (Parquet from prepare_dataset, or any CSV/TSV/JSONL/Parquet table).

    `source` names it in messages and the report (default: the path).
    """
    split = read_split(path, "test", source)
    labels = split.declared_labels or sorted({label for row in split.labels for label in row})
    declared = bool(split.declared_labels)
    names = split.labels if split.multi_label else split.single_labels
    return Examples(
        split.table, split.texts, names, labels, declared, split.source, split.multi_label
    )
