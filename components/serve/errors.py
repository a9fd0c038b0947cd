"""The model server's refusals, each with the HTTP status it is answered with.

Every one reaches the client as `{"error": message}` with its status (components.serve.http) and
leaves the server healthy; a 503 also carries Retry-After.
"""

import logging


class RequestRefused(Exception):
    """A request the server does not score; `status` is the HTTP status of the answer."""

    status = 400
    # A client's mistake is worth one log line, never a traceback.
    log_level = logging.WARNING
    retry_after_s: int | None = None


class InvalidInput(RequestRefused):
    """The body is not a request this server understands (400)."""


class ModelNotFound(RequestRefused):
    """The URL names a model (or version) this server does not serve (404)."""

    status = 404


class ModelNotReady(RequestRefused):
    """The weights are still loading, or the server is draining (503, retry shortly)."""

    status = 503
    log_level = logging.INFO
    retry_after_s = 1
