"""Settings for batch prediction, with their defaults (the one home)."""

from dataclasses import dataclass, field

from components.common.artifacts import TEXT
from components.common.backends import BACKENDS, ONNX_INT8
from components.common.config import require

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass
class BatchPredictConfig:
    """What to score, how, and where the part files of an unfinished run are kept."""

    text_column: str = field(default=TEXT, metadata={"help": "column holding the texts"})
    id_columns: list[str] = field(
        default_factory=list,
        metadata={"help": "input columns copied to the output; empty: every column but the text"},
    )
    chunk_rows: int = field(
        default=4096, metadata={"help": "rows per committed chunk (the unit of resuming)"}
    )
    batch_size: int = field(default=64, metadata={"help": "texts per forward pass"})
    max_length: int = field(default=128, metadata={"help": "tokens kept per text"})
    # fp32 by default: bf16 kernels are compiled per (batch, length) shape, and on the tables
    # measured here that cost more than bf16 saved (benchmarks/batch_predict.py).
    precision: str = field(
        default="fp32", metadata={"help": "fp32, bf16, or auto (bf16 where the CPU has it)"}
    )
    backend: str = field(
        default="pytorch",
        metadata={"help": "pytorch, or onnx for a model exported by export_onnx"},
    )
    onnx_file: str = field(
        default=ONNX_INT8,
        metadata={"help": "ONNX file inside the model folder, for the onnx backend"},
    )
    parts_uri: str = field(
        default="",
        metadata={"help": "folder or s3:// prefix for chunk files; empty: OUTPUT.parts"},
    )
    output_format: str = field(
        default="auto", metadata={"help": "parquet, csv or jsonl; auto: from the output name"}
    )
    label_delimiter: str = field(
        default="|",
        metadata={
            "help": (
                "for a multi-label model's CSV output: joins a row's labels, and their "
                "probabilities, into one cell (Parquet and JSONL hold lists)"
            )
        },
    )
    payload_columns: bool = field(
        default=False,
        metadata={
            "help": (
                "write the payload log's columns instead of `label` (timestamp, model, "
                "version, text_length, token_count, predicted_label, probability, "
                "probabilities, text_sha256; predicted_labels and label_probabilities "
                "for a multi-label model), so monitor_classifier reads the output like "
                "a payload log"
            )
        },
    )

    def __post_init__(self) -> None:
        require(bool(self.text_column), "text_column is empty; name the column holding the texts")
        require(self.chunk_rows > 0, f"chunk_rows must be positive, got {self.chunk_rows}")
        require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        require(self.max_length > 0, f"max_length must be positive, got {self.max_length}")
        require(
            self.precision in ("auto", "fp32", "bf16"),
            f"unknown precision {self.precision!r}; use auto, fp32 or bf16",
        )
        require(
            bool(self.label_delimiter),
            'label_delimiter is empty; pass the character that joins labels in CSV, e.g. "|"',
        )
        require(self.backend in BACKENDS, f"unknown backend {self.backend!r}; use pytorch or onnx")
        require(
            self.output_format in ("auto", *OUTPUT_FORMATS),
            f"unknown output_format {self.output_format!r}; use auto, parquet, csv or jsonl",
        )
