"""The prepare_dataset KFP component: a typed signature over components.prepare.prepare."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Output

from components.common.config import described_by
from components.common.image import IMAGE
from components.prepare.config import PrepareConfig


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(PrepareConfig)
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

    Returns:
        train: Training split (Parquet; `text`, `label` and kept columns).
        validation: Validation split.
        test: Test split.
        metrics: Rows read, kept per split, and dropped per reason.
        report: A Markdown data report: class balance, text lengths, what was dropped and why.
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from components.common.errors import one_line_errors
    from components.prepare.kfp_io import run_component

    with one_line_errors():
        run_component(**arguments)
