"""Settings for the model server and the ONNX export, with their defaults (the one home)."""

from dataclasses import dataclass, field

from components.common.backends import BACKENDS, ONNX_INT8
from components.common.config import require


@dataclass
class ServeConfig:
    """How the model server loads its model and what requests it accepts."""

    model_dir: str = field(default="", metadata={"help": "Model artifact folder to serve"})
    model_name: str = field(
        default="",
        metadata={
            "help": "name in the URL paths; empty: the registered model's name (the folder's "
            "name for a model that was never registered)"
        },
    )
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "address to listen on (0.0.0.0 inside a container)"},
    )
    port: int = field(default=8080, metadata={"help": "HTTP port"})
    backend: str = field(
        default="pytorch",
        metadata={"help": "pytorch, or onnx (needs the export_onnx output)"},
    )
    onnx_file: str = field(
        default=ONNX_INT8,
        metadata={"help": "ONNX file inside the model folder, for backend onnx"},
    )
    # fp32 by default: online requests bring ever new (batch, length) shapes, and bf16 kernels
    # are compiled per shape, which costs more than bf16 saves on small batches.
    precision: str = field(
        default="fp32",
        metadata={"help": "PyTorch precision: fp32, bf16, or auto (bf16 where the CPU has it)"},
    )
    max_length: int = field(default=128, metadata={"help": "tokens kept per text"})
    max_batch_size: int = field(
        default=32, metadata={"help": "most texts scored together in one forward pass"}
    )
    max_batch_tokens: int = field(
        default=8192,
        metadata={"help": "most tokens the scheduler hands the model at once (queued requests)"},
    )
    max_batch_texts: int = field(
        default=256, metadata={"help": "most texts the scheduler hands the model at once"}
    )
    max_queue_texts: int = field(
        default=1024,
        metadata={"help": "most texts waiting for the model; beyond it requests get 503"},
    )
    request_timeout_s: float = field(
        default=30.0,
        metadata={"help": "a request not scored within this many seconds gets 503"},
    )
    drain_timeout_s: float = field(
        default=25.0,
        metadata={
            "help": "on SIGTERM, longest wait for admitted requests before exiting (keep it "
            "under the pod's terminationGracePeriodSeconds)"
        },
    )
    max_texts: int = field(default=64, metadata={"help": "most texts in one request"})
    max_chars: int = field(default=2000, metadata={"help": "most characters in one text"})
    max_body_bytes: int = field(
        default=1_000_000, metadata={"help": "largest request body accepted, in bytes"}
    )
    payload_log_uri: str = field(
        default="",
        metadata={
            "help": "folder or s3:// prefix for payload logs (Parquet, partitioned by date and "
            "hour); empty: no payload log"
        },
    )
    payload_log_text: str = field(
        default="hash",
        metadata={
            "help": "hash: log only each text's sha256 (no customer text kept); text: the text "
            "itself (needed for embedding drift)"
        },
    )
    payload_log_probabilities: bool = field(
        default=False, metadata={"help": "log every label's probability, not only the top one"}
    )
    payload_log_sample_rate: float = field(
        default=1.0, metadata={"help": "fraction of requests logged (0 to 1)"}
    )
    payload_log_flush_s: float = field(
        default=10.0, metadata={"help": "seconds between payload log writes"}
    )
    payload_log_max_queued: int = field(
        default=10_000,
        metadata={"help": "most texts buffered for the payload log; beyond it they are dropped"},
    )

    def __post_init__(self) -> None:
        require(bool(self.model_dir), "--model-dir is required; pass a Model artifact folder")
        require(self.backend in BACKENDS, f"unknown backend {self.backend!r}; use pytorch or onnx")
        require(0 <= self.port <= 65535, f"port {self.port} is out of range; use 1 to 65535")
        require(
            self.precision in ("auto", "fp32", "bf16"),
            f"unknown precision {self.precision!r}; use auto, fp32 or bf16",
        )
        for name in (
            "max_length",
            "max_batch_size",
            "max_batch_tokens",
            "max_batch_texts",
            "max_queue_texts",
            "request_timeout_s",
            "drain_timeout_s",
            "max_texts",
            "max_chars",
            "max_body_bytes",
        ):
            value = getattr(self, name)
            require(value > 0, f"{name} must be positive, got {value}")
        require(
            self.payload_log_text in ("hash", "text"),
            f"unknown payload_log_text {self.payload_log_text!r}; use hash or text",
        )
        require(
            0 < self.payload_log_sample_rate <= 1,
            f"payload_log_sample_rate {self.payload_log_sample_rate} is not in (0, 1]",
        )
        require(self.payload_log_flush_s > 0, "payload_log_flush_s must be positive")
        require(self.payload_log_max_queued > 0, "payload_log_max_queued must be positive")
        require(
            self.max_queue_texts >= self.max_texts,
            f"max_queue_texts {self.max_queue_texts} is below max_texts {self.max_texts}: a "
            "full request could never be queued; raise max_queue_texts",
        )


@dataclass
class ExportConfig:
    """How a Model artifact is exported to ONNX and quantized."""

    opset: int = field(default=17, metadata={"help": "ONNX opset version"})
    max_length: int = field(
        default=128, metadata={"help": "tokens kept per text when measuring accuracy"}
    )
    batch_size: int = field(default=64, metadata={"help": "texts per batch when measuring"})
    max_int8_accuracy_drop: float = field(
        default=0.01,
        metadata={
            "help": "serve int8 when its test accuracy is at most this far below fp32's "
            "(0.01: one point); else PyTorch"
        },
    )

    def __post_init__(self) -> None:
        require(self.opset >= 14, f"opset {self.opset} is too old; use 14 or newer")
        require(self.max_length > 0, f"max_length must be positive, got {self.max_length}")
        require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        require(
            0 <= self.max_int8_accuracy_drop <= 1,
            f"max_int8_accuracy_drop {self.max_int8_accuracy_drop} is not a fraction; use 0 to 1",
        )
