"""prepare_dataset's input options a user's own export needs: delimiter, BOM, slice columns."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.common.errors import run_cli
from components.prepare.__main__ import main


def export(path: Path, separator: str = ";", bom: bool = True) -> Path:
    """A spreadsheet export: a byte order mark, `separator`-separated, a channel column."""
    lines = [separator.join(("body", "intent", "channel"))]
    for i in range(60):
        intent = ("billing", "shipping", "praise")[i % 3]
        lines.append(
            separator.join((f"{intent} question number {i}", intent, ("email", "sms")[i % 2]))
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def prepare(source: Path, out: Path, *options: str) -> None:
    run_cli(
        main,
        [
            "--source",
            str(source),
            "--output-dir",
            str(out),
            "--text-columns",
            "body",
            "--label-column",
            "intent",
            "--min-label-count",
            "2",
            *options,
        ],
    )


def test_a_semicolon_export_with_a_bom_reads_with_delimiter(tmp_path: Path):
    prepare(
        export(tmp_path / "export.csv"),
        tmp_path / "out",
        "--delimiter",
        ";",
        "--slice-columns",
        "text_length,channel",
    )
    train = pq.read_table(tmp_path / "out" / "train.parquet")
    # The BOM is not part of the first column's name, and the slice column is carried along.
    assert {"text", "label", "channel"} <= set(train.column_names)
    assert set(train.column("channel").to_pylist()) == {"email", "sms"}


@pytest.mark.parametrize(
    ("separator", "options", "message"),
    [
        (";", [], "its fields look separated by ';': pass delimiter=';'"),
        ("\t", [], "separated by '\\t': pass delimiter='\\t' (or format=tsv)"),
        (",", ["--slice-columns", "text_length,region"], "slice column 'region' is not in"),
    ],
)
def test_mistakes_end_at_once_with_one_line(
    separator: str, options: list[str], message: str, tmp_path: Path, capsys
):
    source = export(tmp_path / "export.csv", separator)
    with pytest.raises(SystemExit) as exit_info:
        prepare(source, tmp_path / "out", *options)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_delimiter_of_several_characters_is_refused(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        prepare(export(tmp_path / "export.csv"), tmp_path / "out", "--delimiter", ";;")
    assert "delimiter ';;' is not one character" in capsys.readouterr().err
