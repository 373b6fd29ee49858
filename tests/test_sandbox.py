"""The demo sandbox: delivery simulator (in-process moto), seeded server (ThreadedMotoServer), CLI.

Delivery tests come first: they use `mock_aws`, which resets moto's state, so they must not run while
the module's sandbox server (created lazily by the later tests) holds its seeded account.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.discovery import scan
from aws.inventory import ReasonCode, Verdict
from aws.logs.format import REQUIRED_FIELDS, REQUIRED_LOG_FORMAT, V2_FIELDS
from aws.logs.keys import parse_key
from aws.sandbox import seed
from aws.sandbox.delivery import DeliverySimulator, flow_log_lines, policy_allows_delivery
from aws.sandbox.seed import SeedSummary
from aws.sandbox.server import Sandbox, start_sandbox
from aws.session import AwsSession, SessionOptions

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 3, 7, 9, 5, 30, tzinfo=timezone.utc)
HASH = r"[0-9a-f]{8}"


@pytest.fixture(scope="module")
def boto() -> boto3.Session:
    import moto.core.models  # noqa: F401  (hooks botocore before the session copies its handlers)

    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def aws(moto: None, boto: boto3.Session) -> dict[str, Any]:
    clients: dict[str, Any] = {name: boto.client(name) for name in ("ec2", "s3", "network-firewall", "kms")}
    clients["s3"].create_bucket(Bucket="logs-bucket")
    clients["vpc"] = clients["ec2"].create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    clients["ec2"].create_subnet(VpcId=clients["vpc"], CidrBlock="10.7.1.0/24", AvailabilityZone="us-east-1a")
    return clients


def _flow_log(aws: dict[str, Any], destination: str, **extra: Any) -> str:
    resp = aws["ec2"].create_flow_logs(
        ResourceIds=[aws["vpc"]],
        ResourceType="VPC",
        TrafficType=extra.pop("TrafficType", "ALL"),
        LogDestinationType="s3",
        LogDestination=destination,
        **extra,
    )
    assert resp["Unsuccessful"] == []
    return str(resp["FlowLogIds"][0])


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _lines(s3: Any, bucket: str, key: str) -> list[str]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return gzip.decompress(body).decode().splitlines()


# -- delivery simulator ------------------------------------------------------------------------------------


def test_flow_log_files_use_aws_key_layout_and_header_order(aws: dict[str, Any]) -> None:
    fl_id = _flow_log(aws, "arn:aws:s3:::logs-bucket", LogFormat=REQUIRED_LOG_FORMAT)
    delivered = DeliverySimulator(first_delay=0).tick(NOW)
    [key] = _keys(aws["s3"], "logs-bucket")
    assert [d.key for d in delivered] == [key]
    expected = (
        rf"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/03/07/"
        rf"{ACCOUNT}_vpcflowlogs_{REGION}_{fl_id}_20260307T0905Z_{HASH}\.log\.gz"
    )
    assert re.fullmatch(expected, key), key
    header, *records = _lines(aws["s3"], "logs-bucket", key)
    assert header.split(" ") == list(REQUIRED_FIELDS)
    assert records and all(len(r.split(" ")) == len(REQUIRED_FIELDS) for r in records)
    vpc_col = REQUIRED_FIELDS.index("vpc-id")
    assert {r.split(" ")[vpc_col] for r in records} == {aws["vpc"]}
    assert {r.split(" ")[0] for r in records} == {"5"}  # version = highest field version


def test_default_format_prefix_hive_and_hourly_keys(aws: dict[str, Any]) -> None:
    plain = _flow_log(aws, "arn:aws:s3:::logs-bucket/vpc-logs/")
    hive = _flow_log(
        aws,
        "arn:aws:s3:::logs-bucket/hive/",
        DestinationOptions={
            "FileFormat": "plain-text",
            "HiveCompatiblePartitions": True,
            "PerHourPartition": True,
        },
    )
    DeliverySimulator(first_delay=0).tick(NOW)
    keys = _keys(aws["s3"], "logs-bucket")
    [plain_key] = [k for k in keys if plain in k]
    [hive_key] = [k for k in keys if hive in k]
    assert re.fullmatch(
        rf"vpc-logs/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/03/07/{ACCOUNT}_vpcflowlogs_{REGION}_{plain}_20260307T0905Z_{HASH}\.log\.gz",
        plain_key,
    )
    assert re.fullmatch(
        rf"hive/AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region={REGION}/year=2026/month=03/day=07/hour=09/"
        rf"{ACCOUNT}_vpcflowlogs_{REGION}_{hive}_20260307T0905Z_{HASH}\.log\.gz",
        hive_key,
    )
    assert _lines(aws["s3"], "logs-bucket", plain_key)[0].split(" ") == list(V2_FIELDS)


def test_first_delivery_waits_for_the_first_delay(aws: dict[str, Any]) -> None:
    _flow_log(aws, "arn:aws:s3:::logs-bucket")
    sim = DeliverySimulator(cadence=5, first_delay=600)
    assert sim.tick(NOW) == []
    assert sim.tick(NOW + timedelta(seconds=599)) == []
    assert len(sim.tick(NOW + timedelta(seconds=600))) == 1
    assert len(sim.tick(NOW + timedelta(seconds=605))) == 1
    assert len(_keys(aws["s3"], "logs-bucket")) == 2


def test_firewall_files_use_aws_key_layout(aws: dict[str, Any]) -> None:
    nfw = aws["network-firewall"]
    nfw.create_firewall(
        FirewallName="edge-fw",
        FirewallPolicyArn=f"arn:aws:network-firewall:{REGION}:{ACCOUNT}:firewall-policy/p",
        VpcId=aws["vpc"],
        SubnetMappings=[],
    )
    configs: list[dict[str, Any]] = []
    for log_type in ("FLOW", "ALERT"):  # one change per call, as AWS requires
        configs.append(
            {
                "LogType": log_type,
                "LogDestinationType": "S3",
                "LogDestination": {"bucketName": "logs-bucket", "prefix": "firewall-logs"},
            }
        )
        nfw.update_logging_configuration(
            FirewallName="edge-fw", LoggingConfiguration={"LogDestinationConfigs": configs}
        )
    DeliverySimulator(first_delay=0).tick(NOW)
    keys = sorted(_keys(aws["s3"], "logs-bucket"))
    assert len(keys) == 2
    for key, kind in zip(keys, ("alert", "flow"), strict=True):
        assert re.fullmatch(
            rf"firewall-logs/AWSLogs/{ACCOUNT}/network-firewall/{kind}/{REGION}/edge-fw/2026/03/07/09/"
            rf"{ACCOUNT}_network-firewall_{kind}_{REGION}_edge-fw_202603070905_{HASH}\.log\.gz",
            key,
        ), key
        records = [json.loads(line) for line in _lines(aws["s3"], "logs-bucket", key)]
        assert records
        for record in records:
            assert record["firewall_name"] == "edge-fw"
            assert record["availability_zone"].startswith(REGION)
            assert record["event_timestamp"].isdigit()
            assert record["event"]["event_type"] == {"flow": "netflow", "alert": "alert"}[kind]


def test_kms_key_without_delivery_grant_fails_with_access_error(aws: dict[str, Any]) -> None:
    key = aws["kms"].create_key(Description="bucket key")["KeyMetadata"]
    aws["s3"].put_bucket_encryption(
        Bucket="logs-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key["Arn"],
                    }
                }
            ]
        },
    )
    fl_id = _flow_log(aws, "arn:aws:s3:::logs-bucket")
    sim = DeliverySimulator(first_delay=0)
    assert sim.tick(NOW) == []
    assert _keys(aws["s3"], "logs-bucket") == []
    [fl] = aws["ec2"].describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"]
    assert (fl["FlowLogStatus"], fl["DeliverLogsStatus"], fl["DeliverLogsErrorMessage"]) == (
        "ACTIVE",
        "FAILED",
        "Access error",
    )
    # grant the delivery service the key, as AWS documents: delivery resumes
    policy = json.loads(aws["kms"].get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "AllowLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
        }
    )
    aws["kms"].put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    assert len(sim.tick(NOW + timedelta(seconds=5))) == 1
    [fl] = aws["ec2"].describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"]
    assert fl["DeliverLogsStatus"] == "SUCCESS"


def test_bucket_policy_deny_blocks_delivery(aws: dict[str, Any]) -> None:
    fl_id = _flow_log(aws, "arn:aws:s3:::logs-bucket")
    policy = json.loads(aws["s3"].get_bucket_policy(Bucket="logs-bucket")["Policy"])
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs-bucket/*",
        }
    )
    aws["s3"].put_bucket_policy(Bucket="logs-bucket", Policy=json.dumps(policy))
    assert DeliverySimulator(first_delay=0).tick(NOW) == []
    [fl] = aws["ec2"].describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"]
    assert fl["DeliverLogsStatus"] == "FAILED"


def test_policy_evaluation() -> None:
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/AWSLogs/1/*",
    }
    doc = json.dumps({"Statement": [allow]})
    assert policy_allows_delivery(doc, "s3:PutObject", "arn:aws:s3:::b/AWSLogs/1/x.log.gz")
    assert not policy_allows_delivery(doc, "s3:PutObject", "arn:aws:s3:::b/other/x.log.gz")
    assert not policy_allows_delivery(None, "s3:PutObject", "arn:aws:s3:::b/AWSLogs/1/x")
    deny = {
        "Effect": "Deny",
        "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
        "Action": "s3:*",
        "Resource": "*",
    }
    assert not policy_allows_delivery(
        json.dumps({"Statement": [allow, deny]}), "s3:PutObject", "arn:aws:s3:::b/AWSLogs/1/x.log.gz"
    )


@pytest.mark.parametrize("traffic_type", ["ACCEPT", "REJECT", "ALL"])
def test_records_follow_traffic_type_and_include_nodata(traffic_type: str) -> None:
    import random

    from aws.sandbox.delivery import _Place

    place = _Place("vpc-0abc", "10.3.0.0/16", [("subnet-1", "10.3.1.0/24", "us-east-1a", "use1-az1")])
    fields = list(REQUIRED_FIELDS)
    _header, *records = flow_log_lines(
        fields,
        rng=random.Random(7),
        account_id=ACCOUNT,
        region=REGION,
        place=place,
        traffic_type=traffic_type,
        interval=600,
        now=NOW,
        count=300,
    )
    rows = [dict(zip(fields, r.split(" "), strict=True)) for r in records]
    assert all(len(r) == len(fields) for r in rows)
    nodata = [r for r in rows if r["log-status"] == "NODATA"]
    ok = [r for r in rows if r["log-status"] == "OK"]
    assert nodata and all(r["srcaddr"] == "-" and r["action"] == "-" for r in nodata)
    actions = {r["action"] for r in ok}
    assert actions == ({"ACCEPT", "REJECT"} if traffic_type == "ALL" else {traffic_type})
    assert {r["protocol"] for r in ok} <= {"1", "6", "17"}
    assert all(r["srcaddr"].startswith("10.3.") or r["dstaddr"].startswith("10.3.") for r in ok)
    assert all(int(r["start"]) <= int(r["end"]) <= int(NOW.timestamp()) for r in ok)


# -- the seeded account before any delivery round (in-process moto, no delivery simulator at all) -----------


def _seeded_flow_log(summary: SeedSummary, state: str, vpc: str) -> dict[str, Any]:
    region = summary.vpcs[vpc].region
    [fl] = boto3.client("ec2", region_name=region).describe_flow_logs(FlowLogIds=[summary.flow_logs[state]])[
        "FlowLogs"
    ]
    return dict(fl)


def test_seeded_flow_log_to_the_refusing_kms_bucket_shows_failed_delivery_from_the_start(
    seeded: SeedSummary,
) -> None:
    """AWS shows DeliverLogsStatus FAILED / "Access error" once delivery has been tried
    (../shared/aws-facts.md, SSE-KMS); the seeded account has been running, so it does before any round."""
    fl = _seeded_flow_log(seeded, seed.KMS_ACCESS_ERROR, "data-platform-fra")
    assert (fl["FlowLogStatus"], fl["DeliverLogsStatus"], fl["DeliverLogsErrorMessage"]) == (
        "ACTIVE",
        "FAILED",
        "Access error",
    )


def test_seeded_flow_log_that_can_deliver_still_shows_success(seeded: SeedSummary) -> None:
    assert _seeded_flow_log(seeded, seed.ALL_FIELDS_S3, "prod-core")["DeliverLogsStatus"] == "SUCCESS"


def test_first_scan_of_the_seeded_account_says_the_kms_vpcs_delivery_failed(seeded: SeedSummary) -> None:
    vpc = seeded.vpcs["data-platform-fra"]
    inventory = scan(AwsSession(SessionOptions(region=REGION)), include=[vpc.region])
    [found] = [v for _region, v in inventory.vpcs() if v.vpc_id == vpc.vpc_id]
    assert (found.verdict, [(r.code, r.message) for r in found.reasons]) == (
        Verdict.NEEDS_CHANGE,
        [
            (
                ReasonCode.DELIVERY_FAILED,
                f"{seeded.flow_logs[seed.KMS_ACCESS_ERROR]}: delivery FAILED: Access error",
            )
        ],
    )


# -- the seeded sandbox over HTTP (ThreadedMotoServer) -----------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with start_sandbox(cadence=3600) as sb:  # the thread stays idle; tests call tick() themselves
        yield sb


def _client(sb: Sandbox, service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=sb.endpoint_url,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )


def test_sandbox_serves_the_seeded_account(sandbox: Sandbox) -> None:
    summary = sandbox.summary
    assert summary is not None
    assert sandbox.endpoint_url.startswith("http://127.0.0.1:")
    assert sandbox.account_id == ACCOUNT == _client(sandbox, "sts").get_caller_identity()["Account"]
    assert len(summary.enabled_regions) >= 6
    named = 0
    for region in summary.enabled_regions:
        vpcs = _client(sandbox, "ec2", region).describe_vpcs()["Vpcs"]
        names = {t["Value"] for v in vpcs for t in v.get("Tags", []) if t["Key"] == "Name"}
        expected = {n for n, v in summary.vpcs.items() if v.region == region}
        assert expected and expected <= names
        named += len(expected)
        subnets = _client(sandbox, "ec2", region).describe_subnets()["Subnets"]
        for name in expected:
            assert {s["SubnetId"] for s in subnets if s["VpcId"] == summary.vpcs[name].vpc_id} == set(
                summary.vpcs[name].subnet_ids
            )
    assert named == len(summary.vpcs) >= 10
    assert {"prod-core", "payments-eu"} <= set(summary.vpcs)


def test_seeded_regions_include_a_disabled_opt_in_region(sandbox: Sandbox) -> None:
    ec2 = _client(sandbox, "ec2")
    assert sandbox.summary is not None
    opt_in = sandbox.summary.opt_in_region
    enabled = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    everything = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert set(sandbox.summary.enabled_regions) <= enabled
    assert opt_in not in enabled
    assert everything[opt_in] == "not-opted-in"


def test_seeded_flow_logs_cover_every_state(sandbox: Sandbox) -> None:
    from aws.sandbox import seed

    summary = sandbox.summary
    assert summary is not None
    logs: dict[str, dict[str, Any]] = {}
    for region in summary.enabled_regions:
        for fl in _client(sandbox, "ec2", region).describe_flow_logs()["FlowLogs"]:
            logs[fl["FlowLogId"]] = fl
    state = {name: logs[fl_id] for name, fl_id in summary.flow_logs.items()}
    default_format = " ".join(f"${{{f}}}" for f in V2_FIELDS)

    full = state[seed.ALL_FIELDS_S3]
    assert (full["LogDestinationType"], full["TrafficType"], full["LogFormat"]) == (
        "s3",
        "ALL",
        REQUIRED_LOG_FORMAT,
    )
    assert state[seed.DEFAULT_S3]["LogFormat"] == default_format
    assert state[seed.DEFAULT_S3]["LogDestinationType"] == "s3"
    assert state[seed.REJECT_ONLY]["TrafficType"] == "REJECT"
    assert state[seed.CLOUDWATCH]["LogDestinationType"] == "cloud-watch-logs"
    hive = state[seed.HIVE_HOURLY]
    assert hive["DestinationOptions"]["HiveCompatiblePartitions"] is True
    assert hive["LogDestination"].endswith("/vpc-flow-logs/")
    assert state[seed.SUBNET_ALL_FIELDS]["ResourceId"].startswith("subnet-")
    # VPCs with no flow log at all
    covered = {fl["ResourceId"] for fl in logs.values()}
    assert summary.vpcs_without_flow_logs
    for name in summary.vpcs_without_flow_logs:
        assert summary.vpcs[name].vpc_id not in covered


def test_seeded_firewalls_role_policy_and_key(sandbox: Sandbox) -> None:
    summary = sandbox.summary
    assert summary is not None
    assert len(summary.firewalls) >= 2
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name, arn in summary.firewalls.items():
        region = arn.split(":")[3]
        conf = _client(sandbox, "network-firewall", region).describe_logging_configuration(FirewallArn=arn)
        by_name[name] = (conf.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or []
    assert [(c["LogType"], c["LogDestinationType"]) for c in by_name[summary.firewall_logging_flow_s3]] == [
        ("FLOW", "S3")
    ]
    assert by_name[summary.firewall_not_logging] == []

    iam = _client(sandbox, "iam")
    role = iam.get_role(RoleName=summary.kentik_role_name)["Role"]
    [stmt] = role["AssumeRolePolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::834693425129:role/eks-ingest-node"}
    assert stmt["Condition"]["StringEquals"]["sts:ExternalId"] == summary.external_id
    attached = iam.list_attached_role_policies(RoleName=summary.kentik_role_name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [summary.metadata_policy_arn]
    versions = iam.list_policy_versions(PolicyArn=summary.metadata_policy_arn)["Versions"]
    assert len(versions) == summary.metadata_policy_versions >= 3
    [default] = [v for v in versions if v["IsDefaultVersion"]]
    document = iam.get_policy_version(PolicyArn=summary.metadata_policy_arn, VersionId=default["VersionId"])
    actions = {a for s in document["PolicyVersion"]["Document"]["Statement"] for a in s["Action"]}
    assert {"ec2:Describe*", "network-firewall:Describe*", "network-firewall:List*"} <= actions

    key = _client(sandbox, "kms", summary.kms_key_arn.split(":")[3]).describe_key(KeyId=summary.kms_key_id)
    assert key["KeyMetadata"]["KeyManager"] == "CUSTOMER"


def test_sandbox_delivers_seeded_sources_and_new_flow_logs(sandbox: Sandbox) -> None:
    from aws.sandbox import seed

    summary = sandbox.summary
    assert summary is not None
    ec2 = _client(sandbox, "ec2")
    new_id = ec2.create_flow_logs(
        ResourceIds=[summary.vpcs["dev-sandbox"].vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::northwind-flowlogs-use1/dev/",
        LogFormat=REQUIRED_LOG_FORMAT,
    )["FlowLogIds"][0]
    sim = sandbox.delivery
    sim.tick(NOW)
    written = sim.tick(NOW + timedelta(seconds=sim.first_delay))
    s3 = _client(sandbox, "s3")
    keys = _keys(s3, "northwind-flowlogs-use1")
    [new_key] = [k for k in keys if new_id in k]
    assert new_key.startswith(f"dev/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/")
    assert _lines(s3, "northwind-flowlogs-use1", new_key)[0].split(" ") == list(REQUIRED_FIELDS)
    fw = f"network-firewall/AWSLogs/{ACCOUNT}/network-firewall/flow/{REGION}/{summary.firewall_logging_flow_s3}/"
    assert any(k.startswith(fw) for k in keys)
    sources = {d.source for d in written}
    for d in written:  # the reader's parser (aws.logs.keys) understands every key the simulator writes
        info = parse_key(d.key)
        assert info is not None and info.account == ACCOUNT, d.key
        assert d.source in (info.flow_log_id, f"{info.firewall_name}:{info.log_type.upper()}")
    assert summary.flow_logs[seed.KMS_ACCESS_ERROR] not in sources
    assert summary.flow_logs[seed.ALL_FIELDS_S3] in sources
    kms_region = summary.vpcs["data-platform-fra"].region
    [failed] = _client(sandbox, "ec2", kms_region).describe_flow_logs(
        FlowLogIds=[summary.flow_logs[seed.KMS_ACCESS_ERROR]]
    )["FlowLogs"]
    assert (failed["DeliverLogsStatus"], failed["DeliverLogsErrorMessage"]) == ("FAILED", "Access error")


def test_export_env_points_boto3_at_the_sandbox(sandbox: Sandbox) -> None:
    env = {"AWS_PROFILE": "prod", "AWS_ENDPOINT_URL": "http://elsewhere"}
    sandbox.export_env(env)
    assert env["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert "AWS_PROFILE" not in env


# -- the CLI -------------------------------------------------------------------------------------------------


def test_demo_server_prints_its_endpoint_first(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("flowlogs")
    proc = subprocess.Popen(
        [str(exe), "demo-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    try:
        reader.join(timeout=120)  # a guard against hanging, not a timing assertion
        assert first, "demo-server printed nothing"
        url = first[0].strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), first[0]
        vpcs = boto3.client(
            "ec2", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="d", aws_secret_access_key="d"
        ).describe_vpcs()["Vpcs"]
        assert any(t["Value"] == "payments-eu" for v in vpcs for t in v.get("Tags", []))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- the seed is deterministic (last in this module: starting a sandbox resets moto's state, the module's
# sandbox's with it) ---------------------------------------------------------------------------------------------


def _account_ids(sb: Sandbox) -> dict[str, Any]:
    """Every id the account shows before the first user action: the seed's and every enabled region's
    VPCs (default ones included), subnets and flow logs."""
    assert sb.summary is not None
    seen: dict[str, Any] = {"summary": dataclasses.asdict(sb.summary)}
    for region in sorted(r["RegionName"] for r in _client(sb, "ec2").describe_regions()["Regions"]):
        ec2 = _client(sb, "ec2", region)
        seen[region] = (
            sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
            sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
            sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]),
        )
    return seen


def test_every_sandbox_start_shows_the_same_ids() -> None:
    runs = []
    for _ in range(2):
        with start_sandbox(cadence=3600) as sb:
            runs.append(_account_ids(sb))
    first, second = runs
    assert first["summary"]["vpcs"]["prod-core"]["vpc_id"].startswith("vpc-")
    assert first["summary"]["kms_key_id"] and first["summary"]["firewalls"]
    assert first == second


def test_demo_server_can_serve_an_organization(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("flowlogs")
    proc = subprocess.Popen(
        [str(exe), "demo-server", "--port", "0", "--org-members", "2", "--org-refusing", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    try:
        reader.join(timeout=120)  # a guard against hanging, not a timing assertion
        url = first[0].strip() if first else ""
        accounts = boto3.client(
            "organizations",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="d",
            aws_secret_access_key="d",
        ).list_accounts()["Accounts"]
        assert len(accounts) == 3  # the demo account manages 2 members
    finally:
        proc.terminate()
        proc.wait(timeout=30)
