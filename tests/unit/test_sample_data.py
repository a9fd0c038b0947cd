"""The embedded sample data: deterministic, as messy and as noisy as its docstring says, and its
multi-label variant written as lists or `|`-joined strings."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import components.sample_data as sample_data
from components.sample_data import LABEL_DELIMITER, LABELS, generate, main, write_sample


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return generate(6000, seed=7)


def test_same_rows_and_seed_give_the_same_table(table):
    pd.testing.assert_frame_equal(generate(6000, seed=7), table)
    assert not generate(500, seed=8).reply_text.equals(generate(500, seed=7).reply_text)


def test_the_stated_share_of_labels_is_wrong(table, monkeypatch):
    stated = sample_data.NOISE_RATE
    monkeypatch.setattr(sample_data, "NOISE_RATE", 0.0)
    clean = generate(6000, seed=7)
    assert clean.reply_text.equals(table.reply_text)
    wrong = (clean.intent != table.intent).mean()
    assert abs(wrong - stated) < 0.015, wrong


def test_the_replies_carry_the_mess_of_real_exports(table):
    texts = table.reply_text
    assert set(table.intent) == set(LABELS)
    assert (texts == "STOP").sum() > 30
    assert 0.005 < (texts.str.strip() == "").mean() < 0.02
    assert texts.str.len().max() > 250
    composed = texts[texts.str.len() > 20]
    # Composed replies hardly repeat: there are no few templates to memorise.
    assert composed.nunique() / len(composed) > 0.95
    foreign = texts.str.contains("pedido|commande|Bestellung|gracias|merci|danke", case=False)
    assert 0.005 < foreign.mean() < 0.05


def test_multi_label_keeps_the_replies_and_adds_second_requests(table):
    multi = generate(6000, seed=7, multi_label=True)
    assert multi.reply_text.equals(table.reply_text)
    assert all(single in labels for single, labels in zip(table.intent, multi.intent, strict=True))
    assert all(list(labels) == [x for x in LABELS if x in labels] for labels in multi.intent)
    assert 0.08 < (multi.intent.map(len) > 1).mean() < 0.2


@pytest.mark.parametrize("name", ["replies.parquet", "replies.jsonl.gz"])
def test_multi_label_lists_stay_lists_in_parquet_and_json_lines(tmp_path: Path, name: str):
    path = write_sample(str(tmp_path / name), rows=200, multi_label=True)
    if name.endswith(".parquet"):
        labels = [list(x) for x in pq.read_table(path).column("intent").to_pylist()]
    else:
        labels = pd.read_json(path, lines=True).intent.tolist()
    assert labels == [list(x) for x in generate(200, multi_label=True).intent]


def test_multi_label_csv_joins_labels_and_the_cli_writes_it(tmp_path: Path, capsys):
    target = str(tmp_path / "replies.tsv")
    main(["--rows", "300", "--out", target, "--multi-label"])
    assert capsys.readouterr().out.strip() == target
    written = pd.read_csv(target, sep="\t", keep_default_na=False).intent
    expected = generate(300, multi_label=True).intent.map(LABEL_DELIMITER.join)
    assert written.tolist() == expected.tolist()
    assert written.str.contains("|", regex=False).any()


def test_the_default_is_one_label_per_reply(tmp_path: Path):
    path = write_sample(str(tmp_path / "replies.jsonl"), rows=100)
    first = json.loads(Path(path).read_text().splitlines()[0])
    assert first["intent"] in LABELS
