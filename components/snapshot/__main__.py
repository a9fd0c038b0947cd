"""Command line for snapshot_source: print the identity of what a URI holds now.

    python -m components.snapshot s3://bucket/replies/latest.csv
    python -m components.snapshot --json data/replies.csv

prints the fingerprint that the pipeline hands to the cached steps (with --json: the full
identity record it was computed from).
"""

import json

from components.common.config import argument_parser
from components.common.errors import run_cli
from components.snapshot.snapshot import fingerprint, snapshot


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(prog="python -m components.snapshot", description=__doc__)
    parser.add_argument("location", help="local path, file:// or s3:// URI (file or prefix)")
    parser.add_argument("--json", action="store_true", help="print the identity record too")
    args = parser.parse_args(argv)
    identity = snapshot(args.location)
    if args.json:
        print(json.dumps({**identity, "fingerprint": fingerprint(identity)}, indent=2))
    else:
        print(fingerprint(identity))


if __name__ == "__main__":
    run_cli(main)
