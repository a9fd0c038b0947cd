"""Settings for deploy_inference_service, with their defaults (the one home)."""

import re
from dataclasses import dataclass, field

from components.common.backends import BACKENDS
from components.common.config import require

RUNTIMES = ("kfp-nlp", "huggingface")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class DeployConfig:
    """What InferenceService to render and how to roll it out."""

    name: str = field(default="", metadata={"help": "InferenceService name (a DNS label)"})
    namespace: str = field(
        default="kfp-nlp-dev", metadata={"help": "Kubernetes namespace of the InferenceService"}
    )
    runtime: str = field(
        default="kfp-nlp",
        metadata={
            "help": "kfp-nlp (our model server in `image`) or huggingface (KServe's runtime)"
        },
    )
    image: str = field(
        default="",
        metadata={"help": "predictor image for the kfp-nlp runtime; empty: the component image"},
    )
    backend: str = field(
        default="pytorch",
        metadata={"help": "model server backend: pytorch, or onnx for an export_onnx model"},
    )
    payload_log_uri: str = field(
        default="",
        metadata={
            "help": (
                "s3:// prefix where the model server logs every scored text (its hash, "
                "label and probabilities) for monitor_classifier; empty: no payload log"
            )
        },
    )
    service_account: str = field(
        default="kfp-nlp-serving",
        metadata={"help": "service account with read access to the model (IRSA role)"},
    )
    cpu_request: str = field(default="1", metadata={"help": "predictor CPU request"})
    memory_request: str = field(default="2Gi", metadata={"help": "predictor memory request"})
    cpu_limit: str = field(default="2", metadata={"help": "predictor CPU limit"})
    memory_limit: str = field(default="4Gi", metadata={"help": "predictor memory limit"})
    min_replicas: int = field(default=1, metadata={"help": "fewest predictor replicas"})
    max_replicas: int = field(default=3, metadata={"help": "most predictor replicas"})
    canary_traffic_percent: int = field(
        default=0,
        metadata={
            "help": (
                "1-99 sends that share of traffic to the new revision; 0 sends all of "
                "it once the new revision is Ready"
            )
        },
    )
    timeout_seconds: int = field(
        default=600,
        metadata={"help": "how long to wait for Ready before restoring the previous spec"},
    )
    dry_run: bool = field(
        default=False, metadata={"help": "only render the manifest; apply nothing"}
    )

    def __post_init__(self) -> None:
        require(
            bool(_DNS_LABEL.match(self.name)) and len(self.name) <= 45,
            f"InferenceService name {self.name!r} is not a DNS label of at most 45 characters; "
            "use lower-case letters, digits and dashes",
        )
        require(
            bool(_DNS_LABEL.match(self.namespace)),
            f"namespace {self.namespace!r} is not a DNS label; use lower-case letters, "
            "digits and dashes",
        )
        require(
            self.runtime in RUNTIMES,
            f"unknown runtime {self.runtime!r}; use kfp-nlp or huggingface",
        )
        require(self.backend in BACKENDS, f"unknown backend {self.backend!r}; use pytorch or onnx")
        require(
            not self.payload_log_uri or self.runtime == "kfp-nlp",
            "payload_log_uri needs runtime kfp-nlp (KServe's Hugging Face runtime logs nothing); "
            "set runtime=kfp-nlp or leave payload_log_uri empty",
        )
        require(
            0 <= self.canary_traffic_percent < 100,
            f"canary_traffic_percent {self.canary_traffic_percent} is out of range; use 0-99",
        )
        require(
            1 <= self.min_replicas <= self.max_replicas,
            f"replicas {self.min_replicas}..{self.max_replicas} are not a range; "
            "use 1 <= min_replicas <= max_replicas",
        )
        require(
            self.timeout_seconds > 0,
            f"timeout_seconds must be positive, got {self.timeout_seconds}",
        )
