"""Sending a request to the service, again when it is safe to: connection errors, 429 and 503 (and 502/504 from a
proxy) are retried with backoff, honouring ``Retry-After``. Every request the client sends is safe to repeat:
appends carry ids, imports resume, state writes are conditional."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from process_memory.client.errors import ConnectionFailed, error_of

#: Answers that say "not now": the same request may succeed later.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    """How often and how patiently to try again."""

    attempts: int = 8
    backoff: float = 0.1
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before try ``attempt + 1``: the answer's Retry-After, else exponential with jitter."""
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.isdigit():
            return min(float(retry_after), self.max_delay)
        return min(self.backoff * 2**attempt, self.max_delay) * random.uniform(0.5, 1.0)


def send(
    http: httpx.Client,
    method: str,
    path: str,
    policy: RetryPolicy,
    accept: Callable[[httpx.Response], bool] = lambda response: response.is_success,
    **options: Any,
) -> httpx.Response:
    """Send a request, retrying what can be retried; return the answer ``accept`` takes, else raise its typed error.

    ``content`` may be a callable that makes the body afresh for each try (a file streamed again).
    """
    make_content = options.pop("content", None)
    for attempt in range(policy.attempts):
        if callable(make_content):
            options["content"] = make_content()
        elif make_content is not None:
            options["content"] = make_content
        try:
            response = http.request(method, path, **options)
        except httpx.TransportError as failure:
            if attempt == policy.attempts - 1:
                raise ConnectionFailed(f"{method} {path}: {type(failure).__name__}") from None
            policy.sleep(policy.delay(attempt, None))
            continue
        if accept(response):
            return response
        if response.status_code in RETRIED_STATUSES and attempt < policy.attempts - 1:
            policy.sleep(policy.delay(attempt, response))
            continue
        raise error_of(response)
    raise AssertionError("unreachable: the last try returns or raises")
