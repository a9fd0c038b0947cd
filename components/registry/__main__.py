"""Command line for the model registry.

    python -m components.registry register --registry-root s3://bucket/registry \
        --model-name intents path/to/model
    python -m components.registry promote --registry-root ... --model-name intents VERSION
    python -m components.registry resolve --registry-root ... --model-name intents
    python -m components.registry versions --registry-root ... --model-name intents
    python -m components.registry history --registry-root ... --model-name intents
"""

import argparse
import json
from pathlib import Path

from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import KfpNlpError, run_cli
from components.registry import registry
from components.registry.config import RegistryConfig


def _parser() -> argparse.ArgumentParser:
    parser = argument_parser(prog="python -m components.registry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="register a model folder as a new version")
    register.add_argument("model_dir", type=Path, help="model folder with kfp_nlp_manifest.json")
    register.add_argument("--metadata", default="{}", help="JSON object kept with the version")
    promote = commands.add_parser("promote", help="point the alias at a registered version")
    promote.add_argument("version", help="registered version, e.g. 20260101-120000-0123456789ab")
    commands.add_parser("resolve", help="print the URI of the version the alias points at")
    commands.add_parser("versions", help="list the registered versions, oldest first")
    commands.add_parser("history", help="print every registration and alias change as JSON")
    for sub in commands.choices.values():
        add_arguments(sub, RegistryConfig)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    config = from_arguments(RegistryConfig, args)
    root, name = config.registry_root, config.model_name
    if args.command == "register":
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise KfpNlpError(f"--metadata is not valid JSON ({exc}); pass a JSON object") from exc
        if not isinstance(metadata, dict):
            raise KfpNlpError('--metadata must be a JSON object, e.g. \'{"run": "abc"}\'')
        print(registry.register_version(root, name, args.model_dir, metadata))
    elif args.command == "promote":
        record = registry.set_alias(root, name, config.alias, args.version)
        print(json.dumps(record, sort_keys=True))
    elif args.command == "resolve":
        print(registry.resolve(root, name, config.alias))
    elif args.command == "versions":
        print("\n".join(registry.list_versions(root, name)))
    else:
        for event in registry.history(root, name):
            print(json.dumps(event, sort_keys=True))


if __name__ == "__main__":
    run_cli(main)
