"""The deploy_inference_service KFP component: a thin wrapper over components.deploy."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy_inference_service(
    model_uri: str,
    manifest: Output[Artifact],
    name: str,
    namespace: str = "kfp-nlp-dev",
    runtime: str = "kfp-nlp",
    image: str = "",
    backend: str = "pytorch",
    payload_log_uri: str = "",
    service_account: str = "kfp-nlp-serving",
    cpu_request: str = "1",
    memory_request: str = "2Gi",
    cpu_limit: str = "2",
    memory_limit: str = "4Gi",
    min_replicas: int = 1,
    max_replicas: int = 3,
    canary_traffic_percent: int = 0,
    timeout_seconds: int = 600,
    dry_run: bool = False,
) -> str:
    """Roll a model out as a KServe InferenceService: create or patch, wait Ready, or roll back.

    Args:
        model_uri: The model to serve: the registered version's S3 prefix (register_model's
            `uri`), immutable, so a rollback or a new replica serves the same files.
        name: InferenceService name (a DNS label).
        namespace: Kubernetes namespace of the InferenceService.
        runtime: kfp-nlp (our model server in `image`) or huggingface (KServe's runtime).
        image: Predictor image for the kfp-nlp runtime; empty: the component image.
        backend: Model server backend: pytorch, or onnx for an export_onnx model.
        payload_log_uri: s3:// prefix where the model server logs every scored text (its hash,
            label and probabilities) for monitor_classifier; empty: no payload log.
        service_account: Service account with read access to the model (IRSA role).
        cpu_request: Predictor CPU request.
        memory_request: Predictor memory request.
        cpu_limit: Predictor CPU limit.
        memory_limit: Predictor memory limit.
        min_replicas: Fewest predictor replicas.
        max_replicas: Most predictor replicas.
        canary_traffic_percent: 1-99 sends that share of traffic to the new revision; 0 sends
            all of it once the new revision is Ready.
        timeout_seconds: How long to wait for Ready before restoring the previous spec.
        dry_run: Only render the manifest; apply nothing.

    Returns:
        manifest: The rendered InferenceService (YAML), with the action and URL in metadata.
        Output: The URL the InferenceService answers on (empty for a dry run).
    """
    from components.common.errors import one_line_errors
    from components.deploy.kfp_io import run_component

    with one_line_errors():
        return run_component(
            model_uri=model_uri,
            manifest=manifest,
            name=name,
            namespace=namespace,
            runtime=runtime,
            image=image,
            backend=backend,
            payload_log_uri=payload_log_uri,
            service_account=service_account,
            cpu_request=cpu_request,
            memory_request=memory_request,
            cpu_limit=cpu_limit,
            memory_limit=memory_limit,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            canary_traffic_percent=canary_traffic_percent,
            timeout_seconds=timeout_seconds,
            dry_run=dry_run,
        )
