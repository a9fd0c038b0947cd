"""Every bad input the command lines accept: one line naming the problem, exit 2, no output.

One table drives it: each row is a command line, the arguments (built on small real files) and
a pattern its single `error:` line must match. Arguments argparse itself rejects (a missing
flag, a word for a number) get argparse's usage message instead, and are not listed.
"""

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from components.batch_predict.__main__ import main as batch_predict_cli
from components.evaluate.__main__ import main as evaluate_cli
from components.finetune.__main__ import main as finetune_cli
from components.prepare.__main__ import main as prepare_cli
from components.registry.__main__ import main as registry_cli

pytestmark = pytest.mark.unit

COLUMNS = ["--text-columns", "reply_text", "--label-column", "intent"]


class Files:
    """Small input files, made once per module, and a fresh output path per case."""

    def __init__(self, folder: Path, small_csv: Path):
        self.folder = folder
        self.csv = str(small_csv)
        self.out = folder / "out"
        self.dup = self._text("dup.csv", "text,text,label\nhello,there,yes\n")
        self.empty = self._text("empty.csv", "")
        self.latin1 = folder / "latin1.csv"
        self.latin1.write_bytes("text,label\ncaf\xe9,yes\n".encode("latin-1"))
        self.a_file = self._text("a-file", "not a folder")
        self.unlabelled = folder / "unlabelled.csv"
        frame = pd.read_csv(small_csv)
        # Three rows with a text and no label (rows without text are dropped before labels).
        texted = frame.index[frame["reply_text"].fillna("").str.strip() != ""]
        frame.loc[texted[:3], "intent"] = ""
        frame.to_csv(self.unlabelled, index=False)
        self.nan_labels = self._parquet("nan.parquet", [1.0, math.nan, 0.0, 1.0] * 5)
        self.good_split = self._parquet("good.parquet", ["yes", "no"] * 10)
        self.not_parquet = self._text("split.parquet", "text,label\nhi,yes\n")

    def _text(self, name: str, content: str) -> str:
        (self.folder / name).write_text(content)
        return str(self.folder / name)

    def _parquet(self, name: str, labels: list) -> str:
        frame = pd.DataFrame({"text": [f"reply {i}" for i in range(len(labels))], "label": labels})
        frame.to_parquet(self.folder / name)
        return str(self.folder / name)


CASES = {
    # prepare_dataset
    "prepare: missing source": (
        prepare_cli,
        lambda f: ["--source", str(f.folder / "nope.csv"), "--output-dir", str(f.out)],
        r"nope\.csv does not exist",
    ),
    "prepare: duplicated column names": (
        prepare_cli,
        lambda f: ["--source", f.dup, "--output-dir", str(f.out)],
        r"has the column 'text' more than once",
    ),
    "prepare: negative seed": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--seed", "-1", *COLUMNS],
        r"seed -1 is negative",
    ),
    "prepare: output dir is a file": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", f.a_file, *COLUMNS],
        r"--output-dir .*a-file is an existing file",
    ),
    "prepare: empty text column name": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--text-columns", ""],
        r"text_columns \[''\] holds an empty column name",
    ),
    "prepare: no text columns": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--text-columns"],
        r"text_columns is empty",
    ),
    "prepare: unknown column": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--label-column", "x"],
        r"has no column 'text', 'x'",
    ),
    "prepare: fractions": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--train-fraction", "0.9"],
        r"sum to 1\.1; make them sum to 1",
    ),
    "prepare: unknown format": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--format", "xml"],
        r"format 'xml' is unknown",
    ),
    "prepare: rare labels mode": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--rare-labels", "keep"],
        r"rare_labels must be 'drop' or 'fail'",
    ),
    "prepare: min text length": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--min-text-length", "0"],
        r"min_text_length must be at least 1",
    ),
    "prepare: negative max rows": (
        prepare_cli,
        lambda f: ["--source", f.csv, "--output-dir", str(f.out), "--max-rows", "-5"],
        r"max_rows must be 0",
    ),
    "prepare: group and time": (
        prepare_cli,
        lambda f: [
            *("--source", f.csv, "--output-dir", str(f.out), *COLUMNS),
            *("--group-column", "customer_id", "--time-column", "received_at"),
        ],
        r"either group_column or time_column",
    ),
    "prepare: unsupported scheme": (
        prepare_cli,
        lambda f: ["--source", "gs://bucket/x.csv", "--output-dir", str(f.out)],
        r"unsupported URI scheme 'gs'",
    ),
    "prepare: empty file": (
        prepare_cli,
        lambda f: ["--source", f.empty, "--output-dir", str(f.out)],
        r"empty\.csv is empty",
    ),
    "prepare: not UTF-8": (
        prepare_cli,
        lambda f: ["--source", str(f.latin1), "--output-dir", str(f.out)],
        r"is not valid UTF-8 text",
    ),
    "prepare: unlabelled rows": (
        prepare_cli,
        lambda f: ["--source", str(f.unlabelled), "--output-dir", str(f.out), *COLUMNS],
        r"3 rows of .* have no 'intent' .* pass drop_unlabeled",
    ),
    "prepare: single label": (
        prepare_cli,
        lambda f: [
            *("--source", f.csv, "--output-dir", str(f.out), *COLUMNS),
            *("--allowed-labels", "complaint"),
        ],
        r"has the label 'complaint'; a classifier needs at least two labels",
    ),
    # finetune_classifier
    "finetune: NaN labels": (
        finetune_cli,
        lambda f: ["--train", f.nan_labels, "--validation", f.good_split, "--output", str(f.out)],
        r"5 rows of the training dataset .* have no label \(NaN, None or empty; first at row "
        r"1\).*--drop-unlabeled",
    ),
    "finetune: missing train": (
        finetune_cli,
        lambda f: ["--train", "nope.parquet", "--validation", f.good_split, "--output", str(f.out)],
        r"nope\.parquet does not exist",
    ),
    "finetune: not parquet": (
        finetune_cli,
        lambda f: ["--train", f.not_parquet, "--validation", f.good_split, "--output", str(f.out)],
        r"is not a Parquet dataset",
    ),
    "finetune: base model not a folder": (
        finetune_cli,
        lambda f: [
            *("--train", f.good_split, "--validation", f.good_split, "--output", str(f.out)),
            *("--base-model", f.a_file),
        ],
        r"base model .*a-file is not a folder",
    ),
    # evaluate_classifier
    "evaluate: missing model": (
        evaluate_cli,
        lambda f: ["--model", "nope", "--test", f.good_split, "--output-dir", str(f.out)],
        r"nope is not a folder",
    ),
    "evaluate: model without manifest": (
        evaluate_cli,
        lambda f: ["--model", str(f.folder), "--test", f.good_split, "--output-dir", str(f.out)],
        r"has no kfp_nlp_manifest\.json",
    ),
    # batch_predict
    "batch_predict: model without manifest": (
        batch_predict_cli,
        lambda f: [
            *("--input-uri", f.csv, "--model-uri", str(f.folder)),
            *("--output-uri", str(f.out / "p.parquet")),
        ],
        r"has no kfp_nlp_manifest\.json; pass a model written by finetune_classifier",
    ),
    "batch_predict: model is a file": (
        batch_predict_cli,
        lambda f: [
            *("--input-uri", f.csv, "--model-uri", f.a_file),
            *("--output-uri", str(f.out / "p.parquet")),
        ],
        r"a-file is not a folder",
    ),
    # the registry
    "registry: bad model name": (
        registry_cli,
        lambda f: ["versions", "--registry-root", str(f.out), "--model-name", "Intents!"],
        r"model name 'Intents!' is not valid",
    ),
    "registry: bad version": (
        registry_cli,
        lambda f: ["promote", "v1", "--registry-root", str(f.out), "--model-name", "intents"],
        r"version 'v1' is not a registry version",
    ),
    "registry: metadata not JSON": (
        registry_cli,
        lambda f: [
            *("register", str(f.folder), "--metadata", "{x"),
            *("--registry-root", str(f.out), "--model-name", "intents"),
        ],
        r"--metadata is not valid JSON",
    ),
    "registry: nothing to resolve": (
        registry_cli,
        lambda f: ["resolve", "--registry-root", str(f.out), "--model-name", "intents"],
        r"no model named 'intents' is registered",
    ),
    "registry: register without manifest": (
        registry_cli,
        lambda f: [
            *("register", str(f.folder)),
            *("--registry-root", str(f.out), "--model-name", "intents"),
        ],
        r"has no kfp_nlp_manifest\.json",
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Files:
    return Files(tmp_path_factory.mktemp("bad-inputs"), small_csv)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_one_line_and_exit_2(name: str, files: Files, run_failing) -> None:
    cli, build, expected = CASES[name]
    line = run_failing(cli, build(files))
    assert re.search(expected, line), line
    assert not files.out.exists() or not any(files.out.iterdir()), "output was written"
