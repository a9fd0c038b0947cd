"""Fine-tuning on several nodes: one Kubeflow Trainer TrainJob, through the official `kubeflow` SDK.

With `launcher=trainjob` the fine-tune step trains nothing itself. It stages the job under an S3
prefix (components/finetune/staging.py), submits one TrainJob of `num_nodes` nodes whose image is
the component image and whose command is our worker entry point, streams every node's log into
its own (prefixed `[node N]`), and fetches the model that rank 0 wrote back.

Where the TrainJob runs is the SDK's backend (`trainjob_backend`):
- `kubernetes`: the cluster this step runs in. The TrainJob refers to the ClusterTrainingRuntime
  `trainjob_runtime` (the stock `torch-distributed` by default), which starts one pod per node and
  injects the torchrun rendezvous (PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, ...). The command
  is `torchrun --nproc-per-node=<num_workers> -m components.finetune.worker <job>`: the SDK's
  typed trainer has no field for the processes per node, and torchrun's own flag wins over the
  injected PET_NPROC_PER_NODE.
- `container`: one local Docker or podman container per node on a per-job network (the SDK's
  container backend; it runs one process per node, one per GPU with GPUs). The job's command
  is the same worker entry point, wrapped in the small function the SDK's `CustomTrainer` needs.

The TrainJob's name is derived from the job's staging prefix and fingerprint, which a KFP retry
of the same task shares: a retry re-attaches to a job that is still running (or fetches the
result of one that completed) instead of starting a second one. SIGTERM (a cancelled or
terminated step) deletes the TrainJob.
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import yaml

from components.common.errors import KfpNlpError, TransientError
from components.common.image import IMAGE, RUNTIME_UID
from components.common.uri import is_s3, join
from components.finetune import staging
from components.finetune.config import FinetuneConfig
from components.finetune.train import SIGTERM_EXIT, Job

API_VERSION = "trainer.kubeflow.org/v1alpha1"
NODE_STEP = "node"  # the runtime's replicated job, and the prefix of its steps: node-0, node-1
# Environment the nodes get from the launcher: where S3 is and which region, never credentials
# on a cluster (the nodes' service account carries those, e.g. through IRSA).
NODE_ENV = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION")
LOCAL_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
NODE_SERVICE_ACCOUNT = "kfp-nlp-trainer"
NODE_WORKSPACE = "/workspace"  # where the container backend mounts the job's folder
_POLL_SECONDS = 2
_MAX_MISSES = 15  # polls in a row the API server may fail to answer (30 s)


def backend_of(config: FinetuneConfig) -> str:
    """`kubernetes` inside a pod, else `container`, unless the setting names one."""
    if config.trainjob_backend != "auto":
        return config.trainjob_backend
    return "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "container"


def job_name(prefix: str, fingerprint: dict[str, Any]) -> str:
    """A DNS-1035 name, the same for every attempt of one KFP task on the same inputs."""
    key = json.dumps({"staging": prefix, "fingerprint": fingerprint}, sort_keys=True)
    return "kfp-nlp-ft-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def container_workdir(name: str) -> Path:
    """The folder the SDK's container backend (kubeflow 0.5.0, pinned) makes for the job `name`
    and mounts read-write at NODE_WORKSPACE in every node container."""
    return Path.home() / ".kubeflow" / "trainer" / "containers" / name


def staging_place(
    config: FinetuneConfig, fingerprint: dict[str, Any], backend: str
) -> tuple[str, staging.Place]:
    """The TrainJob's name and the place its nodes share: the S3 staging prefix, or, on the
    container backend with no S3 staging, the job's folder that the backend mounts in every
    node."""
    name = job_name(config.staging_uri, fingerprint)
    if is_s3(config.staging_uri):
        prefix = join(config.staging_uri, name)
        return name, staging.Place(prefix, prefix)
    if backend != "container":
        raise KfpNlpError(
            f"launcher=trainjob needs an s3:// staging_uri that the nodes can reach, got "
            f"{config.staging_uri or 'none'!r}; pass --staging-uri s3://BUCKET/PREFIX (or run "
            "the pipeline with an S3 pipeline root)"
        )
    return name, staging.Place(str(container_workdir(name)), NODE_WORKSPACE)


def node_checkpoints(config: FinetuneConfig, place: staging.Place) -> str:
    """Checkpoints every node reads: the configured S3 location, else beside the staged job."""
    if is_s3(config.checkpoint_uri):
        return config.checkpoint_uri
    return join(place.nodes, "checkpoints")


def resources_per_node(config: FinetuneConfig) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if config.node_cpu:
        resources["cpu"] = config.node_cpu
    if config.node_memory:
        resources["memory"] = config.node_memory
    if config.node_gpus:
        resources["gpu"] = config.node_gpus
    return resources


def node_env(backend: str) -> dict[str, str]:
    names = NODE_ENV + (LOCAL_CREDENTIALS if backend == "container" else ())
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def worker_command(config: FinetuneConfig, job_uri: str) -> list[str]:
    return [
        "torchrun",
        f"--nproc-per-node={config.num_workers}",
        "-m",
        "components.finetune.worker",
        job_uri,
    ]


def _restricted_pods() -> Any:
    """Run the nodes as every kfp-nlp pod runs: the restricted Pod Security Standard, under the
    service account that reaches S3, with /tmp the only writable path."""
    from kubeflow.trainer.options import (
        ContainerPatch,
        JobSetSpecPatch,
        JobSetTemplatePatch,
        JobSpecPatch,
        JobTemplatePatch,
        PodSpecPatch,
        PodTemplatePatch,
        ReplicatedJobPatch,
        RuntimePatch,
        TrainingRuntimeSpecPatch,
    )

    container = ContainerPatch(
        name=NODE_STEP,
        volume_mounts=[{"name": "tmp", "mountPath": "/tmp"}],
        security_context={
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    )
    pod = PodSpecPatch(
        service_account_name=NODE_SERVICE_ACCOUNT,
        volumes=[{"name": "tmp", "emptyDir": {}}],
        containers=[container],
        security_context={
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    )
    job = JobTemplatePatch(spec=JobSpecPatch(template=PodTemplatePatch(spec=pod)))
    replicated = ReplicatedJobPatch(name=NODE_STEP, template=job)
    spec = JobSetTemplatePatch(spec=JobSetSpecPatch(replicated_jobs=[replicated]))
    return RuntimePatch(training_runtime_spec=TrainingRuntimeSpecPatch(template=spec))


def kubernetes_request(config: FinetuneConfig, name: str, job_uri: str) -> tuple[Any, list]:
    """The trainer and options the SDK's Kubernetes backend submits."""
    from kubeflow.trainer import CustomTrainerContainer
    from kubeflow.trainer.options import (
        ActiveDeadlineSeconds,
        Labels,
        Name,
        TrainerCommand,
    )

    trainer = CustomTrainerContainer(
        image=IMAGE,
        num_nodes=config.num_nodes,
        resources_per_node=resources_per_node(config) or None,
        env=node_env("kubernetes") or None,
    )
    options = [
        Name(name),
        Labels({"app.kubernetes.io/part-of": "kfp-nlp", "app.kubernetes.io/component": "finetune"}),
        TrainerCommand(worker_command(config, job_uri)),
        _restricted_pods(),
    ]
    if config.deadline_seconds:
        options.append(ActiveDeadlineSeconds(config.deadline_seconds))
    return trainer, options


def kfp_nlp_trainjob_node(job_uri: str) -> None:
    """One process of a node of a kfp-nlp TrainJob (the container backend runs it via torchrun)."""
    from components.common.errors import run_cli
    from components.finetune.worker import run_node

    run_cli(lambda argv: run_node(job_uri))


def container_request(config: FinetuneConfig, name: str, job_uri: str) -> tuple[Any, list]:
    """The trainer and options the SDK's container backend runs."""
    from kubeflow.trainer import CustomTrainer
    from kubeflow.trainer.options import Name

    if config.num_workers != 1 and not config.node_gpus:
        raise KfpNlpError(
            f"trainjob_backend=container runs one process per CPU node, got num_workers="
            f"{config.num_workers}; set num_workers=1 (or train on a cluster)"
        )
    trainer = CustomTrainer(
        func=kfp_nlp_trainjob_node,
        func_args={"job_uri": job_uri},
        image=IMAGE,
        num_nodes=config.num_nodes,
        resources_per_node=resources_per_node(config) or None,
        env=node_env("container"),
    )
    return trainer, [Name(name)]


def render(config: FinetuneConfig, name: str, job_uri: str) -> dict[str, Any]:
    """The TrainJob object the Kubernetes backend submits, as the API server receives it."""
    from kubeflow_trainer_api import models

    trainer, options = kubernetes_request(config, name, job_uri)
    spec: dict[str, Any] = {}
    for option in options:
        # The SDK's options write their part of the job spec themselves, as on submission.
        option(spec, trainer, _kubernetes_backend_type())
    resources = resources_per_node(config)
    trainer_cr: dict[str, Any] = {
        "image": trainer.image,
        "command": spec["spec"]["trainer"]["command"],
        "numNodes": config.num_nodes,
    }
    if resources:
        quantities = {("nvidia.com/gpu" if k == "gpu" else k): v for k, v in resources.items()}
        trainer_cr["resourcesPerNode"] = {"requests": quantities, "limits": quantities}
    if trainer.env:
        trainer_cr["env"] = [{"name": k, "value": v} for k, v in trainer.env.items()]
    job = {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {"name": name, "labels": spec["metadata"]["labels"]},
        "spec": {
            "runtimeRef": {"name": config.trainjob_runtime, "kind": "ClusterTrainingRuntime"},
            "trainer": trainer_cr,
            "runtimePatches": spec["spec"]["runtimePatches"],
        },
    }
    if config.deadline_seconds:
        job["spec"]["activeDeadlineSeconds"] = config.deadline_seconds
    # Typed round trip: a field the Trainer API does not know fails here, as it would there.
    typed = models.TrainerV1alpha1TrainJob.from_dict(job)
    return typed.to_dict()


def _kubernetes_backend_type() -> Any:
    """An instance of the SDK's Kubernetes backend class, unconnected: the options only check
    that they are applied for that backend."""
    from kubeflow.trainer.backends.kubernetes.backend import KubernetesBackend

    return KubernetesBackend.__new__(KubernetesBackend)


def write_rendered(path: Path, job: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(job, sort_keys=False))


def _client(backend: str) -> Any:
    from kubeflow.trainer import TrainerClient

    # The SDK logs a traceback before it raises; the error this step reports is one line.
    logging.getLogger("kubeflow").addHandler(logging.NullHandler())

    try:
        if backend == "kubernetes":
            from kubeflow.common.types import KubernetesBackendConfig

            return TrainerClient(KubernetesBackendConfig())
        from kubeflow.trainer.backends.container.types import (
            ContainerBackendConfig,
            TrainingRuntimeSource,
        )

        # No runtime lookups on GitHub (clusters and CI often have no internet): the SDK's
        # bundled torch-distributed runtime; the image is ours and must already be present.
        return TrainerClient(
            ContainerBackendConfig(
                pull_policy="IfNotPresent",
                runtime_source=TrainingRuntimeSource(sources=[]),
            )
        )
    except Exception as exc:  # the SDK raises bare RuntimeError/ConfigException here
        raise KfpNlpError(
            f"cannot reach the {backend} backend for the TrainJob ({_first_line(exc)}); "
            + (
                "run the step in a cluster with Kubeflow Trainer, or set trainjob_backend"
                if backend == "kubernetes"
                else "start Docker, or `podman system service` with DOCKER_HOST naming its socket"
            )
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


_NODE_PREFIX = re.compile(r"^\[node (\d+)\] ")


class _NodeLogs:
    """Streams each node's log into this step's log, prefixed by node rank, and keeps its tail."""

    def __init__(self, client: Any, name: str, nodes: int, shared_first_stream: bool):
        self.client, self.name, self.nodes = client, name, nodes
        # The container backend's stream of node-0 goes on with the other nodes' logs once
        # node 0 ends: there only lines tagged by node 0's own worker are node 0's.
        self.shared_first_stream = shared_first_stream
        self.tails = {rank: deque(maxlen=20) for rank in range(nodes)}
        self.threads: dict[int, threading.Thread] = {}

    def poll(self, job: Any) -> None:
        """Start following every node that runs and is not followed yet. A node whose pod is
        not there yet or still Pending has no log: the SDK's stream of it ends at once, empty."""
        started = {
            step.name
            for step in getattr(job, "steps", None) or []
            if step.status not in (None, "Pending")
        }
        for rank in range(self.nodes):
            if rank not in self.threads and f"{NODE_STEP}-{rank}" in started:
                thread = threading.Thread(target=self._follow, args=(rank,), daemon=True)
                self.threads[rank] = thread
                thread.start()

    def _follow(self, rank: int) -> None:
        step = f"{NODE_STEP}-{rank}"
        for _ in range(300):
            try:
                for chunk in self.client.get_job_logs(self.name, step=step, follow=True):
                    for line in str(chunk).splitlines():
                        if not self._show(rank, line):
                            return
                return
            except Exception:  # the node's pod or container does not exist yet
                time.sleep(1)

    def _show(self, rank: int, line: str) -> bool:
        """Print one line of node `rank`; False once the stream has moved on to another node
        (the container backend's stream of node-0 continues with the other nodes)."""
        tagged = _NODE_PREFIX.match(line)
        if tagged and int(tagged.group(1)) != rank:
            return False
        if not tagged and rank == 0 and self.shared_first_stream:
            return True
        text = line[tagged.end() :] if tagged else line
        self.tails[rank].append(text)
        print(f"[node {rank}] {text}", flush=True)
        return True

    def last_error(self, rank: int) -> str:
        """The node's own one-line error (the worker writes `error: ...`), else the last line of
        its log that looks like one (a traceback's last line, torchrun's summary)."""
        lines = [line.strip() for line in self.tails[rank] if line.strip()]
        for line in reversed(lines):
            if line.startswith("error: "):
                return line.removeprefix("error: ")
        for line in reversed(lines):
            if re.search(r"error|exception|failed|killed", line, re.IGNORECASE):
                return line
        return "it stopped without an error in its log (killed, evicted or out of memory?)"

    def join(self, seconds: float) -> None:
        for thread in self.threads.values():
            thread.join(timeout=seconds)


# What a surviving node's collective says when a peer went away: that node is not the cause.
_PEER_LOST = re.compile(
    r"closed by peer|reset by peer|remote worker|Connection refused|NCCL.*(?:remote|peer)",
    re.IGNORECASE,
)


def _failed_node(job: Any, logs: _NodeLogs) -> int | None:
    """The node the TrainJob failed on. When several have failed by now (one died, and the
    others' collectives lost it), the one whose error is not about a lost peer."""
    failed = sorted(
        int(step.name.rsplit("-", 1)[1])
        for step in getattr(job, "steps", []) or []
        if step.name.startswith(NODE_STEP + "-") and step.status == "Failed"
    )
    causes = [rank for rank in failed if not _PEER_LOST.search(logs.last_error(rank))]
    return (causes or failed or [None])[0]


def _api_error(exc: BaseException) -> tuple[int | None, str]:
    """The HTTP status and message of the API error behind an SDK exception (the SDK wraps the
    Kubernetes client's ApiException in a RuntimeError): (None, first line) when there is none."""
    cause: BaseException | None = exc
    while cause is not None:
        code = getattr(cause, "status", None)
        if isinstance(code, int):
            message = getattr(cause, "reason", "") or ""
            with contextlib.suppress(Exception):
                message = json.loads(cause.body)["message"]  # a metav1.Status
            return code, f"HTTP {code}: {message}"
        cause = cause.__cause__
    return None, _first_line(exc)


def _transient(exc: BaseException) -> bool:
    """Whether an SDK error is one a retry can get past: a timeout, 429 or a 5xx."""
    code, _ = _api_error(exc)
    if code is None:
        return isinstance(exc, TimeoutError)
    return code == 429 or code >= 500


def _absent(exc: BaseException) -> bool:
    """Whether the SDK's error from get_job means there is no such TrainJob: 404 on
    Kubernetes, ValueError ("No TrainJob with name") from the container backend."""
    return isinstance(exc, ValueError) or _api_error(exc)[0] == 404


def _existing(client: Any, name: str) -> Any:
    """The TrainJob `name`, or None when there is none. Any other error is not an answer: a
    retry of the step looks again."""
    try:
        return client.get_job(name)
    except Exception as exc:
        if _absent(exc):
            return None
        raise TransientError(f"cannot look up TrainJob {name}: {_api_error(exc)[1]}") from exc


def run(job: Job, config: FinetuneConfig, fingerprint: dict[str, Any]) -> None:
    """Train `job` as a TrainJob; on return its model and result are at the job's paths."""
    backend = backend_of(config)
    name, place = staging_place(config, fingerprint, backend)
    client = _client(backend)
    existing = _existing(client, name)
    if existing is not None and existing.status == "Failed":
        print(f"trainjob: {name} failed before; deleting it and starting again", flush=True)
        client.delete_job(name)
        existing = None
    if existing is None:
        job_uri = staging.stage(job, place, config.base_model)
        make = kubernetes_request if backend == "kubernetes" else container_request
        trainer, options = make(config, name, job_uri)
        try:
            client.train(runtime=config.trainjob_runtime, trainer=trainer, options=options)
        except Exception as exc:
            _, message = _api_error(exc)
            error = TransientError if _transient(exc) else KfpNlpError
            raise error(
                f"TrainJob {name} did not start on {backend}: {message}; check the image "
                f"{IMAGE} is there and the node resources ({resources_per_node(config)}) fit"
            ) from exc
        print(
            f"trainjob: submitted {name} on {backend}: {config.num_nodes} node(s) x "
            f"{config.num_workers} process(es), job {job_uri}",
            flush=True,
        )
    else:
        print(f"trainjob: re-attached to {name} ({existing.status}) on {backend}", flush=True)
    _watch(client, name, config)
    staging.fetch(place.prefix, job)
    with contextlib.suppress(Exception):
        client.delete_job(name)
    from components.common.uri import delete_tree

    delete_tree(place.prefix)


def _watch(client: Any, name: str, config: FinetuneConfig) -> None:
    logs = _NodeLogs(client, name, config.num_nodes, backend_of(config) == "container")
    cancelled: list[int] = []

    def cancel(signum: int, frame: object) -> None:
        cancelled.append(signum)

    previous = signal.signal(signal.SIGTERM, cancel)
    deadline = time.monotonic() + config.deadline_seconds if config.deadline_seconds else None
    try:
        misses = 0
        while True:
            try:
                job = client.get_job(name)
            except Exception as exc:
                if _absent(exc):
                    raise TransientError(
                        f"TrainJob {name} was deleted while this step watched it"
                    ) from exc
                misses += 1  # the API server did not answer this time
                if misses == _MAX_MISSES:
                    message = _api_error(exc)[1]
                    raise TransientError(f"cannot watch TrainJob {name}: {message}") from exc
                time.sleep(_POLL_SECONDS)
                continue
            misses = 0
            logs.poll(job)
            if job.status == "Complete":
                logs.join(30)
                return
            if job.status == "Failed":
                logs.join(10)
                rank = _failed_node(job, logs)
                where = f"node {rank}" if rank is not None else "a node"
                error = logs.last_error(rank if rank is not None else 0)
                with contextlib.suppress(Exception):
                    client.delete_job(name)  # the other nodes would wait on the lost one
                raise TransientError(f"TrainJob {name} failed on {where}: {error}")
            if cancelled:
                client.delete_job(name)
                print(f"trainjob: step cancelled; deleted {name}", flush=True)
                raise SystemExit(SIGTERM_EXIT)
            if deadline is not None and time.monotonic() > deadline:
                client.delete_job(name)
                raise TransientError(
                    f"TrainJob {name} ran past deadline_seconds={config.deadline_seconds}; "
                    "deleted it (a retry resumes from its last checkpoint)"
                )
            time.sleep(_POLL_SECONDS)
    finally:
        signal.signal(signal.SIGTERM, previous)
