"""The batch_scoring pipeline under the real kfp.local runner: the registry's champion, or a
model given by URI, scores a table and the predictions land where the user asked."""

from pathlib import Path

import pandas as pd
import pytest
from kfp import local

from components.registry.registry import register_version, set_alias
from components.sample_data import LABELS, write_sample
from pipelines.scoring import batch_scoring

pytestmark = pytest.mark.pipeline


@pytest.fixture
def table(tmp_path: Path) -> Path:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    return Path(write_sample(str(tmp_path / "replies.csv"), rows=250, seed=5))


def check_predictions(path: Path, rows: int) -> None:
    predictions = pd.read_csv(path)
    assert len(predictions) == rows
    assert set(predictions["label"]) <= set(LABELS)
    assert predictions["probability"].between(0, 1).all()
    assert predictions["message_id"].is_unique
    agree = (predictions["label"] == predictions["intent"]).mean()
    assert agree > 0.5, agree  # a trained model, not chance (1/7)


def test_scores_with_the_registry_champion(small_model, table: Path, tmp_path: Path):
    registry = str(tmp_path / "registry")
    version = register_version(registry, "intents", small_model.model_dir)
    set_alias(registry, "intents", "champion", version)
    out = tmp_path / "out" / "predictions.csv"
    batch_scoring(
        input_uri=str(table),
        output_uri=str(out),
        registry_uri=registry,
        model_name="intents",
        text_column="reply_text",
    )
    check_predictions(out, rows=250)


def test_scores_with_a_model_uri(small_model, table: Path, tmp_path: Path):
    out = tmp_path / "predictions.csv"
    batch_scoring(
        input_uri=str(table),
        output_uri=str(out),
        model_uri=str(small_model.model_dir),
        text_column="reply_text",
    )
    check_predictions(out, rows=250)


def test_no_champion_fails_with_one_clear_line(table: Path, tmp_path: Path, capfd):
    with pytest.raises(RuntimeError, match="FAILURE"):
        batch_scoring(
            input_uri=str(table),
            output_uri=str(tmp_path / "p.csv"),
            registry_uri=str(tmp_path / "empty-registry"),
            text_column="reply_text",
        )
    logs = capfd.readouterr().out
    assert "error: no model named 'text-classifier' is registered" in logs
    assert "Traceback" not in logs
    assert not (tmp_path / "p.csv").exists()
