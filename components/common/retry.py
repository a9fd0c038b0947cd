"""Bounded exponential backoff, for the failures a client library does not retry by itself.

boto3 retries S3 requests itself (standard mode: 5xx, throttling, timeouts, connection
errors; see `components.common.s3`), so this helper covers only what it leaves out: a body cut
short after the headers arrived, and the Kubernetes API's 409 conflicts, 429s and 5xx, which the
Kubernetes client never retries. The caller decides what is worth retrying and turns what is
still failing after the last attempt into a `TransientError`.
"""

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


def with_retries(
    call: Callable[[], T],
    retryable: Callable[[Exception], bool],
    attempts: int,
    first_delay: float = FIRST_DELAY_S,
    max_delay: float = MAX_DELAY_S,
) -> T:
    """`call()`, called again while it raises an exception that `retryable` accepts.

    At most `attempts` calls; before call n+1 it sleeps a random time up to
    `first_delay * 2**(n-1)` seconds, never more than `max_delay` ("full jitter", as boto3
    does, so many clients failing together do not retry in step). An exception that is not
    retryable, or the one from the last attempt, propagates unchanged.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt >= attempts or not retryable(exc):
                raise
            time.sleep(random.uniform(0, min(max_delay, first_delay * 2 ** (attempt - 1))))
    raise ValueError(f"attempts must be at least 1, not {attempts}")
