"""The deploy_inference_service KFP component: a thin wrapper over components.deploy."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from components.common.config import described_by
from components.common.image import IMAGE
from components.deploy.config import DeployConfig


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(DeployConfig)
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

    Returns:
        manifest: The rendered InferenceService (YAML), with the action and URL in metadata.
        Output: The URL the InferenceService answers on (empty for a dry run).
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from components.common.errors import one_line_errors
    from components.deploy.kfp_io import run_component

    with one_line_errors():
        return run_component(**arguments)
