"""Classified retries: throttling and Entra's replication delay, with bounded, jittered backoff.

msgraph-core's retry middleware already retries 429/503/504 a few times (honouring Retry-After);
this layer adds what it does not know: the replication-delay errors of a just-created object
(Entra ID: replication delay - "Objects may take time to replicate") and throttling that outlasts
the middleware. Everything else fails fast. The budget is bounded in total time and configurable:

    ENTRA_BOOTSTRAP_RETRY_BASE_DELAY      first delay in seconds (default 1.0)
    ENTRA_BOOTSTRAP_RETRY_MAX_DELAY       cap of one delay (default 15)
    ENTRA_BOOTSTRAP_RETRY_MAX_TIME        total time spent waiting, per call (default 120)
    ENTRA_BOOTSTRAP_RETRY_LOOKUP_ATTEMPTS reads of a key that answer "not found" before it is
                                          believed (default 4; a new object may not have
                                          replicated yet, a typo should not wait minutes;
                                          ``wait_for_consistency`` reads that often too)

The classifiers match Graph's error code first; message text is matched only for the replication
errors Graph reports under a generic code (Request_BadRequest, Authorization_RequestDenied).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol, TypeVar

log = logging.getLogger("entra_bootstrap.retry")
T = TypeVar("T")

THROTTLED = "throttled"
REPLICATION = "replication delay"


class WireError(Protocol):
    status: int
    code: str
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float = 1.0
    max_delay: float = 15.0
    max_time: float = 120.0
    lookup_attempts: int = 4

    @classmethod
    def from_env(cls, env=None) -> "RetryPolicy":
        env = os.environ if env is None else env

        def num(name: str, default: float, kind=float):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                from ..errors import usage_error
                raise usage_error(f"{name}={raw!r} is not a number", code="BadRetrySetting",
                                  fix=f"set {name} to a number, e.g. {default}") from None
            return max(value, 0)

        return cls(base_delay=num("ENTRA_BOOTSTRAP_RETRY_BASE_DELAY", cls.base_delay),
                   max_delay=num("ENTRA_BOOTSTRAP_RETRY_MAX_DELAY", cls.max_delay),
                   max_time=num("ENTRA_BOOTSTRAP_RETRY_MAX_TIME", cls.max_time),
                   lookup_attempts=max(1, num("ENTRA_BOOTSTRAP_RETRY_LOOKUP_ATTEMPTS",
                                              cls.lookup_attempts, int)))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Jittered exponential delay before retry ``attempt`` (1-based); Retry-After is a floor."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        d = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_delay))
        return d


# --- classification ------------------------------------------------------------------------------
_REPLICATION_MESSAGES = (
    # NOTE: Entra ID replication delay ("Objects may take time to replicate"): Graph reports these
    # under generic codes.
    "does not reference a valid application object",
    "backing application of the service principal being created must in the local tenant",
    "not a valid reference update",
    "does not exist or one of its queried reference-property objects are not present",
)
_REPLICATION_CODES = {"Error_MsaAppDoesNotExist", "PrincipalNotFound"}


def classify(err: WireError, *, not_found_is_replication: bool = False) -> str | None:
    """THROTTLED, REPLICATION or None (do not retry)."""
    status, code, message = err.status, err.code or "", (err.message or "").lower()
    if status in (429, 503, 504):
        return THROTTLED
    if code in _REPLICATION_CODES:
        return REPLICATION
    if status in (400, 403) and any(m in message for m in _REPLICATION_MESSAGES):
        return REPLICATION
    if status == 404 and not_found_is_replication:
        return REPLICATION
    return None


class _Budget:
    """One call's retries: how many were made, and the delay before the next one (None: give up)."""

    def __init__(self, what: str, policy: RetryPolicy, retry_on: Callable[[Exception], str | None],
                 attempts: int | None):
        self.what, self.policy, self.retry_on, self.attempts = what, policy, retry_on, attempts
        self.started = time.monotonic()
        self.attempt = 0

    def delay_after(self, exc: Exception) -> float | None:
        self.attempt += 1
        reason = self.retry_on(exc)
        if reason is None or (self.attempts is not None and self.attempt >= self.attempts):
            return None
        delay = self.policy.delay(self.attempt, getattr(exc, "retry_after", None))
        if time.monotonic() - self.started + delay > self.policy.max_time:
            return None
        log.info("retry %d of %s in %.2f s: %s (%s)", self.attempt, self.what, delay, reason, exc)
        return delay


async def with_retries(call: Callable[[], Awaitable[T]], *, what: str,
                       policy: RetryPolicy,
                       retry_on: Callable[[Exception], str | None],
                       attempts: int | None = None) -> T:
    """Run ``call`` until it succeeds, fails with a non-retryable error, or the budget is spent.

    ``retry_on(exc)`` names the reason to retry (or None); ``attempts`` bounds the number of
    calls in addition to ``policy.max_time``.
    """
    budget = _Budget(what, policy, retry_on, attempts)
    while True:
        try:
            return await call()
        except Exception as exc:  # noqa: BLE001 - classified by the budget, re-raised when not retryable
            delay = budget.delay_after(exc)
            if delay is None:
                raise
            await asyncio.sleep(delay)


def with_retries_sync(call: Callable[[], T], *, what: str, policy: RetryPolicy,
                      retry_on: Callable[[Exception], str | None], attempts: int | None = None) -> T:
    """``with_retries`` for code that runs no event loop (the workload commands): same budget."""
    budget = _Budget(what, policy, retry_on, attempts)
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified by the budget, re-raised when not retryable
            delay = budget.delay_after(exc)
            if delay is None:
                raise
            time.sleep(delay)


async def wait_for_consistency(policy: RetryPolicy, read: Callable[[], Awaitable[Any]]) -> Any:
    """``read()`` until it returns something other than None, at most ``policy.lookup_attempts``
    times (a just-created object may not have replicated yet); None when it never appeared."""
    for attempt in range(1, policy.lookup_attempts + 1):
        found = await read()
        if found is not None or attempt == policy.lookup_attempts:
            return found
        await asyncio.sleep(policy.delay(attempt))
    return None
