"""The kfp-nlp command line: local runs on a user's own table, and its errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main

pytestmark = pytest.mark.pipeline


def kfp_nlp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def user_table(path: Path) -> Path:
    """A table as a user might bring it: odd column names, their own labels."""
    rows = []
    for i in range(90):
        kind = ("Billing Issue", "Shipping / Delivery", "Praise!")[i % 3]
        words = {
            "Billing Issue": "charged twice invoice",
            "Shipping / Delivery": "parcel late",
            "Praise!": "love it great",
        }[kind]
        rows.append({"Ticket Body (raw)": f"{words} case {i}", "Agent Tag #1": kind, "id": i})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_run_local_on_a_users_csv_prints_json(tmp_path: Path):
    """The whole training pipeline through kfp.local on a user's table, as a script would."""
    data = user_table(tmp_path / "tickets.csv")
    done = kfp_nlp(
        "run",
        "text_classifier_training",
        "--local",
        "--json",
        "--param",
        f"data_uri={data}",
        "--param",
        "text_column=Ticket Body (raw)",
        "--param",
        "label_column=Agent Tag #1",
        "--param",
        "epochs=2",
        "--param",
        "learning_rate=0.0001",
        "--workdir",
        str(tmp_path / "work"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    outputs = summary["outputs"]
    labels = ["Billing Issue", "Praise!", "Shipping / Delivery"]
    assert outputs["data_metrics"]["metadata"]["labels"] == 3
    config = json.loads((Path(outputs["model"]["path"]) / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == labels
    assert 0 <= outputs["evaluation_metrics"]["metadata"]["macro_f1"] <= 1
    assert isinstance(outputs["approved"], bool) and outputs["reason"]
    assert Path(outputs["data_report"]["path"]).read_text().startswith("# Data report")
    registry = tmp_path / "work" / "registry"
    assert registry.is_dir() == outputs["approved"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "run",
                "text_classifier_training",
                "--local",
                "--param",
                "nope=1",
                "--param",
                "data_uri=x",
            ],
            "no parameter 'nope'; its parameters: base_model_uri, batch_size",
        ),
        (
            [
                "run",
                "text_classifier_training",
                "--local",
                "--param",
                "seed=abc",
                "--param",
                "data_uri=x",
            ],
            "seed='abc' is not a valid integer",
        ),
        (["run", "text_classifier_training", "--local"], "missing required parameter(s) data_uri"),
        (["run", "text_classifier_training", "--param", "data_uri=x"], "add --local"),
    ],
)
def test_bad_arguments_get_one_line(args: list[str], message: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_help_everywhere(tmp_path: Path):
    for args in ([], ["demo"], ["run"], ["compile"]):
        done = kfp_nlp(*args, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "usage: kfp-nlp" in done.stdout
