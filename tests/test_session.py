"""AWS session: read-only guard, audit log, error messages, thread safety."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    UnauthorizedSSOTokenError,
)
from botocore.stub import Stubber

from aws.audit import AuditLog
from aws.errors import AccessDeniedError, CredentialsError, ReadOnlyViolation, explain
from aws.session import AwsSession, SessionOptions, is_mutating, partition_of


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("DescribeVpcs", False),
        ("ListObjectsV2", False),
        ("GetPolicyVersion", False),
        ("HeadBucket", False),
        ("AssumeRole", False),
        ("CreateFlowLogs", True),
        ("PutBucketPolicy", True),
        ("UpdateLoggingConfiguration", True),
        ("SetDefaultPolicyVersion", True),
        ("DeletePolicyVersion", True),
        ("GenerateDataKey", True),  # not on the read allow-list: blocked, never guessed
        ("SomeFutureOperation", True),
    ],
)
def test_operation_classification(operation: str, mutating: bool) -> None:
    assert is_mutating(operation) is mutating


def test_partitions() -> None:
    assert partition_of("eu-west-1") == "aws"
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("us-gov-west-1") == "aws-us-gov"


def test_read_only_blocks_mutations_before_sending(moto: None, audit: AuditLog) -> None:
    session = AwsSession(SessionOptions(region="eu-west-1", read_only=True), audit=audit)
    s3 = session.client("s3", "eu-west-1")
    with pytest.raises(ReadOnlyViolation, match="CreateBucket"):
        s3.create_bucket(
            Bucket="should-not-exist", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    assert s3.list_buckets()["Buckets"] == []  # reads still work
    assert session.stats.mutating() == 0
    assert session.stats.blocked[("s3", "CreateBucket")] == 1
    (record,) = audit.records()
    assert record["operation"] == "CreateBucket"
    assert record["result"] == {"blocked": "read-only mode"}


def test_read_only_toggle_applies_to_existing_clients(session: AwsSession) -> None:
    ec2 = session.client("ec2")
    session.read_only = True
    with pytest.raises(ReadOnlyViolation):
        ec2.create_vpc(CidrBlock="10.0.0.0/16")
    session.read_only = False
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    assert session.stats.mutating() == 1


class CountingServer:
    """A moto server on loopback that counts the HTTP requests it receives."""

    def __init__(self) -> None:
        from moto.moto_server import threaded_moto_server as tms

        self.requests: list[tuple[str, str]] = []
        counter = self

        class Counting(tms.DomainDispatcherApplication):  # type: ignore[misc]
            def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
                counter.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
                return super().__call__(environ, start_response)

        self._orig = tms.DomainDispatcherApplication
        tms.DomainDispatcherApplication = Counting
        self.server = tms.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        tms.DomainDispatcherApplication = self._orig
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.server.stop()


def test_read_only_over_http_sends_no_mutating_request(
    counting_server: CountingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", counting_server.url)
    session = AwsSession(SessionOptions(region="us-east-1", read_only=True), audit=AuditLog(tmp_path / "a"))
    ec2, s3 = session.client("ec2"), session.client("s3")
    ec2.describe_vpcs()
    before = list(counting_server.requests)
    for attempt in (
        lambda: ec2.create_vpc(CidrBlock="10.1.0.0/16"),
        lambda: s3.create_bucket(Bucket="flowlogs-ro-test"),
        lambda: ec2.create_flow_logs(ResourceIds=["vpc-1"], ResourceType="VPC", TrafficType="ALL"),
    ):
        with pytest.raises(ReadOnlyViolation):
            attempt()
    assert counting_server.requests == before  # not one request reached the server
    assert len(before) == 1
    writer = boto3.client("s3", endpoint_url=counting_server.url, region_name="us-east-1")
    assert writer.list_buckets()["Buckets"] == []


def test_audit_log_records_mutations_without_secrets(session: AwsSession, audit: AuditLog) -> None:
    audit.path.write_text('{"time": "earlier", "operation": "Previous"}\n')
    ec2 = session.client("ec2")
    ec2.describe_vpcs()  # reads are not audited
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    s3 = session.client("s3")
    s3.create_bucket(Bucket="audit-bucket")
    s3.put_object(Bucket="audit-bucket", Key="k", Body=b"secret payload")
    with pytest.raises(ClientError):
        ec2.delete_vpc(VpcId="vpc-doesnotexist")
    records = audit.records()
    assert [r["operation"] for r in records] == [
        "Previous",
        "CreateVpc",
        "CreateBucket",
        "PutObject",
        "DeleteVpc",
    ]
    assert records[0] == {"time": "earlier", "operation": "Previous"}  # earlier lines untouched
    create = records[1]
    assert create["identity"] is None or create["identity"].startswith("arn:aws:")
    assert create["params"]["CidrBlock"] == "10.9.0.0/16"
    assert create["result"]["ok"] is True and create["result"]["response"]["Vpc"]["VpcId"] == vpc
    assert records[3]["params"]["Body"] in ("<14 bytes>", "<stream>")
    assert records[4]["result"]["ok"] is False and records[4]["result"]["error"]
    text = audit.path.read_text()
    assert "testing" not in text  # the fake access key / secret never appear
    assert "secret payload" not in text
    for line in text.splitlines():
        json.loads(line)


def test_audit_records_identity_once_known(session: AwsSession, audit: AuditLog) -> None:
    identity = session.identity()
    session.client("ec2").create_vpc(CidrBlock="10.8.0.0/16")
    assert audit.records()[-1]["identity"] == identity.arn
    assert identity.partition == "aws" and identity.account == "123456789012"


def test_read_only_refusal_is_one_refused_record(moto: None, audit: AuditLog) -> None:
    session = AwsSession(SessionOptions(region="us-east-1", read_only=True), audit=audit)
    with pytest.raises(ReadOnlyViolation):
        session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    assert [e["phase"] for e in audit.entries()] == ["refused"]


def test_intent_is_fsynced_before_the_request_is_sent(
    session: AwsSession, audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws.audit

    events: list[str] = []
    real_fsync = aws.audit.os.fsync

    def fsync(fd: int) -> None:
        events.append("fsync " + audit.entries()[-1]["phase"])
        real_fsync(fd)

    monkeypatch.setattr(aws.audit.os, "fsync", fsync)
    ec2 = session.client("ec2")
    ec2.meta.events.register("before-send", lambda **_: events.append("send"))
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    assert events == ["fsync intent", "send", "fsync result"]


def test_phases_of_a_call_share_one_call_id(session: AwsSession, audit: AuditLog) -> None:
    session.client("s3").create_bucket(Bucket="call-id-bucket")
    intent, result = audit.entries()
    assert (intent["phase"], result["phase"], intent["call_id"]) == ("intent", "result", result["call_id"])


def test_each_retry_writes_an_attempt_record(
    session: AwsSession, audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import botocore.endpoint
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _: None))
    monkeypatch.setattr("aws.retry.sleep", lambda _: None)  # the backoff (aws/retry.py sleeps it itself)
    ec2 = session.client("ec2")
    failures = iter([True, True])

    def fail_twice(request: Any, **_: Any) -> None:
        if next(failures, False):
            raise EndpointConnectionError(endpoint_url=request.url)

    ec2.meta.events.register("before-send", fail_twice)
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    assert [(e["phase"], e.get("attempt"), e.get("attempts")) for e in audit.entries()] == [
        ("intent", None, None),
        ("attempt", 2, None),
        ("attempt", 3, None),
        ("result", None, 3),
    ]


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def test_records_name_the_target_and_the_account_from_an_arn(session: AwsSession, audit: AuditLog) -> None:
    iam = session.client("iam")
    iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(POLICY))
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="r", PolicyArn="arn:aws:iam::123456789012:policy/p")
    intent = audit.entries()[-2]  # identity never fetched: the account comes from the PolicyArn
    assert (intent["phase"], intent["target"], intent["account"]) == (
        "intent",
        "arn:aws:iam::123456789012:policy/p",
        "123456789012",
    )


def test_records_name_a_custom_endpoint(
    counting_server: CountingServer, monkeypatch: pytest.MonkeyPatch, audit: AuditLog
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", counting_server.url)
    AwsSession(SessionOptions(region="us-east-1"), audit=audit).client("ec2").create_vpc(
        CidrBlock="10.0.0.0/16"
    )
    assert {e["endpoint"] for e in audit.entries()} == {counting_server.url}


def test_aws_endpoints_are_not_recorded(session: AwsSession, audit: AuditLog) -> None:
    session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    assert [e for e in audit.entries() if "endpoint" in e] == []


def test_demo_runs_use_their_own_log_and_are_marked(
    moto: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tui.config import load_settings, state_dir
    from tui.factory import make_session

    monkeypatch.delenv("FLOWLOGS_AUDIT_LOG")
    monkeypatch.setenv("FLOWLOGS_DEMO_ENDPOINT", "http://127.0.0.1:1")
    session = make_session(load_settings(region="us-east-1"))
    session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    assert session.audit is not None
    assert (session.audit.path, {e["demo"] for e in session.audit.entries()}) == (
        state_dir() / "demo-audit.jsonl",
        {True},
    )


def test_real_runs_are_not_marked_demo(moto: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.config import load_settings
    from tui.factory import make_session

    session = make_session(load_settings(region="us-east-1"))
    session.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    assert session.audit is not None
    assert [e for e in session.audit.entries() if "demo" in e] == []


def test_clients_are_shared_and_created_once_across_threads(session: AwsSession) -> None:
    seen: list[int] = []

    def grab() -> None:
        seen.append(id(session.client("ec2", "eu-central-1")))

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1


def test_timeouts_and_retries_are_bounded(session: AwsSession) -> None:
    client = session.client("ec2")
    config, policy = client.meta.config, session.retry_policy
    assert (config.connect_timeout, config.read_timeout) == (policy.connect_timeout, policy.read_timeout)
    assert config.retries == {"mode": "standard", "total_max_attempts": policy.throttle_attempts}


def test_missing_profile_is_a_clear_error() -> None:
    with pytest.raises(CredentialsError, match="does-not-exist"):
        AwsSession(SessionOptions(profile="does-not-exist"))


def test_no_credentials_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setattr(
        "botocore.credentials.InstanceMetadataFetcher.retrieve_iam_role_credentials", lambda self: {}
    )
    monkeypatch.setattr("botocore.credentials.ContainerProvider.load", lambda self: None)
    session = AwsSession(SessionOptions(region="us-east-1"))
    with pytest.raises(CredentialsError, match="No AWS credentials"):
        session.identity()


@pytest.mark.parametrize("exc", [SSOTokenLoadError(error_msg="expired"), UnauthorizedSSOTokenError()])
def test_expired_sso_names_the_login_command(exc: Exception) -> None:
    problem = explain(exc, profile="prod-admin")
    assert isinstance(problem, CredentialsError)
    assert "aws sso login --profile prod-admin" in str(problem)


def test_expired_token_from_sts(session: AwsSession) -> None:
    sts = session.client("sts")
    with Stubber(sts) as stub:
        stub.add_client_error(
            "get_caller_identity", "ExpiredToken", "The security token included in the request is expired"
        )
        with pytest.raises(CredentialsError, match="ExpiredToken"):
            session.identity()


def test_invalid_token(session: AwsSession) -> None:
    sts = session.client("sts")
    with Stubber(sts) as stub:
        stub.add_client_error("get_caller_identity", "InvalidClientTokenId", "The security token is invalid")
        with pytest.raises(CredentialsError, match="not valid"):
            session.identity()


def test_access_denied_names_the_action(session: AwsSession) -> None:
    ec2 = session.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_client_error(
            "describe_flow_logs",
            "UnauthorizedOperation",
            "You are not authorized to perform this operation. User: arn:aws:iam::1:user/x is not "
            "authorized to perform: ec2:DescribeFlowLogs",
        )
        with pytest.raises(ClientError) as info:
            ec2.describe_flow_logs()
    problem = explain(info.value)
    assert isinstance(problem, AccessDeniedError)
    assert problem.action == "ec2:DescribeFlowLogs"
    assert "ec2:DescribeFlowLogs" in str(problem)


def test_access_denied_without_action_in_message_uses_operation(session: AwsSession) -> None:
    s3 = session.client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_policy", "AccessDenied", "Access Denied")
        with pytest.raises(ClientError) as info:
            s3.get_bucket_policy(Bucket="b")
    problem = explain(info.value, service="s3")
    assert isinstance(problem, AccessDeniedError) and problem.action == "s3:GetBucketPolicy"


def test_no_credentials_error_maps() -> None:
    assert isinstance(explain(NoCredentialsError()), CredentialsError)
    assert isinstance(explain(ProfileNotFound(profile="x")), CredentialsError)


def test_clients_of_one_session_share_their_class_across_regions(moto: None) -> None:
    session = AwsSession(SessionOptions(region="us-east-1"))
    east, west = session.client("ec2", "us-east-1"), session.client("ec2", "eu-west-1")
    assert (east is west, type(east) is type(west)) == (False, True)


def test_another_session_builds_its_own_client_class(moto: None) -> None:
    one = AwsSession(SessionOptions(region="us-east-1")).client("ec2")
    other = AwsSession(SessionOptions(region="us-east-1")).client("ec2")
    assert type(one) is not type(other)


def test_a_client_with_a_shared_class_calls_its_own_region(moto: None) -> None:
    session = AwsSession(SessionOptions(region="us-east-1"))
    session.client("ec2", "us-east-1")
    west = session.client("ec2", "eu-west-1")
    assert {z["RegionName"] for z in west.describe_availability_zones()["AvailabilityZones"]} == {"eu-west-1"}
