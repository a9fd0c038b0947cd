"""prepare_dataset on small tables: what a user gets in the splits, the metadata and the report."""

import gzip
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.artifacts import dataset_metadata
from components.common.tables import write_table
from components.common.uri import list_files, local_copy
from components.prepare.config import PrepareConfig
from components.prepare.prepare import prepare_dataset
from components.prepare.result import PrepareOutputs
from components.sample_data import write_sample

SAMPLE = {"text_columns": ["reply_text"], "label_column": "intent"}


def outputs_in(folder: Path) -> PrepareOutputs:
    return PrepareOutputs(
        train=str(folder / "train.parquet"),
        validation=str(folder / "validation.parquet"),
        test=str(folder / "test.parquet"),
        report=str(folder / "report.md"),
    )


def read_splits(folder: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_parquet(folder / f"{n}.parquet") for n in ("train", "validation", "test")}


def leak_key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower()) or text


@pytest.fixture(scope="module")
def prepared(sample_csv: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("prepared")
    config = PrepareConfig(**SAMPLE, keep_columns=["message_id", "channel"])
    result = prepare_dataset(str(sample_csv), outputs_in(folder), config)
    return folder, result


def test_sample_splits_are_clean_stratified_and_leak_free(prepared):
    folder, result = prepared
    splits = read_splits(folder)
    sizes = {name: len(frame) for name, frame in splits.items()}
    total = sum(sizes.values())
    assert abs(sizes["train"] / total - 0.8) < 0.02
    assert abs(sizes["validation"] / total - 0.1) < 0.02
    for frame in splits.values():
        assert list(frame.columns[:2]) == ["text", "label"]
        assert {"message_id", "channel"} <= set(frame.columns)
        assert set(frame["label"]) == set(result.labels)
        assert (frame["text"].str.len() > 0).all()
        assert not frame["text"].str.contains(r"\s\s|^\s|\s$", regex=True).any()
    every_text = pd.concat(splits.values())["text"]
    assert not every_text.duplicated().any()
    keys = {name: set(frame["text"].map(leak_key)) for name, frame in splits.items()}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]


def test_dropped_rows_are_counted_by_reason(prepared, sample_csv: Path):
    _, result = prepared
    raw = pd.read_csv(sample_csv, keep_default_na=False)
    kept = sum(facts["rows"] for facts in result.splits.values())
    assert result.rows_read == len(raw)
    assert kept + sum(result.dropped.values()) == len(raw)
    assert result.dropped["empty_text"] == (raw["reply_text"].str.strip() == "").sum()
    assert result.dropped["duplicate"] > 1000  # "STOP" and friends, many times over
    metrics = result.metrics()
    assert metrics["train_rows"] == result.splits["train"]["rows"]
    assert metrics["dropped_duplicate"] == result.dropped["duplicate"]


def test_parquet_files_carry_their_facts(prepared):
    folder, result = prepared
    for name in ("train", "validation", "test"):
        facts = dataset_metadata(folder / f"{name}.parquet")
        frame = pd.read_parquet(folder / f"{name}.parquet")
        assert facts["split"] == name
        assert facts["labels"] == sorted(frame["label"].unique()) == result.labels
        assert facts["rows"] == len(frame)
        assert facts["label_counts"] == frame["label"].value_counts().to_dict()
        assert re.fullmatch(r"[0-9a-f]{64}", facts["content_hash"])
        assert facts["source_uri"].endswith("replies.csv")


def test_report_explains_balance_lengths_and_drops(prepared):
    folder, result = prepared
    report = (folder / "report.md").read_text()
    for heading in ("## Splits", "## Class balance", "## Text length", "## Dropped rows"):
        assert heading in report
    for label in result.labels:
        assert f"| {label} |" in report
    assert f"| duplicate | {result.dropped['duplicate']:,} |" in report


def test_same_seed_same_splits_other_seed_other_splits(sample_csv: Path, tmp_path: Path):
    hashes = []
    for run, seed in enumerate((42, 42, 7)):
        folder = tmp_path / str(run)
        result = prepare_dataset(
            str(sample_csv), outputs_in(folder), PrepareConfig(**SAMPLE, seed=seed)
        )
        hashes.append(result.splits["test"]["content_hash"])
    assert hashes[0] == hashes[1] != hashes[2]


def test_group_column_keeps_each_customer_in_one_split(sample_csv: Path, tmp_path: Path):
    config = PrepareConfig(**SAMPLE, group_column="customer_id")
    prepare_dataset(str(sample_csv), outputs_in(tmp_path), config)
    splits = read_splits(tmp_path)
    customers = {name: set(frame["customer_id"]) for name, frame in splits.items()}
    assert not customers["train"] & customers["validation"]
    assert not customers["train"] & customers["test"]
    assert not customers["validation"] & customers["test"]
    assert 0.7 < len(splits["train"]) / sum(map(len, splits.values())) < 0.9


def test_time_column_trains_on_the_past_and_tests_on_the_future(sample_csv: Path, tmp_path: Path):
    config = PrepareConfig(**SAMPLE, time_column="received_at")
    prepare_dataset(str(sample_csv), outputs_in(tmp_path), config)
    times = {n: pd.to_datetime(f["received_at"]) for n, f in read_splits(tmp_path).items()}
    assert times["train"].max() <= times["validation"].min()
    assert times["validation"].max() <= times["test"].min()


def small_table(rows: int = 60) -> pd.DataFrame:
    labels = ["spam", "ham", "eggs"]
    return pd.DataFrame(
        {
            "Subject Line": [f"subject {i}" for i in range(rows)],
            "Body": [f"body number {i} about {labels[i % 3]}" for i in range(rows)],
            "Klass": [labels[i % 3] for i in range(rows)],
        }
    )


def test_every_format_gives_the_same_splits(tmp_path: Path):
    names = ["t.csv", "t.tsv", "t.jsonl", "t.parquet", "t.csv.gz", "t.jsonl.gz"]
    config = PrepareConfig(
        text_columns=["Subject Line", "Body"], label_column="Klass", min_label_count=3
    )
    hashes = set()
    for name in names:
        source = tmp_path / name
        fmt = name.split(".")[1]
        write_table(pa.Table.from_pandas(small_table()), source, fmt, gzip=name.endswith(".gz"))
        result = prepare_dataset(str(source), outputs_in(tmp_path / name.replace(".", "_")), config)
        assert result.splits["train"]["rows"] == 48
        hashes.add(tuple(result.splits[n]["content_hash"] for n in ("train", "validation", "test")))
    train = pd.read_parquet(tmp_path / "t_csv" / "train.parquet")
    assert train["text"].str.fullmatch(r"subject \d+ body number \d+ about \w+").all()
    assert len(hashes) == 1


def test_gzip_file_without_suffix_is_detected(tmp_path: Path):
    source = tmp_path / "export"
    with gzip.open(source, "wt", encoding="utf-8") as f:
        small_table().to_csv(f, index=False)
    config = PrepareConfig(text_columns=["Body"], label_column="Klass", min_label_count=3)
    result = prepare_dataset(str(source), outputs_in(tmp_path / "out"), config)
    assert result.rows_read == 60


def test_unicode_and_whitespace_are_normalised_before_deduplication(tmp_path: Path):
    texts = ["ＳＴＯＰ", "STOP", "  where\t\tis   my order ", "where is my order", "thanks 🙂"]
    frame = pd.DataFrame({"text": texts * 4, "label": ["a", "a", "b", "b", "c"] * 4})
    frame.loc[len(frame)] = ["other words here", "c"]
    source = tmp_path / "t.parquet"
    frame.to_parquet(source)
    config = PrepareConfig(
        min_label_count=1, train_fraction=1, validation_fraction=0, test_fraction=0
    )
    result = prepare_dataset(str(source), outputs_in(tmp_path / "out"), config)
    kept = pd.concat(read_splits(tmp_path / "out").values())["text"]
    assert sorted(kept) == sorted(["STOP", "where is my order", "thanks 🙂", "other words here"])
    assert result.dropped["duplicate"] == len(frame) - 4


def test_filters_allowed_rare_and_max_rows(sample_csv: Path, tmp_path: Path):
    config = PrepareConfig(
        **SAMPLE, allowed_labels=["unsubscribe", "positive", "complaint"], max_rows=3000
    )
    result = prepare_dataset(str(sample_csv), outputs_in(tmp_path), config)
    assert result.rows_read == 3000
    assert result.labels == ["complaint", "positive", "unsubscribe"]
    assert result.dropped["label_not_allowed"] > 0
    rare = PrepareConfig(**SAMPLE, min_label_count=500)
    result = prepare_dataset(str(sample_csv), outputs_in(tmp_path / "rare"), rare)
    assert "other" not in result.labels and result.dropped["rare_label"] > 0


def test_unlabelled_rows_can_be_dropped_on_request(tmp_path: Path):
    frame = small_table()
    frame.loc[[3, 7], "Klass"] = None
    source = tmp_path / "t.parquet"
    frame.to_parquet(source)
    config = PrepareConfig(
        text_columns=["Body"], label_column="Klass", min_label_count=3, drop_unlabeled=True
    )
    result = prepare_dataset(str(source), outputs_in(tmp_path / "out"), config)
    assert result.dropped["unlabeled"] == 2


def test_s3_source_and_s3_outputs(s3_bucket: str):
    source = write_sample(f"s3://{s3_bucket}/raw/replies.jsonl.gz", rows=1500)
    prefix = f"s3://{s3_bucket}/prepared"
    outputs = PrepareOutputs(
        *(f"{prefix}/{n}.parquet" for n in ("train", "validation", "test")), f"{prefix}/report.md"
    )
    result = prepare_dataset(source, outputs, PrepareConfig(**SAMPLE))
    assert list_files(prefix) == [
        "report.md",
        "test.parquet",
        "train.parquet",
        "validation.parquet",
    ]
    with local_copy(outputs.train) as path:
        assert pq.read_metadata(path).num_rows == result.splits["train"]["rows"]
