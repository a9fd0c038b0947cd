"""Reading and writing tables: CSV, TSV, JSON Lines and Parquet, optionally gzip-compressed.

Readers stream record batches with pyarrow, so a table far larger than memory can be processed
batch by batch. CSV and TSV columns are read as strings: a label column such as `0`/`1` stays the
label the user wrote, and types never change between batches.
"""

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from components.common.errors import KfpNlpError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
BATCH_ROWS = 64 * 1024
_BLOCK_BYTES = 8 * 1024 * 1024


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def detect_format(path: Path, name: str = "") -> str:
    """The format of a table file, from its name (`name` or the path's) or else its content."""
    suffixes = [s.lower() for s in Path(name or path.name).suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    first_line = head.split(b"\n", 1)[0]
    if first_line.lstrip().startswith(b"{"):
        return "jsonl"
    return "tsv" if b"\t" in first_line and b"," not in first_line else "csv"


def _csv_reader(path: Path, delimiter: str, types: dict | None) -> pacsv.CSVStreamingReader:
    source = pa.input_stream(str(path), compression="gzip" if _is_gzip(path) else None)
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )


def _csv_batches(path: Path, delimiter: str) -> Iterator[pa.RecordBatch]:
    # The first open only learns the column names; the second reads every column as a string.
    names = _csv_reader(path, delimiter, None).schema.names
    reader = _csv_reader(path, delimiter, dict.fromkeys(names, pa.string()))
    yield from reader


def _jsonl_batches(path: Path) -> Iterator[pa.RecordBatch]:
    source = pa.input_stream(str(path), compression="gzip" if _is_gzip(path) else None)
    yield from pajson.open_json(source, read_options=pajson.ReadOptions(block_size=_BLOCK_BYTES))


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)


def iter_batches(
    path: Path, fmt: str = "auto", name: str = "", delimiter: str = ""
) -> Iterator[pa.RecordBatch]:
    """Stream the record batches of a table file; errors name the file and the way out.

    `delimiter` overrides the field separator of CSV and TSV files (e.g. ";" for a spreadsheet
    export); a UTF-8 byte order mark at the start of a CSV or TSV file is skipped.
    """
    label = name or str(path)
    if len(delimiter) > 1:
        raise KfpNlpError(f"delimiter {delimiter!r} is not one character; give e.g. ';' or '|'")
    if path.stat().st_size == 0:
        raise KfpNlpError(f"{label} is empty; point at a file that holds a header and rows")
    fmt = detect_format(path, name) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise KfpNlpError(f"unknown table format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    readers = {
        "csv": lambda: _csv_batches(path, delimiter or ","),
        "tsv": lambda: _csv_batches(path, delimiter or "\t"),
        "jsonl": lambda: _jsonl_batches(path),
        "parquet": lambda: _parquet_batches(path),
    }
    try:
        yield from readers[fmt]()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "UTF8" in reason or "utf-8" in reason.lower():
            raise KfpNlpError(
                f"{label} is not valid UTF-8 text ({reason}); re-save it as UTF-8 "
                "(for example `iconv -f latin1 -t utf-8`)"
            ) from exc
        if "Empty CSV file" in reason:
            raise KfpNlpError(
                f"{label} is empty; point at a file that holds a header and rows"
            ) from exc
        raise KfpNlpError(
            f"cannot read {label} as {fmt} ({reason}); check the file or pass the right format"
        ) from exc


def write_parquet(table: pa.Table, path: Path, metadata: dict[bytes, bytes] | None = None) -> None:
    """Write a table as Parquet, with key-value metadata in its schema."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, path, compression="zstd")


def write_table(table: pa.Table, path: Path, fmt: str, gzip: bool = False) -> None:
    """Write a whole table in one of FORMATS; text formats gzip-compressed if `gzip`."""
    if fmt == "parquet":
        write_parquet(table, path)
        return
    compression = "gzip" if gzip else None
    if fmt in ("csv", "tsv"):
        options = pacsv.WriteOptions(delimiter="," if fmt == "csv" else "\t")
        with pa.output_stream(str(path), compression=compression) as sink:
            pacsv.write_csv(table, sink, write_options=options)
        return
    if fmt == "jsonl":
        lines = table.to_pandas().to_json(orient="records", lines=True, force_ascii=False)
        with pa.output_stream(str(path), compression=compression) as sink:
            sink.write(lines.encode())
        return
    raise KfpNlpError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")
