"""prepare_dataset: a raw text table in, clean and documented train/validation/test splits out.

Two streaming passes keep memory bounded by a few bytes per row, whatever the table's size:

1. Read the source batch by batch; normalise text (Unicode NFKC, whitespace) and labels; drop
   empty, too short, unlabelled and disallowed rows; spool the survivors to a temporary Parquet
   file and keep only compact per-row keys in memory (64-bit hashes of the text and of its
   case- and punctuation-free form, a label code, a group hash or a timestamp).
2. On those keys: drop duplicate texts, handle rare labels, assign splits (stratified, by group,
   or by time) and remove near-duplicates that would leak between splits; then stream the spool
   once more into the three split files.

Pass 1 is `scan`, the split plan `plan`, pass 2 `split_files`; the data report is `report`.
Nothing reaches the output paths unless every check passed.
"""

import itertools
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from components.common import uri
from components.prepare.config import PrepareConfig
from components.prepare.plan import DROPPED, Plan
from components.prepare.report import render_report
from components.prepare.result import PrepareOutputs, PrepareResult
from components.prepare.scan import Scan
from components.prepare.split_files import write_splits


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
        scan = Scan(config, spool)
        scan.run(path, source_uri)
        plan = Plan(scan, config, source_uri)
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
            result.splits = write_splits(spool, plan, staged, source_uri)
            if plan.multi_label:
                sizes: Counter[int] = Counter()
                for facts in result.splits.values():
                    sizes.update({int(k): v for k, v in facts["labels_per_row"].items()})
                result.labels_per_row = dict(sorted(sizes.items()))
            staged["report"].write_text(render_report(result, config))
            if outputs.metrics:
                staged["metrics"].write_text(json.dumps(result.metrics(), indent=2))
    return result
