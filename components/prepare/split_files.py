"""Pass 2 of prepare_dataset: stream the spool into one Parquet file per split.

Each file carries its facts (labels, counts, content hash) in its footer; the content hash
covers every text and label in order, whatever the batch boundaries.
"""

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common.artifacts import LABEL, TEXT, encode_dataset_metadata
from components.prepare.config import SPLITS
from components.prepare.plan import Plan
from components.prepare.scan import is_list


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


def write_splits(spool: Path, plan: Plan, staged: dict[str, Path], source: str) -> dict:
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
                    if is_list(labels.type):
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
