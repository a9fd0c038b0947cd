"""Bad input to prepare_dataset: one clear line, exit status 2, and nothing written.

Each case runs the step's real command line (`python -m components.prepare`'s main) in-process;
one case runs it as a separate process to check the exit status end to end.
"""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from components.common.errors import run_cli
from components.common.uri import list_files
from components.prepare.__main__ import main


def fail(argv: list[str], capsys: pytest.CaptureFixture, code: int = 2) -> str:
    """Run the CLI expecting failure with exit status `code`; return its single error line."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def good_frame(rows: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"message number {i}" for i in range(rows)],
            "label": ["yes", "no", "maybe"] * (rows // 3),
        }
    )


def with_rare_label() -> pd.DataFrame:
    rare = pd.DataFrame({"text": ["rare one", "rare two"], "label": "rare"})
    return pd.concat([good_frame(), rare])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def run_bad(source: str, out: Path, capsys, *flags: str) -> str:
    message = fail(["--source", source, "--output-dir", str(out), *flags], capsys)
    assert not out.exists() or not any(out.iterdir()), "bad input left output behind"
    return message


def test_missing_file(tmp_path: Path, out: Path, capsys):
    message = run_bad(str(tmp_path / "nope.csv"), out, capsys)
    assert "nope.csv does not exist" in message and "check the path" in message


def test_missing_s3_key(s3_bucket: str, out: Path, capsys):
    message = run_bad(f"s3://{s3_bucket}/missing/replies.csv", out, capsys)
    assert f"s3://{s3_bucket}/missing/replies.csv does not exist" in message


def test_non_utf8_file(tmp_path: Path, out: Path, capsys):
    source = tmp_path / "latin1.csv"
    source.write_bytes("text,label\ncaf\xe9 cr\xe8me,yes\n".encode("latin-1") * 3)
    message = run_bad(str(source), out, capsys)
    assert "not valid UTF-8" in message and "iconv" in message


def test_unreadable_file(tmp_path: Path, out: Path, capsys):
    source = tmp_path / "broken.parquet"
    source.write_bytes(b"PAR1 this is not really parquet")
    message = run_bad(str(source), out, capsys)
    assert "cannot read" in message and "broken.parquet" in message


def test_empty_file(tmp_path: Path, out: Path, capsys):
    source = tmp_path / "empty.csv"
    source.write_text("")
    assert "empty.csv is empty" in run_bad(str(source), out, capsys)


def test_header_only(tmp_path: Path, out: Path, capsys):
    source = tmp_path / "header.csv"
    source.write_text("text,label\n")
    assert "has a header but no rows" in run_bad(str(source), out, capsys)


def test_missing_text_column_lists_the_columns(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", good_frame().rename(columns={"text": "body"}))
    message = run_bad(source, out, capsys)
    assert "no column 'text'" in message and "'body', 'label'" in message


def test_missing_label_column(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", good_frame())
    message = run_bad(source, out, capsys, "--label-column", "intent")
    assert "no column 'intent'" in message and "'text', 'label'" in message


def test_all_labels_the_same(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", good_frame().assign(label="yes"))
    message = run_bad(source, out, capsys)
    assert "has the label 'yes'" in message and "at least two labels" in message


def test_label_too_small_to_stratify(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", with_rare_label())
    message = run_bad(source, out, capsys, "--min-label-count", "1")
    assert "'rare' (2 distinct texts)" in message and "too few rows to stratify" in message


def test_rare_labels_can_fail_instead_of_drop(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", with_rare_label())
    message = run_bad(source, out, capsys, "--rare-labels", "fail")
    assert "'rare' (2 rows)" in message and "min_label_count=10" in message


def test_fractions_must_sum_to_one(tmp_path: Path, out: Path, capsys):
    source = write_csv(tmp_path / "t.csv", good_frame())
    message = run_bad(source, out, capsys, "--train-fraction", "0.7", "--test-fraction", "0.1")
    assert "sum to 0.9" in message and "make them sum to 1" in message


def test_nan_labels(tmp_path: Path, out: Path, capsys):
    frame = good_frame()
    frame.loc[[4, 9], "label"] = float("nan")
    source = tmp_path / "t.parquet"
    frame.to_parquet(source)
    message = run_bad(str(source), out, capsys)
    assert "2 rows" in message and "first at data row 5" in message and "drop_unlabeled" in message
    csv_source = write_csv(tmp_path / "t.csv", frame)
    assert "2 rows" in run_bad(csv_source, out, capsys)


def test_numeric_nan_labels(tmp_path: Path, out: Path, capsys):
    frame = pd.DataFrame(
        {"text": [f"t {i}" for i in range(60)], "label": [0.0, 1.0, float("nan")] * 20}
    )
    source = tmp_path / "t.parquet"
    frame.to_parquet(source)
    assert "20 rows" in run_bad(str(source), out, capsys)


def test_bad_input_leaves_no_s3_object(s3_bucket: str, tmp_path: Path, capsys):
    source = write_csv(tmp_path / "t.csv", good_frame().assign(label="yes"))
    prefix = f"s3://{s3_bucket}/prepared"
    fail(["--source", source, "--output-dir", prefix], capsys)
    assert list_files(prefix) == []


def test_s3_answering_500_a_few_times_is_retried(flaky_s3, s3_bucket: str, tmp_path: Path, capsys):
    from components.common.uri import s3_client

    s3_client().put_object(Bucket=s3_bucket, Key="raw.csv", Body=good_frame().to_csv(index=False))
    proxy = flaky_s3(failures=2)
    run_cli(main, ["--source", f"s3://{s3_bucket}/raw.csv", "--output-dir", str(tmp_path / "out")])
    assert proxy.requests > 2
    assert (tmp_path / "out" / "train.parquet").is_file()


def test_s3_answering_500_always_fails_in_bounded_time(flaky_s3, s3_bucket: str, out: Path, capsys):
    proxy = flaky_s3(failures=-1)
    started = time.monotonic()
    message = fail(["--source", f"s3://{s3_bucket}/raw.csv", "--output-dir", str(out)], capsys, 3)
    assert not out.exists() or not any(out.iterdir())
    assert time.monotonic() - started < 60
    assert "HTTP 500" in message and "after 5 attempts" in message
    assert proxy.requests >= 5  # every attempt reached the endpoint before giving up


def test_command_line_exit_status(tmp_path: Path):
    """The real process: exit status 2 and one line on stderr, nothing on stdout."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.prepare",
            "--source",
            str(tmp_path / "x.csv"),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr
