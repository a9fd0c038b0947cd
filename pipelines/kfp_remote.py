"""What `kfp-nlp submit` and `kfp-nlp schedule` share: the KFP client, compiled packages and
their typed parameters.

A compiled package is named either by path (`some/where/pipeline.yaml`) or by the name `kfp-nlp
compile` gave it (`pipelines/compiled/<name>.yaml`). Parameters are checked against the types the
package declares before anything is sent, so a typo fails here with a one-line error instead of
as a failed run on the cluster.
"""

import argparse
import contextlib
import hashlib
import json
import os
import textwrap
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import urllib3
import yaml
from kfp_server_api.exceptions import ApiException

from components.common.errors import KfpNlpError

COMPILED_DIR = Path(__file__).parent / "compiled"
TOKEN_ENV = "KFP_NLP_TOKEN"
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True)
class PipelinePackage:
    """A compiled pipeline YAML: where it is, its name, declared parameters and content hash."""

    path: Path
    name: str
    parameters: dict[str, dict[str, Any]]
    sha256: str


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP API endpoint, e.g. http://localhost:8888 after `kubectl port-forward "
        "-n kubeflow svc/ml-pipeline 8888:8888` (default: $KF_PIPELINES_ENDPOINT); a bearer "
        f"token, if the endpoint needs one, is read from ${TOKEN_ENV}",
    )
    parser.add_argument(
        "--namespace",
        default=None,
        help="Kubeflow profile namespace, for multi-user installations",
    )
    parser.add_argument(
        "--compiled-dir",
        type=Path,
        default=COMPILED_DIR,
        help="folder of compiled pipelines that pipeline names refer to (default: %(default)s)",
    )


def _api_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return str(exc.body or exc.reason).strip()
    return str(body.get("message") or body.get("error") or exc.reason).strip()


@contextlib.contextmanager
def kfp_errors(host: str) -> Iterator[None]:
    """Translate client failures inside the block into one-line KfpNlpErrors."""
    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise KfpNlpError(
                f"the KFP API at {host} refused access (HTTP {exc.status}: "
                f"{_api_message(exc)}); set {TOKEN_ENV} to a valid token or check --namespace"
            ) from exc
        raise KfpNlpError(
            f"the KFP API at {host} answered HTTP {exc.status}: {_api_message(exc)}"
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KfpNlpError(
            f"cannot reach the KFP API at {host} ({type(exc).__name__}); check --host, e.g. "
            "`kubectl port-forward -n kubeflow svc/ml-pipeline 8888:8888` and "
            "--host http://localhost:8888"
        ) from exc


def connect(host: str | None, namespace: str | None = None) -> kfp.Client:
    """A kfp.Client for `host` (and the profile `namespace`); sends $KFP_NLP_TOKEN when set."""
    if not host or not host.startswith(("http://", "https://")):
        raise KfpNlpError(
            f"the KFP endpoint {host!r} is not an http(s) URL; pass --host "
            "http://HOST:PORT or set KF_PIPELINES_ENDPOINT"
        )
    token = os.environ.get(TOKEN_ENV) or None
    # Without a namespace the client asks the endpoint's health (multi-user or not) as it is
    # built, retrying for about 25 s before it gives up with a TimeoutError.
    with warnings.catch_warnings(), kfp_errors(host):
        warnings.simplefilter("ignore", FutureWarning)  # the client's note about KFP >= 2.0
        try:
            return kfp.Client(host=host, namespace=namespace or "kubeflow", existing_token=token)
        except TimeoutError:
            raise KfpNlpError(
                f"the KFP API at {host} did not pass its health check; check --host, and on "
                f"multi-user Kubeflow pass --namespace and set {TOKEN_ENV}"
            ) from None


def load_package(pipeline: str, compiled_dir: Path = COMPILED_DIR) -> PipelinePackage:
    """The compiled pipeline `pipeline`: a .yaml path, or a name in `compiled_dir`."""
    path = Path(pipeline)
    if path.suffix not in (".yaml", ".yml"):
        path = compiled_dir / f"{pipeline}.yaml"
    if not path.is_file():
        compiled = sorted(p.stem for p in compiled_dir.glob("*.yaml")) or ["none"]
        raise KfpNlpError(
            f"no compiled pipeline {pipeline!r}: {path} does not exist; run `kfp-nlp compile` "
            f"or pass the path of a compiled .yaml (compiled: {', '.join(compiled)})"
        )
    raw = path.read_bytes()
    try:
        spec = next(iter(yaml.safe_load_all(raw)), None)
    except yaml.YAMLError as exc:
        raise KfpNlpError(
            f"{path} is not valid YAML ({type(exc).__name__}); compile it again"
        ) from None
    if not isinstance(spec, dict) or "pipelineInfo" not in spec or "root" not in spec:
        raise KfpNlpError(
            f"{path} is not a compiled KFP pipeline (no pipelineInfo/root); "
            "compile it with `kfp-nlp compile`"
        )
    parameters = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    return PipelinePackage(
        path=path,
        name=spec["pipelineInfo"]["name"],
        parameters=parameters,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


_KINDS = {
    "STRING": "text",
    "NUMBER_INTEGER": "integer",
    "NUMBER_DOUBLE": "number",
    "BOOLEAN": "true/false",
    "LIST": "list",
    "STRUCT": "object",
}


def describe_parameters(parameters: Mapping[str, Mapping[str, Any]]) -> str:
    """A pipeline's parameters for --help: required ones first, each with type, default, meaning."""
    lines = []
    required = [
        n for n, s in parameters.items() if "defaultValue" not in s and not s.get("isOptional")
    ]
    for name in [*sorted(required), *sorted(set(parameters) - set(required))]:
        spec = parameters[name]
        kind = _KINDS.get(spec.get("parameterType", "STRING"), "text")
        default = spec.get("defaultValue")
        if spec.get("parameterType") == "NUMBER_INTEGER" and isinstance(default, float):
            default = int(default)  # protobuf keeps every number as a double
        shown = "required" if name in required else f"default {json.dumps(default)}"
        lines.append(f"  {name} ({kind}, {shown})")
        if spec.get("description"):
            lines += textwrap.wrap(
                spec["description"], width=96, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    return "\n".join(lines)


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["a=1", "b=x"]` as `{"a": "1", "b": "x"}` (values stay text until typed)."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise KfpNlpError(f"--param {item!r} is not NAME=VALUE; write e.g. --param epochs=3")
        values[name.strip()] = value
    return values


def _typed(kind: str, value: Any, from_text: bool) -> Any:
    """`value` as the KFP parameter type `kind`; text is parsed only when `from_text`."""
    if from_text and kind != "STRING":
        return _parsed(kind, value)
    if kind == "STRING" and isinstance(value, str):
        return value
    if kind == "BOOLEAN" and isinstance(value, bool):
        return value
    if kind in ("NUMBER_INTEGER", "NUMBER_DOUBLE") and not isinstance(value, bool | str):
        return _parsed(kind, value)
    if kind == "LIST" and isinstance(value, list):
        return value
    if kind == "STRUCT" and isinstance(value, dict):
        return value
    raise ValueError(kind)


def _parsed(kind: str, value: Any) -> Any:
    """Text (or a number, for number kinds) converted to the KFP parameter type `kind`."""
    if kind == "BOOLEAN" and str(value).lower() in _TRUE | _FALSE:
        return str(value).lower() in _TRUE
    if kind == "NUMBER_INTEGER":
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            raise ValueError(kind)
        return int(value)
    if kind == "NUMBER_DOUBLE":
        return float(value)
    if kind in ("LIST", "STRUCT"):
        parsed = json.loads(value)
        if isinstance(parsed, list if kind == "LIST" else dict):
            return parsed
    raise ValueError(kind)


def typed_parameters(
    package: PipelinePackage, values: Mapping[str, Any], where: str, from_text: bool = False
) -> dict[str, Any]:
    """The run parameters, checked against and converted to the types `package` declares.

    Args:
        package: The compiled pipeline the parameters are for.
        values: Parameter values by name.
        where: Where the values came from, for error messages (e.g. `--param`).
        from_text: The values are command line text to parse (`3`, `true`, `["a"]`); otherwise
            they must already have the declared type (as YAML values do).
    """
    declared = package.parameters
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise KfpNlpError(
            f"{where}: pipeline {package.name!r} has no parameter {unknown[0]!r}; "
            f"its parameters are: {', '.join(sorted(declared)) or 'none'}"
        )
    missing = sorted(
        name
        for name, spec in declared.items()
        if name not in values and "defaultValue" not in spec and not spec.get("isOptional")
    )
    if missing:
        raise KfpNlpError(
            f"{where}: pipeline {package.name!r} needs a value for {', '.join(missing)}; "
            "give each one (e.g. --param NAME=VALUE)"
        )
    typed: dict[str, Any] = {}
    for name, value in values.items():
        kind = declared[name].get("parameterType", "STRING")
        try:
            typed[name] = _typed(kind, value, from_text)
        except (ValueError, TypeError):
            raise KfpNlpError(
                f"{where}: {name}={value!r} is not a valid {kind.lower()} for pipeline "
                f"{package.name!r}; give a {kind.lower()} value (quote text in YAML)"
            ) from None
    return typed
