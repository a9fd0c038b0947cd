"""Fine-tuning building blocks on tiny in-memory data: settings, batching, checkpoints."""

import inspect

import pytest
import torch

from components.common.errors import KfpNlpError
from components.finetune.checkpoint import CheckpointStore
from components.finetune.component import finetune_classifier
from components.finetune.config import FinetuneConfig
from components.finetune.data import epoch_batches
from components.finetune.kfp_io import metric_name


def test_component_docstring_documents_every_input_and_output():
    doc = finetune_classifier.python_func.__doc__
    for name in inspect.signature(finetune_classifier.python_func).parameters:
        assert f"{name}:" in doc


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": "3"}, "epochs must be a whole number"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"learning_rate": float("nan")}, "learning_rate must be a number"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in [0, 1)"),
        ({"max_length": 4}, "max_length must be between 8 and 8192"),
        ({"num_workers": 4, "batch_size": 2}, "batch_size (2) must be at least num_workers"),
        ({"max_steps": -1}, "max_steps must be 0 or more"),
        ({"checkpoint_steps": 0}, "checkpoint_steps must be at least 1"),
    ],
)
def test_settings_are_validated(settings, message):
    with pytest.raises(KfpNlpError) as raised:
        FinetuneConfig(**settings)
    assert message in str(raised.value)


def test_epoch_batches_are_reproducible_grouped_by_length_and_cover_every_example():
    lengths = torch.randint(3, 120, (1000,))
    first = epoch_batches(lengths, 16, seed=1, epoch=0)
    assert first == epoch_batches(lengths, 16, seed=1, epoch=0)
    assert first != epoch_batches(lengths, 16, seed=1, epoch=1)
    assert sorted(i for batch in first for i in batch) == list(range(1000))

    # Padding waste: tokens padded within length-grouped batches vs random batches.
    def waste(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)

    shuffled = torch.randperm(1000).tolist()
    random_batches = [shuffled[i : i + 16] for i in range(0, 1000, 16)]
    assert waste(first) < waste(random_batches) / 2


def test_checkpoint_store_ignores_incomplete_saves_and_keeps_the_newest(tmp_path):
    store = CheckpointStore(str(tmp_path))
    assert store.latest_marker() is None
    store.save({"weights": torch.ones(3)}, {"step": 5, "fingerprint": {}})
    # What a kill during the next save leaves: a temporary folder without the rename.
    leftover = tmp_path / ".tmp-step-00000010-abc"
    leftover.mkdir()
    (leftover / "state.pt").write_bytes(b"half a file")
    # And a step folder without its completion marker.
    (tmp_path / "step-00000020").mkdir()
    assert store.latest_marker()["step"] == 5
    assert torch.equal(store.load(store.latest_marker())["weights"], torch.ones(3))
    store.clean_incomplete()
    assert not leftover.exists()
    store.save({"weights": torch.zeros(3)}, {"step": 30, "fingerprint": {}})
    assert store.latest_marker()["step"] == 30
    assert not (tmp_path / "step-00000005").exists()


def test_metric_names_follow_epochs_or_steps():
    assert metric_name({"epoch": 2.0, "step": 20}) == "epoch_2"
    assert metric_name({"epoch": 1.5, "step": 15}) == "step_15"


def test_run_scoped_checkpoints_sit_beside_the_model_output():
    from components.finetune.kfp_io import run_scoped_checkpoints

    model = "s3://bucket/root/run-1/finetune-classifier/model"
    assert run_scoped_checkpoints(model) == f"{model}-checkpoints"
    # KFP's default MinIO pipeline root, reached through the S3 API.
    assert run_scoped_checkpoints("minio://mlpipeline/v2/artifacts/r/t/model") == (
        "s3://mlpipeline/v2/artifacts/r/t/model-checkpoints"
    )
    assert run_scoped_checkpoints("/runs/r/finetune-classifier/model") == (
        "/runs/r/finetune-classifier/model-checkpoints"
    )
    assert run_scoped_checkpoints("gs://bucket/root/model") == ""
