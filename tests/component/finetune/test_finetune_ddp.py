"""Two DDP workers (torchrun, gloo on CPU) train a model as good as one worker's."""

import pyarrow.parquet as pq
import pytest
from conftest import REFERENCE_SETTINGS, plain_predictions

from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune

pytestmark = pytest.mark.component


def test_two_workers_match_one(splits, reference_run, tmp_path, capfd):
    train, validation = splits
    config = FinetuneConfig(**REFERENCE_SETTINGS, num_workers=2)
    result = finetune(str(train), str(validation), str(tmp_path / "model"), config)
    logs = capfd.readouterr().out
    assert "2 worker(s) on cpu" in logs
    assert result["training"]["workers"] == 2

    reference_result, reference_model = reference_run
    # The batch size is global, so two workers take the same optimizer steps as one.
    assert result["training"]["steps"] == reference_result["training"]["steps"]
    assert result["metrics"]["val_macro_f1"] == pytest.approx(
        reference_result["metrics"]["val_macro_f1"], abs=0.05
    )
    texts = pq.read_table(validation).column("text").to_pylist()
    two = plain_predictions(tmp_path / "model", texts).argmax(1)
    one = plain_predictions(reference_model, texts).argmax(1)
    assert (two == one).float().mean() >= 0.9
