"""The errors users see, and the one place that turns them into one line and an exit status.

Every failure says whose move it is, through its exit status:

- `KfpNlpError` (exit 2): the input or the configuration is wrong (a column that is not there,
  a bad URI, a parameter out of range). Running again unchanged fails the same way.
- `TransientError` (exit 3): a service the step needs (S3, the Kubernetes API) kept failing or
  could not be reached, after the retries done where the call happens. Running again later,
  unchanged, may succeed; a scheduler may retry it.
- Anything else is a bug: the traceback is kept and the exit status is 1 (Python's own).

`one_line_errors` is used by every command line program (through `run_cli`) and by every KFP
component wrapper, so a failure reads the same in a terminal and in a KFP step's log: a single
`error: ...` line and the exit status of its kind.
"""

import contextlib
import sys
from collections.abc import Callable, Iterator

INPUT_ERROR_EXIT = 2
TRANSIENT_ERROR_EXIT = 3

EXIT_CODES_HELP = """\
exit status:
  0  success
  1  a bug: the traceback is printed; please report it
  2  bad input or configuration: the one-line error says what to fix;
     running again unchanged fails the same way
  3  a service (S3, the Kubernetes API) kept failing or was unreachable
     after retries: the one-line error names it; run again later
"""


class OneLineError(Exception):
    """A failure that is reported as one `error: ...` line and the exit status of its kind.

    The message is always a single line, so it reads the same in a terminal, in the KFP UI log
    view and in a CI log. Raise one of the two kinds below, not this class.
    """

    exit_status = 1

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class KfpNlpError(OneLineError):
    """Bad input or configuration: what was wrong, where, and how to fix it (exit 2).

    Never retried: the same input fails the same way.
    """

    exit_status = INPUT_ERROR_EXIT


class TransientError(OneLineError):
    """A service kept failing or was unreachable after bounded retries (exit 3).

    The message names the service and its address (the S3 endpoint, the Kubernetes API server),
    so whoever runs the step knows what to check before running it again.
    """

    exit_status = TRANSIENT_ERROR_EXIT


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A OneLineError inside the block becomes `error: <message>` on stderr and its exit status
    (2 for bad input, 3 for a transient failure); any other exception propagates unchanged."""
    try:
        yield
    except OneLineError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        # SystemExit leaves the interpreter without a traceback, in a CLI and in the KFP
        # executor alike (it does not catch it), so the step fails with this status.
        sys.exit(exc.exit_status)


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a command line `main` under `one_line_errors`."""
    with one_line_errors():
        main(argv)
