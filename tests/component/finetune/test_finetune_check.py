"""The no-retry check before the retried fine-tune: bad settings fail once, good ones train nothing.

The step is the compiled finetune_classifier command with its executor input, as the KFP
launcher runs it in a pod (tests/kfp_launcher.py says what that leaves out).
"""

from pathlib import Path

import yaml
from kfp_launcher import command, start

from pipelines.cli import COMPILED_DIR


def _step(splits, outputs: Path, settings: dict):
    train, validation = splits
    artifacts = {
        "train": (str(train), "system.Dataset"),
        "validation": (str(validation), "system.Dataset"),
    }
    step = start(command("finetune_classifier", outputs, settings, artifacts))
    stdout, stderr = step.communicate(timeout=300)
    return step.returncode, stdout, stderr


def test_a_bad_setting_fails_the_check_with_one_line_and_exit_2(splits, tmp_path):
    code, _, stderr = _step(splits, tmp_path / "out", {"check_only": True, "max_length": 4})
    assert code == 2, stderr
    assert stderr.rstrip().splitlines()[-1].startswith("error: max_length must be between 8")
    assert not any((tmp_path / "out" / "model").glob("*"))


def test_good_settings_pass_the_check_and_train_nothing(splits, tmp_path):
    code, stdout, stderr = _step(splits, tmp_path / "out", {"check_only": True, "epochs": 1})
    assert code == 0, stderr
    assert "fine-tune settings and inputs checked: single_label" in stdout
    assert not any((tmp_path / "out" / "model").glob("*"))


def test_the_pipeline_checks_once_before_the_retried_fine_tune():
    spec = yaml.safe_load((COMPILED_DIR / "text_classifier_training.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    (check,) = [
        name
        for name, task in tasks.items()
        if task["inputs"]["parameters"].get("check_only", {}).get("runtimeValue")
        == {"constant": True}
    ]
    assert "retryPolicy" not in tasks[check]
    assert check in tasks["finetune-classifier"]["dependentTasks"]
    assert tasks["finetune-classifier"]["retryPolicy"]["maxRetryCount"] == 3
    # Both get every setting: the check sees what the fine-tune will get.
    trained = set(tasks["finetune-classifier"]["inputs"]["parameters"])
    assert set(tasks[check]["inputs"]["parameters"]) == trained | {"check_only"}
