"""A KServe model server for a Model artifact: V1 and Open Inference Protocol (V2) REST.

    python -m components.serve --model-dir MODEL_DIR --port 8080

V1:  POST /v1/models/<name>:predict  {"instances": ["text", {"text": "..."}],
                                      "parameters": {"return_probabilities": true}}
     -> {"predictions": [{"label": ..., "probability": ..., "probabilities": {label: p}}]}
V2:  POST /v2/models/<name>/infer    {"inputs": [{"name": "text", "datatype": "BYTES",
                                                  "shape": [n], "data": ["..."]}]}
     -> outputs `label` (BYTES), `probability` (FP32) and, when asked for, `probabilities`
        (FP32, [n, labels], in the label order of the model's config).

The manifest hashes are checked before anything is served; the weights load in the background
and the model reports ready only once they have. Concurrent requests are scored together: a
request waits up to `batch_window_ms` for others, and the joined texts are scored in
length-sorted batches. Bad requests get 4xx with `{"error": ...}` and leave the server healthy.
"""

import argparse
import asyncio
import concurrent.futures
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.errors import InvalidInput, ModelNotReady
from kserve.logging import logger
from kserve.model_server import app

from components.common.artifacts import verify_manifest
from components.common.config import add_arguments, from_arguments
from components.common.errors import KfpNlpError
from components.common.inference import Classifier, load_classifier, predict_proba
from components.serve.config import ServeConfig

PROBABILITIES_PARAMETER = "return_probabilities"


class MicroBatcher:
    """Joins the texts of concurrent requests into one scoring call.

    The first request of a batch waits up to `window_s` for more; scoring runs on one worker
    thread, so the event loop keeps answering health checks while a batch is scored.
    """

    def __init__(self, score: Callable[[list[str]], np.ndarray], window_s: float, max_texts: int):
        self._score = score
        self._window_s = window_s
        self._max_texts = max_texts
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The scores of `texts`, computed together with other requests' texts."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        await self._queue.put((texts, future))
        return await future

    async def _collect(self) -> list[tuple[list[str], asyncio.Future]]:
        loop = asyncio.get_running_loop()
        items = [await self._queue.get()]
        count = len(items[0][0])
        deadline = loop.time() + self._window_s
        while count < self._max_texts:
            try:
                item = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
            except TimeoutError:
                break
            items.append(item)
            count += len(item[0])
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            texts = [text for item_texts, _ in items for text in item_texts]
            try:
                scores = await loop.run_in_executor(self._executor, self._score, texts)
            except Exception as exc:
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for item_texts, future in items:
                if not future.done():
                    future.set_result(scores[start : start + len(item_texts)])
                start += len(item_texts)


@dataclass
class Request:
    """What a V1 or V2 request asks for, once checked."""

    texts: list[str]
    probabilities: bool


def _wants_probabilities(parameters: Any) -> bool:
    if parameters is None:
        return False
    if not isinstance(parameters, dict):
        raise InvalidInput('"parameters" must be an object, e.g. {"return_probabilities": true}')
    value = parameters.get(PROBABILITIES_PARAMETER, False)
    if not isinstance(value, bool):
        raise InvalidInput(f'"{PROBABILITIES_PARAMETER}" must be true or false, got {value!r}')
    return value


def parse_v1(payload: Any) -> Request:
    """Check a V1 body: `instances` is a non-empty list of strings or `{"text": ...}` objects."""
    if isinstance(payload, bytes):
        # KServe hands over the raw body when the client did not say it sends JSON.
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidInput(f"the body is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput('the body must be a JSON object with "instances": a list of texts')
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list of texts')
    texts = []
    for i, instance in enumerate(instances):
        text = instance.get("text") if isinstance(instance, dict) else instance
        if not isinstance(text, str):
            raise InvalidInput(f'instance {i} must be a string or an object with a "text" string')
        texts.append(text)
    return Request(texts, _wants_probabilities(payload.get("parameters")))


def parse_v2(payload: InferRequest) -> Request:
    """Check a V2 request: one BYTES input holding a list of texts."""
    if len(payload.inputs) != 1:
        raise InvalidInput(
            f"expected exactly one input (BYTES, the texts), got {len(payload.inputs)}"
        )
    (tensor,) = payload.inputs
    if tensor.datatype != "BYTES":
        raise InvalidInput(
            f'input "{tensor.name}" has datatype {tensor.datatype}; send the texts as BYTES'
        )
    data = tensor.data
    if not isinstance(data, list) or not data or not all(isinstance(t, str) for t in data):
        raise InvalidInput(f'input "{tensor.name}" must hold a non-empty list of strings')
    if int(np.prod(tensor.shape)) != len(data):
        raise InvalidInput(
            f'input "{tensor.name}" has shape {tensor.shape} but {len(data)} texts; '
            f"use shape [{len(data)}]"
        )
    return Request(data, _wants_probabilities(payload.parameters))


def model_name_for(model_dir: Path) -> str:
    """A URL-safe model name from a folder name (lower case, dashes)."""
    name = re.sub(r"[^a-z0-9]+", "-", model_dir.resolve().name.lower()).strip("-")
    return name or "model"


class TextClassifierModel(Model):
    """A text classifier behind KServe's V1 and V2 endpoints."""

    def __init__(self, name: str, config: ServeConfig):
        super().__init__(name)
        self.config = config
        self.classifier: Classifier | None = None
        self._load_lock = threading.Lock()
        self._batcher = MicroBatcher(
            self._score, config.batch_window_ms / 1000, config.max_batch_size
        )

    def verify(self) -> dict[str, Any]:
        """Check the model folder against its manifest; KfpNlpError when it does not match."""
        model_dir = Path(self.config.model_dir)
        if not model_dir.is_dir():
            raise KfpNlpError(f"{model_dir} is not a folder; pass a Model artifact folder")
        manifest = verify_manifest(model_dir)
        if self.config.backend == "onnx" and self.config.onnx_file not in manifest["files"]:
            raise KfpNlpError(
                f"{model_dir} has no {self.config.onnx_file}; serve the output of export_onnx "
                "or use --backend pytorch"
            )
        return manifest

    def load(self) -> bool:
        """Load the weights (once; a call while another thread loads returns False)."""
        if not self._load_lock.acquire(blocking=False):
            return self.ready
        try:
            if not self.ready:
                onnx_file = self.config.onnx_file if self.config.backend == "onnx" else ""
                self.classifier = load_classifier(
                    Path(self.config.model_dir), self.config.max_length, onnx_file
                )
                self._score(["warm up"])
                self.ready = True
        finally:
            self._load_lock.release()
        return self.ready

    def _score(self, texts: list[str]) -> np.ndarray:
        return predict_proba(
            self.classifier, texts, self.config.max_batch_size, self.config.precision
        )

    def _check_limits(self, request: Request) -> None:
        if len(request.texts) > self.config.max_texts:
            raise InvalidInput(
                f"{len(request.texts)} texts in one request; send at most "
                f"{self.config.max_texts} per request"
            )
        for i, text in enumerate(request.texts):
            if len(text) > self.config.max_chars:
                raise InvalidInput(
                    f"text {i} has {len(text)} characters; the limit is {self.config.max_chars}"
                )

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        """Score the texts of a V1 body or a V2 request and answer in the same protocol."""
        if not self.ready:
            raise ModelNotReady(self.name, "the model is still loading")
        is_v2 = isinstance(payload, InferRequest)
        request = parse_v2(payload) if is_v2 else parse_v1(payload)
        self._check_limits(request)
        scores = await self._batcher.submit(request.texts)
        best = scores.argmax(axis=1)
        labels = [self.classifier.labels[i] for i in best]
        chosen = scores[np.arange(len(best)), best]
        if is_v2:
            return self._v2_response(payload, request, scores, labels, chosen)
        predictions = []
        for row, label, probability in zip(scores, labels, chosen, strict=True):
            prediction = {"label": label, "probability": float(probability)}
            if request.probabilities:
                prediction["probabilities"] = dict(
                    zip(self.classifier.labels, row.tolist(), strict=True)
                )
            predictions.append(prediction)
        return {"predictions": predictions}

    def _v2_response(
        self,
        payload: InferRequest,
        request: Request,
        scores: np.ndarray,
        labels: list[str],
        chosen: np.ndarray,
    ) -> InferResponse:
        n = len(labels)
        outputs = [
            InferOutput("label", [n], "BYTES", labels),
            InferOutput("probability", [n], "FP32", chosen.tolist()),
        ]
        if request.probabilities:
            outputs.append(
                InferOutput("probabilities", list(scores.shape), "FP32", scores.ravel().tolist())
            )
        return InferResponse(payload.id or str(uuid.uuid4()), self.name, outputs)

    def get_input_types(self) -> list[dict]:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probability", "datatype": "FP32", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1]},
        ]


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before any parsing."""

    def __init__(self, asgi_app: Any, max_bytes: int):
        self.app = asgi_app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        error = f"the request body is over {self.max_bytes} bytes; send fewer or shorter texts"
        await JSONResponse({"error": error}, status_code=413)(scope, receive, send)


async def _bad_request(_request: Any, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's body validation (malformed JSON, wrong shape) as 400 with a JSON error."""
    first = jsonable_encoder(exc.errors()[:1])
    detail = first[0].get("msg", "invalid request") if first else "invalid request"
    return JSONResponse({"error": f"malformed request body: {detail}"}, status_code=400)


class HostModelServer(ModelServer):
    """KServe's ModelServer listening on a chosen address (it binds 0.0.0.0 by itself)."""

    def __init__(self, host: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.host = host

    def setup_event_loop(self) -> None:
        # start() builds the REST server and then calls this before serving: the last point
        # where the listening address can still be set.
        self._rest_server.config.host = self.host
        super().setup_event_loop()


def serve(config: ServeConfig) -> None:
    """Check the model, start loading it in the background, and serve until stopped."""
    name = config.model_name or model_name_for(Path(config.model_dir))
    model = TextClassifierModel(name, config)
    model.verify()
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _bad_request)
    server = HostModelServer(
        host=config.host,
        http_port=config.port,
        enable_grpc=False,
        enable_latency_logging=False,
    )
    # Registered before it is loaded: the server answers health checks at once and reports
    # the model not ready until its weights are in memory.
    server.register_model(model)
    threading.Thread(target=_load, args=(model,), daemon=True).start()
    print(f"serving model {name!r} ({config.backend}) at http://{config.host}:{config.port}")
    server.start([])


def _load(model: TextClassifierModel) -> None:
    try:
        model.load()
    except KfpNlpError as exc:
        logger.error("error: %s", exc)
        return
    logger.info("model %s is ready", model.name)


def main(argv: list[str] | None = None) -> None:
    """`python -m components.serve`: serve a Model artifact folder over HTTP."""
    parser = argparse.ArgumentParser(
        prog="python -m components.serve", description=__doc__.splitlines()[0]
    )
    add_arguments(parser, ServeConfig)
    serve(from_arguments(ServeConfig, parser.parse_args(argv)))
