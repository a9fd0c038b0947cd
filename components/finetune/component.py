"""The KFP component: a typed signature over `components.finetune.kfp_io.run_component`."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def finetune_classifier(
    train: Input[Dataset],
    validation: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    training_curves: Output[HTML],
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
    checkpoint_uri: str = "",
    checkpoint_steps: int = 200,
    max_steps: int = 0,
    max_train_samples: int = 0,
    log_steps: int = 20,
    allow_pickle_weights: bool = False,
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
        epochs: Passes over the training data; the best epoch on validation is kept.
        learning_rate: Peak AdamW learning rate; 2e-4 suits the bundled MiniLM, a base model
            of BERT-base size or larger usually wants 2e-5 to 5e-5.
        batch_size: Examples per micro-batch, summed over all workers.
        max_length: Longest tokenised text; longer texts are truncated.
        warmup_ratio: Fraction of the steps with a linear learning-rate warmup.
        weight_decay: AdamW weight decay.
        gradient_accumulation_steps: Micro-batches per optimizer step.
        seed: Seed for the new head's weights, dropout and data order.
        early_stopping_patience: Evaluations without improvement before stopping; 0 disables.
        early_stopping_metric: `macro_f1` or `loss` on the validation data.
        eval_steps: Evaluate every N optimizer steps; 0 means at the end of each epoch.
        precision: `auto` (bf16 where the hardware runs it natively), `fp32`, `bf16`, `fp16`.
        num_workers: Data-parallel (DDP) worker processes on this node.
        checkpoint_uri: Local folder or s3:// prefix for resumable checkpoints; empty keeps them
            beside the model output under the pipeline root, where a retry of this task finds
            them, and removes them after success.
        checkpoint_steps: Save a checkpoint every N optimizer steps (and on SIGTERM).
        max_steps: Stop after N optimizer steps; 0 means no limit.
        max_train_samples: Use only the first N training examples; 0 means all.
        log_steps: Log step, loss, samples/s and ETA every N optimizer steps.
        allow_pickle_weights: Allow a base model whose weights are a pickle (.bin) file.

    Returns:
        model: The classifier: a save_pretrained folder (safetensors, tokenizer, config with
            real id2label/label2id) with a manifest of file hashes and provenance.
        metrics: Per-epoch train loss, validation loss and macro-F1, and the best model's
            validation metrics.
        training_curves: HTML page with the training curves and a table per evaluation.
    """
    from components.common.errors import one_line_errors
    from components.finetune.kfp_io import run_component

    with one_line_errors():
        run_component(
            train=train,
            validation=validation,
            model=model,
            metrics=metrics,
            training_curves=training_curves,
            base_model_artifact=base_model_artifact,
            base_model=base_model,
            base_model_fingerprint=base_model_fingerprint,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            gradient_accumulation_steps=gradient_accumulation_steps,
            seed=seed,
            early_stopping_patience=early_stopping_patience,
            early_stopping_metric=early_stopping_metric,
            eval_steps=eval_steps,
            precision=precision,
            num_workers=num_workers,
            checkpoint_uri=checkpoint_uri,
            checkpoint_steps=checkpoint_steps,
            max_steps=max_steps,
            max_train_samples=max_train_samples,
            log_steps=log_steps,
            allow_pickle_weights=allow_pickle_weights,
        )
