"""Metrics per slice: per value of each slice column, the most frequent values first.

Each slice row holds the reported metrics of the rows with that value, the headline metric's
bootstrap interval and, with a champion, the champion's headline metric. The rows of every
column together are sorted by their number of test rows, largest first, in the report and in
the metrics summary alike.
"""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.errors import KfpNlpError
from components.common.slices import TEXT_LENGTH_SLICE, length_bucket
from components.evaluate.config import EvaluateConfig
from components.evaluate.examples import Examples
from components.evaluate.metrics import (
    bootstrap_interval,
    headline_value,
    predictions_of,
    report_for,
    reported_metrics,
)

# The most frequent values of a column that get a slice row.
MAX_SLICE_VALUES = 25


def slice_values(test: Examples, column: str) -> list[str]:
    """Each test row's value of the slice column (a column of the test set, or text_length)."""
    if column in test.table.column_names:
        values = test.table.column(column).cast(pa.string())
        return [v if v is not None else "(missing)" for v in values.to_pylist()]
    if column == TEXT_LENGTH_SLICE:
        words = pc.utf8_split_whitespace(pa.array(test.texts)).to_pylist()
        return [length_bucket(len(w)) for w in words]
    raise KfpNlpError(
        f"slice column {column!r} is not in the test set {test.source} (columns: "
        f"{', '.join(test.table.column_names)}); name an existing column or '{TEXT_LENGTH_SLICE}'"
    )


def slice_rows(
    test: Examples,
    probs: np.ndarray,
    champion_probs: np.ndarray | None,
    config: EvaluateConfig,
    predicted: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """A row per shown slice value, the largest slices first (ties in column, then value
    order); `predicted` holds the multi-hot predictions of multi-label models."""
    metric = config.headline_metric
    rows = []
    for column in config.slice_list:
        values = np.array(slice_values(test, column), dtype=object)
        names, counts = np.unique(values, return_counts=True)
        for value in names[np.argsort(-counts, kind="stable")][:MAX_SLICE_VALUES]:
            mask = values == value
            y, p = test.y_true[mask], probs[mask]
            pred = predicted["challenger"][mask] if "challenger" in predicted else None
            report = report_for(y, p, test.labels, config.calibration_bins, pred)
            low, high = bootstrap_interval(
                y,
                predictions_of(p, pred),
                len(test.labels),
                metric,
                config.bootstrap_resamples,
                config.confidence,
                config.seed,
            )
            row = {"column": column, "value": str(value), "n": int(mask.sum())}
            row["values_in_column"] = len(names)
            row |= {name: report[name] for name in reported_metrics(test.multi_label)}
            row[f"{metric}_ci"] = [low, high]
            if champion_probs is not None:
                champion = predicted["champion"][mask] if "champion" in predicted else None
                champion_pred = predictions_of(champion_probs[mask], champion)
                row[f"champion_{metric}"] = headline_value(
                    y, champion_pred, len(test.labels), metric
                )
            rows.append(row)
    return sorted(rows, key=lambda row: -row["n"])
