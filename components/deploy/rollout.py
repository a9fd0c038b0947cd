"""Applying an InferenceService safely: create or patch, wait for Ready, roll back on failure.

An existing InferenceService is patched (JSON merge patch), never deleted and re-created, so the
revision that serves now keeps serving while the new one starts. If the new revision is not
Ready within the timeout, the previous spec is patched back: KServe then keeps routing to the
previous revision, and the error says why the rollout failed.

The Kubernetes client retries a refused connection a few times but never an answer, so each API
call here is retried with backoff on 409 Conflict, 429 and 5xx; what still fails, or an API
server that cannot be reached, is a TransientError (exit 3) naming the API server.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kserve import constants
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from components.common.errors import KfpNlpError, OneLineError, TransientError
from components.common.retry import with_retries
from components.deploy.config import DeployConfig
from components.deploy.render import render, to_manifest

GROUP = constants.KSERVE_GROUP
VERSION = constants.KSERVE_V1BETA1_VERSION
PLURAL = constants.KSERVE_PLURAL_INFERENCESERVICE
POLL_SECONDS = 2.0
API_ATTEMPTS = 5
_BUSY = (409, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Rollout:
    """The outcome of a deploy: what was done and where the service answers."""

    action: str
    url: str
    manifest: dict[str, Any]


def api_client() -> client.ApiClient:
    """A Kubernetes API client from the pod's service account, else from ~/.kube/config."""
    try:
        kube_config.load_incluster_config()
    except ConfigException:
        try:
            kube_config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise KfpNlpError(
                "no Kubernetes credentials: run the step in the cluster with a service account "
                "allowed to get, create and patch inferenceservices, or set KUBECONFIG"
            ) from exc
    return client.ApiClient()


def ready_condition(service: dict[str, Any]) -> dict[str, Any] | None:
    """The Ready condition of an InferenceService once its status reflects the latest spec."""
    status = service.get("status") or {}
    generation = service.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return None
    return next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)


class InferenceServices:
    """The few InferenceService calls a rollout needs, with API errors made readable."""

    def __init__(self, api: client.ApiClient, namespace: str):
        self.api = client.CustomObjectsApi(api)
        self.namespace = namespace

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            return method(GROUP, VERSION, self.namespace, PLURAL, *args, **kwargs)

        try:
            return with_retries(call, _retryable, API_ATTEMPTS)
        except ApiException as exc:
            if exc.status == 404 and what == "get":
                raise
            raise self._refused(what, exc) from exc
        except HTTPError as exc:  # the connection, after the client's own retries
            raise TransientError(
                f"cannot reach the Kubernetes API at {self.host} to {what} the "
                f"InferenceService in {self.namespace} ({type(exc).__name__}); check the "
                "network and KUBECONFIG, then deploy again"
            ) from exc

    @property
    def host(self) -> str:
        return self.api.api_client.configuration.host

    def _refused(self, what: str, exc: ApiException) -> OneLineError:
        reason = exc.reason or exc.status
        if exc.status == 403:
            return KfpNlpError(
                f"not allowed to {what} inferenceservices in {self.namespace} ({reason}); "
                "grant the step's service account get, create and patch on them"
            )
        if _status_reason(exc) == "AlreadyExists":
            return TransientError(
                f"another deploy created the InferenceService in {self.namespace} while this "
                "one ran (409 AlreadyExists); deploy again to patch it"
            )
        if exc.status in _BUSY:
            return TransientError(
                f"the Kubernetes API at {self.host} kept failing to {what} the "
                f"InferenceService in {self.namespace} ({exc.status} {reason} after "
                f"{API_ATTEMPTS} attempts); check the API server's health, then deploy again"
            )
        return KfpNlpError(
            f"the Kubernetes API refused to {what} the InferenceService in "
            f"{self.namespace}: {exc.status} {reason}"
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call("get", self.api.get_namespaced_custom_object, name)
        except ApiException:
            return None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("create", self.api.create_namespaced_custom_object, body)

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("patch", self.api.patch_namespaced_custom_object, name, body)


def _status_reason(exc: ApiException) -> str:
    """The `reason` of the Kubernetes Status object in an error answer ("" if none)."""
    try:
        return str(json.loads(exc.body or "{}").get("reason", ""))
    except (ValueError, AttributeError):
        return ""


def _retryable(exc: Exception) -> bool:
    """Worth another try: a conflict with a concurrent writer, throttling, a server error.

    A create refused because the object exists already would be refused again.
    """
    return (
        isinstance(exc, ApiException)
        and exc.status in _BUSY
        and _status_reason(exc) != "AlreadyExists"
    )


def merge_patch(manifest: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning `current` into `manifest`: keys absent now are set to null."""
    patch = {"metadata": {k: manifest["metadata"][k] for k in ("labels", "annotations")}}
    patch["spec"] = _with_removals(manifest["spec"], current.get("spec", {}))
    return patch


def _with_removals(wanted: Any, current: Any) -> Any:
    if not isinstance(wanted, dict) or not isinstance(current, dict):
        return wanted
    merged = {key: _with_removals(value, current.get(key)) for key, value in wanted.items()}
    merged.update({key: None for key in current if key not in wanted})
    return merged


def wait_ready(services: InferenceServices, name: str, timeout: float) -> dict[str, Any]:
    """Poll until the latest spec is Ready; KfpNlpError with the last condition on timeout."""
    deadline = time.monotonic() + timeout
    condition = None
    while True:
        service = services.get(name) or {}
        condition = ready_condition(service)
        if condition and condition.get("status") == "True":
            return service
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    detail = "no status yet"
    if condition:
        detail = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
    raise TimeoutError(detail)


def deploy(
    config: DeployConfig,
    storage_uri: str,
    api: client.ApiClient | None = None,
    manifest_path: Path | None = None,
) -> Rollout:
    """Render the InferenceService, write it to `manifest_path`, and (unless dry run) roll out."""
    manifest = to_manifest(render(config, storage_uri))
    if manifest_path is not None:
        manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    if config.dry_run:
        return Rollout("rendered", "", manifest)
    services = InferenceServices(api or api_client(), config.namespace)
    current = services.get(config.name)
    if current is None:
        services.create(manifest)
        action = "created"
    else:
        services.patch(config.name, merge_patch(manifest, current))
        action = "patched"
    try:
        service = wait_ready(services, config.name, config.timeout_seconds)
    except TimeoutError as exc:
        raise _failed(services, config, current, str(exc)) from exc
    return Rollout(action, service.get("status", {}).get("url", ""), manifest)


def _failed(
    services: InferenceServices,
    config: DeployConfig,
    previous: dict[str, Any] | None,
    detail: str,
) -> KfpNlpError:
    where = f"InferenceService {config.namespace}/{config.name}"
    if previous is None:
        return KfpNlpError(
            f"{where} did not become Ready within {config.timeout_seconds}s ({detail}); "
            f"inspect it with `kubectl describe inferenceservice -n {config.namespace} "
            f"{config.name}`"
        )
    restore = {"metadata": previous["metadata"], "spec": previous["spec"]}
    current = services.get(config.name) or {}
    services.patch(config.name, merge_patch(restore, current))
    return KfpNlpError(
        f"the new revision of {where} did not become Ready within {config.timeout_seconds}s "
        f"({detail}); its previous spec was restored and the previous revision keeps "
        "serving; check the model and the predictor logs, then deploy again"
    )
