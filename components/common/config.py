"""Config dataclasses as the one home of defaults, and the command line built from them.

A stage declares its settings once, as a dataclass whose fields carry `metadata={"help": ...}`
and whose `__post_init__` validates them. The stage's command line (`python -m components.X`)
and its KFP signature both mirror that dataclass. Every command line starts from
`argument_parser`, so every `--help` ends with the same table of exit statuses.
"""

import argparse
import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import docstring_parser

from components.common.errors import EXIT_CODES_HELP, KfpNlpError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


def _sentence(text: str) -> str:
    # Left lower-case: many start with a value to type (auto, kfp-nlp, s3://...).
    text = " ".join(text.split())
    return text + ("" if text.endswith(".") else ".")


def described_by(cls: type) -> Callable[[F], F]:
    """Describe, in a component's docstring, each parameter that is a field of `cls` and that
    the docstring does not describe itself, with the field's help: the KFP UI and the compiled
    spec show the same words as `--help`, written once in the config.

    Goes under `@dsl.component`, which reads the docstring when it builds the component.
    """

    def decorate(func: F) -> F:
        doc = inspect.getdoc(func) or ""
        described = {p.arg_name for p in docstring_parser.parse(doc).params}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        entries = [
            f"    {name}: {_sentence(fields[name].metadata.get('help', ''))}"
            for name in inspect.signature(func).parameters
            if name in fields and name not in described
        ]
        lines = doc.splitlines()
        if "Args:" not in lines:
            lines += ["", "Args:"]
        end = lines.index("Returns:") if "Returns:" in lines else len(lines)
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        func.__doc__ = "\n".join(lines[:end] + entries + lines[end:]) + "\n"
        return func

    return decorate
