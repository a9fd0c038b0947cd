"""Corrupted model folders are refused with one line naming the file, by every stage that
loads weights: batch scoring, evaluation, and fine-tuning (as its base model).

The model is the real bundled MiniLM with a two-class head, saved as a Model artifact. Each
case damages a copy the way a bad copy or a bad disk does; the pickle case holds a file whose
unpickling would create a sentinel file, which must never appear.
"""

import os
import pathlib
import pickle
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from components.batch_predict.__main__ import main as batch_predict_cli
from components.common.artifacts import MANIFEST_NAME, write_manifest
from components.evaluate.__main__ import main as evaluate_cli
from components.finetune.__main__ import main as finetune_cli
from components.finetune.base_model import default_base_model

pytestmark = pytest.mark.component

WEIGHTS = "model.safetensors"


class _WritesSentinel:
    """Unpickling this creates the file at `path`: proof that a pickle was executed."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM with a fresh two-class head, saved with its tokenizer and manifest."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("model") / "model"
    base = default_base_model()
    labels = {0: "no", 1: "yes"}
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    write_manifest(folder, {"task": "single_label"})
    return folder


def _truncate(folder: Path, sentinel: Path) -> None:
    path = folder / WEIGHTS
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bit(folder: Path, sentinel: Path) -> None:
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0x10
    (folder / WEIGHTS).write_bytes(bytes(data))


def _zero_bytes(folder: Path, sentinel: Path) -> None:
    (folder / WEIGHTS).write_bytes(b"")


def _damage_header(folder: Path, sentinel: Path) -> None:
    """Garbage inside the JSON header, then a manifest regenerated to match (a careless copy)."""
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[10:40] = b"\x00\xff" * 15
    (folder / WEIGHTS).write_bytes(bytes(data))
    write_manifest(folder, {"task": "single_label"})


def _pickle_instead(folder: Path, sentinel: Path) -> None:
    (folder / WEIGHTS).unlink()
    with (folder / "pytorch_model.bin").open("wb") as f:
        pickle.dump({"weights": _WritesSentinel(sentinel)}, f)
    write_manifest(folder, {"task": "single_label"})


def _no_manifest(folder: Path, sentinel: Path) -> None:
    (folder / MANIFEST_NAME).unlink()


DAMAGES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "truncated": (_truncate, "model.safetensors .* does not match its manifest hash"),
    "bit-flipped": (_flip_bit, "model.safetensors .* does not match its manifest hash"),
    "zero-byte": (_zero_bytes, "model.safetensors .* does not match its manifest hash"),
    "header-damaged": (_damage_header, "model.safetensors are corrupted or truncated"),
    "pickle": (_pickle_instead, r"pickle weights \(pytorch_model.bin\)"),
    "no-manifest": (_no_manifest, "has no kfp_nlp_manifest.json"),
}


def damaged_copy(model_dir: Path, tmp_path: Path, damage: str, sentinel: Path) -> Path:
    folder = tmp_path / f"damaged-{damage}"
    folder.mkdir()
    for path in model_dir.iterdir():
        # Links for files left intact; the weights get a real copy to damage.
        if path.name in (WEIGHTS, MANIFEST_NAME):
            shutil.copyfile(path, folder / path.name)
        else:
            os.link(path, folder / path.name)
    DAMAGES[damage][0](folder, sentinel)
    return folder


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tables")
    frame = pd.DataFrame({"text": ["yes please", "no thanks"] * 4, "label": ["yes", "no"] * 4})
    paths = {name: folder / f"{name}.parquet" for name in ("train", "validation", "test")}
    for path in paths.values():
        frame.to_parquet(path)
    return paths


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_scoring_stages_refuse_a_damaged_model(
    damage, model_dir, tables, tmp_path, run_failing
) -> None:
    sentinel = tmp_path / "pickle-ran"
    folder = damaged_copy(model_dir, tmp_path, damage, sentinel)
    expected = DAMAGES[damage][1]
    out = tmp_path / "out"
    batch = ["--input-uri", str(tables["test"]), "--model-uri", str(folder)]
    line = run_failing(batch_predict_cli, [*batch, "--output-uri", str(out / "p.parquet")])
    assert re.search(expected, line), line
    evaluate = ["--model", str(folder), "--test", str(tables["test"]), "--output-dir", str(out)]
    line = run_failing(evaluate_cli, evaluate)
    assert re.search(expected, line), line
    assert not out.exists()
    assert not sentinel.exists()


@pytest.mark.parametrize("damage", ["truncated", "zero-byte", "header-damaged", "pickle"])
def test_finetune_refuses_a_damaged_base_model(
    damage, model_dir, tables, tmp_path, run_failing
) -> None:
    """The base model has no manifest to check: its weights are read in full before training
    starts, and pickle weights are refused unless explicitly allowed."""
    sentinel = tmp_path / "pickle-ran"
    folder = damaged_copy(model_dir, tmp_path, damage, sentinel)
    argv = ["--train", str(tables["train"]), "--validation", str(tables["validation"])]
    argv += ["--output", str(tmp_path / "model-out"), "--base-model", str(folder)]
    line = run_failing(finetune_cli, argv)
    assert str(folder) in line
    assert "corrupted or truncated" in line or "pickle weights" in line, line
    assert not (tmp_path / "model-out").exists()
    assert not sentinel.exists()
