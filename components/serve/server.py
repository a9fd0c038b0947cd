"""A KServe model server for a Model artifact: V1 and Open Inference Protocol (V2) REST.

    kfp-nlp serve --model-dir MODEL_DIR --port 8080

V1:  POST /v1/models/<name>:predict  {"instances": ["text", {"text": "..."}],
                                      "parameters": {"return_probabilities": true}}
     -> {"predictions": [{"label": ..., "probability": ..., "probabilities": {label: p}}]}
        multi-label: {"labels": [...], "label_probabilities": [...], "probabilities": {...}}
V2:  POST /v2/models/<name>/infer    {"inputs": [{"name": "text", "datatype": "BYTES",
                                                  "shape": [n], "data": ["..."]}]}
     -> outputs `label` (BYTES), `probability` (FP32) and, when asked for, `probabilities`
        (FP32, [n, labels]); GET /v2/models/<name> lists the labels in that order.
        multi-label: `labels` and `label_probabilities` (BYTES, [n], each a JSON list),
        `label_indicators` (BOOL, [n, labels]) and, when asked for, `probabilities`.

A multi-label model predicts every label whose probability is at or above its decision
threshold (config.json's `decision_thresholds`), possibly none; every stage turns probabilities
into labels with `components.common.inference.label_sets`.

The name defaults to the registered model's name, the manifest hashes are checked before
anything is served, the weights load in the background (the model is ready only once they
have; a model that cannot load stops the server with one line), and requests are batched
continuously by tokens (components.serve.scheduler). Bad requests get 4xx with `{"error": ...}`,
an overloaded server 503 with Retry-After; both leave it healthy. /metrics has Prometheus
metrics; SIGTERM drains (components.serve.http). With --payload-log-uri every scored text is
recorded in the background (components.serve.payload_log) and the log is flushed after a drain.
"""

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput, ModelNotReady
from kserve.logging import logger

from components.common.artifacts import content_sha256, verify_manifest
from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import KfpNlpError
from components.common.inference import (
    Classifier,
    Tokens,
    label_sets,
    load_classifier,
    score_tokens,
    tokenize,
)
from components.common.splits import label_matrix
from components.serve.config import ServeConfig
from components.serve.http import listen, serve_model
from components.serve.metrics import ServerMetrics
from components.serve.payload_log import PayloadLogger, chosen_probabilities
from components.serve.scheduler import BatchScheduler

PROBABILITIES_PARAMETER = "return_probabilities"
TEXT_INPUT = "text"
# Written next to a version's files by the registry (components.registry).
REGISTRATION = "registration.json"


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
    if tensor.name != TEXT_INPUT:
        raise InvalidInput(f'unknown input "{tensor.name}"; name the texts\' input "{TEXT_INPUT}"')
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


def model_identity(model_dir: Path, manifest: dict[str, Any]) -> tuple[str, str]:
    """The served name and version: the registry's, else the folder name and a content hash."""
    registration = model_dir / REGISTRATION
    if registration.is_file():
        record = json.loads(registration.read_text())
        return record["model"], record["version"]
    # The same content hash the registry records, so both can be matched.
    return model_name_for(model_dir), f"sha256-{content_sha256(manifest)[:12]}"


def verify_model_dir(config: ServeConfig) -> dict[str, Any]:
    """The manifest of the model folder to serve, once every file matches it."""
    model_dir = Path(config.model_dir)
    if not model_dir.is_dir():
        raise KfpNlpError(f"{model_dir} is not a folder; pass a Model artifact folder")
    manifest = verify_manifest(model_dir)
    if config.backend == "onnx" and config.onnx_file not in manifest["files"]:
        raise KfpNlpError(
            f"{model_dir} has no {config.onnx_file}; serve the output of export_onnx "
            "or use --backend pytorch"
        )
    return manifest


class TextClassifierModel(Model):
    """A text classifier behind KServe's V1 and V2 endpoints."""

    def __init__(self, name: str, config: ServeConfig, metrics: ServerMetrics | None = None):
        super().__init__(name)
        self.config = config
        self.version = ""
        self.classifier: Classifier | None = None
        self.load_error: KfpNlpError | None = None
        self.metrics = metrics
        self.payload_log: PayloadLogger | None = None
        self._load_lock = threading.Lock()
        self.scheduler = BatchScheduler(
            self._tokenize,
            self._score,
            max_batch_tokens=config.max_batch_tokens,
            max_batch_texts=config.max_batch_texts,
            max_queue_texts=config.max_queue_texts,
            on_batch=metrics.batch if metrics else lambda stats: None,
            on_reject=metrics.rejected if metrics else lambda reason: None,
        )
        if metrics:
            metrics.watch_queue(lambda: self.scheduler.queued_texts)

    def verify(self) -> dict[str, Any]:
        """Check the model folder against its manifest; KfpNlpError when it does not match."""
        return verify_model_dir(self.config)

    def load(self) -> bool:
        """Load the weights (once; a call while another thread loads returns False)."""
        if not self._load_lock.acquire(blocking=False):
            return self.ready
        try:
            if not self.ready:
                began = time.perf_counter()
                onnx_file = self.config.onnx_file if self.config.backend == "onnx" else ""
                self.classifier = load_classifier(
                    Path(self.config.model_dir), self.config.max_length, onnx_file
                )
                self._score(self._tokenize(["warm up"]))
                if self.metrics:
                    self.metrics.loaded(time.perf_counter() - began)
                self.ready = True
        finally:
            self._load_lock.release()
        return self.ready

    @property
    def idle(self) -> bool:
        """True when no request is admitted and unanswered."""
        return self.scheduler.idle

    def drain(self) -> None:
        """Report not ready and refuse new requests; admitted ones are still answered."""
        self.ready = False
        self.scheduler.drain()

    def metadata_extras(self) -> dict[str, Any]:
        """V2 metadata beyond KServe's schema: the version, and the labels in the column order
        of the [n, labels] outputs."""
        outputs = self.get_output_types()
        for output in outputs:
            if output["name"] in ("probabilities", "label_indicators"):
                output["parameters"] = {"labels": self.classifier.labels}
        return {"versions": [self.version] if self.version else [], "outputs": outputs}

    def _tokenize(self, texts: list[str]) -> Tokens:
        return tokenize(self.classifier, texts)

    def _score(self, tokens: Tokens) -> np.ndarray:
        return score_tokens(
            self.classifier, tokens, self.config.max_batch_size, self.config.precision
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
            raise ModelNotReady(self.name, "the model is loading or the server is stopping")
        is_v2 = isinstance(payload, InferRequest)
        request = parse_v2(payload) if is_v2 else parse_v1(payload)
        self._check_limits(request)
        scores = await self.scheduler.submit(request.texts, self.config.request_timeout_s)
        if self.payload_log:
            self.payload_log.record("v2" if is_v2 else "v1", request.texts, scores, self.classifier)
        chosen = label_sets(self.classifier, scores)
        if is_v2:
            return self._v2_response(payload, request, scores, chosen)
        return {"predictions": self._v1_predictions(request, scores, chosen)}

    def _v1_predictions(
        self, request: Request, scores: np.ndarray, chosen: list[list[str]]
    ) -> list[dict[str, Any]]:
        labels = self.classifier.labels
        predictions = []
        picked_rows = chosen_probabilities(self.classifier, scores, chosen)
        for row, names, picked in zip(scores, chosen, picked_rows, strict=True):
            if self.classifier.multi_label:
                prediction = {"labels": names, "label_probabilities": picked}
            else:
                prediction = {"label": names[0], "probability": picked[0]}
            if request.probabilities:
                prediction["probabilities"] = dict(zip(labels, row.tolist(), strict=True))
            predictions.append(prediction)
        return predictions

    def _v2_response(
        self,
        payload: InferRequest,
        request: Request,
        scores: np.ndarray,
        chosen: list[list[str]],
    ) -> InferResponse:
        n = len(chosen)
        picked = chosen_probabilities(self.classifier, scores, chosen)
        if self.classifier.multi_label:
            # A V2 tensor cannot be ragged: each row's label set travels as one JSON string,
            # and as a fixed [n, labels] indicator matrix for clients that want a tensor.
            indicators = label_matrix(chosen, self.classifier.labels)
            outputs = [
                InferOutput("labels", [n], "BYTES", [json.dumps(names) for names in chosen]),
                InferOutput("label_probabilities", [n], "BYTES", [json.dumps(p) for p in picked]),
                InferOutput(
                    "label_indicators", list(scores.shape), "BOOL", indicators.ravel().tolist()
                ),
            ]
        else:
            outputs = [
                InferOutput("label", [n], "BYTES", [names[0] for names in chosen]),
                InferOutput("probability", [n], "FP32", [p[0] for p in picked]),
            ]
        if request.probabilities:
            outputs.append(
                InferOutput("probabilities", list(scores.shape), "FP32", scores.ravel().tolist())
            )
        return InferResponse(payload.id or str(uuid.uuid4()), self.name, outputs)

    def get_input_types(self) -> list[dict]:
        return [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        """The V2 outputs, which depend on whether the model is multi-label: known (and
        answered) once its weights are loaded."""
        if self.classifier is None:
            raise ModelNotReady(self.name, "the model is loading; its outputs are known then")
        if self.classifier.multi_label:
            return [
                {"name": "labels", "datatype": "BYTES", "shape": [-1]},
                {"name": "label_probabilities", "datatype": "BYTES", "shape": [-1]},
                {"name": "label_indicators", "datatype": "BOOL", "shape": [-1, -1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1]},
            ]
        return [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probability", "datatype": "FP32", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1]},
        ]


def serve(config: ServeConfig) -> None:
    """Check the model, bind the port, load the weights in the background, serve until stopped.

    Returns after a drain (SIGTERM); raises KfpNlpError when the port is taken or the model
    cannot be loaded.
    """
    manifest = verify_model_dir(config)
    registered_name, version = model_identity(Path(config.model_dir), manifest)
    name = config.model_name or registered_name
    sock = listen(config.host, config.port)
    metrics = ServerMetrics(name, version, config.backend)
    model = TextClassifierModel(name, config, metrics)
    model.version = version
    model.payload_log = payload_logger(config, name, version, metrics)
    threading.Thread(target=_load, args=(model,), daemon=True).start()
    host, port = sock.getsockname()[:2]
    print(
        f"serving model {name!r} version {version} ({config.backend}) at http://{host}:{port}; "
        "ready once its weights are loaded",
        flush=True,
    )
    serve_model(model, sock, metrics, config.max_body_bytes, config.drain_timeout_s)
    if model.payload_log:
        model.payload_log.close()
    if model.load_error is not None:
        raise model.load_error


def payload_logger(
    config: ServeConfig, name: str, version: str, metrics: ServerMetrics
) -> PayloadLogger | None:
    """The payload logger the settings ask for (components.serve.payload_log), if any."""
    if not config.payload_log_uri:
        return None
    return PayloadLogger(
        config.payload_log_uri,
        name,
        version,
        text_mode=config.payload_log_text,
        probabilities=config.payload_log_probabilities,
        sample_rate=config.payload_log_sample_rate,
        max_queued_texts=config.payload_log_max_queued,
        flush_s=config.payload_log_flush_s,
        on_drop=metrics.payload_dropped,
        on_write=metrics.payload_logged,
    )


def _load(model: TextClassifierModel) -> None:
    try:
        model.load()
    except KfpNlpError as exc:
        model.load_error = exc
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        model.load_error = KfpNlpError(
            f"cannot load the model in {model.config.model_dir}: {reason}"
        )
    if model.load_error is None:
        logger.info("model %s is ready", model.name)


def main(argv: list[str] | None = None) -> None:
    """`kfp-nlp serve`: serve a Model artifact folder over HTTP."""
    parser = argument_parser(prog="kfp-nlp serve", description=__doc__.splitlines()[0])
    add_arguments(parser, ServeConfig)
    serve(from_arguments(ServeConfig, parser.parse_args(argv)))
