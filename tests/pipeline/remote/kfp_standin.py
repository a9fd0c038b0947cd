"""A local stand-in for the KFP v2beta1 REST API, and a tiny pipeline to send to it.

The stand-in is a real HTTP server on 127.0.0.1 (http.server in a thread) that implements the
endpoints `kfp.Client` calls for submit and schedule: pipelines, pipeline version uploads,
experiments, recurring runs and runs. Request bodies are parsed into kfp-server-api's
V2beta1... models (unknown fields are refused, as the real API server does) and pipeline specs
into the PipelineSpec proto; responses are built from the same models. It keeps its state in
memory and logs every request so tests can assert on what a client asked for.

A real KFP backend (the API server, its database, the scheduledworkflow controller, Argo) is not
exercised: nothing here schedules or executes a run.
"""

import datetime
import email.parser
import email.policy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import yaml
from google.protobuf import json_format
from kfp import dsl
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_server_api import models

_API = kfp_server_api.ApiClient()


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None


def _check_fields(data: Any, klass: str, where: str) -> None:
    """Refuse fields the model does not declare, recursively (like the server's strict parse)."""
    if klass.startswith("list["):
        for item in data or []:
            _check_fields(item, klass[5:-1], where)
        return
    if klass.startswith("dict(") or not hasattr(models, klass):
        return
    model = getattr(models, klass)
    if not model.openapi_types:
        return
    if not isinstance(data, dict):
        raise ApiError(400, f"{where}: expected an object for {klass}")
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in data.items():
        if key not in by_json:
            raise ApiError(400, f"{where}: unknown field {key!r} in {klass}")
        _check_fields(value, model.openapi_types[by_json[key]], f"{where}.{key}")


def parse_model(raw: bytes, klass: str) -> Any:
    """The request body as a kfp-server-api model, strictly validated."""
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "request body is not JSON") from None
    _check_fields(data, klass, "body")

    @dataclass
    class _Body:
        data: bytes

    try:
        return _API.deserialize(_Body(json.dumps(data).encode()), klass)
    except ValueError as exc:
        raise ApiError(400, f"invalid {klass}: {exc}") from None


def parse_pipeline_spec(spec: Any) -> pipeline_spec_pb2.PipelineSpec:
    """A pipeline spec dict (bare or wrapped with a platform spec) as the proto, or 400."""
    if isinstance(spec, dict) and "pipeline_spec" in spec:
        spec = spec["pipeline_spec"]
    try:
        return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except (json_format.ParseError, TypeError) as exc:
        raise ApiError(400, f"invalid pipeline spec: {exc}") from None


def _display_name_filter(query: dict[str, str]) -> str | None:
    raw = query.get("filter")
    if not raw:
        return None
    predicates = json.loads(raw).get("predicates", [])
    if (
        len(predicates) != 1
        or predicates[0].get("operation") not in ("EQUALS", 1)  # the enum by name or number
        or predicates[0].get("key") not in ("display_name", "name")
    ):
        raise ApiError(400, f"the stand-in supports only display_name EQUALS filters: {raw}")
    return predicates[0].get("stringValue", predicates[0].get("string_value"))


def _listing(items: list[Any], query: dict[str, str], response: Any, field: str) -> Any:
    """One page of `items` (filtered by display name when asked) as a List...Response."""
    name = _display_name_filter(query)
    found = [item for item in items if name in (None, item.display_name)]
    start = int(query.get("page_token") or 0)
    end = start + int(query.get("page_size") or 10)
    token = str(end) if end < len(found) else ""
    return response(**{field: found[start:end]}, total_size=len(found), next_page_token=token)


@dataclass
class KfpStandIn:
    """In-memory KFP state behind the HTTP handler."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    pipelines: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    experiments: dict[str, Any] = field(default_factory=dict)
    recurring_runs: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # when set, every request needs `Authorization: Bearer <token>`
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _now() -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def _add_version(self, pipeline_id: str, name: str, description: str, spec: Any) -> Any:
        if any(
            v.pipeline_id == pipeline_id and v.display_name == name for v in self.versions.values()
        ):
            raise ApiError(409, f"pipeline version {name!r} already exists")
        version = models.V2beta1PipelineVersion(
            pipeline_id=pipeline_id,
            pipeline_version_id=str(uuid.uuid4()),
            display_name=name,
            name=name,
            description=description,
            created_at=self._now(),
            pipeline_spec=spec,
        )
        self.versions[version.pipeline_version_id] = version
        return version

    def _check_reference(self, body: Any) -> None:
        if body.experiment_id not in self.experiments:
            raise ApiError(404, f"experiment {body.experiment_id!r} not found")
        reference = body.pipeline_version_reference
        if reference is not None:
            version = self.versions.get(reference.pipeline_version_id)
            if version is None or version.pipeline_id != reference.pipeline_id:
                raise ApiError(404, f"pipeline version {reference.pipeline_version_id!r} not found")
            spec = version.pipeline_spec
        elif body.pipeline_spec is not None:
            spec = body.pipeline_spec
        else:
            raise ApiError(400, "a run needs pipeline_spec or pipeline_version_reference")
        declared = parse_pipeline_spec(spec).root.input_definitions.parameters
        given = (body.runtime_config.parameters or {}) if body.runtime_config else {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ApiError(400, f"unknown runtime parameter {unknown[0]!r}")

    # -- endpoints ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], raw: bytes, ctype: str) -> Any:
        route = path.removeprefix("/apis/v2beta1")
        if method == "GET" and route == "/healthz":
            return models.V2beta1GetHealthzResponse(multi_user=False)
        if method == "GET" and route == "/pipelines":
            return _listing(
                list(self.pipelines.values()),
                query,
                models.V2beta1ListPipelinesResponse,
                "pipelines",
            )
        if method == "POST" and route == "/pipelines/upload":
            name = query.get("name") or query.get("display_name")
            if not name:
                raise ApiError(400, "pipeline name is required")
            if any(p.display_name == name for p in self.pipelines.values()):
                raise ApiError(409, f"pipeline {name!r} already exists")
            spec = self._uploaded_spec(raw, ctype)
            pipeline = models.V2beta1Pipeline(
                pipeline_id=str(uuid.uuid4()),
                display_name=name,
                name=name,
                description=query.get("description", ""),
                namespace=query.get("namespace", ""),
                created_at=self._now(),
            )
            self.pipelines[pipeline.pipeline_id] = pipeline
            self._add_version(pipeline.pipeline_id, name, pipeline.description, spec)
            return pipeline
        if method == "POST" and route == "/pipelines/upload_version":
            pipeline_id = query.get("pipelineid", "")
            if pipeline_id not in self.pipelines:
                raise ApiError(404, f"pipeline {pipeline_id!r} not found")
            spec = self._uploaded_spec(raw, ctype)
            name = query.get("name") or query.get("display_name") or ""
            return self._add_version(pipeline_id, name, query.get("description", ""), spec)
        match = re.fullmatch(r"/pipelines/([^/]+)/versions", route)
        if method == "GET" and match:
            return _listing(
                [v for v in self.versions.values() if v.pipeline_id == match.group(1)],
                query,
                models.V2beta1ListPipelineVersionsResponse,
                "pipeline_versions",
            )
        if method == "GET" and route == "/experiments":
            return _listing(
                list(self.experiments.values()),
                query,
                models.V2beta1ListExperimentsResponse,
                "experiments",
            )
        if method == "POST" and route == "/experiments":
            body = parse_model(raw, "V2beta1Experiment")
            if not body.display_name:
                raise ApiError(400, "experiment display_name is required")
            if any(e.display_name == body.display_name for e in self.experiments.values()):
                raise ApiError(409, f"experiment {body.display_name!r} already exists")
            body.experiment_id = str(uuid.uuid4())
            body.created_at = self._now()
            body.storage_state = "AVAILABLE"
            self.experiments[body.experiment_id] = body
            return body
        if method == "GET" and route == "/recurringruns":
            experiment = query.get("experiment_id")
            return _listing(
                [r for r in self.recurring_runs.values() if experiment in (None, r.experiment_id)],
                query,
                models.V2beta1ListRecurringRunsResponse,
                "recurring_runs",
            )
        if method == "POST" and route == "/recurringruns":
            return self._create_recurring_run(parse_model(raw, "V2beta1RecurringRun"))
        match = re.fullmatch(r"/recurringruns/([^/:]+)(:enable|:disable)?", route)
        if match and (method == "DELETE" or (method == "POST" and match.group(2))):
            run = self.recurring_runs.get(match.group(1))
            if run is None:
                raise ApiError(404, f"recurring run {match.group(1)!r} not found")
            if method == "DELETE":
                del self.recurring_runs[run.recurring_run_id]
            else:
                enable = match.group(2) == ":enable"
                run.mode = "ENABLE" if enable else "DISABLE"
                run.status = "ENABLED" if enable else "DISABLED"
                run.updated_at = self._now()
            return {}
        if method == "POST" and route == "/runs":
            body = parse_model(raw, "V2beta1Run")
            self._check_reference(body)
            body.run_id = str(uuid.uuid4())
            body.created_at = self._now()
            body.state = "PENDING"
            body.storage_state = "AVAILABLE"
            self.runs[body.run_id] = body
            return body
        raise ApiError(404, f"the stand-in does not implement {method} {path}")

    def _uploaded_spec(self, raw: bytes, ctype: str) -> Any:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw
        )
        for part in message.iter_parts() if message.is_multipart() else []:
            if part.get_param("name", header="content-disposition") == "uploadfile":
                docs = list(yaml.safe_load_all(part.get_payload(decode=True)))
                parse_pipeline_spec(docs[0])
                return docs[0]
        raise ApiError(400, "multipart field 'uploadfile' is missing")

    def _create_recurring_run(self, body: Any) -> Any:
        if not body.display_name:
            raise ApiError(400, "recurring run display_name is required")
        cron = (
            body.trigger.cron_schedule.cron if body.trigger and body.trigger.cron_schedule else ""
        )
        if len(cron.split()) != 6:
            raise ApiError(400, f"cron {cron!r} must have 6 fields (seconds first)")
        if not 1 <= int(body.max_concurrency or 0) <= 10:
            raise ApiError(400, "max_concurrency must be between 1 and 10")
        self._check_reference(body)
        body.recurring_run_id = str(uuid.uuid4())
        body.created_at = body.updated_at = self._now()
        body.status = "ENABLED" if body.mode == "ENABLE" else "DISABLED"
        self.recurring_runs[body.recurring_run_id] = body
        return body


def _handler(state: KfpStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type", "")
            body = json.loads(raw) if raw and ctype.startswith("application/json") else None
            with state.lock:
                state.requests.append(Request(method, url.path, query, body))
                try:
                    if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
                        raise ApiError(401, "missing or invalid bearer token")
                    status, payload = 200, state.handle(method, url.path, query, raw, ctype)
                except ApiError as exc:
                    status = exc.status
                    payload = {"error": str(exc), "message": str(exc), "code": status}
            data = json.dumps(_API.sanitize_for_serialization(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler


def serve(state: KfpStandIn) -> ThreadingHTTPServer:
    """Start the stand-in on a free port of 127.0.0.1 in a thread; sets `state.url`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dsl.component(base_image="python:3.11-slim")
def _say(message: str, times: int) -> str:
    return message * times


@dsl.pipeline(name="tiny-pipeline")
def tiny_pipeline(message: str, times: int = 2, ratio: float = 0.5, verbose: bool = False):
    _say(message=message, times=times)
