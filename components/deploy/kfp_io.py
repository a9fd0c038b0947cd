"""Maps the KFP artifacts of deploy_inference_service onto the plain call."""

from pathlib import Path
from typing import Any

from components.common.errors import KfpNlpError
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy


def run_component(model_uri: str, manifest: Any, **settings: Any) -> str:
    """Deploy the model at `model_uri`; the rendered manifest goes to `manifest`."""
    config = DeployConfig(**settings)
    if not config.dry_run and not model_uri.startswith("s3://"):
        raise KfpNlpError(
            f"the model is at {model_uri}, which a cluster cannot read; use an s3:// "
            "registry root, or set dry_run to only render"
        )
    rollout = deploy(config, model_uri, manifest_path=Path(manifest.path))
    manifest.metadata.update({"action": rollout.action, "url": rollout.url})
    return rollout.url
