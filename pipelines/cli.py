"""`kfp-nlp`: run the pipelines on this machine, compile them for a cluster.

kfp-nlp demo                     the training pipeline on the bundled sample data
kfp-nlp run PIPELINE --local     any pipeline on your data (--param name=value ...)
kfp-nlp compile [--image REF]    write pipelines/compiled/*.yaml for a KFP cluster
"""

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components.common.errors import KfpNlpError, run_cli
from pipelines import schedule, submit

PIPELINE_NAMES = ("text_classifier_training", "batch_scoring")
COMPILED_DIR = Path(__file__).parent / "compiled"
# The demo keeps its own model name, so a user's first run on their own table (default model
# name, same local registry) never meets the demo's champion.
DEMO_PARAMS = {
    "model_name": "demo-reply-intents",
    "text_column": "reply_text",
    "label_column": "intent",
    "group_column": "customer_id",
}


def pipelines(settings: Any = None) -> dict[str, Any]:
    """The pipelines by name (imported late: `compile --image` must come first)."""
    from pipelines.scoring import make_scoring_pipeline
    from pipelines.training import make_training_pipeline

    return {
        "text_classifier_training": make_training_pipeline(settings),
        "batch_scoring": make_scoring_pipeline(settings),
    }


def _convert(value: str, kind: str, name: str) -> Any:
    """A `--param` value as the type the pipeline declares (KFP's 'Integer', 'Float', ...)."""
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
        if kind == "Boolean":
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if kind == "List":
            return json.loads(value) if value.startswith("[") else value.split(",")
    except ValueError as exc:
        raise KfpNlpError(
            f"--param {name}={value!r} is not a valid {kind.lower()}; give a value of that type"
        ) from exc
    return value


def parse_params(pipeline: Any, pairs: list[str]) -> dict[str, Any]:
    """`name=value` strings to typed pipeline arguments, checked against the pipeline's inputs."""
    inputs = pipeline.component_spec.inputs or {}
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise KfpNlpError(f"--param {pair!r} has no '='; write it as --param name=value")
        if name not in inputs:
            known = ", ".join(sorted(inputs))
            raise KfpNlpError(f"the pipeline has no parameter {name!r}; its parameters: {known}")
        params[name] = _convert(value, inputs[name].type, name)
    missing = [n for n, spec in inputs.items() if not spec.optional and n not in params]
    if missing:
        raise KfpNlpError(
            f"missing required parameter(s) {', '.join(missing)}; add --param NAME=VALUE"
        )
    return params


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """Send everything written to stdout (ours and the task subprocesses') to stderr."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _output_summary(value: Any) -> Any:
    """An artifact as its local path and metadata; a parameter output as itself."""
    if hasattr(value, "path"):
        return {"path": value.path, "metadata": dict(value.metadata)}
    return value


def run_local(name: str, params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run a pipeline with kfp.local's subprocess runner; return its outputs as plain data."""
    from kfp import local

    pipeline = pipelines()[name]
    root = workdir / "runs"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root.resolve()))
    started = time.monotonic()
    task = pipeline(**params)
    outputs = {key: _output_summary(value) for key, value in task.outputs.items()}
    return {
        "pipeline": name,
        "parameters": params,
        "seconds": round(time.monotonic() - started, 1),
        "outputs": outputs,
    }


HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "log_loss", "ece")


def print_summary(summary: dict[str, Any]) -> None:
    """A readable end-of-run summary: where everything is and the numbers that matter."""
    print(f"\n{summary['pipeline']} finished in {summary['seconds']:.0f}s")
    if "output_uri" in summary["parameters"]:
        print(f"output:   {summary['parameters']['output_uri']}")
    outputs = summary["outputs"]
    data = outputs.get("data_metrics", {}).get("metadata", {})
    if data:
        rows = ", ".join(
            f"{split} {int(data[f'{split}_rows'])}" for split in ("train", "validation", "test")
        )
        print(f"data:     {int(data['rows_read'])} rows read; kept {rows}")
    evaluation = outputs.get("evaluation_metrics", {}).get("metadata", {})
    if evaluation:
        shown = [f"{k} {evaluation[k]:.3f}" for k in HEADLINE_METRICS if k in evaluation]
        print(f"test set: {', '.join(shown)}")
    if "approved" in outputs:
        verdict = "APPROVED" if outputs["approved"] else "REJECTED"
        print(f"gate:     {verdict}: {outputs['reason']}")
    artifacts = {k: v["path"] for k, v in outputs.items() if isinstance(v, dict)}
    width = max((len(key) for key in artifacts), default=0)
    for key, path in sorted(artifacts.items()):
        print(f"  {key:<{width}}  {path}")


def _run_and_report(name: str, params: dict[str, Any], workdir: Path, as_json: bool) -> None:
    with _stdout_to_stderr(as_json):
        summary = run_local(name, params, workdir)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)


def cmd_demo(args: argparse.Namespace) -> None:
    from components.sample_data import write_sample

    workdir = Path(args.workdir)
    data = workdir / "data" / "replies.csv"
    if not data.exists():
        write_sample(str(data))
    params = {
        "data_uri": str(data.resolve()),
        "registry_uri": str((workdir / "registry").resolve()),
        **DEMO_PARAMS,
    }
    _run_and_report("text_classifier_training", params, workdir, args.json)


def cmd_run(args: argparse.Namespace) -> None:
    if not args.local:
        raise KfpNlpError(
            "`run` executes pipelines on this machine: add --local, or use `kfp-nlp submit` "
            "to run on a Kubeflow cluster"
        )
    workdir = Path(args.workdir)
    pairs = list(args.param)
    if not any(p.startswith("registry_uri=") for p in pairs):
        # A local run keeps its model registry beside its other outputs.
        pairs.append(f"registry_uri={(workdir / 'registry').resolve()}")
    params = parse_params(pipelines()[args.pipeline], pairs)
    _run_and_report(args.pipeline, params, workdir, args.json)


def all_components() -> list[Any]:
    """Every component, for `compile` to publish as its own YAML."""
    from components.batch_predict.component import batch_predict
    from components.deploy.component import deploy_inference_service
    from components.evaluate.component import evaluate_classifier
    from components.finetune.component import finetune_classifier
    from components.prepare.component import prepare_dataset
    from components.registry.component import promote_champion, register_model, resolve_model
    from components.serve.component import export_onnx
    from components.snapshot.component import snapshot_source

    return [
        snapshot_source,
        prepare_dataset,
        finetune_classifier,
        evaluate_classifier,
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


def cmd_compile(args: argparse.Namespace) -> None:
    if args.image:
        if not is_pinned(args.image):
            raise KfpNlpError(f"image {args.image!r} is not pinned; give a version tag or a digest")
        os.environ["KFP_NLP_IMAGE"] = args.image
    from pipelines.cluster import ClusterSettings

    if args.gpu_node_selector and "=" not in args.gpu_node_selector:
        raise KfpNlpError("--gpu-node-selector takes LABEL=VALUE, e.g. nvidia.com/gpu.present=true")
    settings = ClusterSettings(
        gpu=args.gpu, gpu_node_selector=args.gpu_node_selector, s3_secret=args.s3_secret
    )
    for path in compile_all(Path(args.output_dir), settings):
        print(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kfp-nlp",
        description="Kubeflow Pipelines for transformer text classifiers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the training pipeline on the sample data")
    demo.add_argument("--workdir", default="local_outputs", help="where runs and data go")
    demo.add_argument("--json", action="store_true", help="print one JSON object at the end")
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser("run", help="run a pipeline locally on your data")
    run.add_argument("pipeline", choices=PIPELINE_NAMES)
    run.add_argument("--local", action="store_true", help="run with kfp.local on this machine")
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="pipeline parameter"
    )
    run.add_argument("--workdir", default="local_outputs", help="where run outputs go")
    run.add_argument("--json", action="store_true", help="print one JSON object at the end")
    run.set_defaults(func=cmd_run)

    comp = commands.add_parser("compile", help="compile pipelines and components to YAML")
    comp.add_argument("--image", help="component image, pinned by tag or digest")
    comp.add_argument("--output-dir", default=str(COMPILED_DIR), help="where the YAML goes")
    comp.add_argument(
        "--gpu", action="store_true", help="fine-tune on one NVIDIA GPU (limit and toleration)"
    )
    comp.add_argument(
        "--gpu-node-selector", default="", metavar="LABEL=VALUE", help="node label for the GPU"
    )
    comp.add_argument(
        "--s3-secret",
        default="",
        metavar="NAME",
        help="Kubernetes secret whose AWS_* keys S3 steps get as env (for clusters without IRSA)",
    )
    comp.set_defaults(func=cmd_compile)

    serve = commands.add_parser(
        "serve",
        add_help=False,
        help="serve a model folder over HTTP (KServe V1 and V2): see `kfp-nlp serve --help`",
    )
    serve.set_defaults(func=None)  # dispatched before parsing: its arguments are its own

    submit.add_parser(commands)
    schedule.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `kfp-nlp` command."""

    def dispatch(argv: list[str] | None) -> None:
        argv = sys.argv[1:] if argv is None else argv
        if argv[:1] == ["serve"]:
            from components.serve.server import main as serve_main

            serve_main(argv[1:])
            return
        args = build_parser().parse_args(argv)
        args.func(args)

    run_cli(dispatch, argv)


if __name__ == "__main__":
    main()
