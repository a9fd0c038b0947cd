"""`python -m components.deploy --name NAME --storage-uri s3://...`: render and roll out."""

from pathlib import Path

from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli
from components.deploy.config import DeployConfig
from components.deploy.rollout import deploy


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(
        prog="python -m components.deploy",
        description="Render a KServe InferenceService for a model and roll it out safely.",
    )
    parser.add_argument("--storage-uri", required=True, help="model location (s3://...)")
    parser.add_argument("--manifest", type=Path, help="also write the rendered manifest here")
    add_arguments(parser, DeployConfig)
    args = parser.parse_args(argv)
    rollout = deploy(from_arguments(DeployConfig, args), args.storage_uri, None, args.manifest)
    print(f"{rollout.action}: {rollout.url or '(dry run, nothing applied)'}")


if __name__ == "__main__":
    run_cli(main)
