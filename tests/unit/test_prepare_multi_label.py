"""prepare_dataset on multi-label tables: label lists (JSON Lines, Parquet) or delimited strings.

Each case runs the step's real command line on a small table and reads back what a user sees:
the split files through the one split reader, their recorded facts, the report and the errors.
"""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.artifacts import dataset_metadata
from components.common.errors import run_cli
from components.common.splits import read_split
from components.prepare.__main__ import main
from tests.unit.test_prepare_errors import run_bad

SPLIT_FILES = ("train", "validation", "test")


def label_sets(rows: int = 120) -> list[list[str]]:
    """Mostly one label, every fourth row two; 'refund' only ever appears beside another label."""
    single = ("billing", "shipping", "praise")
    sets = []
    for i in range(rows):
        first = single[i % 3]
        sets.append([first, "refund"] if i % 4 == 0 else [first])
    return sets


def texts(rows: int) -> list[str]:
    return [f"customer reply number {i} about the order" for i in range(rows)]


def prepare(source: Path, out: Path, *options: str) -> None:
    run_cli(main, ["--source", str(source), "--output-dir", str(out), *options])


def read(out: Path) -> dict:
    return {name: read_split(out / f"{name}.parquet", name) for name in SPLIT_FILES}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_delimited_strings_and_label_lists_give_the_same_splits(tmp_path: Path, fmt: str):
    sets = label_sets()
    source = tmp_path / f"replies.{fmt}"
    options: tuple[str, ...] = ()
    if fmt == "csv":
        # Untidy cells: spaces around items, a repeated label, an empty item.
        cells = [" | ".join([*row, row[0], ""]) for row in sets]
        pd.DataFrame({"text": texts(len(sets)), "label": cells}).to_csv(source, index=False)
        options = ("--label-delimiter", "|")
    elif fmt == "jsonl":
        frame = pd.DataFrame({"text": texts(len(sets)), "label": [row[::-1] for row in sets]})
        frame.to_json(source, orient="records", lines=True)
    else:
        table = pa.table({"text": texts(len(sets)), "label": pa.array(sets, pa.list_(pa.string()))})
        pq.write_table(table, source)
    prepare(source, tmp_path / "out", *options)
    splits = read(tmp_path / "out")
    for split in splits.values():
        assert split.multi_label and split.facts["multi_label"] is True
        assert split.declared_labels == ["billing", "praise", "refund", "shipping"]
    train = splits["train"]
    # Items trimmed, de-duplicated and sorted; the label counts count a row once per label.
    assert ["billing", "refund"] in train.labels and ["praise"] in train.labels
    assert all(row == sorted(set(row)) and "" not in row for row in train.labels)
    total = {label: 0 for label in train.declared_labels}
    for split in splits.values():
        for label, count in split.facts["label_counts"].items():
            total[label] += count
    assert total == {"billing": 40, "praise": 40, "refund": 30, "shipping": 40}
    # Stratified on each row's rarest label: 'refund' (never alone) reaches all three splits.
    assert all(s.facts["label_counts"]["refund"] > 0 for s in splits.values())
    sizes = {n: s.facts["labels_per_row"] for n, s in splits.items()}
    assert sum(v.get("2", 0) for v in sizes.values()) == 30
    report = (tmp_path / "out" / "report.md").read_text()
    assert "multi-label" in report and "## Label sets" in report
    assert "| 2 | 30 |" in report


def test_the_csv_and_jsonl_forms_have_the_same_content_hash(tmp_path: Path):
    sets = label_sets()
    csv, jsonl = tmp_path / "a.csv", tmp_path / "a.jsonl"
    pd.DataFrame({"text": texts(len(sets)), "label": ["|".join(r) for r in sets]}).to_csv(
        csv, index=False
    )
    pd.DataFrame({"text": texts(len(sets)), "label": sets}).to_json(
        jsonl, orient="records", lines=True
    )
    prepare(csv, tmp_path / "a", "--label-delimiter", "|")
    prepare(jsonl, tmp_path / "b")
    for name in SPLIT_FILES:
        hashes = [dataset_metadata(tmp_path / d / f"{name}.parquet") for d in ("a", "b")]
        assert hashes[0]["content_hash"] == hashes[1]["content_hash"]


def test_every_label_reaches_train_and_group_and_time_splits_still_work(tmp_path: Path):
    sets = label_sets()
    frame = pd.DataFrame(
        {
            "text": texts(len(sets)),
            "label": ["|".join(r) for r in sets],
            "customer": [f"c{i // 3}" for i in range(len(sets))],
            "sent": pd.date_range("2026-01-01", periods=len(sets), freq="h").astype(str),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    for mode, column in (("by_group", "--group-column"), ("by_time", "--time-column")):
        name = "customer" if mode == "by_group" else "sent"
        prepare(tmp_path / "t.csv", tmp_path / mode, "--label-delimiter", "|", column, name)
        splits = read(tmp_path / mode)
        assert all(s.multi_label for s in splits.values())
        assert all(c > 0 for c in splits["train"].facts["label_counts"].values())
    groups = {
        n: set(pq.read_table(tmp_path / "by_group" / f"{n}.parquet")["customer"].to_pylist())
        for n in SPLIT_FILES
    }
    assert not groups["train"] & groups["test"]


def test_rows_with_an_empty_set_follow_the_unlabelled_rules(tmp_path: Path, capsys):
    sets = label_sets()
    cells = ["|".join(r) for r in sets] + [" | ", ""]
    frame = pd.DataFrame({"text": texts(len(cells)), "label": cells})
    frame.to_csv(tmp_path / "t.csv", index=False)
    message = run_bad(str(tmp_path / "t.csv"), tmp_path / "bad", capsys, "--label-delimiter", "|")
    assert "2 rows of" in message and "drop_unlabeled" in message
    prepare(tmp_path / "t.csv", tmp_path / "out", "--label-delimiter", "|", "--drop-unlabeled")
    assert sum(s.facts["rows"] for s in read(tmp_path / "out").values()) == len(sets)


def test_allowed_labels_remove_other_labels_from_a_set(tmp_path: Path):
    sets = label_sets()
    frame = pd.DataFrame({"text": texts(len(sets)), "label": ["|".join(r) for r in sets]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    prepare(
        tmp_path / "t.csv",
        tmp_path / "out",
        "--label-delimiter",
        "|",
        "--allowed-labels",
        "billing",
        "refund",
    )
    splits = read(tmp_path / "out")
    assert splits["train"].declared_labels == ["billing", "refund"]
    # 'praise' and 'shipping' rows without refund are gone; with refund they keep only refund.
    assert sum(s.facts["rows"] for s in splits.values()) == 40 + 20


def test_a_delimiter_on_a_list_column_is_an_error(tmp_path: Path, capsys):
    sets = label_sets()
    pd.DataFrame({"text": texts(len(sets)), "label": sets}).to_json(
        tmp_path / "t.jsonl", orient="records", lines=True
    )
    message = run_bad(str(tmp_path / "t.jsonl"), tmp_path / "out", capsys, "--label-delimiter", "|")
    assert "already holds lists of labels" in message and "drop label_delimiter='|'" in message


def test_a_label_seen_once_is_dropped_or_refused(tmp_path: Path, capsys):
    sets = label_sets()
    sets[5] = [*sets[5], "lonely"]
    frame = pd.DataFrame({"text": texts(len(sets)), "label": ["|".join(r) for r in sets]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    flags = ("--label-delimiter", "|", "--min-label-count", "1")
    message = run_bad(str(tmp_path / "t.csv"), tmp_path / "bad", capsys, *flags)
    assert "'lonely' (1 distinct texts)" in message and "too few rows to stratify" in message
    prepare(tmp_path / "t.csv", tmp_path / "out", "--label-delimiter", "|")
    splits = read(tmp_path / "out")
    assert "lonely" not in splits["train"].declared_labels
    assert sum(s.facts["rows"] for s in splits.values()) == len(sets) - 1


def test_a_blank_label_delimiter_is_refused(tmp_path: Path, capsys):
    message = run_bad(str(tmp_path / "t.csv"), tmp_path / "out", capsys, "--label-delimiter", " ")
    assert "label_delimiter ' '" in message
