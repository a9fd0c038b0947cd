"""Rendering an InferenceService with the kserve SDK's typed classes.

The predictor runs either our model server (`python -m components.serve`) in the component
image, or KServe's Hugging Face runtime. Both read the model from `storageUri` (KServe's storage
initializer copies it to /mnt/models with the pod's IRSA role), run as the image's non-root user
(RUNTIME_UID, the uid of the component image and of every pod in manifests/) with no
privilege escalation, no capabilities, the runtime's default seccomp profile and a read-only
root filesystem; /tmp is a writable scratch volume.
"""

from typing import Any

from kserve import (
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1ModelFormat,
    V1beta1ModelSpec,
    V1beta1PredictorSpec,
    constants,
)
from kubernetes.client import (
    ApiClient,
    V1Capabilities,
    V1Container,
    V1ContainerPort,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1HTTPGetAction,
    V1ObjectMeta,
    V1Probe,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecurityContext,
    V1Volume,
    V1VolumeMount,
)

from components import __version__
from components.common.image import IMAGE, RUNTIME_UID
from components.deploy.config import DeployConfig

MODEL_MOUNT = "/mnt/models"
SCRATCH = "/tmp"
SCRATCH_VOLUME = "scratch"
HTTP_PORT = 8080
API_VERSION = f"{constants.KSERVE_GROUP}/{constants.KSERVE_V1BETA1_VERSION}"


def security_context() -> V1SecurityContext:
    """The restricted container security context every predictor container gets."""
    return V1SecurityContext(
        run_as_non_root=True,
        run_as_user=RUNTIME_UID,
        run_as_group=RUNTIME_UID,
        allow_privilege_escalation=False,
        capabilities=V1Capabilities(drop=["ALL"]),
        seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        read_only_root_filesystem=True,
    )


def resources(config: DeployConfig) -> V1ResourceRequirements:
    return V1ResourceRequirements(
        requests={"cpu": config.cpu_request, "memory": config.memory_request},
        limits={"cpu": config.cpu_limit, "memory": config.memory_limit},
    )


def _scratch_env() -> list[V1EnvVar]:
    # With a read-only root filesystem every cache must live on the scratch volume.
    return [V1EnvVar(name="HOME", value=SCRATCH), V1EnvVar(name="HF_HOME", value=f"{SCRATCH}/hf")]


def our_server(config: DeployConfig, storage_uri: str) -> V1Container:
    """The kserve-container running `python -m components.serve` on the mounted model."""
    args = ["--model-dir", MODEL_MOUNT, "--model-name", config.name]
    args += ["--host", "0.0.0.0", "--port", str(HTTP_PORT), "--backend", config.backend]
    if config.payload_log_uri:
        args += ["--payload-log-uri", config.payload_log_uri]
    return V1Container(
        name="kserve-container",
        image=config.image or IMAGE,
        command=["python", "-m", "components.serve"],
        args=args,
        # KServe's storage initializer downloads STORAGE_URI to /mnt/models for custom containers.
        env=[V1EnvVar(name="STORAGE_URI", value=storage_uri), *_scratch_env()],
        ports=[V1ContainerPort(container_port=HTTP_PORT, protocol="TCP")],
        # The server answers at once but the model is ready only once its weights are loaded.
        readiness_probe=V1Probe(
            http_get=V1HTTPGetAction(path=f"/v2/models/{config.name}/ready", port=HTTP_PORT),
            period_seconds=5,
        ),
        resources=resources(config),
        security_context=security_context(),
        volume_mounts=[V1VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH)],
    )


def huggingface_model(config: DeployConfig, storage_uri: str) -> V1beta1ModelSpec:
    """KServe's Hugging Face runtime serving the model folder for sequence classification."""
    return V1beta1ModelSpec(
        name="kserve-container",
        model_format=V1beta1ModelFormat(name="huggingface"),
        storage_uri=storage_uri,
        args=[f"--model_name={config.name}", "--task=sequence_classification"],
        env=_scratch_env(),
        resources=resources(config),
        security_context=security_context(),
        volume_mounts=[V1VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH)],
    )


def render(config: DeployConfig, storage_uri: str) -> V1beta1InferenceService:
    """The InferenceService for a Model artifact at `storage_uri` (s3://...)."""
    predictor = V1beta1PredictorSpec(
        service_account_name=config.service_account,
        min_replicas=config.min_replicas,
        max_replicas=config.max_replicas,
        canary_traffic_percent=config.canary_traffic_percent or None,
        volumes=[V1Volume(name=SCRATCH_VOLUME, empty_dir=V1EmptyDirVolumeSource())],
    )
    if config.runtime == "kfp-nlp":
        predictor.containers = [our_server(config, storage_uri)]
    else:
        predictor.model = huggingface_model(config, storage_uri)
    return V1beta1InferenceService(
        api_version=API_VERSION,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(
            name=config.name,
            namespace=config.namespace,
            labels={"app.kubernetes.io/managed-by": "kfp-nlp"},
            annotations={"kfp-nlp/version": __version__, "kfp-nlp/storage-uri": storage_uri},
        ),
        spec=V1beta1InferenceServiceSpec(predictor=predictor),
    )


def to_manifest(service: V1beta1InferenceService) -> dict[str, Any]:
    """The object as the API server receives it: camelCase keys, no empty fields."""
    return ApiClient().sanitize_for_serialization(service)
