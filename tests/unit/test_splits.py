"""The one split reader every stage uses: what it accepts, and the one line it gives otherwise."""

from pathlib import Path

import pyarrow as pa
import pytest

from components.common.artifacts import encode_dataset_metadata
from components.common.errors import KfpNlpError
from components.common.splits import read_split
from components.common.tables import write_parquet


def _parquet(path: Path, columns: dict, facts: dict | None = None) -> Path:
    write_parquet(pa.table(columns), path, encode_dataset_metadata(facts) if facts else None)
    return path


def test_parquet_and_csv_read_alike_with_labels_as_strings(tmp_path: Path) -> None:
    parquet = _parquet(tmp_path / "a.parquet", {"text": ["good", "bad"], "label": [1, 0]})
    csv = tmp_path / "a.csv"
    csv.write_text("text,label,channel\ngood,1,sms\nbad,0,email\n")

    for path in (parquet, csv):
        split = read_split(path, "test")
        assert split.texts == ["good", "bad"]
        assert split.single_labels == ["1", "0"]
        assert not split.multi_label and split.declared_labels == []
    assert read_split(csv, "test").table.column("channel").to_pylist() == ["sms", "email"]


def test_facts_and_multi_label(tmp_path: Path) -> None:
    facts = {"labels": ["billing", "late", "praise"], "multi_label": True}
    path = _parquet(
        tmp_path / "m.parquet",
        {"text": ["x", "y"], "label": [["billing", "late"], ["praise"]]},
        facts,
    )
    split = read_split(path, "train", "s3://bucket/train.parquet")
    assert split.multi_label and split.labels == [["billing", "late"], ["praise"]]
    assert split.declared_labels == ["billing", "late", "praise"]
    assert split.source == "s3://bucket/train.parquet"


@pytest.mark.parametrize(
    ("columns", "facts", "message"),
    [
        (
            {"text": pa.array([], pa.string()), "label": pa.array([], pa.string())},
            None,
            r"^the test set .*t\.parquet has no rows; pass the test split written by "
            "prepare_dataset",
        ),
        (
            {"body": ["a"], "label": ["x"]},
            None,
            r"^the test set .* has no 'text' column \(columns: body, label\); pass a Dataset",
        ),
        (
            {"text": ["a", None, None], "label": ["x", "y", "x"]},
            None,
            r"^the 'text' column of the test set .* has 2 empty values \(first at row 1\)",
        ),
        (
            {"text": ["a", "b", "c"], "label": ["x", None, " "]},
            None,
            r"^2 rows of the test set .* have no label \(NaN, None or empty; first at row 1\)",
        ),
        (
            {"text": ["a", "b"], "label": ["x", "z"]},
            {"labels": ["x", "y"]},
            r"^the test set .* has labels \['z'\] that its metadata does not list "
            r"\(\['x', 'y'\]\); write the test split again",
        ),
    ],
    ids=["no rows", "no text column", "empty text", "missing labels", "undeclared label"],
)
def test_bad_splits_get_one_line(tmp_path: Path, columns: dict, facts, message: str) -> None:
    path = _parquet(tmp_path / "t.parquet", columns, facts)
    with pytest.raises(KfpNlpError, match=message) as raised:
        read_split(path, "test")
    assert "\n" not in str(raised.value)
