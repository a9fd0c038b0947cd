"""The KFP component: a typed signature over `components.finetune.kfp_io.run_component`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.common.config import described_by
from components.common.image import IMAGE
from components.finetune.config import FinetuneConfig


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(FinetuneConfig)
def finetune_classifier(
    train: Input[Dataset],
    validation: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    training_curves: Output[HTML],
    trainjob: Output[Artifact],
    base_model_artifact: Input[Model] = None,
    base_model: str = "",
    base_model_fingerprint: str = "",
    epochs: int = 3,
    learning_rate: float = 2e-4,
    batch_size: int = 32,
    max_length: int = 128,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    gradient_accumulation_steps: int = 1,
    seed: int = 42,
    early_stopping_patience: int = 3,
    early_stopping_metric: str = "macro_f1",
    eval_steps: int = 0,
    precision: str = "auto",
    num_workers: int = 1,
    num_nodes: int = 1,
    launcher: str = "inline",
    trainjob_runtime: str = "torch-distributed",
    trainjob_backend: str = "auto",
    node_cpu: str = "",
    node_memory: str = "",
    node_gpus: int = 0,
    staging_uri: str = "",
    deadline_seconds: int = 0,
    checkpoint_uri: str = "",
    checkpoint_steps: int = 200,
    max_steps: int = 0,
    max_train_samples: int = 0,
    log_steps: int = 20,
    allow_pickle_weights: bool = False,
    check_only: bool = False,
):
    """Fine-tunes a pretrained transformer into a text classifier (single- or multi-label).

    Args:
        train: Training Dataset from prepare_dataset (Parquet with `text` and `label`).
        validation: Validation Dataset; picks the best weights and drives early stopping.
        base_model_artifact: Optional Model artifact holding a Hugging Face model and tokenizer
            to start from; takes precedence over `base_model`.
        base_model: Local folder or s3:// prefix of a Hugging Face model; empty means the
            pretrained all-MiniLM-L6-v2 shipped in the image. Never loaded from a model hub.
        base_model_fingerprint: Identity of the base model's content (snapshot_source); it only
            keys KFP's cache, so a base model replaced behind the same URI trains again.
        checkpoint_uri: Local folder or s3:// prefix for resumable checkpoints; empty keeps them
            beside the model output under the pipeline root, where a retry of this task finds
            them, and removes them after success.
        check_only: Check the settings, the splits, the base model and the checkpoints, and
            train nothing: the pipeline runs this first, without retries, so that a bad input
            fails once instead of once per retry of the fine-tune.

    Returns:
        model: The classifier: a save_pretrained folder (safetensors, tokenizer, config with
            real id2label/label2id) with a manifest of file hashes and provenance.
        metrics: Per-epoch train loss, validation loss and macro-F1, and the best model's
            validation metrics.
        training_curves: HTML page with the training curves and a table per evaluation.
        trainjob: With launcher=trainjob, the TrainJob the step submitted (YAML).
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from components.common.errors import one_line_errors
    from components.finetune.kfp_io import run_component

    with one_line_errors():
        run_component(**arguments)
