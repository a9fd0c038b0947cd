"""The batch_predict KFP component: a thin wrapper over components.batch_predict.predict."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
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
        text_column: Column holding the texts.
        id_columns: Input columns copied to the output; empty: every column but the text.
        chunk_rows: Rows per committed chunk, the unit of resuming.
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
        precision: fp32, bf16, or auto (bf16 where the CPU has it).
        backend: pytorch, or onnx for a model exported by export_onnx.
        onnx_file: ONNX file inside the model folder, for the onnx backend.
        parts_uri: Folder or s3:// prefix for chunk files; set an s3:// prefix so a retried
            step resumes where the last attempt stopped. Empty: beside the output.
        output_format: parquet, csv or jsonl; auto: Parquet.
        label_delimiter: For a multi-label model's CSV output: joins a row's labels, and their
            probabilities, into one cell (Parquet and JSONL hold lists).
        payload_columns: Write the payload log's columns instead of `label` (timestamp, model,
            version, text_length, token_count, predicted_label, probability, probabilities,
            text_sha256; predicted_labels and label_probabilities for a multi-label model), so
            monitor_classifier reads the output like a payload log.

    Returns:
        predictions: The kept input columns plus `label` and `probability` (a multi-label
            model: `labels`, every label at or above its decision threshold, possibly none,
            and `label_probabilities`, theirs), one row per input row, in input order.
    """
    from components.batch_predict.kfp_io import run_component
    from components.common.errors import one_line_errors

    with one_line_errors():
        run_component(
            model=model,
            predictions=predictions,
            table=table,
            input_uri=input_uri,
            output_uri=output_uri,
            text_column=text_column,
            id_columns=id_columns,
            chunk_rows=chunk_rows,
            batch_size=batch_size,
            max_length=max_length,
            precision=precision,
            backend=backend,
            onnx_file=onnx_file,
            parts_uri=parts_uri,
            output_format=output_format,
            label_delimiter=label_delimiter,
            payload_columns=payload_columns,
        )
