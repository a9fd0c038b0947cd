"""A loopback HTTP server standing in for the Kubernetes API and the KServe controller.

No Kubernetes API server runs here. The Kubernetes Python client talks HTTP to this stand-in: a
real HTTP server on loopback that speaks the few endpoints a rollout uses (get, create,
merge-patch of serving.kserve.io/v1beta1 inferenceservices) and plays the KServe controller by
setting the Ready condition a moment after each spec change. Not exercised: authentication,
admission webhooks, real revisions and traffic splitting (the stand-in only reports them).
"""

import copy
import http.server
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.net import QuietServer

PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(/(?P<name>[^/?]+))?"
)


def merge(target: dict, patch: dict) -> dict:
    """RFC 7386 JSON merge patch."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def status(code: int, reason: str, message: str) -> dict:
    """A metav1.Status body, as the API server answers errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def reply(handler: http.server.BaseHTTPRequestHandler, code: int, body: dict) -> None:
    """Answer with a JSON body."""
    data = json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def serve(
    handle: Callable[[http.server.BaseHTTPRequestHandler, str], None],
) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A threaded HTTP server on a free loopback port that hands every request and its method
    to `handle`, serving in the background; returns it and its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            handle(self, "GET")

        def do_POST(self) -> None:
            handle(self, "POST")

        def do_PATCH(self) -> None:
            handle(self, "PATCH")

        def do_PUT(self) -> None:
            handle(self, "PUT")

        def do_DELETE(self) -> None:
            handle(self, "DELETE")

    server = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class StandInApi:
    """A loopback HTTP server standing in for the Kubernetes API and the KServe controller."""

    def __init__(self, becomes_ready: Callable[[dict], bool]):
        self.objects: dict[tuple[str, str], dict] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.becomes_ready = becomes_ready
        self.server, self.url = serve(self.handle)

    def not_found(self, handler, name: str) -> None:
        reply(handler, 404, status(404, "NotFound", f"{name} not found"))

    def handle(self, handler, method: str) -> None:
        match = PATH.match(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append((method, handler.path, handler.headers.get("Content-Type", "")))
        if not match:
            self.not_found(handler, handler.path)
            return
        key = (match["ns"], match["name"] or (body or {}).get("metadata", {}).get("name"))
        current = self.objects.get(key)
        if method == "GET":
            if current is None:
                self.not_found(handler, key[1])
                return
            self.reconcile(current)
            reply(handler, 200, current)
        elif method == "POST" and current is None:
            body["metadata"].update(generation=1, resourceVersion="1")
            self.objects[key] = body
            reply(handler, 201, body)
        elif method == "PATCH" and current is not None:
            assert handler.headers["Content-Type"] == "application/merge-patch+json"
            updated = merge(current, body)
            if updated["spec"] != current["spec"]:
                updated["metadata"]["generation"] += 1
            self.objects[key] = updated
            reply(handler, 200, updated)
        else:
            reply(handler, 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed"})

    def reconcile(self, service: dict) -> None:
        """Play the controller: the status catches up with the spec one GET later."""
        state = service.setdefault("status", {})
        generation = service["metadata"]["generation"]
        if state.get("seen") != generation:
            state["seen"] = generation
            return
        ready = self.becomes_ready(service["spec"])
        name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
        state["observedGeneration"] = generation
        if ready:
            state["url"] = f"http://{name}.{ns}.example.com"
        state["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "" if ready else "RevisionFailed",
                "message": "" if ready else "Revision failed: container exited with code 1",
            }
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kubeconfig(api, path: Path) -> Path:
    """A kubeconfig file whose current context is the stand-in, for processes that load one."""
    cluster = {"name": "stand-in", "cluster": {"server": api.url}}
    user = {"name": "stand-in", "user": {}}
    context = {"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [user],
        "contexts": [context],
        "current-context": "stand-in",
    }
    path.write_text(yaml.safe_dump(config))
    return path
