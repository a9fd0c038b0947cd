"""The one error type users see, and the one place that turns it into one line and exit 2.

`one_line_errors` is used by every command line program (through `run_cli`) and by every KFP
component wrapper, so a bad input reads the same in a terminal and in a KFP step's log: a single
`error: ...` line and exit status 2. Any other exception is a bug and keeps its traceback.
"""

import contextlib
import sys
from collections.abc import Callable, Iterator


class KfpNlpError(Exception):
    """A problem with the user's input or environment: what was wrong, where, and how to fix it.

    The message is always a single line, so it reads the same in a terminal, in the KFP UI log
    view and in a CI log.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A KfpNlpError inside the block becomes `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except KfpNlpError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        # SystemExit leaves the interpreter without a traceback, in a CLI and in the KFP
        # executor alike (it does not catch it), so the step fails with this status.
        sys.exit(2)


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a command line `main` under `one_line_errors`."""
    with one_line_errors():
        main(argv)
