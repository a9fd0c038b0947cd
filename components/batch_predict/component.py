"""The batch_predict KFP component: a thin wrapper over components.batch_predict.predict."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.batch_predict.config import BatchPredictConfig
from components.common.config import described_by
from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(BatchPredictConfig)
def batch_predict(
    model: Input[Model],
    predictions: Output[Dataset],
    table: Input[Dataset] = None,
    input_uri: str = "",
    output_uri: str = "",
    text_column: str = "text",
    id_columns: list = [],  # noqa: B006 - KFP needs a literal default
    chunk_rows: int = 4096,
    batch_size: int = 64,
    max_length: int = 128,
    precision: str = "fp32",
    backend: str = "pytorch",
    onnx_file: str = "onnx/model_int8.onnx",
    parts_uri: str = "",
    output_format: str = "auto",
    label_delimiter: str = "|",
    payload_columns: bool = False,
):
    """Score a table of texts with a classifier, in chunks that a retried step resumes.

    Args:
        model: Model artifact (finetune_classifier or export_onnx output) to score with.
        table: Dataset artifact to score; when absent, `input_uri` is scored.
        input_uri: Table to score (local path or s3://; CSV, TSV, JSONL or Parquet).
        output_uri: Also write the predictions here (local path or s3://); empty: only the
            predictions artifact.
        parts_uri: Folder or s3:// prefix for chunk files; set an s3:// prefix so a retried
            step resumes where the last attempt stopped. Empty: beside the output.
        output_format: parquet, csv or jsonl; auto: Parquet.

    Returns:
        predictions: The kept input columns plus `label` and `probability` (a multi-label
            model: `labels`, every label at or above its decision threshold, possibly none,
            and `label_probabilities`, theirs), one row per input row, in input order.
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from components.batch_predict.kfp_io import run_component
    from components.common.errors import one_line_errors

    with one_line_errors():
        run_component(**arguments)
