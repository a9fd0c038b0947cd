"""Prometheus metrics of the model server, served at /metrics (components.serve.http).

Every series carries the served model's `model` name and `version` as labels, so dashboards and
alerts keep revisions apart during a canary rollout.
"""

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from components.serve.scheduler import BatchStats

_MODEL = ("model", "version")

REQUESTS = Counter(
    "kfp_nlp_requests",
    "Inference requests answered, by protocol (v1, v2) and HTTP status (499: client went away)",
    [*_MODEL, "protocol", "status"],
)
REJECTED = Counter(
    "kfp_nlp_rejected_requests",
    "Requests not scored: queue_full, deadline, draining (answered 503) or abandoned by the client",
    [*_MODEL, "reason"],
)
QUEUE_SECONDS = Histogram(
    "kfp_nlp_queue_seconds",
    "Time from a request's admission to the start of the batch that scores it",
    _MODEL,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_TEXTS = Histogram(
    "kfp_nlp_batch_texts",
    "Texts in one scheduled batch",
    _MODEL,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BATCH_TOKENS = Histogram(
    "kfp_nlp_batch_tokens",
    "Tokens (before padding) in one scheduled batch",
    _MODEL,
    buckets=(16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768),
)
QUEUED_TEXTS = Gauge("kfp_nlp_queued_texts", "Texts admitted and waiting for the model", _MODEL)
LOAD_SECONDS = Gauge(
    "kfp_nlp_model_load_seconds", "Seconds the model took to load and warm up", _MODEL
)
PAYLOG_WRITTEN = Counter(
    "kfp_nlp_payload_log_records", "Scored texts written to the payload log", _MODEL
)
PAYLOG_DROPPED = Counter(
    "kfp_nlp_payload_log_dropped_records",
    "Scored texts the payload log dropped: queue_full, write_error or encode_error",
    [*_MODEL, "reason"],
)
MODEL_INFO = Gauge(
    "kfp_nlp_model_info", "The model being served (value 1) and its backend", [*_MODEL, "backend"]
)


class ServerMetrics:
    """The metrics above, bound to one served model's name and version."""

    def __init__(self, model: str, version: str, backend: str):
        self.labels = {"model": model, "version": version}
        MODEL_INFO.labels(**self.labels, backend=backend).set(1)

    def request(self, protocol: str, status: int) -> None:
        REQUESTS.labels(**self.labels, protocol=protocol, status=str(status)).inc()

    def rejected(self, reason: str) -> None:
        REJECTED.labels(**self.labels, reason=reason).inc()

    def batch(self, stats: BatchStats) -> None:
        BATCH_TEXTS.labels(**self.labels).observe(stats.texts)
        BATCH_TOKENS.labels(**self.labels).observe(stats.tokens)
        queue = QUEUE_SECONDS.labels(**self.labels)
        for seconds in stats.queue_seconds:
            queue.observe(seconds)

    def watch_queue(self, queued_texts: Callable[[], int]) -> None:
        QUEUED_TEXTS.labels(**self.labels).set_function(queued_texts)

    def payload_logged(self, records: int) -> None:
        PAYLOG_WRITTEN.labels(**self.labels).inc(records)

    def payload_dropped(self, reason: str, records: int) -> None:
        PAYLOG_DROPPED.labels(**self.labels, reason=reason).inc(records)

    def loaded(self, seconds: float) -> None:
        LOAD_SECONDS.labels(**self.labels).set(seconds)
