"""Where prepare_dataset writes, and what it found: the facts for metadata, metrics, report."""

from dataclasses import dataclass, field
from typing import Any


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
