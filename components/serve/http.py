"""The HTTP side of the model server: a FastAPI app for V1 and V2 REST, uvicorn on our socket.

    app = build_app(model, metrics, max_body_bytes)     # the routes, for any ASGI server
    serve_model(model, sock, metrics, max_body_bytes, drain_s)

Routes: GET /v2 (server metadata), /v2/health/live, /v2/health/ready, /v2/models/NAME (model
metadata), /v2/models/NAME/ready, POST /v2/models/NAME/infer (each V2 model route also under
/versions/VERSION), GET /v1/models, /v1/models/NAME, POST /v1/models/NAME:predict, GET /metrics.
Every refusal is `{"error": ...}` with its status (components.serve.errors) and one log line.

uvicorn serves the app on a socket bound here to the address the user asked for: binding first
means a taken port fails before anything is announced. On SIGTERM (or Ctrl+C) the model reports
not ready and refuses new predictions with 503 and Retry-After, the requests already admitted
are scored and answered, and the process exits once none is left or the drain period is over; a
second signal stops at once. A model whose weights cannot be loaded stops the server too, so
that the container fails instead of never being ready.
"""

import asyncio
import logging
import re
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from components import __version__
from components.common.errors import KfpNlpError, OneLineError
from components.serve.errors import ModelNotFound, ModelNotReady, RequestRefused
from components.serve.metrics import ServerMetrics
from components.serve.protocol import BINARY_EXTENSION, HEADER_LENGTH

logger = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SERVER_NAME = "kfp-nlp"
_PROTOCOLS = (
    ("v1", re.compile(r"^/v1/models/[^/]+:predict$")),
    ("v2", re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$")),
)
# nginx's code for "the client closed the connection before the answer": counted, never sent.
CLIENT_GONE = 499
# How often the drain checks whether the admitted requests are answered.
TICK_S = 0.1


class ServedModel(Protocol):
    """What the HTTP side needs of a model (components.serve.server.TextClassifierModel)."""

    name: str
    version: str
    ready: bool
    load_error: OneLineError | None

    @property
    def idle(self) -> bool: ...

    def drain(self) -> None: ...

    def metadata(self) -> dict[str, Any]: ...

    async def predict_v1(self, body: bytes) -> dict[str, Any]: ...

    async def predict_v2(
        self, body: bytes, header_length: str | None
    ) -> tuple[bytes, dict[str, str]]: ...


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` and listening; KfpNlpError when that is not possible."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Reuse only ports in TIME_WAIT; a port another process listens on stays an error.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise KfpNlpError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); stop whatever uses that "
            "port, or pass another --port (or --host)"
        ) from exc
    return sock


class RequestGuard:
    """ASGI middleware in front of the app, for the inference endpoints.

    It refuses a body over `max_bytes` with 413 before any parsing, counts every answer by
    protocol and status, and cancels the request's work when its client disconnects, so the
    texts of an abandoned request leave the queue unscored.
    """

    def __init__(self, asgi_app: Any, max_bytes: int, metrics: ServerMetrics | None):
        self.app = asgi_app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        protocol = next(
            (name for name, path in _PROTOCOLS if path.match(scope.get("path", ""))), None
        )
        if scope["type"] != "http" or protocol is None:
            await self.app(scope, receive, send)
            return
        status = CLIENT_GONE

        async def counted_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, counted_send)
        finally:
            if self.metrics:
                self.metrics.request(protocol, status)

    async def _guarded(self, scope: dict, receive: Callable, send: Callable) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        gone = asyncio.Event()

        async def replay() -> dict:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        answered = False

        async def tracked_send(message: dict) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True
            await send(message)

        work = asyncio.ensure_future(self.app(scope, replay, tracked_send))
        # uvicorn's receive() returns http.disconnect once the client is gone (or the answer
        # is complete), so waiting on it tells an abandoned request from a finished one.
        watch = asyncio.ensure_future(receive())
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done() and not answered:
            gone.set()
            work.cancel()
        watch.cancel()
        try:
            await work
        except asyncio.CancelledError:
            if not work.cancelled():
                raise

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        error = f"the request body is over {self.max_bytes} bytes; send fewer or shorter texts"
        await JSONResponse({"error": error}, status_code=413)(scope, receive, send)


async def _refused(request: Request, exc: RequestRefused) -> JSONResponse:
    """A refusal as its status with a JSON error, and one log line (no traceback)."""
    logger.log(exc.log_level, "%s %s -> %d: %s", request.method, request.url.path, exc.status, exc)
    retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=retry)


async def _unrouted(request: Request, exc: HTTPException) -> JSONResponse:
    """No such route, or the wrong method for it: FastAPI's answer, as `{"error": ...}`."""
    error = f"{exc.detail}: {request.method} {request.url.path}"
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)


async def _failed(request: Request, exc: Exception) -> JSONResponse:
    """A bug while answering: 500 with a JSON error; uvicorn logs the traceback."""
    return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)


def build_app(
    model: ServedModel, metrics: ServerMetrics | None = None, max_body_bytes: int = 1_000_000
) -> FastAPI:
    """The V1, V2 and /metrics routes for `model`, behind RequestGuard."""
    app = FastAPI(title=SERVER_NAME, version=__version__, openapi_url=None)

    def served(name: str, version: str | None = None) -> ServedModel:
        if name != model.name:
            raise ModelNotFound(f"model {name} is not served here; this server serves {model.name}")
        if version is not None and version != model.version:
            raise ModelNotFound(
                f"model {name} has no version {version} here; this server serves "
                f"{model.version or 'no named version'}"
            )
        return model

    def ready(name: str, version: str | None = None) -> dict[str, Any]:
        if not served(name, version).ready:
            raise ModelNotReady(
                f"model {name} is not ready: it is loading or the server is stopping"
            )
        return {"name": name, "ready": True}

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        body, headers = await served(name, version).predict_v2(
            await request.body(), request.headers.get(HEADER_LENGTH)
        )
        return Response(body, headers=headers)

    @app.get("/v2")
    @app.get("/v2/")
    async def server_metadata() -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": [BINARY_EXTENSION]}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def server_ready() -> dict[str, bool]:
        ready(model.name)
        return {"ready": True}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        return served(name).metadata()

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        return served(name, version).metadata()

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        return ready(name)

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> dict[str, Any]:
        return ready(name, version)

    @app.post("/v2/models/{name}/infer")
    async def model_infer(request: Request, name: str) -> Response:
        return await infer(request, name)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def version_infer(request: Request, name: str, version: str) -> Response:
        return await infer(request, name, version)

    @app.get("/v1/models")
    async def v1_models() -> dict[str, list[str]]:
        return {"models": [model.name]}

    @app.get("/v1/models/{name}")
    async def v1_model_ready(name: str) -> dict[str, Any]:
        return ready(name)

    @app.post("/v1/models/{name}:predict")
    async def v1_predict(request: Request, name: str) -> JSONResponse:
        return JSONResponse(await served(name).predict_v1(await request.body()))

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_exception_handler(RequestRefused, _refused)
    app.add_exception_handler(HTTPException, _unrouted)
    app.add_exception_handler(Exception, _failed)
    app.add_middleware(RequestGuard, max_bytes=max_body_bytes, metrics=metrics)
    return app


class Drain:
    """The first SIGTERM/SIGINT drains the model and stops `server` once it is idle (or after
    `drain_s`); a second stops at once. A model that failed to load stops it too."""

    def __init__(self, server: uvicorn.Server, model: ServedModel, drain_s: float):
        self.server = server
        self.model = model
        self.drain_s = drain_s
        self.deadline: float | None = None

    def signalled(self, sig: signal.Signals) -> None:
        if self.deadline is not None:
            self.server.should_exit = self.server.force_exit = True
            return
        self.deadline = time.monotonic() + self.drain_s
        self.model.drain()
        logger.info(
            "%s: not ready any more; finishing the admitted requests (at most %g s)",
            sig.name,
            self.drain_s,
        )

    @property
    def done(self) -> bool:
        if self.model.load_error is not None:
            return True
        if self.deadline is None:
            return False
        return self.model.idle or time.monotonic() >= self.deadline

    async def run(self, sockets: list[socket.socket]) -> None:
        """Serve until drained, stopped or failed."""
        serving = asyncio.ensure_future(self.server.serve(sockets=sockets))
        while not self.server.started and not serving.done():
            await asyncio.sleep(TICK_S)
        # Installed once uvicorn has started, so these handlers replace the ones it sets.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.signalled, sig)
        try:
            while not serving.done():
                if self.done:
                    self.server.should_exit = True
                await asyncio.wait({serving}, timeout=TICK_S)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        await serving


def configure_logging() -> None:
    """One line per record on stderr, with its level: the server's and uvicorn's alike."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def serve_model(
    model: ServedModel,
    sock: socket.socket,
    metrics: ServerMetrics | None,
    max_body_bytes: int,
    drain_s: float,
) -> None:
    """Serve `model` over V1 and V2 REST on `sock` until drained or failed."""
    configure_logging()
    config = uvicorn.Config(
        build_app(model, metrics, max_body_bytes),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=65,
    )
    # The event loop uvicorn would pick itself (uvloop where installed): with asyncio's default
    # loop a one-text request took 48 ms instead of 5 here (benchmarks/serving.py).
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(Drain(uvicorn.Server(config), model, drain_s).run([sock]))
