"""What `kfp-nlp submit` and `kfp-nlp schedule` share: the KFP client and compiled packages.

A compiled package is named either by path (`some/where/pipeline.yaml`) or by the name `kfp-nlp
compile` gave it (`pipelines/compiled/<name>.yaml`). Its declared parameters (pipelines.params
checks values against them before anything is sent, so a typo fails here with a one-line error
instead of as a failed run on the cluster) travel with it.
"""

import argparse
import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import urllib3
import yaml
from kfp_server_api.exceptions import ApiException

from components.common.errors import KfpNlpError, TransientError
from pipelines.catalog import COMPILED_DIR

TOKEN_ENV = "KFP_NLP_TOKEN"


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
    """Translate client failures inside the block into one-line errors: a refusal or a bad
    request is the caller's to fix (exit 2); an API that answers 5xx or cannot be reached may
    work later (exit 3)."""
    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise KfpNlpError(
                f"the KFP API at {host} refused access (HTTP {exc.status}: "
                f"{_api_message(exc)}); set {TOKEN_ENV} to a valid token or check --namespace"
            ) from exc
        kind = TransientError if exc.status and exc.status >= 500 else KfpNlpError
        raise kind(
            f"the KFP API at {host} answered HTTP {exc.status}: {_api_message(exc)}"
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(
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
