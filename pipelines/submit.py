"""`kfp-nlp submit`: run a compiled pipeline once on a Kubeflow Pipelines endpoint.

    kfp-nlp submit text_classifier_training --host http://localhost:8888 \
        --experiment intents --service-account kfp-nlp-runner \
        --param data_uri=s3://bucket/replies.csv --param registry_uri=s3://bucket/registry \
        --param text_column=reply_text --param label_column=intent
    kfp-nlp submit text_classifier_training --help   (lists the pipeline's parameters)

The pipeline is a name from `pipelines/compiled/` (written by `kfp-nlp compile`) or a path to a
compiled .yaml. Parameters are checked against the pipeline's declared types before the run is
created; the run goes into the experiment, which is created if it does not exist.
"""

import argparse
from typing import Any

from components.common.errors import OneLineError
from pipelines.kfp_remote import (
    COMPILED_DIR,
    add_connection_arguments,
    connect,
    kfp_errors,
    load_package,
)
from pipelines.params import describe_parameters, parse_assignments, typed_parameters


class SubmitHelp(argparse.Action):
    """`--help` that, after `submit PIPELINE`, also lists the compiled pipeline's parameters."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, help="show this help and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, *_: Any) -> None:
        parser.print_help()
        if getattr(namespace, "pipeline", None):
            compiled_dir = getattr(namespace, "compiled_dir", None) or COMPILED_DIR
            try:
                package = load_package(namespace.pipeline, compiled_dir)
            except OneLineError as exc:
                print(f"\n{exc}")
            else:
                described = describe_parameters(package.parameters)
                print(f"\nparameters of {namespace.pipeline} (--param NAME=VALUE):\n{described}")
        parser.exit()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `submit` subcommand to an argparse subparsers object; it runs `run(args)`."""
    parser = subparsers.add_parser(
        "submit",
        help="run a compiled pipeline once on a KFP endpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=SubmitHelp)
    parser.add_argument("pipeline", help="compiled pipeline name or path to its .yaml")
    add_connection_arguments(parser)
    parser.add_argument("--experiment", default="kfp-nlp", help="experiment to run in")
    parser.add_argument("--run-name", default=None, help="run name (default: pipeline + time)")
    parser.add_argument(
        "--service-account",
        default=None,
        help="Kubernetes service account the run's pods use, e.g. kfp-nlp-runner (IRSA)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter; repeat for several",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> str:
    """Create the run and return its id."""
    package = load_package(args.pipeline, args.compiled_dir)
    values = parse_assignments(args.param)
    arguments = typed_parameters(
        package.parameters, values, package.name, "--param", from_text=True
    )
    client = connect(args.host, args.namespace)
    with kfp_errors(args.host):
        result = client.create_run_from_pipeline_package(
            str(package.path),
            arguments=arguments,
            run_name=args.run_name,
            experiment_name=args.experiment,
            namespace=args.namespace,
            service_account=args.service_account,
        )
    print(f"submitted run {result.run_id} of {package.name} to {args.host}")
    return result.run_id
