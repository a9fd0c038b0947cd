"""What a bad input looks like inside a KFP step, and which steps KFP retries.

The step runs the compiled component's own command with an executor input, as the KFP launcher
runs it in a pod (tests/kfp_launcher.py says what that leaves out).
"""

from pathlib import Path

import yaml
from kfp_launcher import command, start

from pipelines.cli import COMPILED_DIR


def test_a_bad_column_name_ends_the_step_with_one_line_and_exit_2(tmp_path: Path):
    table = tmp_path / "replies.csv"
    table.write_text("reply_text,intent\nstop texting me,unsubscribe\nwhere is it,order_status\n")
    step = start(
        command(
            "prepare_dataset",
            tmp_path / "outputs",
            {"source_uri": str(table), "text_columns": ["body"], "label_column": "intent"},
        )
    )
    stdout, stderr = step.communicate(timeout=120)

    assert step.returncode == 2, stderr
    assert "Traceback" not in stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and stderr.rstrip().splitlines()[-1] == errors[0]
    assert "'body'" in errors[0] and "reply_text" in errors[0], errors[0]
    assert not (tmp_path / "outputs" / "train").exists()


def test_an_unexpected_error_keeps_its_traceback(tmp_path: Path):
    # A parameter value of the wrong type is a caller bug, not a user's bad input.
    step = start(command("snapshot_source", tmp_path / "outputs", {"location": 42}))
    _, stderr = step.communicate(timeout=120)

    assert step.returncode == 1
    assert "Traceback" in stderr


def _retries(pipeline: str) -> dict[str, object]:
    spec = yaml.safe_load((COMPILED_DIR / f"{pipeline}.yaml").read_text())
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {
        name: task.get("retryPolicy")
        for dag in dags
        for name, task in dag["tasks"].items()
        if "componentRef" in task
    }


def test_only_the_resumable_fine_tune_is_retried_by_kfp():
    retries = _retries("text_classifier_training")
    assert retries.pop("finetune-classifier")["maxRetryCount"] == 3
    assert "prepare-dataset" in retries and "deploy-inference-service" in retries
    assert {name: policy for name, policy in retries.items() if policy} == {}
    assert not any(_retries("batch_scoring").values())
