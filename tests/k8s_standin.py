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


class StandInApi:
    """A loopback HTTP server standing in for the Kubernetes API and the KServe controller."""

    def __init__(self, becomes_ready: Callable[[dict], bool]):
        self.objects: dict[tuple[str, str], dict] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.becomes_ready = becomes_ready
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api.handle(self, "GET")

            def do_POST(self) -> None:
                api.handle(self, "POST")

            def do_PATCH(self) -> None:
                api.handle(self, "PATCH")

            def do_DELETE(self) -> None:
                api.handle(self, "DELETE")

            def do_PUT(self) -> None:
                api.handle(self, "PUT")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def not_found(self, handler, name: str) -> None:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        self.reply(handler, 404, {**status, "reason": "NotFound", "message": f"{name} not found"})

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
            self.reply(handler, 200, current)
        elif method == "POST" and current is None:
            body["metadata"].update(generation=1, resourceVersion="1")
            self.objects[key] = body
            self.reply(handler, 201, body)
        elif method == "PATCH" and current is not None:
            assert handler.headers["Content-Type"] == "application/merge-patch+json"
            updated = merge(current, body)
            if updated["spec"] != current["spec"]:
                updated["metadata"]["generation"] += 1
            self.objects[key] = updated
            self.reply(handler, 200, updated)
        else:
            self.reply(handler, 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed"})

    def reconcile(self, service: dict) -> None:
        """Play the controller: the status catches up with the spec one GET later."""
        status = service.setdefault("status", {})
        generation = service["metadata"]["generation"]
        if status.get("seen") != generation:
            status["seen"] = generation
            return
        ready = self.becomes_ready(service["spec"])
        name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
        status["observedGeneration"] = generation
        if ready:
            status["url"] = f"http://{name}.{ns}.example.com"
        status["conditions"] = [
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


def kubeconfig(api: StandInApi, path: Path) -> Path:
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
