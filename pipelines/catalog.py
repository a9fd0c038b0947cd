"""The pipelines and components this package ships, and compiling them to YAML for a cluster."""

from pathlib import Path
from typing import Any

PIPELINE_NAMES = ("text_classifier_training", "batch_scoring", "text_classifier_monitoring")
COMPILED_DIR = Path(__file__).parent / "compiled"


def pipelines(settings: Any = None) -> dict[str, Any]:
    """The pipelines by name (imported late: `compile --image` sets the image first)."""
    from pipelines.monitoring import make_monitoring_pipeline
    from pipelines.scoring import make_scoring_pipeline
    from pipelines.training import make_training_pipeline

    return {
        "text_classifier_training": make_training_pipeline(settings),
        "batch_scoring": make_scoring_pipeline(settings),
        "text_classifier_monitoring": make_monitoring_pipeline(settings),
    }


def all_components() -> list[Any]:
    """Every component, for `compile` to publish as its own YAML."""
    from components.batch_predict.component import batch_predict
    from components.deploy.component import deploy_inference_service
    from components.evaluate.component import evaluate_classifier
    from components.finetune.component import finetune_classifier
    from components.monitor.component import claim_retrain, monitor_classifier
    from components.prepare.component import prepare_dataset
    from components.registry.component import promote_champion, register_model, resolve_model
    from components.serve.component import export_onnx
    from components.snapshot.component import snapshot_source

    return [
        snapshot_source,
        prepare_dataset,
        finetune_classifier,
        evaluate_classifier,
        monitor_classifier,
        claim_retrain,
        export_onnx,
        batch_predict,
        deploy_inference_service,
        register_model,
        promote_champion,
        resolve_model,
    ]


def compile_all(output_dir: Path, settings: Any = None) -> list[Path]:
    """Compile every pipeline and every component to YAML under `output_dir`."""
    from kfp import compiler

    written = []
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, pipeline in pipelines(settings).items():
        path = output_dir / f"{name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        written.append(path)
    (output_dir / "components").mkdir(exist_ok=True)
    for component in all_components():
        path = output_dir / "components" / f"{component.name.replace('-', '_')}.yaml"
        compiler.Compiler().compile(component, str(path))
        written.append(path)
    return written


def is_pinned(image: str) -> bool:
    """True for an image reference with a digest or a version tag other than `latest`."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest")
