"""The model server for a Model artifact: KServe V1 and Open Inference Protocol (V2) REST.

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
        `model_version` is the served version: the registry's, or the content hash.
        Requested `outputs` narrow the answer; binary tensor data works both ways
        (components.serve.protocol).

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
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from components.common.artifacts import verify_manifest
from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import KfpNlpError, OneLineError
from components.common.inference import (
    Classifier,
    Tokens,
    label_sets,
    load_classifier,
    score_tokens,
    tokenize,
)
from components.common.payload import chosen_probabilities, model_identity
from components.common.splits import label_matrix
from components.serve.config import ServeConfig
from components.serve.errors import InvalidInput, ModelNotReady
from components.serve.http import listen, serve_model
from components.serve.metrics import ServerMetrics
from components.serve.payload_log import PayloadLogger
from components.serve.protocol import TEXT_INPUT, Request, Tensor, parse_v1, parse_v2, v2_body
from components.serve.scheduler import BatchScheduler

logger = logging.getLogger(__name__)
PLATFORMS = {"pytorch": "pytorch", "onnx": "onnxruntime_onnx"}


@dataclass
class Scored:
    """A request's scores (rows in the order of its texts) and each text's predicted labels."""

    scores: np.ndarray
    chosen: list[list[str]]


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


class TextClassifierModel:
    """A text classifier behind the V1 and V2 endpoints (components.serve.http).

    Constructing it is cheap and leaves it not ready; `load()` reads the weights.
    """

    def __init__(
        self,
        name: str,
        config: ServeConfig,
        metrics: ServerMetrics | None = None,
        version: str = "",
    ):
        self.name = name
        self.version = version
        self.config = config
        self.ready = False
        self.classifier: Classifier | None = None
        self.load_error: OneLineError | None = None
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

    def metadata(self) -> dict[str, Any]:
        """The V2 model metadata, with the labels in the column order of the [n, labels]
        outputs; ModelNotReady until the weights are loaded (the outputs depend on them)."""
        outputs = self.get_output_types()
        for output in outputs:
            if output["name"] in ("probabilities", "label_indicators"):
                output["parameters"] = {"labels": self.classifier.labels}
        return {
            "name": self.name,
            "versions": [self.version] if self.version else [],
            "platform": PLATFORMS[self.config.backend],
            "inputs": [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": outputs,
        }

    def get_output_types(self) -> list[dict[str, Any]]:
        """The V2 outputs, which depend on whether the model is multi-label: known (and
        answered) once its weights are loaded."""
        if self.classifier is None:
            raise ModelNotReady(f"model {self.name} is loading; its outputs are known then")
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

    def _tokenize(self, texts: list[str]) -> Tokens:
        return tokenize(self.classifier, texts)

    def _score(self, tokens: Tokens) -> np.ndarray:
        return score_tokens(
            self.classifier, tokens, self.config.max_batch_size, self.config.precision
        )

    async def scores(self, texts: list[str]) -> np.ndarray:
        """The scores of `texts`, batched with other requests' (components.serve.scheduler)."""
        return await self.scheduler.submit(texts, self.config.request_timeout_s)

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

    async def _classify(self, request: Request, protocol: str) -> Scored:
        if not self.ready:
            raise ModelNotReady(
                f"model {self.name} is not ready: it is loading or the server is stopping"
            )
        self._check_limits(request)
        scores = await self.scores(request.texts)
        if self.payload_log:
            self.payload_log.record(protocol, request.texts, scores, self.classifier)
        return Scored(scores, label_sets(self.classifier, scores))

    async def predict_v1(self, body: bytes) -> dict[str, Any]:
        """The V1 answer to a V1 body."""
        request = parse_v1(body)
        scored = await self._classify(request, "v1")
        return {"predictions": self._v1_predictions(request, scored)}

    async def predict_v2(
        self, body: bytes, header_length: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The V2 answer (body and headers) to a V2 body, JSON or with binary tensor data."""
        request = parse_v2(body, header_length)
        if request.outputs is not None:
            # Checked before scoring: an unknown name is the client's mistake, not worth a batch.
            known = [o["name"] for o in self.get_output_types()]
            unknown = [name for name in request.outputs if name not in known]
            if unknown:
                raise InvalidInput(
                    f'unknown output "{unknown[0]}"; this model\'s outputs are {", ".join(known)}'
                )
        scored = await self._classify(request, "v2")
        outputs = self._v2_outputs(request, scored)
        if request.outputs is None:
            binary = {o.name for o in outputs} if request.binary_outputs else set()
        else:
            outputs = [o for o in outputs if o.name in request.outputs]
            binary = {name for name, wanted in request.outputs.items() if wanted}
        return v2_body(self.name, self.version, request.id or str(uuid.uuid4()), outputs, binary)

    def _v1_predictions(self, request: Request, scored: Scored) -> list[dict[str, Any]]:
        labels = self.classifier.labels
        predictions = []
        picked_rows = chosen_probabilities(self.classifier, scored.scores, scored.chosen)
        for row, names, picked in zip(scored.scores, scored.chosen, picked_rows, strict=True):
            if self.classifier.multi_label:
                prediction = {"labels": names, "label_probabilities": picked}
            else:
                prediction = {"label": names[0], "probability": picked[0]}
            if request.probabilities:
                prediction["probabilities"] = dict(zip(labels, row.tolist(), strict=True))
            predictions.append(prediction)
        return predictions

    def _v2_outputs(self, request: Request, scored: Scored) -> list[Tensor]:
        scores, chosen = scored.scores, scored.chosen
        n = len(chosen)
        picked = chosen_probabilities(self.classifier, scores, chosen)
        if self.classifier.multi_label:
            # A V2 tensor cannot be ragged: each row's label set travels as one JSON string,
            # and as a fixed [n, labels] indicator matrix for clients that want a tensor.
            indicators = label_matrix(chosen, self.classifier.labels)
            outputs = [
                Tensor("labels", "BYTES", [n], [json.dumps(names) for names in chosen]),
                Tensor("label_probabilities", "BYTES", [n], [json.dumps(p) for p in picked]),
                Tensor("label_indicators", "BOOL", list(scores.shape), indicators.ravel().tolist()),
            ]
        else:
            outputs = [
                Tensor("label", "BYTES", [n], [names[0] for names in chosen]),
                Tensor("probability", "FP32", [n], [p[0] for p in picked]),
            ]
        wanted = request.outputs is not None and "probabilities" in request.outputs
        if request.probabilities or wanted:
            outputs.append(
                Tensor("probabilities", "FP32", list(scores.shape), scores.ravel().tolist())
            )
        return outputs


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
    model = TextClassifierModel(name, config, metrics, version)
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
    except OneLineError as exc:  # bad model (exit 2) or an S3 that kept failing (exit 3)
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
