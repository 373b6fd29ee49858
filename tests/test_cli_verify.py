"""`flowlogs verify`: exit codes 0/1/2/3, output, the polling loop on a simulated clock."""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from aws.logs import keys
from aws.logs.format import REQUIRED_FIELDS
from aws.session import AwsSession
from tui import cli
from tui.commands import verify as verify_cmd

ACCT = "123456789012"
REGION = "us-east-1"
BUCKET = "kentik-flow-logs"


@pytest.fixture(autouse=True)
def _shared_session(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses the test's moto session (built clients are reused: service models load once)."""
    if "session" in request.fixturenames:
        session = request.getfixturevalue("session")
        monkeypatch.setattr(cli, "make_session", lambda settings, endpoint_url=None: session)


def _flow_file() -> bytes:
    header = " ".join(REQUIRED_FIELDS)
    row = " ".join("OK" if f == "log-status" else "-" for f in REQUIRED_FIELDS)
    return gzip.compress(f"{header}\n{row}\n".encode())


def _setup(session: AwsSession, destination: str = f"arn:aws:s3:::{BUCKET}") -> str:
    s3 = session.client("s3", REGION)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # us-east-1 may just succeed
        s3.create_bucket(Bucket=BUCKET)
    ec2 = session.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return str(
        ec2.create_flow_logs(
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=destination,
        )["FlowLogIds"][0]
    )


def _deliver(session: AwsSession, flow_log_id: str, prefix: str = "") -> str:
    key = keys.flowlog_key(ACCT, REGION, flow_log_id, datetime.now(timezone.utc), prefix=prefix)
    session.client("s3", REGION).put_object(Bucket=BUCKET, Key=key, Body=_flow_file())
    return key


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["verify", "--bucket", BUCKET, "--regions", REGION, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _deny(
    service: str,
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    code: str = "AccessDenied",
    bucket: str = "",
) -> None:
    """Every client the CLI creates answers `operation` (on `bucket` only, when given) with `code` (as
    AWS would, HTTP 403; a HEAD request has no body, so botocore's code is then "403")."""
    original = AwsSession.client

    def note_bucket(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_bucket"] = params.get("Bucket")  # before-call sees the request, not the params

    def deny(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        if bucket and context.get("test_bucket") != bucket:
            return None
        return SimpleNamespace(status_code=403, headers={}), {
            "Error": {"Code": code, "Message": "Access Denied" if code == "AccessDenied" else "Forbidden"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    def client(self: AwsSession, svc: str, region: str | None = None) -> Any:
        c = original(self, svc, region)
        if svc == service and not getattr(c, "_test_denied", False):
            c.meta.events.register(f"before-parameter-build.{service}.{operation}", note_bucket)
            c.meta.events.register(f"before-call.{service}.{operation}", deny)
            c._test_denied = True
        return c

    monkeypatch.setattr(AwsSession, "client", client)


def test_exit_0_when_every_source_delivered_readable_files(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    fl = _setup(session)
    _deliver(session, fl)
    code, out, err = _run(["--once"], capsys)
    assert code == 0, err
    assert fl in out and "receiving" in out and "1 of 1 source(s) delivered readable files" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "poll 1: 1 receiving" in err


def test_exit_1_with_once_while_waiting(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    fl = _setup(session)
    code, out, err = _run(["--once"], capsys)
    assert code == 1
    assert f"{fl} {REGION}: waiting" in err
    assert "waiting" in out and "0 of 1" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_json_output(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    fl = _setup(session)
    key = _deliver(session, fl)
    code, out, err = _run(["--once", "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["ok"] is True
    (src,) = data["sources"]
    assert src["ready"] is True and src["state"] == "receiving" and src["newest"]["key"] == key
    assert src["content"]["missing_fields"] == [] and src["source"]["flow_log_id"] == fl


def test_exit_1_when_no_source_delivers_to_the_bucket(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session.client("s3", REGION).create_bucket(Bucket=BUCKET)
    code, _, err = _run(["--once"], capsys)
    assert code == 1 and "No flow log or firewall log delivers to kentik-flow-logs" in err


def test_prefix_selects_sources(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    plain = _setup(session)
    prefixed = _setup(session, f"arn:aws:s3:::{BUCKET}/kentik/")
    _deliver(session, prefixed, prefix="kentik")
    code, out, _ = _run(["--once", "--prefix", "kentik", "--json"], capsys)
    assert code == 0
    assert [s["source"]["flow_log_id"] for s in json.loads(out)["sources"]] == [prefixed]
    assert plain not in out


def test_timeout_loop_on_a_simulated_clock(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fl = _setup(session)
    now = [datetime.now(timezone.utc)]
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += timedelta(seconds=seconds)

    monkeypatch.setattr(verify_cmd, "clock", lambda: now[0])
    monkeypatch.setattr(verify_cmd, "sleep", fake_sleep)
    code, _, err = _run(["--timeout", "2m", "--interval", "45s"], capsys)
    assert code == 1
    assert sleeps == [45.0, 45.0, 30.0]  # the last wait is cut to the deadline
    assert "poll 4:" in err and "poll 5:" not in err

    # a file delivered while waiting ends the watch with 0
    def deliver_then_sleep(seconds: float) -> None:
        fake_sleep(seconds)
        if len(sleeps) == 5:
            _deliver(session, fl)

    monkeypatch.setattr(verify_cmd, "sleep", deliver_then_sleep)
    code, _, err = _run(["--timeout", "10m", "--interval", "30s"], capsys)
    assert code == 0 and "waiting -> receiving" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "5x"],
        ["--interval", "0s"],
        ["--since", "soon"],
    ],
)
def test_exit_2_on_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(args, capsys)
    assert code == 2 and "flowlogs verify:" in err


def test_exit_2_without_a_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", "--once"])
    assert exc.value.code == 2


def test_exit_3_when_the_bucket_cannot_be_listed(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(session)
    _deny("s3", "ListObjectsV2", monkeypatch)
    code, out, err = _run(["--timeout", "5m"], capsys)  # stops at once: waiting won't fix access
    assert code == 3
    assert "failed" in out and "s3:ListBucket" in err


def test_exit_3_when_discovery_is_denied(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(session)
    _deny("ec2", "DescribeFlowLogs", monkeypatch)
    code, _, err = _run(["--once"], capsys)
    assert code == 3 and "Access denied" in err


def _kentik_role(session: AwsSession, *, can_read: bool) -> str:
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::834693425129:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="kentik", AssumeRolePolicyDocument=json.dumps(trust))
    resource = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"] if can_read else "arn:aws:s3:::other/*"
    grant = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": resource}],
    }
    if can_read:
        grant["Statement"].append({"Effect": "Allow", "Action": "s3:List*", "Resource": resource})
    iam.put_role_policy(RoleName="kentik", PolicyName="read", PolicyDocument=json.dumps(grant))
    return "kentik"


@pytest.mark.parametrize("can_read", [True, False])
def test_role_flag_reports_reader_allowed(
    session: AwsSession, capsys: pytest.CaptureFixture[str], can_read: bool
) -> None:
    _deliver(session, _setup(session))
    role = _kentik_role(session, can_read=can_read)
    code, out, _ = _run(["--once", "--json", "--role", role], capsys)
    [source] = json.loads(out)["sources"]
    assert (source["reader"]["allowed"], code) == (can_read, 0 if can_read else 1)


def test_role_flag_with_an_unknown_role_is_a_usage_error(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    _setup(session)
    code, _, err = _run(["--once", "--role", "no-such-role"], capsys)
    assert (code, "no IAM role named 'no-such-role'" in err) == (2, True)


def test_bucket_with_prefix_watches_only_that_prefix(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    _setup(session, destination=f"arn:aws:s3:::{BUCKET}/security/")
    _setup(session)
    _code, out, _ = (
        cli.main(["verify", "--bucket", f"{BUCKET}/security/", "--regions", REGION, "--once", "--json"]),
        *capsys.readouterr(),
    )
    assert [s["source"]["prefix"] for s in json.loads(out)["sources"]] == ["security"]


# -- the buckets are checked before the watch ------------------------------------------------------------


def _no_session(*_: Any, **__: Any) -> AwsSession:
    raise AssertionError("an AWS session was made")


def test_exit_2_when_the_bucket_does_not_exist(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["verify", "--bucket", "no-such-bucket-xyz", "--regions", REGION, "--once"])
    err = capsys.readouterr().err
    assert (code, "'no-such-bucket-xyz' does not exist" in err) == (2, True), err


def test_json_names_the_bucket_that_does_not_exist(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["verify", "--bucket", "no-such-bucket-xyz", "--regions", REGION, "--once", "--json"])
    [problem] = json.loads(capsys.readouterr().out)["buckets"]
    assert (problem["bucket"], problem["problem"]) == ("no-such-bucket-xyz", "NoSuchBucket")


@pytest.mark.parametrize("name", ["My_Bucket", "-leading-dash", "a..b"])
def test_exit_2_for_a_name_no_bucket_can_have_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code = cli.main(["verify", f"--bucket={name}", "--once"], session_factory=_no_session)
    err = capsys.readouterr().err
    assert (code, f"{name!r} is not a valid bucket name." in err) == (2, True), err


def test_a_leading_dash_name_is_refused_by_its_rule(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["verify", "--bucket=-leading-dash", "--once"], session_factory=_no_session)
    assert "First-character rule" in capsys.readouterr().err


def test_exit_3_when_the_bucket_belongs_to_another_account_or_denies_access(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another account's bucket: AWS answers HeadBucket 403 (the strict sandbox does; moto alone 200)."""
    other = boto3.client("s3", region_name=REGION, aws_access_key_id="o", aws_secret_access_key="o")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_ACCOUNT_ID", "111111111111")
        other.create_bucket(Bucket="someone-elses-logs")
    code = cli.main(["verify", "--bucket", "someone-elses-logs", "--regions", REGION, "--once"])
    err = capsys.readouterr().err
    assert (code, "belongs to another account or denies access" in err) == (3, True), err


def _missing_and_denied(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    _setup(session)
    _deny("s3", "HeadBucket", monkeypatch, code="403", bucket=BUCKET)
    code = cli.main(["verify", "--bucket", BUCKET, "--bucket", "no-such-bucket-xyz", "--once"])
    return code, capsys.readouterr().err


def test_exit_2_when_one_bucket_is_missing_and_another_denies_access(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several buckets at fault: bad input (2) before access (3)."""
    assert _missing_and_denied(session, capsys, monkeypatch)[0] == 2


def test_one_refusal_names_every_bucket_at_fault(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = _missing_and_denied(session, capsys, monkeypatch)[1]
    assert [name in err for name in (f"{BUCKET!r} belongs", "'no-such-bucket-xyz' does not")] == [True, True]
