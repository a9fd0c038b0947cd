"""`kfp-nlp`: run pipelines here, compile them for a cluster, submit, schedule and serve.

  kfp-nlp demo                              the training pipeline on the bundled sample data
  kfp-nlp run PIPELINE --local --param ...  a pipeline on your data, on this machine
  kfp-nlp run PIPELINE --help               that pipeline's parameters, defaults and meaning
  kfp-nlp compile [--image REF]             write pipelines/compiled/*.yaml for a KFP cluster
  kfp-nlp submit PIPELINE --host URL ...    run a compiled pipeline once on Kubeflow Pipelines
  kfp-nlp schedule [--dry-run] FILE         create/update the recurring runs declared in FILE
  kfp-nlp serve --model-dir DIR             serve a model folder over HTTP (KServe V1 and V2)

Pipelines: text_classifier_training (prepare, fine-tune, evaluate, gate, release) and
batch_scoring (score a table with the registry's champion or a given model). Example:

  kfp-nlp run text_classifier_training --local --param data_uri=replies.csv \\
      --param text_column=body --param label_column=intent
"""

import argparse
import io
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.common.errors import KfpNlpError, run_cli
from pipelines import schedule, submit
from pipelines.kfp_remote import describe_parameters

PIPELINE_NAMES = ("text_classifier_training", "batch_scoring", "text_classifier_monitoring")
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
    from pipelines.monitoring import make_monitoring_pipeline
    from pipelines.scoring import make_scoring_pipeline
    from pipelines.training import make_training_pipeline

    return {
        "text_classifier_training": make_training_pipeline(settings),
        "batch_scoring": make_scoring_pipeline(settings),
        "text_classifier_monitoring": make_monitoring_pipeline(settings),
    }


def pipeline_parameters(pipeline: Any) -> dict[str, dict[str, Any]]:
    """A pipeline's parameters as its compiled YAML declares them (type, default, description)."""
    from google.protobuf import json_format

    spec = json_format.MessageToDict(pipeline.pipeline_spec)
    return spec["root"].get("inputDefinitions", {}).get("parameters", {})


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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r"Executing task '([^']+)'")
_TASK_END = re.compile(r"Task '([^']+)' finished with status (\w+)")
_TRAIN_STEP = re.compile(r"\[finetune\] step (\d+/\d+) .* ETA (\S+)\s*$")
# How a step reports bad input: our one-line `error: ...`, or KfpNlpError's traceback line.
_INPUT_ERROR = re.compile(r"^\s*(?:error: |(?:[\w.]+\.)?KfpNlpError: )(.+)$")
_EXCEPTION = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b.*)$")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass
class Step:
    """One task of a local run, as its log showed it."""

    name: str
    log: Path
    started: float = field(default_factory=time.monotonic)
    state: str = "running"
    seconds: float = 0.0
    error: str = ""
    bad_input: bool = False


class RunLog(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr while kfp.local runs a pipeline.

    kfp.local prints its own messages and every task's output through Python's sys.stdout. All
    of it goes to `folder/run.log` and each task's part also to `folder/<task>.log`; the terminal
    gets one line per task (name, state, elapsed; fine-tuning's step and ETA while it runs on a
    terminal), or everything when `verbose`.
    """

    def __init__(self, folder: Path, terminal: TextIO, verbose: bool):
        super().__init__()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "run.log"
        self.terminal = terminal
        self.verbose = verbose
        self.live = not verbose and terminal.isatty()
        self.steps: list[Step] = []
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self._step_file: TextIO | None = None
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.verbose:
            self.terminal.write(text)
        lines = (self._partial + _ANSI.sub("", text)).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()
        self.terminal.flush()

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self._end_step_file()
        self._file.close()
        super().close()

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.state == "failed"), None)

    def _end_step_file(self) -> None:
        if self._step_file is not None:
            self._step_file.close()
            self._step_file = None

    def _line(self, line: str) -> None:
        self._file.write(line + "\n")
        if (start := _TASK_START.search(line)) is not None:
            self._end_step_file()
            step = Step(start[1], self.folder / f"{start[1]}.log")
            self.steps.append(step)
            self._step_file = step.log.open("a", encoding="utf-8", buffering=1)  # retries append
            self._show(step, "running")
        if self._step_file is not None:
            self._step_file.write(line + "\n")
        step = self.steps[-1] if self.steps else None
        if step is None or step.state != "running":
            return
        if (end := _TASK_END.search(line)) is not None and end[1] == step.name:
            step.seconds = time.monotonic() - step.started
            step.state = "done" if end[2] == "SUCCESS" else "failed"
            self._show(step, f"{step.state}  {_duration(step.seconds)}", final=True)
            self._end_step_file()
        elif (error := _INPUT_ERROR.match(line)) is not None:
            step.error, step.bad_input = error[1].strip(), True
        elif not step.bad_input and (crash := _EXCEPTION.match(line)) is not None:
            step.error = crash[1].strip()
        elif (training := _TRAIN_STEP.search(line)) is not None:
            elapsed = _duration(time.monotonic() - step.started)
            self._show(step, f"running  {elapsed}  step {training[1]}  ETA {training[2]}")

    def _show(self, step: Step, status: str, final: bool = False) -> None:
        if self.verbose or not (final or self.live):
            return
        text = f"  {step.name:<28} {status}"
        if self.live:
            self.terminal.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        else:
            self.terminal.write(text + "\n")
        self.terminal.flush()


class StepFailed(KfpNlpError):
    """A task of a local run failed: which one, its one-line error, and where its log is."""

    def __init__(self, step: Step):
        where = f"its log: {step.log}"
        super().__init__(f"step {step.name} failed: {step.error or 'see its log'}; {where}")
        self.step = step


def _output_summary(value: Any) -> Any:
    """An artifact as its local path (one a browser or editor opens) and metadata."""
    if not hasattr(value, "path"):
        return value
    suffix = {"system.HTML": ".html", "system.Markdown": ".md"}.get(value.schema_title, "")
    return {"path": _viewable(Path(value.path), suffix), "metadata": dict(value.metadata)}


def _viewable(path: Path, suffix: str) -> str:
    """`path`, or a copy of it beside it named with `suffix` so that it opens as what it is."""
    if not suffix or path.suffix == suffix or not path.is_file():
        return str(path)
    copy = path.with_name(path.name + suffix)
    shutil.copyfile(path, copy)
    return str(copy)


def _release(
    name: str, params: dict[str, Any], outputs: dict[str, Any], run_dirs: list[Path]
) -> dict[str, Any]:
    """What an approved model's release left: its registry version and rendered manifest."""
    from components.registry import registry

    facts: dict[str, Any] = {}
    if name != "text_classifier_training" or not outputs.get("approved"):
        return facts
    manifests = [p for d in run_dirs for p in d.glob("**/deploy-inference-service*/manifest")]
    if manifests:
        facts["manifest"] = _viewable(manifests[0], ".yaml")
    model_name = params.get("model_name") or pipeline_parameters(pipelines()[name])[
        "model_name"
    ].get("defaultValue")
    facts["model_name"] = model_name
    facts["registry_version"] = registry.current_version(params["registry_uri"], model_name)
    return facts


def run_pipeline(
    pipeline: Any, params: dict[str, Any], workdir: Path, verbose: bool = False
) -> tuple[Any, RunLog, list[Path]]:
    """Run `pipeline` with kfp.local's subprocess runner, one line per step on stderr.

    Every step's full output is kept under `workdir/logs/` (and streamed to stderr when
    `verbose`). Returns the pipeline task, the run's log and the run folders it wrote; a failed
    step raises StepFailed.
    """
    from kfp import local

    name = pipeline.name
    root = (workdir / "runs").resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    folder = (workdir / "logs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    log = RunLog(folder, sys.stderr, verbose)
    print(f"{name}: one line per step; full log: {log.path}", file=sys.stderr, flush=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = log
    try:
        task = pipeline(**params)
    except RuntimeError as exc:
        sys.stdout, sys.stderr = saved
        log.close()
        if log.failed is not None:
            raise StepFailed(log.failed) from exc
        raise KfpNlpError(f"the local run failed ({exc}); full log: {log.path}") from exc
    finally:
        sys.stdout, sys.stderr = saved
        if not log.closed:
            log.close()
    return task, log, sorted(set(root.iterdir()) - before)


def run_local(
    name: str, params: dict[str, Any], workdir: Path, verbose: bool = False
) -> dict[str, Any]:
    """Run one of our pipelines locally; return what it did and made as plain data."""
    started = time.monotonic()
    task, log, run_dirs = run_pipeline(pipelines()[name], params, workdir, verbose)
    summary = {
        "pipeline": name,
        "parameters": params,
        "seconds": round(time.monotonic() - started, 1),
        "outputs": {key: _output_summary(value) for key, value in task.outputs.items()},
        "steps": [
            {"name": s.name, "state": s.state, "seconds": round(s.seconds, 1)} for s in log.steps
        ],
        "log": str(log.path),
    }
    summary.update(_release(name, params, summary["outputs"], run_dirs))
    summary.update(_monitoring(name, summary["outputs"]))
    return summary


def _monitoring(name: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """A monitoring run's decision and estimate at the top of the summary."""
    if name != "text_classifier_monitoring":
        return {}
    metrics = outputs["metrics"]["metadata"]
    return {
        "drift_detected": outputs["drift_detected"],
        "reason": outputs["reason"],
        "retrain": outputs["retrain"],
        "reference_macro_f1": metrics.get("reference_macro_f1"),
        "estimated_macro_f1": metrics.get("expected_macro_f1"),
        "report": outputs["report"]["path"],
    }


HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "log_loss", "ece")


def _data_line(data: dict[str, Any]) -> str:
    kept = ", ".join(
        f"{split} {int(data[f'{split}_rows'])}" for split in ("train", "validation", "test")
    )
    line = f"{int(data['rows_read'])} rows read; kept {kept}"
    dropped = {
        key.removeprefix("dropped_").replace("_", " "): int(value)
        for key, value in data.items()
        if key.startswith("dropped_") and value
    }
    if dropped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in dropped.items())
        line += f"; dropped {sum(dropped.values())} ({reasons}: see the data report)"
    return line


def print_summary(summary: dict[str, Any]) -> None:
    """A readable end-of-run summary: where everything is and the numbers that matter."""
    print(f"\n{summary['pipeline']} finished in {_duration(summary['seconds'])}")
    if "output_uri" in summary["parameters"]:
        print(f"output:   {summary['parameters']['output_uri']}")
    outputs = summary["outputs"]
    data = outputs.get("data_metrics", {}).get("metadata", {})
    if data:
        print(f"data:     {_data_line(data)}")
    evaluation = outputs.get("evaluation_metrics", {}).get("metadata", {})
    if evaluation:
        shown = [f"{k} {evaluation[k]:.3f}" for k in HEADLINE_METRICS if k in evaluation]
        print(f"test set: {', '.join(shown)}")
    if "approved" in outputs:
        verdict = "APPROVED" if outputs["approved"] else "REJECTED"
        reason = re.sub(r"^(approved|rejected): ", "", outputs["reason"])
        print(f"gate:     {verdict}: {reason}")
    if summary.get("registry_version"):
        print(
            f"registry: {summary['model_name']} version {summary['registry_version']} is the "
            f"champion in {summary['parameters']['registry_uri']}"
        )
    if summary.get("manifest"):
        print(f"deploy:   rendered InferenceService {summary['manifest']}")
    artifacts = {k: v["path"] for k, v in outputs.items() if isinstance(v, dict)}
    width = max((len(key) for key in artifacts), default=0)
    for key, path in sorted(artifacts.items()):
        print(f"  {key:<{width}}  {path}")
    print(f"log:      {summary['log']}")


def _run_and_report(name: str, params: dict[str, Any], workdir: Path, args: argparse.Namespace):
    summary = run_local(name, params, workdir, verbose=args.verbose)
    if args.json:
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
    _run_and_report("text_classifier_training", params, workdir, args)


def cmd_run(args: argparse.Namespace) -> None:
    if not args.local:
        raise KfpNlpError(
            "`run` executes pipelines on this machine: add --local, or use `kfp-nlp submit` "
            "to run on a Kubeflow cluster"
        )
    workdir = Path(args.workdir)
    pipeline = pipelines()[args.pipeline]
    pairs = list(args.param)
    needs_registry = "registry_uri" in (pipeline.component_spec.inputs or {})
    if needs_registry and not any(p.startswith("registry_uri=") for p in pairs):
        # A local run keeps its model registry beside its other outputs.
        pairs.append(f"registry_uri={(workdir / 'registry').resolve()}")
    params = parse_params(pipeline, pairs)
    if args.dry_run:
        print(json.dumps({"pipeline": args.pipeline, "parameters": params}, indent=2))
        return
    for key in ("data_uri", "input_uri"):
        value = params.get(key, "")
        if value and "://" not in value and not Path(value).exists():
            raise KfpNlpError(
                f"{key} {value!r} does not exist here; give the path of your table or an s3:// URI"
            )
    _run_and_report(args.pipeline, params, workdir, args)


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


class RunHelp(argparse.Action):
    """`--help` that, after `run PIPELINE`, also lists that pipeline's parameters."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, help="show this help and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, *_: Any) -> None:
        parser.print_help()
        name = getattr(namespace, "pipeline", None)
        if name in PIPELINE_NAMES:
            params = pipeline_parameters(pipelines()[name])
            if "registry_uri" in params:
                local_registry = {"defaultValue": "WORKDIR/registry", "isOptional": True}
                params["registry_uri"] = {**params["registry_uri"], **local_registry}
            print(f"\nparameters of {name} (--param NAME=VALUE):\n{describe_parameters(params)}")
        else:
            print(
                f"\n`kfp-nlp run PIPELINE --help` lists the parameters of one of: "
                f"{', '.join(PIPELINE_NAMES)}"
            )
        parser.exit()


RUN_EXAMPLES = """examples:
  kfp-nlp run text_classifier_training --local --param data_uri=replies.csv \\
      --param text_column=body --param label_column=intent
  kfp-nlp run text_classifier_training --local --param data_uri=export.csv \\
      --param delimiter=';' --param text_column=body --param label_column=intent \\
      --param slice_columns=text_length,channel --param max_steps=50
  kfp-nlp run batch_scoring --local --param input_uri=new.csv \\
      --param output_uri=scored.parquet --param text_column=body

Without registry_uri a local run keeps its model registry in WORKDIR/registry, so
batch_scoring scores with the champion that `kfp-nlp demo` or `run` released there."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kfp-nlp",
        description="Kubeflow Pipelines for transformer text classifiers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the training pipeline on the sample data",
        description="Run text_classifier_training locally on the bundled sample data "
        "(6,000 replies to marketing campaigns, labelled by intent) and print a summary.",
        epilog="example:\n  kfp-nlp demo --workdir /tmp/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--workdir", default="local_outputs", help="where runs and data go")
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser(
        "run",
        help="run a pipeline locally on your data",
        description="Run a pipeline on this machine with kfp.local. `kfp-nlp run PIPELINE "
        "--help` lists the pipeline's parameters with their defaults.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    run.add_argument("-h", "--help", action=RunHelp)
    run.add_argument("pipeline", choices=PIPELINE_NAMES)
    run.add_argument("--local", action="store_true", help="run with kfp.local on this machine")
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="pipeline parameter"
    )
    run.add_argument("--workdir", default="local_outputs", help="where run outputs go")
    run.add_argument(
        "--dry-run", action="store_true", help="check and print the parameters; run nothing"
    )
    run.set_defaults(func=cmd_run)
    for local_run in (demo, run):
        local_run.add_argument(
            "--json", action="store_true", help="print one JSON object at the end (errors too)"
        )
        local_run.add_argument(
            "--verbose", action="store_true", help="stream every step's full log to the terminal"
        )

    comp = commands.add_parser(
        "compile",
        help="compile pipelines and components to YAML",
        description="Compile every pipeline and component to YAML for a KFP cluster.",
        epilog="examples:\n  kfp-nlp compile --image 123456789012.dkr.ecr.us-east-1.amazonaws"
        ".com/kfp-nlp:0.1.0\n  kfp-nlp compile --gpu --gpu-node-selector "
        "nvidia.com/gpu.present=true --output-dir /tmp/compiled",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    comp.add_argument(
        "--image",
        help="image of every step and of the deployed model server, pinned by tag or digest",
    )
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


def _fail(message: str, step: str | None, log: str | None, status: int, as_json: bool):
    if as_json:
        print(json.dumps({"error": message, "step": step, "log": log}))
    else:
        print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `kfp-nlp` command; errors end as one line (or JSON with --json).

    Exit status 2 for bad input (including a step that refused its input), 1 for a step that
    crashed.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from components.serve.server import main as serve_main

        run_cli(serve_main, argv[1:])
        return
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except StepFailed as exc:
        step = exc.step
        status = 2 if step.bad_input else 1
        _fail(str(exc), step.name, str(step.log), status, as_json)
    except KfpNlpError as exc:
        _fail(str(exc), None, None, 2, as_json)


if __name__ == "__main__":
    main()
