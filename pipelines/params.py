"""Pipeline parameters, checked and typed against what the pipeline itself declares.

`kfp-nlp run` (a pipeline function), `kfp-nlp submit` and `kfp-nlp schedule` (compiled YAML) all
read the same declaration: the pipeline IR's `root.inputDefinitions.parameters`, each with its
`parameterType`, `defaultValue` and `description`. Values come either as command line text
(`--param epochs=3`, parsed here) or as YAML values that must already have the declared type.
Errors name the parameter as the user typed it and its type in plain words (`whole number`,
`true or false`), never KFP's type names.
"""

import json
import textwrap
from collections.abc import Mapping
from typing import Any

from components.common.errors import KfpNlpError

Declared = Mapping[str, Mapping[str, Any]]

# KFP's parameter types in the words --help and the errors use, and a value of each type.
KINDS = {
    "STRING": ("text", '"some text"'),
    "NUMBER_INTEGER": ("whole number", "3"),
    "NUMBER_DOUBLE": ("number", "0.5"),
    "BOOLEAN": ("true or false", "true"),
    "LIST": ("list", '["a", "b"]'),
    "STRUCT": ("mapping", '{"key": 1}'),
}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_PYTHON_TYPES = {"STRING": str, "BOOLEAN": bool, "LIST": list, "STRUCT": dict}


def declared_parameters(pipeline: Any) -> dict[str, dict[str, Any]]:
    """A pipeline function's parameters as its compiled YAML declares them."""
    from google.protobuf import json_format

    spec = json_format.MessageToDict(pipeline.pipeline_spec)
    return spec["root"].get("inputDefinitions", {}).get("parameters", {})


def is_required(spec: Mapping[str, Any]) -> bool:
    return "defaultValue" not in spec and not spec.get("isOptional")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["a=1", "b=x"]` as `{"a": "1", "b": "x"}` (values stay text until typed)."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise KfpNlpError(f"--param {item!r} is not NAME=VALUE; write e.g. --param epochs=3")
        values[name.strip()] = value
    return values


def _from_text(kind: str, text: str) -> Any:
    """Command line text as a value of the KFP parameter type `kind`."""
    if kind == "STRING":
        return text
    if kind == "BOOLEAN":
        if text.lower() not in _TRUE | _FALSE:
            raise ValueError(text)
        return text.lower() in _TRUE
    if kind == "NUMBER_INTEGER":
        return int(text)
    if kind == "NUMBER_DOUBLE":
        return float(text)
    if kind == "LIST" and not text.lstrip().startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    parsed = json.loads(text)
    if not isinstance(parsed, list if kind == "LIST" else dict):
        raise ValueError(text)
    return parsed


def _checked(kind: str, value: Any) -> Any:
    """A YAML value that must already be of the KFP parameter type `kind`."""
    if kind == "NUMBER_INTEGER" and isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer():
            return int(value)
    elif kind == "NUMBER_DOUBLE" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, _PYTHON_TYPES.get(kind, ())):
        return value
    raise ValueError(value)


def typed_parameters(
    declared: Declared,
    values: Mapping[str, Any],
    pipeline: str,
    where: str,
    from_text: bool = False,
) -> dict[str, Any]:
    """The run parameters, checked against and converted to the types `declared`.

    Args:
        declared: The pipeline's parameters (`declared_parameters`, or a compiled package's).
        values: Parameter values by name.
        pipeline: The pipeline's name, for error messages.
        where: Where the values came from, for error messages (e.g. `--param`).
        from_text: The values are command line text to parse (`3`, `true`, `a,b`); otherwise
            they must already have the declared type (as YAML values do).
    """
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise KfpNlpError(
            f"{where}: pipeline {pipeline!r} has no parameter {unknown[0]!r}; "
            f"its parameters: {', '.join(sorted(declared)) or 'none'}"
        )
    typed: dict[str, Any] = {}
    for name, value in values.items():
        kind = declared[name].get("parameterType", "STRING")
        try:
            typed[name] = _from_text(kind, value) if from_text else _checked(kind, value)
        except (ValueError, TypeError):
            words, example = KINDS.get(kind, (kind.lower(), ""))
            article = "" if kind in ("STRING", "BOOLEAN") else "a "
            hint = "" if from_text else " (quote text in YAML, not numbers or true/false)"
            raise KfpNlpError(
                f"{where}: {name}={value!r} is not {article}{words}; "
                f"give e.g. {name}={example}{hint}"
            ) from None
    missing = sorted(n for n, spec in declared.items() if n not in values and is_required(spec))
    if missing:
        raise KfpNlpError(
            f"{where}: pipeline {pipeline!r} needs a value for {', '.join(missing)}; "
            "give each one (e.g. --param NAME=VALUE)"
        )
    return typed


def describe_parameters(declared: Declared) -> str:
    """A pipeline's parameters for --help: required ones first, each with type, default, meaning."""
    lines = []
    required = sorted(n for n, spec in declared.items() if is_required(spec))
    for name in [*required, *sorted(set(declared) - set(required))]:
        spec = declared[name]
        kind = spec.get("parameterType", "STRING")
        default = spec.get("defaultValue")
        if kind == "NUMBER_INTEGER" and isinstance(default, float):
            default = int(default)  # protobuf keeps every number as a double
        shown = "required" if name in required else f"default {json.dumps(default)}"
        lines.append(f"  {name} ({KINDS.get(kind, ('text',))[0]}, {shown})")
        if spec.get("description"):
            lines += textwrap.wrap(
                spec["description"], width=96, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    return "\n".join(lines)
