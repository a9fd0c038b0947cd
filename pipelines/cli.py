"""`kfp-nlp`: run pipelines here, compile them for a cluster, submit, schedule and serve.

  kfp-nlp demo                              the training pipeline on the bundled sample data
  kfp-nlp run PIPELINE --local --param ...  a pipeline on your data, on this machine
  kfp-nlp run PIPELINE --help               that pipeline's parameters, defaults and meaning
  kfp-nlp compile [--image REF]             compile every pipeline to YAML for a KFP cluster
  kfp-nlp submit PIPELINE --host URL ...    run a compiled pipeline once on Kubeflow Pipelines
  kfp-nlp schedule [--dry-run] FILE         create/update the recurring runs declared in FILE
  kfp-nlp serve --model-dir DIR             serve a model folder over HTTP (KServe V1 and V2)

Pipelines: text_classifier_training (prepare, fine-tune, evaluate, gate, release) and
batch_scoring (score a table with the registry's champion or a given model). Example:

  kfp-nlp run text_classifier_training --local --param data_uri=replies.csv \\
      --param text_column=body --param label_column=intent
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from components.common.errors import KfpNlpError, OneLineError, run_cli
from pipelines import schedule, submit
from pipelines.catalog import COMPILED_DIR, PIPELINE_NAMES, compile_all, is_pinned, pipelines
from pipelines.local_run import StepFailed
from pipelines.params import (
    declared_parameters,
    describe_parameters,
    parse_assignments,
    typed_parameters,
)
from pipelines.run_summary import print_summary, run_local

# `compile` with --image or cluster settings writes here unless --output-dir says otherwise:
# the committed pipelines/compiled/ stays what the default build compiles to.
CUSTOM_COMPILED_DIR = Path("compiled")
# The demo keeps its own model name, so a user's first run on their own table (default model
# name, same local registry) never meets the demo's champion.
DEMO_PARAMS = {
    "model_name": "demo-reply-intents",
    "text_column": "reply_text",
    "label_column": "intent",
    "group_column": "customer_id",
}


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
    declared = declared_parameters(pipeline)
    values = parse_assignments(args.param)
    if "registry_uri" in declared and not values.get("registry_uri"):
        # A local run keeps its model registry beside its other outputs.
        values["registry_uri"] = str((workdir / "registry").resolve())
    params = typed_parameters(declared, values, args.pipeline, "--param", from_text=True)
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
    custom = args.image or args.gpu or args.gpu_node_selector or args.s3_secret
    output_dir = args.output_dir or (CUSTOM_COMPILED_DIR if custom else COMPILED_DIR)
    for path in compile_all(Path(output_dir), settings):
        print(path)
    if Path(output_dir).resolve() != COMPILED_DIR:
        print(
            f"submit or schedule these with --compiled-dir {output_dir} (by name, `submit` and "
            f"`schedule` read {COMPILED_DIR.relative_to(COMPILED_DIR.parents[1])})",
            file=sys.stderr,
        )


class RunHelp(argparse.Action):
    """`--help` that, after `run PIPELINE`, also lists that pipeline's parameters."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, help="show this help and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, *_: Any) -> None:
        parser.print_help()
        name = getattr(namespace, "pipeline", None)
        if name in PIPELINE_NAMES:
            params = declared_parameters(pipelines()[name])
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
    comp.add_argument(
        "--output-dir",
        default=None,
        help=f"where the YAML goes (default: {COMPILED_DIR.relative_to(COMPILED_DIR.parents[1])}; "
        f"./{CUSTOM_COMPILED_DIR} with --image, --gpu or --s3-secret, so that the committed "
        "YAML of the default build stays as it is)",
    )
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

    Exit status 2 for bad input (including a step that refused its input), 3 for a service
    (S3, the KFP API) that kept failing, 1 for a step that crashed.
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
    except OneLineError as exc:
        _fail(str(exc), None, None, exc.exit_status, as_json)


if __name__ == "__main__":
    main()
