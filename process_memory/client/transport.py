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
    """How often and how patiently to try again: at most ``attempts`` tries, and no new try once ``budget`` seconds
    have gone since the first (None: no such bound); ``notify`` hears of each try that failed and will be made
    again, as one line."""

    attempts: int = 8
    backoff: float = 0.1
    max_delay: float = 10.0
    budget: float | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    notify: Callable[[str], None] | None = field(default=None, repr=False)

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
    started = policy.clock()
    for attempt in range(policy.attempts):
        if callable(make_content):
            options["content"] = make_content()
        elif make_content is not None:
            options["content"] = make_content
        try:
            response = http.request(method, path, **options)
        except httpx.TransportError as failure:
            what = f"{method} {shown_url(http, path)}: {reason_of(failure, options.get('timeout', http.timeout))}"
            if not _again(policy, attempt, started, None, what):
                raise ConnectionFailed(what) from None
            continue
        if accept(response):
            return response
        what = f"{method} {shown_url(http, path)}: {response.status_code} {response.reason_phrase}"
        if response.status_code in RETRIED_STATUSES and _again(policy, attempt, started, response, what):
            continue
        raise error_of(response)
    raise AssertionError("unreachable: the last try returns or raises")


def _again(policy: RetryPolicy, attempt: int, started: float, response: httpx.Response | None, what: str) -> bool:
    """Wait before the next try and return True, or return False when no try is left (by count or by time)."""
    delay = policy.delay(attempt, response)
    spent = policy.clock() - started
    if attempt == policy.attempts - 1 or (policy.budget is not None and spent + delay >= policy.budget):
        return False
    if policy.notify is not None:
        policy.notify(f"{what}; trying again in {delay:.1f} s")
    policy.sleep(delay)
    return True


def reason_of(failure: httpx.TransportError, timeout: Any) -> str:
    """Why a request got no answer, in words: the system's reason for a refused connection, the time waited for
    one that did not answer."""
    if isinstance(failure, httpx.TimeoutException):
        seconds = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
        return f"no answer within {seconds:g} s" if isinstance(seconds, int | float) else "no answer in time"
    return str(failure) or type(failure).__name__


def shown_url(http: httpx.Client, path: str) -> str:
    """The request's URL without any user or password in it."""
    return str(http.base_url.copy_with(userinfo=b"").join(path.lstrip("/")))
