"""The retry budget (aws/retry.py): throttling gets more attempts than other failures, capped exponential
backoff with seeded jitter, the adaptive send rate, the per-call deadline, and the error a call ends with
(aws/errors.py: which call, region and endpoint; throttled, timed out and refused told apart).

Nothing here waits: `aws.retry.sleep` is replaced, and for the deadline a fake clock moves on instead."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.retries.standard import ThrottledRetryableChecker

import aws.retry
from aws.audit import AuditLog
from aws.errors import (
    THROTTLING_CODES,
    EndpointRefused,
    EndpointTimeout,
    ThrottledError,
    call_record,
    explain,
)
from aws.retry import RetryPolicy, SendRate, backoff_schedule
from aws.session import AwsSession, SessionOptions
from tui.config import load_settings
from tui.factory import make_session

REGION = "eu-west-1"


class FakeTime:
    """A clock that only moves when slept on (or when a test moves it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    t = FakeTime()
    monkeypatch.setattr(aws.retry, "clock", t.clock)
    monkeypatch.setattr(aws.retry, "sleep", t.sleep)
    return t


@pytest.fixture
def no_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the backoffs are slept (the adaptive rate's waits have their own tests)."""
    monkeypatch.setattr(SendRate, "reserve", lambda self, now: 0.0)


def session_with(audit: AuditLog | None = None, **options: Any) -> AwsSession:
    return AwsSession(SessionOptions(region=REGION, retry_seed=7, **options), audit=audit)


def fail(
    session: AwsSession,
    service: str,
    operation: str,
    answers: list[tuple[int, str, dict[str, str]]],
    *,
    on_attempt: Callable[[], None] | None = None,
) -> list[int]:
    """The first len(answers) attempts of `operation` get these (status, body, headers); later ones go to
    moto. Returns the list of attempts seen (one entry per HTTP attempt)."""
    seen: list[int] = []

    def respond(**_: Any) -> AWSResponse | None:
        seen.append(len(seen) + 1)
        if on_attempt is not None:
            on_attempt()
        if len(seen) > len(answers):
            return None
        status, body, headers = answers[len(seen) - 1]
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body.encode()])})()
        return AWSResponse("https://example.invalid/", status, headers, raw)

    session.client(service, REGION).meta.events.register(f"before-send.{service}.{operation}", respond)
    return seen


EC2_THROTTLE = (
    503,
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    "<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>",
    {"Content-Type": "text/xml"},
)
EC2_500 = (
    500,
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InternalError</Code>'
    "<Message>An internal error has occurred</Message></Error></Errors><RequestID>r</RequestID></Response>",
    {"Content-Type": "text/xml"},
)
S3_HEAD_SLOWDOWN = (503, "", {})


# -- the policy and its arithmetic ------------------------------------------------------------------


def test_throttling_codes_are_botocores_but_the_quota_one() -> None:
    botocore_codes = set(ThrottledRetryableChecker()._throttled_error_codes)
    assert set(THROTTLING_CODES) == botocore_codes - {"LimitExceededException"}


def test_default_budget() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.throttle_attempts, policy.deadline) == (4, 10, 25.0)
    assert (policy.connect_timeout, policy.read_timeout) == (3.0, 10.0)
    assert backoff_schedule(policy, throttled=True) == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert backoff_schedule(policy, throttled=False) == [0.05, 0.1, 0.2]


def test_a_silent_endpoint_fails_a_call_within_30_seconds_by_default() -> None:
    policy = RetryPolicy()
    # Connected, never answered: each attempt ends at the 10 s read timeout. After the first (10 s) and a
    # backoff of at most 0.05 s, a second attempt still ends by 10.05 + 3 + 10 = 23.05 <= 25 s; a third
    # could not (20.15 + 13 > 25): 2 attempts, 20.05 s. Before, 4 attempts x 20 s + backoff took ~81 s.
    assert policy.worst_case(policy.read_timeout) == (pytest.approx(20.05), 2)
    # A dropped connection: 4 attempts of the 3 s connect timeout and 0.35 s of backoff.
    assert policy.worst_case(policy.connect_timeout) == (pytest.approx(12.35), 4)
    # Refused: 4 immediate attempts.
    assert policy.worst_case(0.0) == (pytest.approx(0.35), 4)


def test_no_call_outlives_the_deadline_whatever_its_attempts_take() -> None:
    policy = RetryPolicy()
    for seconds in (0.0, 0.5, 3.0, 7.0, 10.0, 13.0):
        for throttled in (False, True):
            elapsed, _ = policy.worst_case(seconds, throttled=throttled)
            assert elapsed <= policy.deadline < 30


def test_throttling_gets_at_least_7_attempts_even_with_every_backoff_at_its_cap() -> None:
    assert RetryPolicy().worst_case(0.0, throttled=True)[1] == 7  # the deadline allows 7; jitter, ~10


def test_settings_give_the_same_budget_as_the_engine_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_session(load_settings(region="us-east-1")).retry_policy == RetryPolicy()
    monkeypatch.setenv("FLOWLOGS_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("FLOWLOGS_THROTTLE_ATTEMPTS", "3")
    policy = make_session(load_settings(region="us-east-1")).retry_policy
    assert (policy.read_timeout, policy.throttle_attempts) == (0.5, 3)


# -- the handler on a client ------------------------------------------------------------------------


def test_throttling_is_retried_up_to_its_own_budget(
    moto: None, fake_time: FakeTime, no_rate_limit: None
) -> None:
    session = session_with(call_deadline=1000.0)  # here only the attempts count
    seen = fail(session, "ec2", "DescribeVpcs", [EC2_THROTTLE] * 9)
    session.client("ec2", REGION).describe_vpcs()  # the 10th attempt goes to moto
    assert len(seen) == 10
    caps = backoff_schedule(session.retry_policy, throttled=True)
    assert len(fake_time.slept) == 9
    assert all(0 <= b <= c for b, c in zip(fake_time.slept, caps, strict=True))


def test_other_failures_get_the_smaller_budget(moto: None, fake_time: FakeTime) -> None:
    session = session_with()
    seen = fail(session, "ec2", "DescribeVpcs", [EC2_500] * 10)
    with pytest.raises(ClientError) as info:
        session.client("ec2", REGION).describe_vpcs()
    assert len(seen) == 4
    record = call_record(info.value)
    assert record is not None and (record.attempts, record.stopped, record.throttled) == (
        4,
        "attempts",
        False,
    )


def test_throttled_beyond_the_budget_names_the_call_region_and_attempts(
    moto: None, fake_time: FakeTime
) -> None:
    session = session_with()
    fail(session, "ec2", "DescribeVpcs", [EC2_THROTTLE] * 20)
    with pytest.raises(ClientError) as info:
        session.client("ec2", REGION).describe_vpcs()
    err = explain(info.value)
    assert isinstance(err, ThrottledError) and err.kind == "network" and err.code == "RequestLimitExceeded"
    assert err.call is not None and err.call.region == REGION
    assert "AWS throttled ec2:DescribeVpcs in eu-west-1 beyond the retry budget" in err.message
    assert "--workers" in err.hint and "--regions" in err.hint


def test_jitter_is_reproducible_with_a_seed(moto: None, fake_time: FakeTime, no_rate_limit: None) -> None:
    def backoffs() -> list[float]:
        fake_time.slept.clear()
        session = session_with()
        fail(session, "ec2", "DescribeVpcs", [EC2_THROTTLE] * 5)
        session.client("ec2", REGION).describe_vpcs()
        return list(fake_time.slept)

    first = backoffs()
    assert first == backoffs() and len(set(first)) > 1


def test_the_deadline_stops_retries_that_would_outlive_it(moto: None, fake_time: FakeTime) -> None:
    session = session_with()

    def slow() -> None:
        fake_time.now += 5.0  # each attempt takes 5 s before AWS throttles it

    seen = fail(session, "ec2", "DescribeVpcs", [EC2_THROTTLE] * 20, on_attempt=slow)
    started = fake_time.now
    with pytest.raises(ClientError) as info:
        session.client("ec2", REGION).describe_vpcs()
    record = call_record(info.value)
    assert record is not None and record.stopped == "deadline" and record.attempts == len(seen) < 10
    assert fake_time.now - started <= session.retry_policy.deadline
    assert "stopped by the 25 s per-call deadline" in explain(info.value).message


def test_s3s_bare_503_to_a_head_request_counts_as_throttling(moto: None, fake_time: FakeTime) -> None:
    session = session_with(call_deadline=1000.0)  # here only the attempts count
    seen = fail(session, "s3", "HeadBucket", [S3_HEAD_SLOWDOWN] * 20)
    with pytest.raises(ClientError) as info:
        session.client("s3", REGION).head_bucket(Bucket="any-bucket")
    assert len(seen) == 10
    assert isinstance(explain(info.value), ThrottledError)


def test_every_http_attempt_of_a_throttled_mutation_is_audited(
    moto: None, fake_time: FakeTime, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    session = session_with(audit)
    fail(session, "ec2", "CreateVpc", [EC2_THROTTLE] * 2)
    session.client("ec2", REGION).create_vpc(CidrBlock="10.0.0.0/16")
    assert [(e["phase"], e.get("attempt"), e.get("attempts")) for e in audit.entries()] == [
        ("intent", None, None),
        ("attempt", 2, None),
        ("attempt", 3, None),
        ("result", None, 3),
    ]


# -- the adaptive send rate -------------------------------------------------------------------------


def test_send_rate_is_off_until_a_throttle_then_spaces_requests() -> None:
    rate = SendRate(min_rate=5.0)
    assert [rate.reserve(10.0) for _ in range(20)] == [0.0] * 20  # unlimited
    rate.throttled(10.0)  # 20 sent in the last second: 0.7 x 20 = 14/s
    assert rate.rate == pytest.approx(14.0)
    waits = [rate.reserve(10.0) for _ in range(3)]
    assert waits == pytest.approx([0.0, 1 / 14, 2 / 14])


def test_send_rate_never_drops_below_its_floor_and_recovers() -> None:
    rate = SendRate(min_rate=5.0)
    rate.throttled(0.0)
    assert rate.rate == 5.0  # nothing measured yet: the floor
    for _ in range(200):
        rate.succeeded()
    assert rate.rate is None  # grown past any limit: lifted


# -- unreachable endpoints ----------------------------------------------------------------------------


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(aws.retry, "sleep", lambda _: None)
    yield


def test_timeouts_and_refusals_are_different_errors_naming_the_endpoint(moto: None, no_sleep: None) -> None:
    session = session_with()
    url = "http://127.0.0.1:9"
    errors = {
        "read": ReadTimeoutError(endpoint_url=url + "/", error="timed out"),
        "connect": ConnectTimeoutError(endpoint_url=url + "/", error="timed out"),
        "refused": EndpointConnectionError(endpoint_url=url + "/", error="[Errno 111] Connection refused"),
    }
    explained = {}
    for name, exc in errors.items():

        def raise_it(exc: Exception = exc, **_: Any) -> None:
            raise exc

        client = session.client("sts", REGION)
        client.meta.events.register("before-send.sts.GetCallerIdentity", raise_it, unique_id=name)
        with pytest.raises(type(exc)) as info:
            client.get_caller_identity()
        client.meta.events.unregister("before-send.sts.GetCallerIdentity", unique_id=name)
        explained[name] = explain(info.value)
    read, connect, refused = explained["read"], explained["connect"], explained["refused"]
    assert isinstance(read, EndpointTimeout) and read.phase == "read"
    assert isinstance(connect, EndpointTimeout) and connect.phase == "connect"
    assert isinstance(refused, EndpointRefused) and refused.refused
    assert {e.kind for e in explained.values()} == {"network"}
    assert len({e.message for e in explained.values()}) == 3
    for err in explained.values():
        assert "http://127.0.0.1:9" in err.message and "sts:GetCallerIdentity in eu-west-1" in err.message
    assert "No answer from http://127.0.0.1:9" in read.message
    assert "Connection refused by http://127.0.0.1:9" in refused.message
    assert json.dumps(str(read))  # a plain message, no traceback
