"""Bad input: one clear `error:` line, exit status 2, and no Model artifact written."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import reply_rows, write_dataset

from components.common.errors import run_cli
from components.finetune.__main__ import main

REPO = Path(__file__).resolve().parents[3]


def _fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        run_cli(main, argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def _argv(train: Path, validation: Path, output: Path, *extra: str) -> list[str]:
    return [f"--train={train}", f"--validation={validation}", f"--output={output}", *extra]


def _linked_model(base: Path, dest: Path, skip: tuple[str, ...] = ()) -> Path:
    """A copy of the base model folder (files symlinked) without the files in `skip`."""
    dest.mkdir()
    for path in base.iterdir():
        if path.is_file() and path.name not in skip:
            (dest / path.name).symlink_to(path)
    return dest


def test_empty_train_split(splits, tmp_path, capsys):
    _, validation = splits
    train = write_dataset(tmp_path / "train.parquet", [], "train")
    err = _fails(_argv(train, validation, tmp_path / "model"), capsys)
    assert err.startswith("error: the training dataset ") and "has no rows" in err
    assert not (tmp_path / "model").exists()


def test_validation_labels_unseen_in_training(splits, tmp_path, capsys):
    train, _ = splits
    validation = write_dataset(
        tmp_path / "validation.parquet", [("where is my refund", "refund")], "validation"
    )
    err = _fails(_argv(train, validation, tmp_path / "model"), capsys)
    assert "labels never seen in training: ['refund']" in err
    assert not (tmp_path / "model").exists()


def test_base_model_without_tokenizer(splits, base_model_dir, tmp_path, capsys):
    train, validation = splits
    folder = _linked_model(base_model_dir, tmp_path / "base", skip=("tokenizer.json", "vocab.txt"))
    err = _fails(_argv(train, validation, tmp_path / "model", f"--base-model={folder}"), capsys)
    assert f"base model {folder} has no tokenizer" in err
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupted_safetensors(splits, base_model_dir, tmp_path, capsys, damage):
    train, validation = splits
    folder = _linked_model(base_model_dir, tmp_path / "base", skip=("model.safetensors",))
    original = (base_model_dir / "model.safetensors").read_bytes()
    broken = original[: len(original) // 2] if damage == "truncated" else b"\x00" * 4096
    (folder / "model.safetensors").write_bytes(broken)
    err = _fails(_argv(train, validation, tmp_path / "model", f"--base-model={folder}"), capsys)
    assert "are corrupted or truncated" in err
    assert not (tmp_path / "model").exists()


def test_pickle_weights_refused(splits, base_model_dir, tmp_path, capsys):
    train, validation = splits
    folder = _linked_model(base_model_dir, tmp_path / "base", skip=("model.safetensors",))
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    err = _fails(_argv(train, validation, tmp_path / "model", f"--base-model={folder}"), capsys)
    assert "only pickle weights (pytorch_model.bin)" in err
    assert "--allow-pickle-weights" in err
    assert not (tmp_path / "model").exists()


def test_max_length_above_model_limit(splits, tmp_path, capsys):
    train, validation = splits
    err = _fails(_argv(train, validation, tmp_path / "model", "--max-length=1024"), capsys)
    assert "max_length 1024 is above the base model's limit of 512 tokens" in err
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--epochs=0", "epochs must be at least 1"),
        ("--learning-rate=2", "learning_rate must be between 0 and 1"),
        ("--precision=fp8", "precision must be one of auto, fp32, bf16, fp16"),
        ("--num-workers=0", "num_workers must be 1 to 64"),
        ("--early-stopping-metric=recall", "early_stopping_metric must be one of"),
    ],
)
def test_out_of_range_settings(splits, tmp_path, capsys, flag, message):
    train, validation = splits
    err = _fails(_argv(train, validation, tmp_path / "model", flag), capsys)
    assert message in err
    assert not (tmp_path / "model").exists()


def test_non_numeric_setting_from_the_command_line(splits, tmp_path):
    """argparse rejects it: one `error:` line naming the flag, exit status 2."""
    train, validation = splits
    argv = _argv(train, validation, tmp_path / "model", "--learning-rate=fast")
    done = subprocess.run(
        [sys.executable, "-m", "components.finetune", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "argument --learning-rate: invalid float value: 'fast'" in done.stderr
    assert not (tmp_path / "model").exists()


def test_non_numeric_setting_from_python():
    from components.common.errors import KfpNlpError
    from components.finetune.config import FinetuneConfig

    with pytest.raises(KfpNlpError, match="batch_size must be a whole number, got '32'"):
        FinetuneConfig(batch_size="32")


def test_checkpoint_from_another_label_set_or_model(splits, base_model_dir, tmp_path, capsys):
    train, validation = splits
    checkpoints = tmp_path / "checkpoints"
    # A real (one-step) run on two of the labels leaves a checkpoint behind.
    rows = [r for r in reply_rows(40, seed=5) if r[1] in ("complaint", "positive")]
    two_train = write_dataset(tmp_path / "two" / "train.parquet", rows[:12], "train")
    two_validation = write_dataset(tmp_path / "two" / "validation.parquet", rows[12:], "validation")
    tiny = ["--max-steps=1", "--checkpoint-steps=1", "--batch-size=8"]
    run_cli(main, [*_argv(two_train, two_validation, tmp_path / "two-model"), *tiny,
                   f"--checkpoint-uri={checkpoints}"])  # fmt: skip
    assert (checkpoints / "step-00000001" / "COMPLETE").is_file()
    capsys.readouterr()

    err = _fails(
        _argv(train, validation, tmp_path / "model", *tiny, f"--checkpoint-uri={checkpoints}"),
        capsys,
    )
    assert "was made with a different label set" in err
    assert "pass a new --checkpoint-uri" in err

    other = _linked_model(base_model_dir, tmp_path / "other", skip=("config.json",))
    config = json.loads((base_model_dir / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.2}))
    err = _fails(
        _argv(two_train, two_validation, tmp_path / "model", *tiny,
              f"--checkpoint-uri={checkpoints}", f"--base-model={other}"),
        capsys,
    )  # fmt: skip
    assert "was made with a different base model" in err
    assert not (tmp_path / "model").exists()
    shutil.rmtree(checkpoints)


def test_output_that_already_holds_files(splits, tmp_path, capsys):
    train, validation = splits
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.txt").write_text("previous model")
    err = _fails(_argv(train, validation, tmp_path / "model"), capsys)
    assert "already holds files" in err
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["old.txt"]
