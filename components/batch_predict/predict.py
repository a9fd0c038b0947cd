"""Score a table of texts with a Model artifact, in chunks that survive an interruption.

    python -m components.batch_predict --input-uri s3://b/replies.csv --model-uri s3://b/model \
        --output-uri s3://b/predictions.parquet

The input (local or S3; CSV, TSV, JSONL or Parquet, or a Dataset artifact) is streamed and cut
into chunks of `chunk_rows` rows. Each scored chunk is committed on its own as a part file
(`part-000007.parquet`) under the parts folder, next to a `job.json` naming the input and model
it belongs to. A run that stops part way is resumed by running it again: finished chunks are
read past without being scored. Once every chunk is done, the parts are assembled into the
output in one atomic write and removed. Memory holds one chunk at a time, whatever the size of
the table.

A single-label model adds `label` and `probability`. A multi-label model adds `labels` (every
label at or above its decision threshold, possibly none) and `label_probabilities` (theirs, in
the same order): lists in Parquet and JSONL, cells joined by `label_delimiter` in CSV.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components.batch_predict.config import OUTPUT_FORMATS, BatchPredictConfig
from components.common import uri
from components.common.artifacts import MANIFEST_NAME, local_model_dir, sha256_file
from components.common.errors import KfpNlpError
from components.common.inference import (
    Classifier,
    label_sets,
    load_classifier,
    score_tokens,
    tokenize,
)
from components.common.payload import chosen_probabilities, model_identity, payload_columns
from components.common.tables import iter_batches

LABEL_COLUMN = "label"
PROBABILITY_COLUMN = "probability"
LABELS_COLUMN = "labels"
LABEL_PROBABILITIES_COLUMN = "label_probabilities"
# The columns a prediction adds (single-label: the first two; multi-label: the last two).
PREDICTED_COLUMNS = (LABEL_COLUMN, PROBABILITY_COLUMN, LABELS_COLUMN, LABEL_PROBABILITIES_COLUMN)
JOB_FILE = "job.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """What a run did: rows written, chunks scored now and chunks found already done."""

    rows: int
    chunks: int
    scored_chunks: int
    resumed_chunks: int
    output_uri: str


def chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly `rows` rows (the last: fewer)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def output_format(output_uri: str, config: BatchPredictConfig) -> str:
    if config.output_format != "auto":
        return config.output_format
    suffix = Path(output_uri.removesuffix(".gz")).suffix.lstrip(".").lower()
    return suffix if suffix in OUTPUT_FORMATS else "parquet"


def kept_columns(schema: pa.Schema, config: BatchPredictConfig, name: str) -> list[str]:
    """The input columns copied to the output, checked against the input's columns."""
    if config.text_column not in schema.names:
        raise KfpNlpError(
            f"{name} has no column {config.text_column!r} (columns: {', '.join(schema.names)}); "
            "pass --text-column with the column that holds the texts"
        )
    if not config.id_columns:
        skip = {config.text_column, *PREDICTED_COLUMNS}
        return [c for c in schema.names if c not in skip]
    clashing = [c for c in config.id_columns if c in PREDICTED_COLUMNS]
    if clashing:
        raise KfpNlpError(
            f"id column {clashing[0]!r} would clash with the predicted column of that name; "
            "leave it out of --id-columns"
        )
    missing = [c for c in config.id_columns if c not in schema.names]
    if missing:
        raise KfpNlpError(
            f"{name} has no column {missing[0]!r} (columns: {', '.join(schema.names)}); "
            "fix --id-columns"
        )
    return list(config.id_columns)


def _with_payload_columns(
    table: pa.Table,
    texts: list[str],
    scores: np.ndarray,
    counts: list[int],
    identity: tuple[str, str],
    classifier: Classifier,
) -> pa.Table:
    """The kept columns plus the payload log's (components.serve.payload_log), as the server
    writes them for a text it scored now with this model."""
    n = table.num_rows
    model, version = identity
    columns = {
        "timestamp": pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
        "model": pa.array([model] * n, pa.string()),
        "version": pa.array([version] * n, pa.string()),
        **payload_columns(texts, scores, classifier, counts, "hash", True),
    }
    for name, values in columns.items():
        if name in table.column_names:
            table = table.drop_columns(name)
        table = table.append_column(name, values)
    return table


def score_chunk(
    table: pa.Table,
    classifier: Classifier,
    columns: list[str],
    config: BatchPredictConfig,
    identity: tuple[str, str] = ("", ""),
) -> pa.Table:
    """The kept columns of a chunk plus the predicted label(s) and probabilities; with
    `config.payload_columns`, the payload log's columns instead (`identity`: model, version)."""
    texts = [t or "" for t in table.column(config.text_column).to_pylist()]
    tokens = tokenize(classifier, texts)
    scores = score_tokens(classifier, tokens, config.batch_size, config.precision)
    if config.payload_columns:
        counts = [len(ids) for ids in tokens["input_ids"]]
        return _with_payload_columns(
            table.select(columns), texts, scores, counts, identity, classifier
        )
    chosen = label_sets(classifier, scores)
    picked = chosen_probabilities(classifier, scores, chosen)
    out = table.select(columns)
    if classifier.multi_label:
        out = out.append_column(LABELS_COLUMN, pa.array(chosen, pa.list_(pa.string())))
        return out.append_column(
            LABEL_PROBABILITIES_COLUMN, pa.array(picked, pa.list_(pa.float32()))
        )
    out = out.append_column(LABEL_COLUMN, pa.array([n[0] for n in chosen], pa.string()))
    return out.append_column(PROBABILITY_COLUMN, pa.array([p[0] for p in picked], pa.float32()))


def joined_lists(table: pa.Table, delimiter: str) -> pa.Table:
    """`table` with every list column as one string per row, its items joined by `delimiter`
    (CSV has no lists); an empty list becomes an empty cell."""
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            items = pc.cast(table.column(i), pa.list_(pa.string()))
            table = table.set_column(i, field.name, pc.binary_join(items, delimiter))
    return table


def check_delimiter(classifier: Classifier, fmt: str, delimiter: str) -> None:
    """A multi-label model's labels must not contain the CSV label delimiter."""
    if fmt != "csv" or not classifier.multi_label:
        return
    clashing = [label for label in classifier.labels if delimiter in label]
    if clashing:
        raise KfpNlpError(
            f"label {clashing[0]!r} contains the label delimiter {delimiter!r}, so its CSV "
            "cells could not be split again; pass another --label-delimiter or write Parquet"
        )


def job_identity(input_path: Path, model_dir: Path, config: BatchPredictConfig) -> dict:
    """What the part files depend on: the input's bytes, the model and the chunking."""
    settings = {
        "text_column": config.text_column,
        "id_columns": config.id_columns,
        "max_length": config.max_length,
        "backend": config.backend,
        "onnx_file": config.onnx_file if config.backend == "onnx" else "",
        "payload_columns": config.payload_columns,
    }
    return {
        "input_sha256": sha256_file(input_path),
        "model_manifest_sha256": sha256_file(model_dir / MANIFEST_NAME),
        "chunk_rows": config.chunk_rows,
        "settings": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
    }


def claim_parts(parts_uri: str, identity: dict) -> set[str]:
    """The part files already finished for this job; a folder from another job is an error."""
    job_uri = uri.join(parts_uri, JOB_FILE)
    if uri.exists(job_uri):
        with uri.local_copy(job_uri) as path:
            recorded = json.loads(path.read_text())
        if recorded != identity:
            raise KfpNlpError(
                f"{parts_uri} holds parts of a run on another input, model or settings; "
                "delete it or pass another --parts-uri"
            )
        return {name for name in uri.list_files(parts_uri) if name.startswith("part-")}
    with uri.atomic_output(job_uri) as staged:
        staged.write_text(json.dumps(identity, indent=2, sort_keys=True))
    return set()


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def assemble(parts_uri: str, count: int, output_uri: str, fmt: str, delimiter: str) -> int:
    """Join the part files, in order, into the output in one atomic write; rows written. In
    CSV, list cells are joined by `delimiter`."""
    rows = 0
    with uri.atomic_output(output_uri) as staged:
        writer = None
        for index in range(count):
            with uri.local_copy(uri.join(parts_uri, part_name(index))) as path:
                table = pq.read_table(path)
            rows += table.num_rows
            if fmt == "csv":
                table = joined_lists(table, delimiter)
            if fmt == "jsonl":
                with staged.open("a", encoding="utf-8") as sink:
                    table.to_pandas().to_json(sink, orient="records", lines=True, force_ascii=False)
                continue
            if writer is None:
                writer = (
                    pq.ParquetWriter(staged, table.schema, compression="zstd")
                    if fmt == "parquet"
                    else pacsv.CSVWriter(str(staged), table.schema)
                )
            writer.write_table(table)
        if writer is not None:
            writer.close()
        elif fmt != "jsonl":
            staged.touch()
    return rows


def batch_predict(
    input_uri: str, model_uri: str, output_uri: str, config: BatchPredictConfig
) -> Summary:
    """Score every row of `input_uri` with the model at `model_uri` into `output_uri`."""
    parts_uri = config.parts_uri or f"{output_uri}.parts"
    fmt = output_format(output_uri, config)
    scored = resumed = count = 0
    with local_model_dir(model_uri) as model_dir, uri.local_copy(input_uri) as input_path:
        batches = iter_batches(input_path, name=input_uri)
        first = next(batches, None)
        if first is None:
            raise KfpNlpError(f"{input_uri} has no rows; point at a table with texts to score")
        columns = kept_columns(first.schema, config, input_uri)
        onnx_file = config.onnx_file if config.backend == "onnx" else ""
        classifier = load_classifier(model_dir, config.max_length, onnx_file)
        check_delimiter(classifier, fmt, config.label_delimiter)
        done = claim_parts(parts_uri, job_identity(input_path, model_dir, config))
        identity = _identity(model_dir, model_uri) if config.payload_columns else ("", "")
        for index, chunk in enumerate(chunks(_prepend(first, batches), config.chunk_rows)):
            count = index + 1
            if part_name(index) in done:
                resumed += 1
                continue
            result = score_chunk(chunk, classifier, columns, config, identity)
            with uri.atomic_output(uri.join(parts_uri, part_name(index))) as staged:
                pq.write_table(result, staged, compression="zstd")
            scored += 1
            log.info("chunk %d: %d rows scored", index, chunk.num_rows)
    if count == 0:
        raise KfpNlpError(f"{input_uri} has no rows; point at a table with texts to score")
    rows = assemble(parts_uri, count, output_uri, fmt, config.label_delimiter)
    uri.delete_tree(parts_uri)
    return Summary(rows, count, scored, resumed, output_uri)


def _identity(model_dir: Path, model_uri: str) -> tuple[str, str]:
    """The model's name and version as the server names them in its payload log."""
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    return model_identity(model_dir, manifest)


def _prepend(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
