"""Discovery over moto: the seeded inventory and its verdicts, region plans, streaming callbacks,
read-only operation, and per-region / per-service failures that never stop the rest."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from aws.audit import AuditLog
from aws.discovery import scan
from aws.errors import CredentialsError, ValidationFailed
from aws.inventory import Inventory, ReasonCode, RegionResult, RegionStatus, Verdict
from aws.kentik_roles import KENTIK_ACCOUNT
from aws.logs.format import REQUIRED_LOG_FORMAT
from aws.session import AwsSession, SessionOptions

HOME, OTHER = "us-east-1", "eu-west-1"
REGIONS = [HOME, OTHER]
ACCOUNT = "123456789012"


@dataclass
class Seeded:
    vpcs: dict[str, str] = field(default_factory=dict)  # label -> vpc id
    subnets: dict[str, str] = field(default_factory=dict)
    enis: dict[str, str] = field(default_factory=dict)


def _trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> str:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def seed_account() -> Seeded:
    """us-east-1: compliant, CloudWatch, subnet-only and bare VPCs + a fully logged firewall;
    eu-west-1: a REJECT-only VPC flow log plus an ENI flow log + a firewall without logging; IAM roles."""
    seeded = Seeded()
    for region in REGIONS:
        s3 = boto3.client("s3", region_name=region)
        config = {} if region == HOME else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=f"kentik-logs-{region}", **config)

    ec2 = boto3.client("ec2", region_name=HOME)

    def vpc(client: Any, label: str, cidr: str) -> str:
        vpc_id = client.create_vpc(
            CidrBlock=cidr,
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": label}]}],
        )["Vpc"]["VpcId"]
        seeded.vpcs[label] = vpc_id
        seeded.subnets[label] = client.create_subnet(
            VpcId=vpc_id, CidrBlock=cidr.replace("0.0/16", "1.0/24")
        )["Subnet"]["SubnetId"]
        return vpc_id

    s3_dest = f"arn:aws:s3:::kentik-logs-{HOME}/flows/"
    ok = vpc(ec2, "ok", "10.1.0.0/16")
    ec2.create_subnet(VpcId=ok, CidrBlock="10.1.2.0/24")
    ec2.create_flow_logs(
        ResourceIds=[ok],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=s3_dest,
        LogFormat=REQUIRED_LOG_FORMAT,
    )
    cw = vpc(ec2, "cloudwatch", "10.2.0.0/16")
    boto3.client("logs", region_name=HOME).create_log_group(logGroupName="vpc-flows")
    ec2.create_flow_logs(
        ResourceIds=[cw],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="vpc-flows",
        DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow-logs",
        LogFormat=REQUIRED_LOG_FORMAT,
    )
    vpc(ec2, "subnet-only", "10.3.0.0/16")
    ec2.create_flow_logs(
        ResourceIds=[seeded.subnets["subnet-only"]],
        ResourceType="Subnet",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=s3_dest,
        LogFormat=REQUIRED_LOG_FORMAT,
    )
    vpc(ec2, "bare", "10.4.0.0/16")

    nfw = boto3.client("network-firewall", region_name=HOME)
    policy = f"arn:aws:network-firewall:{HOME}:{ACCOUNT}:firewall-policy/p"
    arn = nfw.create_firewall(
        FirewallName="fw-ok",
        FirewallPolicyArn=policy,
        VpcId=ok,
        SubnetMappings=[{"SubnetId": seeded.subnets["ok"]}],
    )["Firewall"]["FirewallArn"]
    configs: list[dict[str, Any]] = []
    for log_type in ("FLOW", "ALERT"):  # one destination change per call, as AWS requires
        configs.append(
            {
                "LogType": log_type,
                "LogDestinationType": "S3",
                "LogDestination": {"bucketName": f"kentik-logs-{HOME}", "prefix": "fw"},
            }
        )
        nfw.update_logging_configuration(
            FirewallArn=arn, LoggingConfiguration={"LogDestinationConfigs": list(configs)}
        )

    ec2_other = boto3.client("ec2", region_name=OTHER)
    eni_vpc = vpc(ec2_other, "eni", "10.5.0.0/16")
    seeded.enis["eni"] = ec2_other.create_network_interface(SubnetId=seeded.subnets["eni"])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    other_dest = f"arn:aws:s3:::kentik-logs-{OTHER}"
    ec2_other.create_flow_logs(
        ResourceIds=[eni_vpc],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination=other_dest,
        LogFormat=REQUIRED_LOG_FORMAT,
    )
    ec2_other.create_flow_logs(
        ResourceIds=[seeded.enis["eni"]],
        ResourceType="NetworkInterface",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=other_dest,
    )
    boto3.client("network-firewall", region_name=OTHER).create_firewall(
        FirewallName="fw-none",
        FirewallPolicyArn=policy.replace(HOME, OTHER),
        VpcId=eni_vpc,
        SubnetMappings=[{"SubnetId": seeded.subnets["eni"]}],
    )

    iam = boto3.client("iam", region_name=HOME)
    iam.create_role(
        RoleName="kentik-ingest",
        AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{KENTIK_ACCOUNT}:role/eks-ingest-node"}),
    )
    policy_arn = iam.create_policy(
        PolicyName="kentik-metadata",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="kentik-ingest", PolicyArn=policy_arn)
    iam.put_role_policy(
        RoleName="kentik-ingest",
        PolicyName="s3-read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
            }
        ),
    )
    iam.create_role(
        RoleName="partner-with-external-id",
        AssumeRolePolicyDocument=_trust(
            {"AWS": "arn:aws:iam::222222222222:root"}, {"StringEquals": {"sts:ExternalId": "kentik-42"}}
        ),
    )
    iam.create_role(
        RoleName="ec2-instance", AssumeRolePolicyDocument=_trust({"Service": "ec2.amazonaws.com"})
    )
    return seeded


@pytest.fixture(scope="module")
def _seeded_account() -> Iterator[Seeded]:
    """One seeded moto account for the module: every scan here is read-only, so tests can share it."""
    from moto import mock_aws

    from aws.sandbox.moto_fixes import apply_moto_fixes

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # moto loads ~0.7 s of AMIs per region otherwise
        mp.setenv("AWS_DEFAULT_REGION", HOME)
        apply_moto_fixes()
        with mock_aws():
            yield seed_account()


@pytest.fixture
def seeded(_seeded_account: Seeded) -> Seeded:
    return _seeded_account


def read_only_session(audit: AuditLog, **options: Any) -> AwsSession:
    session = AwsSession(SessionOptions(region=HOME, read_only=True, **options), audit=audit)
    assert session.read_only
    return session


def inject_error(
    session: AwsSession,
    service: str,
    region: str,
    operation: str,
    status: int,
    body: str,
    *,
    json_error: bool = False,
) -> list[int]:
    """Make every `operation` call of that region's client get this HTTP error from 'AWS'."""
    calls: list[int] = []

    def respond(**_: Any) -> AWSResponse:
        calls.append(1)
        headers = {"Content-Type": "application/x-amz-json-1.0" if json_error else "text/xml"}
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body.encode()])})()
        return AWSResponse("https://example.invalid/", status, headers, raw)

    session.client(service, region).meta.events.register(f"before-send.{service}.{operation}", respond)
    return calls


def ec2_error(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    )


def json_error(code: str, message: str) -> str:
    return json.dumps({"__type": code, "message": message})


def vpc_by_label(inv: Inventory, seeded: Seeded, label: str) -> Any:
    for _, vpc in inv.vpcs():
        if vpc.vpc_id == seeded.vpcs[label]:
            return vpc
    raise AssertionError(f"VPC {label} not in the inventory")


# -- the happy path --------------------------------------------------------------------------------
def test_scan_finds_everything_with_the_right_verdicts(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    inv = scan(session, include=REGIONS)

    assert inv.identity.account == ACCOUNT and inv.identity.partition == "aws"
    assert [r.name for r in inv.scanned_regions] == [OTHER, HOME]
    assert all(r.status is RegionStatus.SCANNED for r in inv.scanned_regions)
    assert inv.failed_regions == []

    ok = vpc_by_label(inv, seeded, "ok")
    assert (ok.verdict, ok.name, ok.cidr, ok.subnet_count, ok.is_default) == (
        Verdict.COMPLIANT,
        "ok",
        "10.1.0.0/16",
        2,
        False,
    )
    assert ok.flow_logs[0].bucket == f"kentik-logs-{HOME}" and ok.flow_logs[0].prefix == "flows/"

    cw = vpc_by_label(inv, seeded, "cloudwatch")
    assert cw.verdict is Verdict.NEEDS_CHANGE
    assert [r.code for r in cw.reasons] == [ReasonCode.NOT_S3]

    sub = vpc_by_label(inv, seeded, "subnet-only")
    assert sub.verdict is Verdict.MISSING
    assert [r.code for r in sub.reasons] == [ReasonCode.NO_FLOW_LOG, ReasonCode.PARTIAL_COVERAGE]
    assert sub.partial_flow_logs[0].resource_id == seeded.subnets["subnet-only"]

    assert vpc_by_label(inv, seeded, "bare").verdict is Verdict.MISSING

    eni = vpc_by_label(inv, seeded, "eni")
    assert eni.verdict is Verdict.NEEDS_CHANGE
    assert [r.code for r in eni.reasons] == [ReasonCode.TRAFFIC_TYPE, ReasonCode.PARTIAL_COVERAGE]
    assert seeded.enis["eni"] in eni.reasons[-1].message

    home = inv.region(HOME)
    assert home is not None
    defaults = [v for v in home.vpcs if v.is_default]
    assert len(defaults) == 1 and defaults[0].verdict is Verdict.MISSING
    assert home.counts.vpcs == 5 and home.counts.compliant == 1 and home.counts.needs_change == 1
    assert home.counts.missing == 3
    (fw_ok,) = home.firewalls
    assert (fw_ok.name, fw_ok.vpc_id, fw_ok.verdict) == ("fw-ok", seeded.vpcs["ok"], Verdict.COMPLIANT)
    assert (fw_ok.flow.bucket, fw_ok.flow.prefix, fw_ok.alert.to_s3) == (f"kentik-logs-{HOME}", "fw", True)
    other = inv.region(OTHER)
    assert other is not None
    assert [(f.name, f.verdict) for f in other.firewalls] == [("fw-none", Verdict.MISSING)]

    roles = {r.name: r for r in inv.roles}
    assert set(roles) == {"kentik-ingest", "partner-with-external-id"}
    kentik = roles["kentik-ingest"]
    assert kentik.trusts_kentik and kentik.inline_policies == ["s3-read"]
    assert [(p.name, p.default_version_id) for p in kentik.attached_policies] == [("kentik-metadata", "v1")]
    assert roles["partner-with-external-id"].external_ids == ["kentik-42"]
    assert not roles["partner-with-external-id"].trusts_kentik

    # Read-only: nothing mutating was even attempted; ENIs looked up only where ENI flow logs exist.
    assert session.stats.mutating() == 0 and not session.stats.blocked
    assert session.stats.calls[("ec2", "DescribeNetworkInterfaces")] == 1
    assert session.stats.calls[("ec2", "DescribeRegions")] == 1
    assert session.stats.calls[("iam", "ListRoles")] == 1
    assert audit.records() == []
    # The JSON round-trips through the documented model.
    assert Inventory.model_validate_json(inv.model_dump_json()).region(HOME) == home


def test_region_plan_lists_disabled_and_skipped_regions(seeded: Seeded, audit: AuditLog) -> None:
    inv = scan(read_only_session(audit), include=REGIONS, skip=[OTHER])
    statuses = {r.name: r.status for r in inv.regions}
    assert statuses[HOME] is RegionStatus.SCANNED
    assert statuses[OTHER] is RegionStatus.SKIPPED  # skip wins over include
    assert statuses["us-west-2"] is RegionStatus.SKIPPED  # not in the include list
    assert statuses["af-south-1"] is RegionStatus.NOT_ENABLED  # a not-enabled region is listed, not scanned
    af = inv.region("af-south-1")
    assert af is not None and af.error is not None and "not enabled" in af.error.hint
    assert all(not r.startswith(("cn-", "us-gov-")) for r in statuses)  # only the caller's partition
    assert [r.name for r in inv.regions] == sorted(statuses)


@pytest.mark.parametrize(
    ("include", "skip", "message"),
    [
        (["us-east-1", "moon"], None, "Unknown region 'moon' (--regions)."),
        (["xx-north-9"], None, "Unknown region 'xx-north-9' (--regions). Did you mean eu-north-1?"),
        (None, ["cn-north-1"], "Region cn-north-1 (--skip) is in the aws-cn partition"),
        (["af-south-1"], None, "Region af-south-1 (--regions) is not enabled for this account."),
    ],
)
def test_bad_region_names_are_refused(
    seeded: Seeded, audit: AuditLog, include: list[str] | None, skip: list[str] | None, message: str
) -> None:
    session = read_only_session(audit)
    with pytest.raises(ValidationFailed, match=re.escape(message)):
        scan(session, include=include, skip=skip)
    assert ("ec2", "DescribeVpcs") not in session.stats.calls


def test_callbacks_stream_regions_from_worker_threads(seeded: Seeded, audit: AuditLog) -> None:
    events: list[tuple[str, Any, str]] = []

    def on_start(inv: Inventory) -> None:
        pending = [r.name for r in inv.regions if r.status is RegionStatus.PENDING]
        events.append(("start", pending, threading.current_thread().name))

    def on_region(region: RegionResult) -> None:
        events.append(("region", region.name, threading.current_thread().name))
        raise RuntimeError("a broken listener must not break the scan")

    inv = scan(read_only_session(audit), include=REGIONS, on_start=on_start, on_region=on_region, workers=2)
    assert events[0][:2] == ("start", [OTHER, HOME])
    assert sorted(e[1] for e in events[1:]) == [OTHER, HOME]
    assert all(e[0] == "region" and e[2].startswith("scan-region") for e in events[1:])
    assert len(inv.scanned_regions) == 2


def test_cancel_skips_regions_not_started(seeded: Seeded, audit: AuditLog) -> None:
    cancel = threading.Event()
    cancel.set()
    inv = scan(read_only_session(audit), include=REGIONS, cancel=cancel)
    assert {r.status for r in inv.regions if r.name in REGIONS} == {RegionStatus.CANCELLED}


# -- failures --------------------------------------------------------------------------------------
def test_auth_failure_in_one_region_does_not_stop_the_others(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    inject_error(
        session, "ec2", OTHER, "DescribeVpcs", 401, ec2_error("AuthFailure", "AWS was not able to validate")
    )
    inv = scan(session, include=REGIONS)
    failed = inv.region(OTHER)
    assert failed is not None and failed.status is RegionStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.operation) == ("AuthFailure", "DescribeVpcs")
    assert f"region {OTHER} is not enabled" in failed.error.hint
    assert [r.name for r in inv.failed_regions] == [OTHER]
    home = inv.region(HOME)
    assert home is not None and home.status is RegionStatus.SCANNED and home.counts.vpcs == 5


def test_denied_flow_logs_names_the_permission(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    inject_error(
        session,
        "ec2",
        HOME,
        "DescribeFlowLogs",
        403,
        ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation."),
    )
    inv = scan(session, include=REGIONS)
    home = inv.region(HOME)
    assert home is not None and home.status is RegionStatus.FAILED and home.error is not None
    assert home.error.hint == "grant ec2:DescribeFlowLogs"
    assert home.error.action == "ec2:DescribeFlowLogs"
    assert inv.region(OTHER).status is RegionStatus.SCANNED  # type: ignore[union-attr]


def test_throttling_that_outlasts_the_retries_fails_only_that_region(seeded: Seeded, audit: AuditLog) -> None:
    # One attempt in total (no retries): what the scan sees once the retries are used up, without backoff
    # sleeps in tests.
    session = read_only_session(audit, max_attempts=1, throttle_attempts=1)
    throttled = ec2_error("RequestLimitExceeded", "Request limit exceeded.")
    sent = inject_error(session, "ec2", OTHER, "DescribeVpcs", 503, throttled)
    inv = scan(session, include=REGIONS)
    other = inv.region(OTHER)
    assert other is not None and other.status is RegionStatus.FAILED and other.error is not None
    assert other.error.code == "RequestLimitExceeded"
    assert "throttling" in other.error.hint
    assert len(sent) == 1
    assert inv.region(HOME).status is RegionStatus.SCANNED  # type: ignore[union-attr]


def test_network_firewall_denied_degrades_only_the_firewalls(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    message = (
        f"User: arn:aws:iam::{ACCOUNT}:user/x is not authorized to perform: network-firewall:ListFirewalls"
    )
    inject_error(
        session,
        "network-firewall",
        HOME,
        "ListFirewalls",
        400,
        json_error("AccessDeniedException", message),
        json_error=True,
    )
    inv = scan(session, include=REGIONS)
    home = inv.region(HOME)
    assert home is not None and home.status is RegionStatus.PARTIAL
    (err,) = home.partial_errors
    assert (err.service, err.operation, err.hint) == (
        "network-firewall",
        "ListFirewalls",
        "grant network-firewall:ListFirewalls",
    )
    assert home.firewalls == []
    assert vpc_by_label(inv, seeded, "ok").verdict is Verdict.COMPLIANT  # VPCs still assessed
    assert inv.failed_regions == []


def test_unreadable_firewall_logging_is_unknown(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    inject_error(
        session,
        "network-firewall",
        OTHER,
        "DescribeLoggingConfiguration",
        400,
        json_error(
            "AccessDeniedException",
            "not authorized to perform: network-firewall:DescribeLoggingConfiguration",
        ),
        json_error=True,
    )
    inv = scan(session, include=REGIONS)
    other = inv.region(OTHER)
    assert other is not None and other.status is RegionStatus.PARTIAL
    (fw,) = other.firewalls
    assert fw.verdict is Verdict.UNKNOWN and fw.vpc_id == seeded.vpcs["eni"]
    assert other.partial_errors[0].hint == "grant network-firewall:DescribeLoggingConfiguration"


def test_iam_denied_is_recorded_and_regions_complete(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    inject_error(
        session,
        "iam",
        HOME,
        "ListRoles",
        403,
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User x is not authorized "
        "to perform: iam:ListRoles</Message></Error><RequestId>r</RequestId></ErrorResponse>",
    )
    inv = scan(session, include=REGIONS)
    assert inv.roles == [] and inv.roles_error is not None
    assert inv.roles_error.hint == "grant iam:ListRoles"
    assert len(inv.scanned_regions) == 2


def test_rejected_credentials_stop_the_scan(seeded: Seeded, audit: AuditLog) -> None:
    session = read_only_session(audit)
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token "
        "included in the request is invalid.</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
    inject_error(session, "sts", HOME, "GetCallerIdentity", 403, body)
    with pytest.raises(CredentialsError, match="InvalidClientTokenId"):
        scan(session, include=REGIONS)
