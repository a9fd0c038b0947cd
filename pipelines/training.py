"""text_classifier_training: raw text table in, documented data splits out (more stages follow)."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Metrics

from components.prepare.component import prepare_dataset


class TrainingOutputs(NamedTuple):
    train: Dataset
    validation: Dataset
    test: Dataset
    data_report: Markdown
    data_metrics: Metrics


@dsl.pipeline(
    name="text-classifier-training",
    description="Prepare a text table, fine-tune a transformer classifier, evaluate and deploy it.",
)
def text_classifier_training(
    data_uri: str,
    text_column: str = "text",
    label_column: str = "label",
    group_column: str = "",
    time_column: str = "",
    seed: int = 42,
) -> TrainingOutputs:
    """Train a text classifier on a table of labelled texts.

    Args:
        data_uri: The labelled table: s3://bucket/key or a local path, CSV, TSV, JSON Lines or
            Parquet (gzip allowed).
        text_column: Column holding the text.
        label_column: Column holding the label.
        group_column: Optional column (e.g. customer id) whose rows must stay in one split.
        time_column: Optional timestamp column: split by time instead of at random.
        seed: Seed for the split and the training run.
    """
    prepared = prepare_dataset(
        source_uri=data_uri,
        text_columns=[text_column],
        label_column=label_column,
        group_column=group_column,
        time_column=time_column,
        seed=seed,
    ).set_display_name("Prepare data")
    outputs = prepared.outputs
    return TrainingOutputs(
        train=outputs["train"],
        validation=outputs["validation"],
        test=outputs["test"],
        data_report=outputs["report"],
        data_metrics=outputs["metrics"],
    )
