"""The kfp-nlp command line: local runs on a user's own table, and its errors."""

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import dsl

from components.common.image import IMAGE
from pipelines.cli import StepFailed, main, print_summary, run_pipeline
from pipelines.kfp_remote import load_package

SERVING_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml/kfp-nlp:2.0.1"


def kfp_nlp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def user_table(path: Path) -> Path:
    """A table as a user might bring it: a spreadsheet export (UTF-8 BOM, ';'-separated), odd
    column names, their own labels, a channel to slice by, and some duplicated rows."""
    rows = []
    for i in range(100):
        kind = ("Billing Issue", "Shipping / Delivery", "Praise!")[i % 3]
        words = {
            "Billing Issue": "charged twice invoice",
            "Shipping / Delivery": "parcel late",
            "Praise!": "love it great",
        }[kind]
        channel = ("email", "sms")[i % 2]
        rows.append(
            {"Ticket Body (raw)": f"{words} case {i}", "Agent Tag #1": kind, "channel": channel}
        )
    frame = pd.DataFrame(rows[:90] + rows[:10])
    path.write_text(frame.to_csv(index=False, sep=";"), encoding="utf-8-sig")
    return path


def test_run_local_on_a_users_export_prints_json(tmp_path: Path):
    """The whole training pipeline through kfp.local on a user's export, as a script would."""
    data = user_table(tmp_path / "tickets.csv")
    done = kfp_nlp(
        *("run", "text_classifier_training", "--local", "--json"),
        *("--param", f"data_uri={data}", "--param", "delimiter=;"),
        *("--param", "text_column=Ticket Body (raw)", "--param", "label_column=Agent Tag #1"),
        *("--param", "slice_columns=text_length,channel", "--param", "max_steps=12"),
        *("--param", "learning_rate=0.0001", "--param", "max_length=32"),
        *("--param", f"serving_image={SERVING_IMAGE}"),
        *("--workdir", str(tmp_path / "work")),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    outputs = summary["outputs"]

    # One line per step on the terminal; the executors' logs only in the log file.
    progress = done.stderr.splitlines()
    for step in ("prepare-dataset", "finetune-classifier", "evaluate-classifier"):
        assert [line for line in progress if step in line and " done " in line], done.stderr
    assert len(progress) < 15 and "Traceback" not in done.stderr
    log = Path(summary["log"]).read_text()
    assert "[finetune] training" in log and "Executing task" in log

    labels = ["Billing Issue", "Praise!", "Shipping / Delivery"]
    data_metrics = outputs["data_metrics"]["metadata"]
    assert data_metrics["labels"] == 3 and data_metrics["dropped_duplicate"] == 10
    config = json.loads((Path(outputs["model"]["path"]) / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == labels
    assert 0 <= outputs["evaluation_metrics"]["metadata"]["macro_f1"] <= 1
    assert isinstance(outputs["approved"], bool) and outputs["reason"]

    # Reports open in a browser or editor as what they are.
    report = Path(outputs["evaluation_report"]["path"])
    assert report.suffix == ".html" and "channel" in report.read_text()
    assert Path(outputs["training_curves"]["path"]).suffix == ".html"
    assert Path(outputs["data_report"]["path"]).read_text().startswith("# Data report")

    registry = tmp_path / "work" / "registry"
    assert registry.is_dir() == outputs["approved"]
    if outputs["approved"]:
        manifest = Path(summary["manifest"]).read_text()
        assert "namespace: kfp-nlp-dev" in manifest and f"image: {SERVING_IMAGE}" in manifest
        alias = json.loads((registry / "text-classifier" / "aliases" / "champion.json").read_text())
        assert summary["registry_version"] == alias["version"]

    shown = capsys_text(summary)
    assert "approved: approved" not in shown.lower() and "rejected: rejected" not in shown.lower()
    assert "dropped 10 (10 duplicate: see the data report)" in shown
    assert f"log:      {summary['log']}" in shown
    if outputs["approved"]:
        assert f"version {summary['registry_version']}" in shown and summary["manifest"] in shown


def capsys_text(summary: dict) -> str:
    """What print_summary shows for `summary`."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_summary(summary)
    return buffer.getvalue()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def refuse(column: str) -> str:
    from components.common.errors import KfpNlpError

    raise KfpNlpError(f"the table has no column {column!r}; name an existing one")


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def crash(n: int) -> int:
    return [0][n]


@dsl.pipeline(name="refusing")
def refusing(column: str):
    refuse(column=column)


@dsl.pipeline(name="crashing")
def crashing(n: int):
    crash(n=n)


@pytest.mark.parametrize(
    ("pipeline", "params", "error", "bad_input"),
    [
        (refusing, {"column": "region"}, "no column 'region'; name an existing one", True),
        (crashing, {"n": 3}, "IndexError: list index out of range", False),
    ],
)
def test_a_failed_step_is_named_with_its_error_and_log(
    pipeline, params: dict, error: str, bad_input: bool, tmp_path: Path, capsys
):
    with pytest.raises(StepFailed) as failed:
        run_pipeline(pipeline, params, tmp_path)
    step = failed.value.step
    assert step.name in ("refuse", "crash") and step.state == "failed"
    assert step.error.endswith(error) and step.bad_input is bad_input
    assert "Traceback" in step.log.read_text()
    message = str(failed.value)
    assert message == f"step {step.name} failed: {step.error}; its log: {step.log}"
    terminal = capsys.readouterr().err
    assert f"{step.name}" in terminal and "failed" in terminal and "Traceback" not in terminal


def test_json_errors_are_json_with_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "text_classifier_training", "--local", "--json", "--param", "seed=x"])
    assert exit_info.value.code == 2
    error = json.loads(capsys.readouterr().out)
    assert "seed='x' is not a valid integer" in error["error"] and error["step"] is None


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
        (
            ["run", "text_classifier_training", "--local", "--param", "data_uri=nowhere.csv"],
            "data_uri 'nowhere.csv' does not exist here",
        ),
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
    done = kfp_nlp("--help", cwd=tmp_path)
    for command in ("demo", "run", "compile", "submit", "schedule", "serve", "batch_scoring"):
        assert command in done.stdout
    for command in ("demo", "run", "compile", "submit", "schedule"):
        done = kfp_nlp(command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and f"usage: kfp-nlp {command}" in done.stdout
        # Every documented example names a real subcommand and, for submit, a real pipeline.
        examples = re.findall(r"(?m)^ +kfp-nlp submit ([a-z]\w*)", done.stdout)
        assert command != "submit" or examples
        for example in examples:
            assert load_package(example).name, example


@pytest.mark.parametrize("command", ["run", "submit"])
def test_help_lists_the_chosen_pipelines_parameters(command: str, tmp_path: Path):
    done = kfp_nlp(command, "text_classifier_training", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "parameters of text_classifier_training" in done.stdout
    assert "data_uri (text, required)" in done.stdout
    assert "epochs (integer, default 3)" in done.stdout
    assert 'slice_columns (text, default "text_length")' in done.stdout
    assert "Field separator of a CSV source" in done.stdout


def test_compile_image_reaches_every_step_and_the_deployed_server(tmp_path: Path):
    image = SERVING_IMAGE
    done = kfp_nlp("compile", "--image", image, "--output-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load((tmp_path / "text_classifier_training.yaml").read_text())
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {image}
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["serving_image"]["defaultValue"] == image
