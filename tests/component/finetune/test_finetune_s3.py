"""Base model, checkpoints and the Model on S3 (a real S3 HTTP API on loopback, via boto3)."""

import json

from components.common.artifacts import MANIFEST_NAME
from components.common.uri import list_files, s3_client, upload_dir
from components.finetune.config import FinetuneConfig
from components.finetune.finetune import finetune

MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def test_s3_base_model_checkpoints_and_output(splits, base_model_dir, tmp_path, s3_bucket):
    bucket = s3_bucket
    train, _ = splits
    staged = tmp_path / "base"
    staged.mkdir()
    for name in (*MODEL_FILES, "vocab.txt", "special_tokens_map.json"):
        (staged / name).symlink_to(base_model_dir / name)
    upload_dir(staged, f"s3://{bucket}/models/minilm")
    upload_dir(train.parent, f"s3://{bucket}/data")

    settings = {
        "base_model": f"s3://{bucket}/models/minilm",
        "checkpoint_uri": f"s3://{bucket}/runs/1/checkpoints",
        "checkpoint_steps": 1,
        "max_steps": 2,
        "batch_size": 8,
        "max_train_samples": 16,
    }
    result = finetune(
        f"s3://{bucket}/data/train.parquet",
        f"s3://{bucket}/data/validation.parquet",
        f"s3://{bucket}/runs/1/model",
        FinetuneConfig(**settings),
    )
    assert result["base_model"] == f"s3://{bucket}/models/minilm"
    model_files = list_files(f"s3://{bucket}/runs/1/model")
    assert {"model.safetensors", "config.json", "tokenizer.json", MANIFEST_NAME} <= set(model_files)
    # Only the newest complete checkpoint is kept; its marker was written after its state.
    assert list_files(f"s3://{bucket}/runs/1/checkpoints") == [
        "step-00000002/COMPLETE",
        "step-00000002/state.pt",
    ]
    key = "runs/1/checkpoints/step-00000002/COMPLETE"
    marker = s3_client().get_object(Bucket=bucket, Key=key)
    assert json.loads(marker["Body"].read())["step"] == 2

    # A second run with the same checkpoints resumes at the finished step and trains no more.
    again = finetune(
        f"s3://{bucket}/data/train.parquet",
        f"s3://{bucket}/data/validation.parquet",
        f"s3://{bucket}/runs/2/model",
        FinetuneConfig(**settings),
    )
    assert again["history"] == result["history"]
