"""The one error type users see, and the entry point that turns it into one line and exit 2."""

import sys
from collections.abc import Callable


class KfpNlpError(Exception):
    """A problem with the user's input or environment: what was wrong, where, and how to fix it.

    The message is always a single line, so it reads the same in a terminal, in the KFP UI log
    view and in a CI log.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a command line `main`; a KfpNlpError becomes `error: <message>` and exit status 2."""
    try:
        main(argv)
    except KfpNlpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
