"""How tasks run on a cluster: resources, retries, GPUs and S3 credentials, set in one place.

Retries: only a step that a node can take away mid-run and that resumes where it stopped gets
KFP-level retries (`resumable`: fine-tuning, which checkpoints). Every other step's failures are
deterministic (bad input, a failed rollout that already rolled back) and would only repeat;
transient S3 errors are retried inside each step by boto3.
"""

from dataclasses import dataclass
from typing import Any

from kfp import kubernetes

# Keys of the optional Kubernetes secret, exposed to S3-touching steps under the same names.
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class ClusterSettings:
    """Compile-time settings (`kfp-nlp compile --gpu ... --s3-secret ...`)."""

    gpu: bool = False
    gpu_node_selector: str = ""  # "label=value", e.g. "node.kubernetes.io/instance-type=g5.xlarge"
    # A Kubernetes secret with S3 credentials, for clusters without IRSA (e.g. MinIO). The spec
    # names the secret only; its values never enter the pipeline.
    s3_secret: str = ""


def resources(task: Any, cpu: str, memory: str) -> Any:
    """Requests equal to limits: predictable scheduling for CPU-bound steps."""
    task.set_cpu_request(cpu).set_cpu_limit(cpu)
    return task.set_memory_request(memory).set_memory_limit(memory)


def touches_s3(task: Any, settings: ClusterSettings) -> Any:
    """Mount the S3 secret when one is named (boto3 retries transient S3 errors in the step)."""
    if settings.s3_secret:
        kubernetes.use_secret_as_env(
            task,
            secret_name=settings.s3_secret,
            secret_key_to_env={key: key for key in S3_SECRET_KEYS},
            optional=True,
        )
    return task


def resumable(task: Any) -> Any:
    """Retry a step that resumes from its own checkpoint: a preempted node or an evicted pod
    costs the work since the last checkpoint, not the whole step."""
    return task.set_retry(num_retries=3, backoff_duration="60s", backoff_factor=2.0)


def on_gpu(task: Any, settings: ClusterSettings) -> Any:
    """One NVIDIA GPU, tolerating the usual GPU node taint, optionally on labelled nodes."""
    if not settings.gpu:
        return task
    task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
    kubernetes.add_toleration(task, key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    if settings.gpu_node_selector:
        key, _, value = settings.gpu_node_selector.partition("=")
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    return task
