"""Settings for the model server and the ONNX export, with their defaults (the one home)."""

from dataclasses import dataclass, field

from components.common.config import require

BACKENDS = ("pytorch", "onnx")
ONNX_FP32 = "onnx/model.onnx"
ONNX_INT8 = "onnx/model_int8.onnx"


@dataclass
class ServeConfig:
    """How the model server loads its model and what requests it accepts."""

    model_dir: str = field(default="", metadata={"help": "Model artifact folder to serve"})
    model_name: str = field(
        default="",
        metadata={"help": "name in the URL paths; empty: the model folder's name"},
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
    batch_window_ms: float = field(
        default=2.0,
        metadata={"help": "how long a request waits for others to share its batch"},
    )
    max_texts: int = field(default=64, metadata={"help": "most texts in one request"})
    max_chars: int = field(default=2000, metadata={"help": "most characters in one text"})
    max_body_bytes: int = field(
        default=1_000_000, metadata={"help": "largest request body accepted, in bytes"}
    )

    def __post_init__(self) -> None:
        require(bool(self.model_dir), "--model-dir is required; pass a Model artifact folder")
        require(self.backend in BACKENDS, f"unknown backend {self.backend!r}; use pytorch or onnx")
        require(0 <= self.port <= 65535, f"port {self.port} is out of range; use 1 to 65535")
        require(
            self.precision in ("auto", "fp32", "bf16"),
            f"unknown precision {self.precision!r}; use auto, fp32 or bf16",
        )
        for name in ("max_length", "max_batch_size", "max_texts", "max_chars", "max_body_bytes"):
            value = getattr(self, name)
            require(value > 0, f"{name} must be positive, got {value}")
        require(
            self.batch_window_ms >= 0,
            f"batch_window_ms must be zero or more, got {self.batch_window_ms}",
        )


@dataclass
class ExportConfig:
    """How a Model artifact is exported to ONNX and quantized."""

    opset: int = field(default=17, metadata={"help": "ONNX opset version"})
    max_length: int = field(
        default=128, metadata={"help": "tokens kept per text when measuring accuracy"}
    )
    batch_size: int = field(default=64, metadata={"help": "texts per batch when measuring"})

    def __post_init__(self) -> None:
        require(self.opset >= 14, f"opset {self.opset} is too old; use 14 or newer")
        require(self.max_length > 0, f"max_length must be positive, got {self.max_length}")
        require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
