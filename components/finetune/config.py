"""The fine-tuning settings: every default lives here, the CLI and the KFP signature mirror it."""

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kubernetes.utils import parse_quantity

from components.common.config import require

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LAUNCHERS = ("inline", "trainjob")
TRAINJOB_BACKENDS = ("auto", "kubernetes", "container")
EARLY_STOPPING_METRICS = ("macro_f1", "loss")

_INTS = (
    "epochs",
    "batch_size",
    "max_length",
    "gradient_accumulation_steps",
    "seed",
    "early_stopping_patience",
    "eval_steps",
    "checkpoint_steps",
    "num_workers",
    "num_nodes",
    "node_gpus",
    "deadline_seconds",
    "max_steps",
    "max_train_samples",
    "log_steps",
)
_FLOATS = ("learning_rate", "warmup_ratio", "weight_decay")


@dataclass
class FinetuneConfig:
    """How to fine-tune a transformer text classifier; validated on construction."""

    base_model: str = field(
        default="",
        metadata={
            "help": "base model: a local folder or s3:// prefix holding a Hugging Face model and "
            "tokenizer; empty means the pretrained all-MiniLM-L6-v2 shipped with kfp-nlp"
        },
    )
    # Chosen on real short texts (benchmarks/defaults.py): at 5e-5 the bundled MiniLM is far from
    # converged after 3 epochs; at 2e-4 it is, and 5 epochs did not do better than 3.
    epochs: int = field(
        default=3,
        metadata={"help": "passes over the training data; the best epoch on validation is kept"},
    )
    learning_rate: float = field(
        default=2e-4,
        metadata={
            "help": "peak AdamW learning rate; 2e-4 suits the bundled MiniLM, a base model of "
            "BERT-base size or larger usually wants 2e-5 to 5e-5"
        },
    )
    batch_size: int = field(
        default=32, metadata={"help": "examples per micro-batch, summed over all workers"}
    )
    max_length: int = field(
        default=128, metadata={"help": "longest tokenised text; longer texts are truncated"}
    )
    warmup_ratio: float = field(
        default=0.06, metadata={"help": "fraction of the steps with a linear learning-rate warmup"}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "micro-batches per optimizer step"}
    )
    seed: int = field(
        default=42, metadata={"help": "seed for the new head's weights, dropout and data order"}
    )
    early_stopping_patience: int = field(
        default=3,
        metadata={"help": "evaluations without improvement before stopping; 0 disables it"},
    )
    early_stopping_metric: str = field(
        default="macro_f1",
        metadata={"help": "validation metric that picks the best weights: macro_f1 or loss"},
    )
    eval_steps: int = field(
        default=0,
        metadata={"help": "evaluate every N optimizer steps; 0 means at the end of each epoch"},
    )
    precision: str = field(
        default="auto",
        metadata={"help": "auto (bf16 where the hardware runs it natively), fp32, bf16 or fp16"},
    )
    num_workers: int = field(
        default=1, metadata={"help": "data-parallel (DDP) worker processes on this node"}
    )
    num_nodes: int = field(
        default=1,
        metadata={
            "help": "nodes (pods) to train on, each running num_workers processes; more than one "
            "needs launcher=trainjob"
        },
    )
    launcher: str = field(
        default="inline",
        metadata={
            "help": "inline: train inside this step; trainjob: submit a Kubeflow Trainer TrainJob "
            "of num_nodes nodes and wait for it (components/finetune/trainjob.py)"
        },
    )
    trainjob_runtime: str = field(
        default="torch-distributed",
        metadata={"help": "the ClusterTrainingRuntime the TrainJob refers to"},
    )
    trainjob_backend: str = field(
        default="auto",
        metadata={
            "help": "where the TrainJob runs: kubernetes (the cluster this step runs in), "
            "container (local Docker or podman containers, one per node) or auto (kubernetes "
            "inside a pod, else container)"
        },
    )
    node_cpu: str = field(
        default="",
        metadata={"help": "CPU request and limit of each TrainJob node, e.g. 4 or 3500m"},
    )
    node_memory: str = field(
        default="",
        metadata={"help": "memory request and limit of each TrainJob node, e.g. 16Gi"},
    )
    node_gpus: int = field(
        default=0, metadata={"help": "NVIDIA GPUs per TrainJob node (NCCL on GPU, gloo on CPU)"}
    )
    staging_uri: str = field(
        default="",
        metadata={
            "help": "s3:// prefix where a TrainJob's nodes read the job and write the model; "
            "empty means beside the model output, which must then be on S3 (on one machine's "
            "container backend: the job folder the SDK mounts in each node)"
        },
    )
    deadline_seconds: int = field(
        default=0,
        metadata={
            "help": "wall-clock limit of a TrainJob (its activeDeadlineSeconds); 0 means none"
        },
    )
    checkpoint_uri: str = field(
        default="",
        metadata={
            "help": "local folder or s3:// prefix for resumable checkpoints; empty disables them"
        },
    )
    checkpoint_steps: int = field(
        default=200,
        metadata={"help": "save a checkpoint every N optimizer steps (and on SIGTERM)"},
    )
    max_steps: int = field(
        default=0, metadata={"help": "stop after N optimizer steps; 0 means no limit"}
    )
    max_train_samples: int = field(
        default=0, metadata={"help": "use only the first N training examples; 0 means all"}
    )
    log_steps: int = field(
        default=20, metadata={"help": "log step, loss, samples/s and ETA every N optimizer steps"}
    )
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "allow a base model whose weights are a pickle (.bin) file"},
    )

    def __post_init__(self) -> None:
        for name in _INTS:
            value = getattr(self, name)
            require(
                isinstance(value, int) and not isinstance(value, bool),
                f"{name} must be a whole number, got {value!r}; pass for example --"
                f"{name.replace('_', '-')} 3",
            )
        for name in _FLOATS:
            value = getattr(self, name)
            require(
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value),
                f"{name} must be a number, got {value!r}; pass for example --"
                f"{name.replace('_', '-')} 0.1",
            )
        require(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        require(
            0 < self.learning_rate < 1,
            f"learning_rate must be between 0 and 1, got {self.learning_rate}; 2e-4 is the default",
        )
        require(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        require(
            8 <= self.max_length <= 8192,
            f"max_length must be between 8 and 8192 tokens, got {self.max_length}",
        )
        require(
            0 <= self.warmup_ratio < 1,
            f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}",
        )
        require(
            0 <= self.weight_decay < 1, f"weight_decay must be in [0, 1), got {self.weight_decay}"
        )
        require(
            self.gradient_accumulation_steps >= 1,
            "gradient_accumulation_steps must be at least 1, "
            f"got {self.gradient_accumulation_steps}",
        )
        require(
            self.early_stopping_patience >= 0,
            f"early_stopping_patience must be 0 or more, got {self.early_stopping_patience}",
        )
        require(
            self.early_stopping_metric in EARLY_STOPPING_METRICS,
            f"early_stopping_metric must be one of {', '.join(EARLY_STOPPING_METRICS)}, "
            f"got {self.early_stopping_metric!r}",
        )
        require(
            self.precision in PRECISIONS,
            f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}",
        )
        require(1 <= self.num_workers <= 64, f"num_workers must be 1 to 64, got {self.num_workers}")
        require(1 <= self.num_nodes <= 64, f"num_nodes must be 1 to 64, got {self.num_nodes}")
        require(
            self.launcher in LAUNCHERS,
            f"launcher must be one of {', '.join(LAUNCHERS)}, got {self.launcher!r}",
        )
        require(
            self.num_nodes == 1 or self.launcher == "trainjob",
            f"num_nodes={self.num_nodes} needs launcher=trainjob (a Kubeflow Trainer TrainJob); "
            "inline training runs on this step's own node",
        )
        require(
            self.trainjob_backend in TRAINJOB_BACKENDS,
            f"trainjob_backend must be one of {', '.join(TRAINJOB_BACKENDS)}, "
            f"got {self.trainjob_backend!r}",
        )
        require(self.node_gpus >= 0, f"node_gpus must be 0 or more, got {self.node_gpus}")
        require(
            self.deadline_seconds >= 0,
            f"deadline_seconds must be 0 or more, got {self.deadline_seconds}",
        )
        for name, example in (("node_cpu", "4 or 3500m"), ("node_memory", "16Gi")):
            value = getattr(self, name)
            require(
                value == "" or _is_quantity(value),
                f"{name} must be a Kubernetes quantity such as {example}, got {value!r}",
            )
        processes = self.num_workers * self.num_nodes
        require(
            self.batch_size >= processes,
            f"batch_size ({self.batch_size}) must be at least num_workers x num_nodes "
            f"({processes}) so every worker gets examples",
        )
        for name in ("eval_steps", "max_steps", "max_train_samples"):
            require(getattr(self, name) >= 0, f"{name} must be 0 or more")
        for name in ("checkpoint_steps", "log_steps"):
            require(getattr(self, name) >= 1, f"{name} must be at least 1")

    @property
    def world_size(self) -> int:
        """Training processes in all: num_workers on each of num_nodes nodes."""
        return self.num_workers * self.num_nodes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_quantity(value: str) -> bool:
    try:
        return parse_quantity(value) > 0
    except ValueError:
        return False
