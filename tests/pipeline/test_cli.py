"""The kfp-nlp command line: local runs on a user's own table, and its errors."""

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import dsl

from components.common.image import IMAGE
from pipelines.catalog import COMPILED_DIR
from pipelines.cli import main
from pipelines.kfp_remote import load_package
from pipelines.local_run import StepFailed, run_pipeline
from pipelines.run_summary import print_summary

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

    # One line per step on the terminal (and progress lines while one runs); the executors'
    # logs only in the log file.
    progress = done.stderr.splitlines()
    for step in ("prepare-dataset", "finetune-classifier", "evaluate-classifier"):
        assert [line for line in progress if step in line and " done " in line], done.stderr
    other = [line for line in progress if not re.match(r"^  \S+ +(done|failed|running) ", line)]
    assert len(other) == 1 and "full log" in other[0], done.stderr
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
        backend = {"onnx": "ONNX int8", "pytorch": "PyTorch"}[summary["backend"]]
        assert f"served with {backend} from {summary['served_uri']}" in shown

    # What the summary says to run next works, released or not.
    assert "next:     " in shown and summary["next"]["commands"][0] in shown
    texts = tmp_path / "new.csv"
    pd.DataFrame({"Ticket Body (raw)": ["parcel late again", "charged twice"]}).to_csv(
        texts, index=False
    )
    words = shlex.split(summary["next"]["commands"][0].replace("TABLE.csv", str(texts)))
    assert words[:3] == ["kfp-nlp", "run", "batch_scoring"]
    scored = kfp_nlp(*words[1:], "--workdir", str(tmp_path / "work"), cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 2


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


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_slowly(seconds: float) -> str:
    import time

    for step in (1, 2):
        print(f"[finetune] step {step}/4 epoch 1 loss 0.5 lr 1e-04 12.5 samples/s ETA 3s")
        time.sleep(seconds)
    return "trained"


@dsl.pipeline(name="slow")
def slow(seconds: float):
    train_slowly(seconds=seconds)


def test_a_long_step_shows_progress_at_a_steady_interval_off_a_terminal(tmp_path: Path, capsys):
    run = run_pipeline(slow, {"seconds": 1.5}, tmp_path, progress_every=0.4)
    assert run.outputs == {} and [s.state for s in run.steps] == ["done"]
    header, *lines = capsys.readouterr().err.splitlines()
    assert header.startswith("slow: one line per step")
    assert all(line.startswith("  train-slowly ") for line in lines), lines
    running = [line for line in lines if " running " in line]
    assert len(running) >= 4, lines
    assert re.search(r"running  \d+s  step 2/4 \(50%\)  12.5 samples/s  ETA 3s$", running[-1])
    assert re.match(r"^  train-slowly +done  \d+s$", lines[-1]) and len(lines) == len(running) + 1


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
    assert "seed='x' is not a whole number" in error["error"] and error["step"] is None


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
            "no parameter 'nope'; its parameters: allow_pickle_weights, allowed_labels",
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
            "--param: seed='abc' is not a whole number; give e.g. seed=3",
        ),
        (["run", "text_classifier_training", "--local"], "needs a value for data_uri"),
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
    assert "epochs (whole number, default 3)" in done.stdout
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


def test_compile_with_an_image_leaves_the_committed_yaml_alone(tmp_path: Path):
    committed = {p: p.read_bytes() for p in COMPILED_DIR.rglob("*.yaml")}
    done = kfp_nlp("compile", "--image", SERVING_IMAGE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "compiled"
    written = sorted(p.relative_to(out) for p in out.rglob("*.yaml"))
    assert written == sorted(p.relative_to(COMPILED_DIR) for p in committed)
    assert f"image: {SERVING_IMAGE}" in (out / "batch_scoring.yaml").read_text()
    assert {p: p.read_bytes() for p in COMPILED_DIR.rglob("*.yaml")} == committed


def test_a_monitoring_summary_shows_the_drift_decision_and_its_reason(tmp_path: Path):
    report = tmp_path / "report.html"
    summary = {
        "pipeline": "text_classifier_monitoring",
        "parameters": {"model_uri": "model", "current_uri": "window.csv"},
        "seconds": 42.0,
        "outputs": {
            "metrics": {"path": str(tmp_path / "metrics"), "metadata": {}},
            "report": {"path": str(report), "metadata": {}},
            "drift_detected": True,
            "reason": "drift: label share of 'complaint' 0.41 vs 0.12",
            "retrain": False,
        },
        "log": str(tmp_path / "run.log"),
        "drift_detected": True,
        "reason": "drift: label share of 'complaint' 0.41 vs 0.12",
        "retrain": False,
        "reference_macro_f1": 0.9,
        "estimated_macro_f1": 0.71,
        "report": str(report),
    }
    shown = capsys_text(summary).splitlines()
    assert "drift:    DETECTED: drift: label share of 'complaint' 0.41 vs 0.12" in shown
    assert "estimate: macro_f1 0.710 (reference 0.900)" in shown and "retrain:  no" in shown
    assert any(line.endswith(str(report)) for line in shown)
