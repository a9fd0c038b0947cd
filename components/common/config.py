"""Config dataclasses as the one home of defaults, and the command line built from them.

A stage declares its settings once, as a dataclass whose fields carry `metadata={"help": ...}`
and whose `__post_init__` validates them. The stage's command line (`python -m components.X`)
and its KFP signature both mirror that dataclass. Every command line starts from
`argument_parser`, so every `--help` ends with the same table of exit statuses.
"""

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

from components.common.errors import EXIT_CODES_HELP, KfpNlpError

T = TypeVar("T")


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A command line parser whose `--help` ends with the exit statuses (see errors.py).

    The description and that table are printed as written, line breaks and indents kept.
    """
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--flag` per field of the dataclass `cls`, typed and documented."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        default = _default(field)
        help_text = f"{field.metadata.get('help', '')} (default: {default!r})"
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            parser.add_argument(flag, nargs="*", type=item, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=default, help=help_text)


def from_arguments(cls: type[T], namespace: argparse.Namespace) -> T:
    """Build the dataclass `cls` from parsed arguments (its `__post_init__` validates)."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)}
    return cls(**values)


def require(condition: bool, message: str) -> None:
    """Raise KfpNlpError(message) unless `condition` holds: for `__post_init__` checks."""
    if not condition:
        raise KfpNlpError(message)
