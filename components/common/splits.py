"""The one reader of a split: a Dataset artifact (or a plain table) with `text` and `label`.

Every stage that reads a split (fine-tuning, evaluation, the ONNX export's accuracy check) reads
it here, so they agree on what a usable split is: Parquet from prepare_dataset (its facts read
from the footer) or any CSV/TSV/JSONL/Parquet table; at least one row; a `text` and a `label`
column; no empty text; no missing label (None, NaN or blank); labels as strings, a list of them
per row for multi-label data (a list column, or `multi_label` in the facts); and no label that
the facts' declared label list leaves out.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from components.common.artifacts import LABEL, TEXT, dataset_metadata
from components.common.errors import KfpNlpError
from components.common.tables import detect_format, iter_batches


@dataclass
class Split:
    """One split as read: the whole table, its texts and labels, and its recorded facts.

    `labels` holds one list per row (one item for single-label data); `declared_labels` is the
    label order prepare_dataset recorded (empty for a plain table).
    """

    table: pa.Table
    texts: list[str]
    labels: list[list[str]]
    multi_label: bool
    declared_labels: list[str]
    facts: dict[str, Any]
    source: str

    @property
    def single_labels(self) -> list[str]:
        """The label of each row (single-label data only)."""
        return [row[0] for row in self.labels]


# How each split is named in messages.
SPLIT_NAMES = {"train": "training dataset", "validation": "validation dataset", "test": "test set"}


def read_split(path: Path, split: str, source: str = "") -> Split:
    """Read and check one split.

    Args:
        path: the local file (Parquet from prepare_dataset, or a CSV/TSV/JSONL/Parquet table).
        split: which split this is (train, validation or test), for messages.
        source: how to name the file in messages (default: the path), e.g. its S3 URI.

    Returns:
        The split; every problem is a one-line `KfpNlpError` naming the file and the fix.
    """
    source = source or str(path)
    name = SPLIT_NAMES[split]
    parquet = detect_format(path, source) == "parquet"
    facts = dataset_metadata(path) if parquet else {}
    batches = list(iter_batches(path, name=source))
    table = pa.Table.from_batches(batches) if batches else None
    if table is None or table.num_rows == 0:
        raise KfpNlpError(
            f"the {name} {source} has no rows; pass the {split} split written by prepare_dataset "
            "(check the source data and prepare_dataset's filters)"
        )
    for column in (TEXT, LABEL):
        if column not in table.column_names:
            raise KfpNlpError(
                f"the {name} {source} has no {column!r} column (columns: "
                f"{', '.join(table.column_names)}); pass a Dataset written by prepare_dataset"
            )
    texts = table.column(TEXT).to_pylist()
    empty = [row for row, text in enumerate(texts) if text is None]
    if empty:
        raise KfpNlpError(
            f"the 'text' column of the {name} {source} has {len(empty)} empty values (first at "
            f"row {empty[0]}); drop or fill those rows (prepare_dataset does)"
        )
    raw = table.column(LABEL).to_pylist()
    unlabelled = [row for row, value in enumerate(raw) if _unlabelled(value)]
    if unlabelled:
        raise KfpNlpError(
            f"{len(unlabelled)} rows of the {name} {source} have no label (NaN, None or empty; "
            f"first at row {unlabelled[0]}); a missing label is not a class: drop them with "
            "prepare_dataset --drop-unlabeled (drop_unlabeled=True) or fill them in"
        )
    labels = [[str(v) for v in value] if isinstance(value, list) else [str(value)] for value in raw]
    multi_label = bool(facts.get("multi_label")) or any(isinstance(v, list) for v in raw)
    declared = [str(v) for v in facts.get("labels", [])]
    unknown = sorted({label for row in labels for label in row} - set(declared)) if declared else []
    if unknown:
        raise KfpNlpError(
            f"the {name} {source} has labels {unknown} that its metadata does not list "
            f"({declared}); write the {split} split again with prepare_dataset"
        )
    return Split(table, [str(t) for t in texts], labels, multi_label, declared, facts, source)


def _unlabelled(value: object) -> bool:
    """None, a float NaN (how pandas writes a missing label) or a blank string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def label_matrix(sets: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Label sets as a boolean (rows, labels) matrix, its columns in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(sets), len(labels)), dtype=bool)
    for row, names in enumerate(sets):
        matrix[row, [index[name] for name in names]] = True
    return matrix
