"""The HTTP side of the model server: KServe's REST app on a socket we bind, drained on SIGTERM.

KServe's `ModelServer.start()` binds 0.0.0.0 and owns the signal handling, so the server is
assembled from KServe's public pieces instead: its ModelServer holds the model registry and the
data plane, its `RESTServer` builds the V1/V2 FastAPI app, and uvicorn serves that app on a
socket bound here to the address the user asked for. Binding first means a taken port fails
before anything is announced.

On SIGTERM (or Ctrl+C) the model reports not ready and refuses new predictions with 503 and
Retry-After, the requests already admitted are scored and answered, and the process exits once
none is left or the drain period is over; a second Ctrl+C stops at once. A model whose weights
cannot be loaded stops the server too, so that the container fails instead of never being ready.
"""

import asyncio
import logging
import re
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

import uvicorn
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotReady
from kserve.logging import logger
from kserve.model_server import app
from kserve.protocol.rest.server import RESTServer

from components.common.errors import KfpNlpError
from components.serve.metrics import ServerMetrics
from components.serve.scheduler import Overloaded

_PROTOCOLS = (
    ("v1", re.compile(r"^/v1/models/[^/]+:predict$")),
    ("v2", re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$")),
)
# nginx's code for "the client closed the connection before the answer": counted, never sent.
CLIENT_GONE = 499


class ServedModel(Protocol):
    """What the HTTP side needs of a KServe model besides KServe's own interface."""

    name: str
    ready: bool
    load_error: KfpNlpError | None

    @property
    def idle(self) -> bool: ...

    def drain(self) -> None: ...

    def metadata_extras(self) -> dict[str, Any]: ...


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

    def __init__(self, asgi_app: Any, max_bytes: int, metrics: ServerMetrics):
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


def _answer(status: int, level: int, retry_after: bool = False) -> Callable:
    """An exception handler: a JSON error, and one log line (a client's mistake is no trace)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        logger.log(level, "%s %s -> %d: %s", request.method, request.url.path, status, exc)
        headers = {"Retry-After": str(getattr(exc, "retry_after_s", 1))} if retry_after else None
        return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)

    return handle


async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's body validation (malformed JSON, wrong shape) as 400 with a JSON error."""
    first = jsonable_encoder(exc.errors()[:1])
    detail = first[0].get("msg", "invalid request") if first else "invalid request"
    logger.warning(
        "%s %s -> 400: malformed request body: %s", request.method, request.url.path, detail
    )
    return JSONResponse({"error": f"malformed request body: {detail}"}, status_code=400)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the model on the first SIGTERM/SIGINT instead of stopping."""

    def __init__(self, config: uvicorn.Config, model: ServedModel, drain_s: float):
        super().__init__(config)
        self.model = model
        self.drain_s = drain_s
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is not None:
            self.should_exit = self.force_exit = True
            return
        self.drain_deadline = time.monotonic() + self.drain_s
        self.model.drain()
        logger.info(
            "%s: not ready any more; finishing the admitted requests (at most %g s)",
            signal.Signals(sig).name,
            self.drain_s,
        )

    async def on_tick(self, counter: int) -> bool:
        draining = self.drain_deadline is not None
        drained = draining and (self.model.idle or time.monotonic() >= self.drain_deadline)
        if drained or self.model.load_error is not None:
            self.should_exit = True
        return await super().on_tick(counter)


def serve_model(
    model: ServedModel,
    sock: socket.socket,
    metrics: ServerMetrics,
    max_body_bytes: int,
    drain_s: float,
) -> None:
    """Serve `model` (a KServe Model) over V1 and V2 REST on `sock` until drained or failed."""
    server = ModelServer(
        http_port=sock.getsockname()[1], enable_grpc=False, enable_latency_logging=False
    )
    server.register_model(model)
    dataplane = server.dataplane

    # Registered ahead of KServe's route of the same path, which drops fields its schema lacks.
    @app.get("/v2/models/{model_name}")
    async def model_metadata(model_name: str) -> dict[str, Any]:
        return {**await dataplane.model_metadata(model_name), **model.metadata_extras()}

    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING, dataplane, server.model_repository_extension, server.http_port
    )
    rest.create_application()
    app.add_exception_handler(InvalidInput, _answer(400, logging.WARNING))
    app.add_exception_handler(ModelNotFound, _answer(404, logging.WARNING))
    app.add_exception_handler(ModelNotReady, _answer(503, logging.INFO, retry_after=True))
    app.add_exception_handler(ServerNotReady, _answer(503, logging.INFO, retry_after=True))
    app.add_exception_handler(Overloaded, _answer(503, logging.WARNING, retry_after=True))
    app.add_exception_handler(RequestValidationError, _malformed)
    app.add_middleware(RequestGuard, max_bytes=max_body_bytes, metrics=metrics)
    config = uvicorn.Config(
        app, log_config=None, timeout_graceful_shutdown=5, timeout_keep_alive=65
    )
    DrainingServer(config, model, drain_s).run(sockets=[sock])
