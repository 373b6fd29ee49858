"""Retries for every AWS call an `AwsSession` client makes: a budget per kind of failure, capped
exponential backoff with full jitter, an adaptive client-side send rate, and a per-call deadline.

botocore's own retry handler is replaced (its `needs-retry` handler is unregistered) by `RetryHandler`:

* Which failures are retried: botocore's standard conditions (5xx, connection errors and timeouts,
  modeled retryable errors, throttling codes), plus HTTP 429 and S3's bare 503 (its SlowDown to a HEAD).
* Budgets, in attempts (the first included): `throttle_attempts` (10) when the attempt was throttled
  (`THROTTLING_CODES` in aws/errors.py, a 429, S3's 503), `max_attempts` (4) for any other retryable
  failure. Throttling is AWS saying "later", so it gets more room than a failure that says "broken".
* Backoff before attempt n+1: `uniform(0, min(max_delay, base * 2**(n-1)))` ("full jitter"), base
  `throttle_base_delay` (0.25 s) after a throttle, `base_delay` (0.05 s) otherwise, capped at `max_delay`
  (4 s). The jitter comes from a `random.Random` per client, seeded from `seed` when one is given.
* Deadline: one API call (all its attempts, backoffs and rate-limiter waits; each page of a paginated
  listing is a call of its own) gets `deadline` seconds (25). A retry starts only when `elapsed + backoff + connect_timeout + read_timeout <= deadline`, so even
  an attempt that runs into its timeouts ends within the deadline: no call takes longer than `deadline`.
* Adaptive send rate (`SendRate`, one per client, that is per service and region): unlimited until AWS
  throttles; then requests are spaced to a rate that drops to 0.7x the measured send rate on each
  throttle (never below `min_rate`), grows 10% on each success, and is lifted once it is no limit.
* Each call's end is recorded on its error: a `CallRecord` (call, region, endpoint, attempts, time, why
  it stopped) that `aws.errors.explain()` turns into a message naming the call and what to try.

`sleep` and `clock` are module attributes, looked up on each use: tests replace them (for instance with
a no-op sleep) so nothing waits; benchmarks keep the real ones.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.retries import special, standard

from aws.errors import THROTTLING_CODES, CallRecord, StopReason, attach_call_record, endpoint_of
from aws.limits import CALL_DEADLINE, CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT, THROTTLE_ATTEMPTS

# Injectable for tests and benchmarks (looked up at call time).
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic

_STATE = "flowlogs_retry"  # key of the per-call retry state in botocore's request context
_RATE_WINDOW = 1.0  # seconds over which the send rate is measured
_BETA = 0.7  # the rate after a throttle, as a fraction of the measured rate
_GROWTH = 1.1  # the rate after a success, as a multiple of the current rate
_MAX_RATE = 1000.0  # requests per second: at this rate the limiter is lifted


@dataclass(frozen=True)
class RetryPolicy:
    """The retry budget of one API call. Times in seconds."""

    max_attempts: int = MAX_ATTEMPTS  # any retryable failure but throttling; the first attempt included
    throttle_attempts: int = THROTTLE_ATTEMPTS  # throttling
    base_delay: float = 0.05
    throttle_base_delay: float = 0.25
    max_delay: float = 4.0  # cap on one backoff
    deadline: float = CALL_DEADLINE  # wall time of one call, all attempts included
    connect_timeout: float = CONNECT_TIMEOUT  # as set on the botocore client: the longest one attempt may
    read_timeout: float = READ_TIMEOUT  # take is connect_timeout + read_timeout
    min_rate: float = 5.0  # requests per second: the adaptive rate never goes lower
    seed: int | None = None  # jitter seed (None: random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.throttle_attempts < 1:
            raise ValueError("attempts must be 1 or more")
        if min(self.deadline, self.connect_timeout, self.read_timeout, self.min_rate) <= 0:
            raise ValueError("deadline, timeouts and min_rate must be more than 0")

    @property
    def attempt_timeout(self) -> float:
        """The longest one attempt can take before botocore gives up on it."""
        return self.connect_timeout + self.read_timeout

    def budget(self, throttled: bool) -> int:
        return self.throttle_attempts if throttled else self.max_attempts

    def backoff_cap(self, attempt: int, throttled: bool) -> float:
        """The longest backoff after failed attempt number `attempt` (1-based); the backoff is drawn
        uniformly between 0 and this."""
        base = self.throttle_base_delay if throttled else self.base_delay
        return min(self.max_delay, base * 2 ** min(attempt - 1, 62))

    def may_retry(self, elapsed: float, delay: float) -> bool:
        """Whether another attempt, started after `delay`, ends within the deadline even if it times out."""
        return elapsed + delay + self.attempt_timeout <= self.deadline

    def worst_case(self, attempt_seconds: float, *, throttled: bool = False) -> tuple[float, int]:
        """(wall time, attempts) of one call whose every attempt fails after `attempt_seconds`, with every
        backoff at its cap. `read_timeout` for an endpoint that accepts connections and never answers,
        `connect_timeout` for one that drops them, ~0 for one that refuses them."""
        elapsed, attempts = 0.0, 0
        while True:
            attempts += 1
            elapsed += attempt_seconds
            delay = self.backoff_cap(attempts, throttled)
            if attempts >= self.budget(throttled) or not self.may_retry(elapsed, delay):
                return elapsed, attempts
            elapsed += delay


class SendRate:
    """The adaptive client-side send rate of one client, shared by every thread using it.

    Off until a throttle; then each request reserves the next send slot 1/rate after the previous one
    (the wait is returned, the caller sleeps it), so concurrent callers are spaced out without polling."""

    def __init__(self, min_rate: float) -> None:
        self.min_rate = min_rate
        self.rate: float | None = None  # None: not limiting
        self._next = 0.0
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def _measured(self, now: float) -> float:
        while self._sent and self._sent[0] < now - _RATE_WINDOW:
            self._sent.popleft()
        return len(self._sent) / _RATE_WINDOW

    def reserve(self, now: float) -> float:
        """Seconds to wait before sending a request at `now`."""
        with self._lock:
            self._sent.append(now)
            if self.rate is None:
                return 0.0
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            return start - now

    def throttled(self, now: float) -> None:
        with self._lock:
            measured = self._measured(now)
            current = measured if self.rate is None else min(self.rate, measured)
            self.rate = max(self.min_rate, _BETA * current)

    def succeeded(self) -> None:
        with self._lock:
            if self.rate is not None:
                self.rate *= _GROWTH
                if self.rate >= _MAX_RATE:
                    self.rate = None


_RETRYABLE = standard.OrRetryChecker(
    [
        standard.TransientRetryableChecker(),
        standard.ThrottledRetryableChecker(),
        standard.ModeledRetryableChecker(),
        standard.OrRetryChecker([special.RetryIDPCommunicationError(), special.RetryDDBChecksumError()]),
    ]
)
_MODELED = standard.ModeledRetryErrorDetector()


def is_throttling(context: standard.RetryContext, service: str) -> bool:
    """Whether a failed attempt was throttled: a throttling code, an error the model marks as throttling,
    a 429 that is no modeled error, or S3's 503 (SlowDown; a HEAD request's error has no body to say so)."""
    code = context.get_error_code()
    if code in THROTTLING_CODES:
        return True
    kind = _MODELED.detect_error_type(context) if code else None
    if kind is not None:
        return bool(kind == _MODELED.THROTTLING_ERROR)
    status = context.http_response.status_code if context.http_response is not None else None
    if status == 429:
        return True
    return service == "s3" and status == 503


def is_retryable(context: standard.RetryContext, service: str) -> bool:
    return is_throttling(context, service) or bool(_RETRYABLE.is_retryable(context))


class RetryHandler:
    """The retry policy on one botocore client (one service in one region)."""

    def __init__(self, policy: RetryPolicy, *, service: str, region: str, endpoint_url: str) -> None:
        self.policy = policy
        self.service = service
        self.region = region
        self.endpoint = endpoint_of(endpoint_url)
        self.rate = SendRate(policy.min_rate)
        seed = None if policy.seed is None else f"{policy.seed}:{service}:{region}"
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def install(self, client: Any) -> None:
        events = client.meta.events
        event_id = client.meta.service_model.service_id.hyphenize()
        # botocore's standard retry handler (registered under this unique id when the client was made).
        events.unregister(f"needs-retry.{event_id}", unique_id=f"retry-config-{event_id}")
        events.register(f"needs-retry.{event_id}", self.needs_retry, unique_id=f"flowlogs-retry-{event_id}")
        events.register("before-call", self.start_call)
        events.register("before-send", self.before_send)

    # -- handlers ----------------------------------------------------------------------------------
    def start_call(self, context: dict[str, Any], **_: Any) -> None:
        context[_STATE] = {"start": clock()}

    def before_send(self, request: Any, **_: Any) -> None:
        """Wait for the adaptive rate's slot (never past the point where the attempt could outlive the
        deadline: then it is sent at once)."""
        now = clock()
        wait = self.rate.reserve(now)
        if wait <= 0:
            return
        state = (getattr(request, "context", None) or {}).get(_STATE)
        if state is not None:
            wait = min(
                wait, max(0.0, self.policy.deadline - self.policy.attempt_timeout - (now - state["start"]))
            )
        if wait > 0:
            sleep(wait)

    def needs_retry(
        self,
        response: tuple[Any, dict[str, Any]] | None,
        attempts: int,
        operation: Any,
        caught_exception: Exception | None,
        request_dict: dict[str, Any],
        **_: Any,
    ) -> float | None:
        """botocore's `needs-retry` hook: None to stop, else the delay before the next attempt (already
        slept here, through the injectable `sleep`, so 0 is returned)."""
        http, parsed = response if response is not None else (None, None)
        request_context = request_dict.get("context") or {}
        context = standard.RetryContext(
            attempt_number=attempts,
            operation_model=operation,
            parsed_response=parsed,
            http_response=http,
            caught_exception=caught_exception,
            request_context=request_context,
        )
        now = clock()
        failed = caught_exception is not None or (http is not None and http.status_code >= 300)
        throttled = failed and is_throttling(context, self.service)
        if throttled:
            self.rate.throttled(now)
        elif not failed:
            self.rate.succeeded()
            return None
        state = request_context.get(_STATE) or {"start": now}
        elapsed = now - state["start"]
        if not is_retryable(context, self.service):
            self._stop(parsed, caught_exception, operation, attempts, elapsed, throttled, "final")
            return None
        if attempts >= self.policy.budget(throttled):
            self._stop(parsed, caught_exception, operation, attempts, elapsed, throttled, "attempts")
            return None
        with self._rng_lock:
            delay = self._rng.uniform(0.0, self.policy.backoff_cap(attempts, throttled))
        if not self.policy.may_retry(elapsed, delay):
            self._stop(parsed, caught_exception, operation, attempts, elapsed, throttled, "deadline")
            return None
        if delay > 0:
            sleep(delay)
        return 0.0

    def _stop(
        self,
        parsed: dict[str, Any] | None,
        exception: Exception | None,
        operation: Any,
        attempts: int,
        elapsed: float,
        throttled: bool,
        stopped: StopReason,
    ) -> None:
        record = CallRecord(
            service=self.service,
            region=self.region,
            operation=str(getattr(operation, "name", "")),
            endpoint=self.endpoint,
            attempts=attempts,
            elapsed=round(elapsed, 3),
            throttled=throttled,
            stopped=stopped,
            budget=self.policy.budget(throttled),
            deadline=self.policy.deadline,
            connect_timeout=self.policy.connect_timeout,
            read_timeout=self.policy.read_timeout,
        )
        if exception is not None:
            attach_call_record(exception, record)
        elif parsed is not None:
            attach_call_record(parsed, record)


def backoff_schedule(policy: RetryPolicy, *, throttled: bool) -> list[float]:
    """The backoff caps before attempts 2..budget (for documentation and tests)."""
    return [policy.backoff_cap(n, throttled) for n in range(1, policy.budget(throttled))]


def failure_probability(fraction: float, attempts: int) -> float:
    """The chance that a call fails all `attempts` when each is throttled independently with `fraction`."""
    return math.pow(fraction, attempts)
