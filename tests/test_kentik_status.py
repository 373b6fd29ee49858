"""Kentik's own view of the verified locations (aws/kentik/status.py) and `flowlogs verify --kentik`, against
the local Kentik fake (aws/sandbox/kentik_fake.py) and moto: no network beyond 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from test_cli_verify import BUCKET, REGION, _deliver, _setup

from aws.coverage import ReadLocation
from aws.kentik.access import KentikCredentials
from aws.kentik.api import KentikClient
from aws.kentik.models import AwsProperties, CloudExport, CurrentStatus
from aws.kentik.status import ExportStatus, export_statuses, kentik_done, state_of, statuses_of
from aws.sandbox.kentik_fake import EXPORTS_PATH, KentikFake
from aws.session import AwsSession
from tui import cli
from tui.commands import verify as verify_cmd

EMAIL, TOKEN = "ops@example.com", "tok-verify-0123456789"
ROLE = "arn:aws:iam::123456789012:role/kentik-metadata-role"
READING = {
    "status": "OK",
    "errorMessage": "",
    "flowFound": True,
    "apiAccess": True,
    "storageAccountAccess": True,
}
WAITING = {**READING, "flowFound": False}
NO_ACCESS = {
    "status": "ERROR",
    "errorMessage": "AccessDenied: s3:ListBucket on kentik-flow-logs",
    "flowFound": False,
    "apiAccess": True,
    "storageAccountAccess": False,
}
StatusFor = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "KENTIK_EMAIL",
        "KENTIK_API_TOKEN",
        "KENTIK_API_URL",
        "KENTIK_V5_API_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _shared_session(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses the test's moto session."""
    if "session" in request.fixturenames:
        session = request.getfixturevalue("session")
        monkeypatch.setattr(cli, "make_session", lambda settings, endpoint_url=None: session)


def kentik_env(monkeypatch: pytest.MonkeyPatch, url: str, token: str = TOKEN) -> None:
    monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
    monkeypatch.setenv("KENTIK_API_TOKEN", token)
    monkeypatch.setenv("KENTIK_API_URL", url)
    monkeypatch.setenv("KENTIK_V5_API_URL", url)


def register(fake: KentikFake, bucket: str = BUCKET, prefix: str = "", *, enabled: bool = True) -> str:
    aws: dict[str, Any] = {"iamRoleArn": ROLE, "region": REGION, "bucket": bucket}
    if prefix:
        aws["bucketPrefix"] = prefix
    export = {
        "name": f"{bucket}-export",
        "enabled": enabled,
        "planId": "11467",
        "cloudProvider": "CLOUD_PROVIDER_AWS",
        "aws": aws,
    }
    return str(fake.seed(export)["id"])


def always(status: Mapping[str, Any]) -> StatusFor:
    return lambda export: status


@pytest.fixture
def fake() -> Iterator[KentikFake]:
    with KentikFake(email=EMAIL, token=TOKEN, status_for=always(WAITING)) as running:
        yield running


def export(bucket: str, prefix: str | None = None, status: CurrentStatus | None = None) -> CloudExport:
    props = AwsProperties(iam_role_arn=ROLE, region=REGION, bucket=bucket, bucket_prefix=prefix)
    return CloudExport(
        name=bucket, enabled=True, plan_id="1", aws=props, id=f"id-{bucket}", current_status=status
    )


def current(**fields: Any) -> CurrentStatus:
    return CurrentStatus.model_validate(fields)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])  # closed on exit: nothing listens there
    return f"http://127.0.0.1:{port}"


# -- the engine --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "state"),
    [
        (current(flow_found=True, api_access=True, storage_account_access=True), "reading"),
        (current(flow_found=False, api_access=True, storage_account_access=True), "waiting"),
        (current(flow_found=False, api_access=False, storage_account_access=True), "no-access"),
        (current(flow_found=True, api_access=True, storage_account_access=False), "no-access"),
        (current(), "waiting"),  # Kentik said nothing: not a flow found, not a refusal either
        (None, "waiting"),
    ],
)
def test_state_of_an_export(status: CurrentStatus | None, state: str) -> None:
    assert state_of(export("b", status=status)) == state


def test_a_disabled_export_is_not_reading_even_with_flows_found() -> None:
    e = export("b", status=current(flow_found=True, api_access=True, storage_account_access=True))
    assert state_of(e.model_copy(update={"enabled": False})) == "disabled"


def test_unknown_fields_stay_unknown_in_the_status() -> None:
    (st,) = statuses_of([export("b", status=current(flow_found=True))], [ReadLocation(bucket="b")])
    assert (st.api_access, st.bucket_access, st.flow_found, st.state) == (None, None, True, "reading")


def test_a_location_without_an_export_is_not_registered() -> None:
    (st,) = statuses_of([export("other")], [ReadLocation(bucket="b")])
    assert (st.bucket, st.export_id, st.state, st.registered) == ("b", None, "not-registered", False)


def test_exports_reading_no_location_are_ignored() -> None:
    statuses = statuses_of([export("a"), export("b"), export("c")], [ReadLocation(bucket="b")])
    assert [s.export_id for s in statuses] == ["id-b"]


def test_an_export_with_a_prefix_matches_only_that_prefix() -> None:
    exports = [export("b", prefix="/logs/")]
    locations = [
        ReadLocation(bucket="b", kentik=False),
        ReadLocation(bucket="b", prefix="logs", kentik=False),
    ]
    assert [(s.prefix, s.state) for s in statuses_of(exports, locations)] == [
        ("", "not-registered"),
        ("logs", "waiting"),
    ]


def test_a_bucket_read_whole_is_not_registered_only_when_no_export_reads_it() -> None:
    assert [s.state for s in statuses_of([export("other")], [ReadLocation(bucket="b")])] == ["not-registered"]


def test_every_export_of_a_location_is_listed_and_a_repeated_location_once() -> None:
    exports = [export("b"), export("b").model_copy(update={"id": "second"})]
    statuses = statuses_of(exports, [ReadLocation(bucket="b"), ReadLocation(bucket="b")])
    assert [s.export_id for s in statuses] == ["id-b", "second"]


@pytest.mark.parametrize(
    ("states", "done"),
    [
        ([], False),
        (["reading", "reading"], True),
        (["reading", "waiting"], False),
        (["reading", "no-access"], False),
        (["reading", "not-registered"], False),
        (["disabled"], False),
    ],
)
def test_kentik_done(states: list[Any], done: bool) -> None:
    assert kentik_done([ExportStatus(bucket="b", state=s) for s in states]) is done


def test_a_source_is_matched_to_its_prefix_first_then_to_the_whole_bucket() -> None:
    from aws.kentik.status import KentikReport

    whole = ExportStatus(bucket="b", export_id="1", state="reading")
    logs = ExportStatus(bucket="b", prefix="logs", export_id="2", state="waiting")
    report = KentikReport(checked_at=datetime.now(timezone.utc), statuses=[whole, logs])
    assert [s.export_id for s in report.for_source("b", "logs/")] == ["2"]
    assert [s.export_id for s in report.for_source("b", "other")] == ["1"]
    assert report.for_source("c", "") == []


def test_one_list_call_gives_every_location_its_status(fake: KentikFake) -> None:
    fake.status_for = lambda e: READING if e["aws"]["bucket"] == "a" else NO_ACCESS
    register(fake, "a")
    register(fake, "b")
    client = KentikClient(KentikCredentials(EMAIL, TOKEN), api_url=fake.url, v5_api_url=fake.url, timeout=5)
    locations = [ReadLocation(bucket=n) for n in ("a", "b", "c")]
    report = export_statuses(client, locations)
    assert [(s.bucket, s.state) for s in report.statuses] == [
        ("a", "reading"),
        ("b", "no-access"),
        ("c", "not-registered"),
    ]
    assert report.statuses[1].error_message == NO_ACCESS["errorMessage"]
    assert fake.requests == [("GET", EXPORTS_PATH)]


# -- flowlogs verify --kentik ------------------------------------------------------------------------
def run_verify(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["verify", "--bucket", BUCKET, "--regions", REGION, "--kentik", *args])
    out, err = capsys.readouterr()
    return code, out, err


def delivered(session: AwsSession) -> None:
    _deliver(session, _setup(session))


def test_exit_0_when_the_sources_deliver_and_the_export_found_flows(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    export_id = register(fake)
    fake.status_for = always(READING)
    kentik_env(monkeypatch, fake.url)
    code, out, err = run_verify(["--once"], capsys)
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith(BUCKET + " "))
    assert row.split() == [BUCKET, export_id, "reading", "yes", "yes", "yes"]
    assert "1 of 1 Kentik export(s) found flows." in out


@pytest.mark.parametrize(
    ("status", "state", "said"),
    [
        (WAITING, "waiting", "has found no flows yet"),
        (NO_ACCESS, "no-access", "Kentik says: AccessDenied: s3:ListBucket on kentik-flow-logs"),
    ],
)
def test_exit_1_while_the_export_has_not_found_flows(
    session: AwsSession,
    fake: KentikFake,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: dict[str, Any],
    state: str,
    said: str,
) -> None:
    delivered(session)  # our own check passes: Kentik's view alone keeps it at 1
    register(fake)
    fake.status_for = always(status)
    kentik_env(monkeypatch, fake.url)
    code, out, err = run_verify(["--once"], capsys)
    assert code == 1, err
    assert f" {state} " in next(line for line in out.splitlines() if line.startswith(BUCKET + " "))
    assert said in " ".join(out.split())


def test_exit_1_when_no_export_reads_the_bucket(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    register(fake, "someone-elses-bucket")  # reads another bucket: ignored
    kentik_env(monkeypatch, fake.url)
    code, out, _ = run_verify(["--once"], capsys)
    assert code == 1
    assert next(line for line in out.splitlines() if line.startswith(BUCKET + " ")).split() == [
        BUCKET,
        "-",
        "not-registered",
        "-",
        "-",
        "-",
    ]


def test_exit_1_when_kentik_reads_but_our_own_sources_still_wait(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(session)  # a flow log, no file yet
    register(fake)
    fake.status_for = always(READING)
    kentik_env(monkeypatch, fake.url)
    code, out, _ = run_verify(["--once"], capsys)
    assert code == 1 and "0 of 1 source(s)" in out and "1 of 1 Kentik export(s) found flows." in out


def test_the_kentik_section_fits_80_columns(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    register(fake)
    fake.status_for = always({**NO_ACCESS, "errorMessage": "AccessDenied " * 30})
    kentik_env(monkeypatch, fake.url)
    _, out, _ = run_verify(["--once"], capsys)
    assert "KENTIK READS" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_json_has_a_kentik_key_with_every_location(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    export_id = register(fake)
    fake.status_for = always(NO_ACCESS)
    kentik_env(monkeypatch, fake.url)
    code, out, err = run_verify(["--once", "--json"], capsys)
    assert code == 1 and err == ""
    data = json.loads(out)
    assert data["ok"] is False and all(s["ready"] for s in data["sources"])
    kentik = data["kentik"]
    assert kentik["ok"] is False and kentik["invalid_exports"] == 0
    (entry,) = kentik["exports"]
    assert entry == {
        "bucket": BUCKET,
        "prefix": "",
        "location": BUCKET,
        "export_id": export_id,
        "export_name": f"{BUCKET}-export",
        "enabled": True,
        "api_access": True,
        "bucket_access": False,
        "flow_found": False,
        "status": "ERROR",
        "error_message": NO_ACCESS["errorMessage"],
        "state": "no-access",
        "done": False,
    }


def test_kentik_is_asked_on_every_poll_until_the_export_found_flows(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sources deliver from the start; Kentik finds flows on its third answer: the watch goes on
    (one list call per poll) until then, and exits 0."""
    delivered(session)
    register(fake)
    answers = iter([WAITING, WAITING, READING])
    fake.status_for = lambda e: next(answers)
    now = [datetime.now(timezone.utc)]

    def fake_sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    monkeypatch.setattr(verify_cmd, "clock", lambda: now[0])
    monkeypatch.setattr(verify_cmd, "sleep", fake_sleep)
    kentik_env(monkeypatch, fake.url)
    code, _, err = run_verify(["--timeout", "10m", "--interval", "30s"], capsys)
    assert code == 0, err
    assert fake.requests == [("GET", EXPORTS_PATH)] * 3
    assert "poll 3:" in err and "poll 4:" not in err
    assert f"kentik {BUCKET} (export 1001): waiting -> reading" in err


def simulated_time(monkeypatch: pytest.MonkeyPatch, on_sleep: Callable[[int], None] | None = None) -> None:
    """verify's clock and sleep, simulated: a sleep moves the clock on (no real waiting); `on_sleep(n)` is
    called on the n-th sleep (1-based)."""
    now = [datetime.now(timezone.utc)]
    sleeps = [0]

    def fake_sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)
        sleeps[0] += 1
        if on_sleep is not None:
            on_sleep(sleeps[0])

    monkeypatch.setattr(verify_cmd, "clock", lambda: now[0])
    monkeypatch.setattr(verify_cmd, "sleep", fake_sleep)


UNAVAILABLE = f"the service is unavailable for {TOKEN}"  # Kentik echoing the token: never shown


def failing_lists(fake: KentikFake, monkeypatch: pytest.MonkeyPatch, failing: Callable[[int], bool]) -> None:
    """The fake's n-th list call (1-based) answers 503 when `failing(n)`, else as usual. The client's own
    retries are off: a failure here is one that outlasts them."""
    from aws.kentik import api
    from aws.sandbox import kentik_fake

    monkeypatch.setattr(api, "RETRY_WAITS", ())

    answer = fake.list
    calls = [0]

    def listing() -> tuple[int, dict[str, Any]]:
        calls[0] += 1
        return kentik_fake._rpc(503, 14, UNAVAILABLE) if failing(calls[0]) else answer()

    monkeypatch.setattr(fake, "list", listing)


def test_a_kentik_failure_mid_watch_is_retried_on_the_next_poll(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kentik answers the first poll (waiting), fails the second (503), finds flows on the third: the watch
    goes on and exits 0, the failure said once."""
    delivered(session)
    register(fake)
    answers = iter([WAITING, READING])
    fake.status_for = lambda e: next(answers)
    failing_lists(fake, monkeypatch, lambda n: n == 2)
    simulated_time(monkeypatch)
    kentik_env(monkeypatch, fake.url)
    code, _, err = run_verify(["--timeout", "10m", "--interval", "30s"], capsys)
    assert code == 0, err
    assert fake.requests == [("GET", EXPORTS_PATH)] * 3 and "poll 3:" in err and "poll 4:" not in err
    assert err.count("retried on the next poll") == 1 and "HTTP 503" in err and TOKEN not in err


def test_kentik_unreachable_after_the_first_poll_exits_1_at_the_timeout_not_4(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kentik answers the first poll (waiting), then goes away (connection refused): the watch runs to its
    timeout, says the failure once and exits 1 (not converged), not 4."""
    delivered(session)
    register(fake)
    simulated_time(monkeypatch, lambda n: fake.stop() if n == 1 else None)
    kentik_env(monkeypatch, fake.url)
    code, out, err = run_verify(["--timeout", "2m", "--interval", "30s"], capsys)
    assert code == 1, err
    assert "poll 5:" in err and "poll 6:" not in err  # 0 s, 30 s, 60 s, 90 s, 120 s
    assert err.count("retried on the next poll") == 1 and "connection refused" in err
    assert "Kentik's last poll failed" in out


def test_json_says_the_last_kentik_error_without_the_token(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    register(fake)
    failing_lists(fake, monkeypatch, lambda n: n > 1)
    simulated_time(monkeypatch)
    kentik_env(monkeypatch, fake.url)
    code, out, _ = run_verify(["--timeout", "1m", "--interval", "30s", "--json"], capsys)
    kentik = json.loads(out)["kentik"]
    assert (code, kentik["ok"], [e["state"] for e in kentik["exports"]]) == (1, False, ["waiting"])
    assert kentik["error"].startswith("Kentik's API answered HTTP 503") and "<redacted>" in kentik["error"]
    assert TOKEN not in out


def test_a_later_kentik_success_clears_the_error(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still waiting at the timeout, but Kentik answered the last poll: the JSON has no error."""
    delivered(session)
    register(fake)
    failing_lists(fake, monkeypatch, lambda n: n == 2)
    simulated_time(monkeypatch)
    kentik_env(monkeypatch, fake.url)
    code, out, _ = run_verify(["--timeout", "1m", "--interval", "30s", "--json"], capsys)
    assert (code, len(fake.requests), json.loads(out)["kentik"]["error"]) == (1, 3, None)


def test_kentik_failing_after_its_exports_found_flows_does_not_hold_the_watch(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kentik found flows on its first answer and fails from then on; the sources deliver during the watch:
    the last good answer counts, so it exits 0."""
    flow_log = _setup(session)  # no file yet
    register(fake)
    fake.status_for = always(READING)
    failing_lists(fake, monkeypatch, lambda n: n > 1)
    simulated_time(monkeypatch, lambda n: _deliver(session, flow_log) if n == 2 else None)
    kentik_env(monkeypatch, fake.url)
    code, _, err = run_verify(["--timeout", "10m", "--interval", "30s"], capsys)
    assert code == 0, err
    assert "poll 3:" in err and "poll 4:" not in err and "retried on the next poll" in err


def test_without_kentik_nothing_is_asked_and_the_output_is_unchanged(
    session: AwsSession, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered(session)
    register(fake)
    kentik_env(monkeypatch, fake.url)
    code = cli.main(["verify", "--bucket", BUCKET, "--regions", REGION, "--once", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0 and "kentik" not in json.loads(out)
    assert fake.requests == []


@pytest.fixture
def no_aws(session: AwsSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any AWS client made fails the test: the command must stop before its first AWS call."""

    def refuse(self: AwsSession, service: str, region: str | None = None) -> Any:
        raise AssertionError(f"an AWS call was made ({service})")

    monkeypatch.setattr(AwsSession, "client", refuse)


def test_exit_2_without_kentik_credentials_before_any_aws_call(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_verify(["--once"], capsys)
    assert code == 2 and "KENTIK_EMAIL and KENTIK_API_TOKEN" in err


def test_exit_3_when_kentik_refuses_the_token(
    no_aws: None, fake: KentikFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kentik_env(monkeypatch, fake.url, token="wrong-token")
    code, _, err = run_verify(["--once"], capsys)
    assert code == 3 and "HTTP 401" in err and "wrong-token" not in err


def test_exit_4_when_kentik_cannot_be_reached(
    no_aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kentik_env(monkeypatch, dead_url())
    code, _, err = run_verify(["--once"], capsys)
    assert code == 4 and "connection refused" in err


def test_a_bucket_read_whole_shows_the_export_of_each_prefix() -> None:
    from aws.kentik.models import CloudExport
    from aws.kentik.status import statuses_of

    def export(export_id: str, prefix: str | None) -> CloudExport:
        aws = {"iamRoleArn": "arn:aws:iam::123456789012:role/k", "region": "us-east-1", "bucket": "logs"}
        return CloudExport.model_validate(
            {
                "id": export_id,
                "name": export_id,
                "enabled": True,
                "planId": "1",
                "aws": {**aws, **({"bucketPrefix": prefix} if prefix else {})},
            }
        )

    found = statuses_of(
        [export("1", None), export("2", "network-firewall")], [ReadLocation(bucket="logs", kentik=True)]
    )
    assert [(s.export_id, s.prefix) for s in found] == [("1", ""), ("2", "network-firewall")]
