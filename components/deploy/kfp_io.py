"""Maps the KFP artifacts of deploy_inference_service onto the plain call."""

from pathlib import Path
from typing import Any

from components.common.errors import KfpNlpError
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy


def run_component(model: Any, manifest: Any, **settings: Any) -> str:
    """Deploy the model artifact's remote copy; the rendered manifest goes to `manifest`."""
    config = DeployConfig(**settings)
    if not config.dry_run and not model.uri.startswith("s3://"):
        raise KfpNlpError(
            f"the model artifact is at {model.uri}, which a cluster cannot read; run the "
            "pipeline with an s3:// pipeline root, or set dry_run to only render"
        )
    rollout = deploy(config, model.uri, manifest_path=Path(manifest.path))
    manifest.metadata.update({"action": rollout.action, "url": rollout.url})
    return rollout.url
