"""The prepare_dataset KFP component: a typed signature over components.prepare.prepare."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def prepare_dataset(
    train: Output[Dataset],
    validation: Output[Dataset],
    test: Output[Dataset],
    metrics: Output[Metrics],
    report: Output[Markdown],
    source_uri: str = "",
    source: Input[Dataset] = None,
    source_fingerprint: str = "",
    text_columns: list = ["text"],  # noqa: B006 - KFP reads the default from the signature
    label_column: str = "label",
    label_delimiter: str = "",
    group_column: str = "",
    time_column: str = "",
    keep_columns: list = [],  # noqa: B006
    format: str = "auto",
    train_fraction: float = 0.8,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    min_text_length: int = 1,
    max_rows: int = 0,
    allowed_labels: list = [],  # noqa: B006
    min_label_count: int = 10,
    rare_labels: str = "drop",
    drop_unlabeled: bool = False,
    delimiter: str = "",
    slice_columns: str = "",
):
    """Clean, deduplicate and split a raw text table into train/validation/test Datasets.

    Normalises Unicode and whitespace, drops empty, duplicate and unlabelled rows, handles rare
    labels, splits stratified by label (or by group, or by time), removes near-duplicates that
    would leak between splits, and documents all of it.

    Args:
        source_uri: The raw table: local path, file:// or s3:// URI of a CSV, TSV, JSON Lines or
            Parquet file, optionally gzip-compressed. Give this or `source`.
        source: The raw table as an upstream Dataset artifact. Give this or `source_uri`.
        source_fingerprint: Identity of the content at source_uri (snapshot_source); it keys
            KFP's cache, so a table replaced behind the same URI is prepared again. Kept in the
            splits' metadata.
        text_columns: Column(s) holding the text; several are joined with a space.
        label_column: Column holding the label.
        label_delimiter: Multi-label: the separator of the labels in one label cell, e.g. "|"
            (empty: single-label, unless the label column holds lists, as Parquet and JSON
            Lines can).
        group_column: Rows sharing a value here (e.g. a customer id) stay in one split.
        time_column: Split by time instead of at random: oldest rows train, newest test.
        keep_columns: Source columns to carry into the splits (ids, slice columns).
        format: Source format: auto, csv, tsv, jsonl or parquet.
        train_fraction: Share of rows for training.
        validation_fraction: Share of rows for validation.
        test_fraction: Share of rows for the test.
        seed: Seed of the random split.
        min_text_length: Texts shorter than this many characters are dropped.
        max_rows: Read at most this many rows (0 reads all).
        allowed_labels: Keep only rows with these labels (empty keeps all).
        min_label_count: Labels with fewer rows are dropped or fail the step (rare_labels).
        rare_labels: "drop" or "fail" for labels below min_label_count.
        drop_unlabeled: Drop rows without a label instead of failing.
        delimiter: Field separator of a CSV/TSV source, e.g. ";" (empty: "," or tab).
        slice_columns: Comma-separated columns the evaluation slices by: the step fails at once
            if the table lacks one, and keeps them in the splits (text_length is derived).

    Returns:
        train: Training split (Parquet; `text`, `label` and kept columns).
        validation: Validation split.
        test: Test split.
        metrics: Rows read, kept per split, and dropped per reason.
        report: A Markdown data report: class balance, text lengths, what was dropped and why.
    """
    from components.common.errors import one_line_errors
    from components.prepare.kfp_io import run_component

    with one_line_errors():
        run_component(
            source_uri=source_uri,
            source=source,
            source_fingerprint=source_fingerprint,
            train=train,
            validation=validation,
            test=test,
            metrics=metrics,
            report=report,
            text_columns=text_columns,
            label_column=label_column,
            label_delimiter=label_delimiter,
            group_column=group_column,
            time_column=time_column,
            keep_columns=keep_columns,
            format=format,
            train_fraction=train_fraction,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
            min_text_length=min_text_length,
            max_rows=max_rows,
            allowed_labels=allowed_labels,
            min_label_count=min_label_count,
            rare_labels=rare_labels,
            drop_unlabeled=drop_unlabeled,
            delimiter=delimiter,
            slice_columns=slice_columns,
        )
