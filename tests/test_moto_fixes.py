"""moto follows AWS's rules once `apply_moto_fixes()` ran (the `moto` fixture applies them)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
MULTIPLE = "Given logging configuration attempts to create/modify multiple log destination configs"


@pytest.fixture(scope="module")
def boto() -> boto3.Session:
    """One session for the module: clients made from it load their models once. moto must be imported
    first: it hooks botocore's built-in handlers, which a session copies when it is created."""
    import moto.core.models  # noqa: F401

    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def ec2(moto: None, boto: boto3.Session) -> Any:
    return boto.client("ec2")


@pytest.fixture
def s3(moto: None, boto: boto3.Session) -> Any:
    return boto.client("s3")


@pytest.fixture
def vpc_id(ec2: Any, s3: Any) -> str:
    s3.create_bucket(Bucket="flow-bucket")
    return str(ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def _create(ec2: Any, vpc_id: str, destination: str, **extra: Any) -> Any:
    return ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=destination,
        **extra,
    )


# -- CreateFlowLogs ----------------------------------------------------------------------------------------


def test_s3_destination_with_prefix_is_accepted(ec2: Any, vpc_id: str) -> None:
    resp = _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket/vpc-logs/")
    assert resp["Unsuccessful"] == []
    [fl] = ec2.describe_flow_logs(FlowLogIds=resp["FlowLogIds"])["FlowLogs"]
    assert fl["LogDestination"] == "arn:aws:s3:::flow-bucket/vpc-logs/"
    assert fl["ResourceId"] == vpc_id


def test_prefix_on_missing_bucket_is_unsuccessful(ec2: Any, vpc_id: str) -> None:
    resp = _create(ec2, vpc_id, "arn:aws:s3:::no-such-bucket/vpc-logs/")
    assert resp["FlowLogIds"] == []
    assert [u["ResourceId"] for u in resp["Unsuccessful"]] == [vpc_id]


@pytest.mark.parametrize(
    "destination", ["arn:aws:s3:::flow-bucket/AWSLogs/", "arn:aws:s3:::flow-bucket/AWSLogs/x/"]
)
def test_awslogs_prefix_is_rejected(ec2: Any, vpc_id: str, destination: str) -> None:
    with pytest.raises(ClientError) as err:
        _create(ec2, vpc_id, destination)
    assert err.value.response["Error"]["Code"] == "InvalidParameter"
    assert ec2.describe_flow_logs()["FlowLogs"] == []


def test_aggregation_interval_is_60_or_600(ec2: Any, vpc_id: str) -> None:
    with pytest.raises(ClientError) as err:
        _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket", MaxAggregationInterval=300)
    assert err.value.response["Error"]["Code"] == "InvalidParameter"
    resp = _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket", MaxAggregationInterval=60)
    [fl] = ec2.describe_flow_logs(FlowLogIds=resp["FlowLogIds"])["FlowLogs"]
    assert fl["MaxAggregationInterval"] == 60


def test_destination_options_round_trip(ec2: Any, vpc_id: str) -> None:
    options = {"FileFormat": "plain-text", "HiveCompatiblePartitions": True, "PerHourPartition": True}
    hive = _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket/hive/", DestinationOptions=options)["FlowLogIds"][0]
    plain = _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket")["FlowLogIds"][0]
    by_id = {fl["FlowLogId"]: fl for fl in ec2.describe_flow_logs()["FlowLogs"]}
    assert by_id[hive]["DestinationOptions"] == options
    assert by_id[plain]["DestinationOptions"] == {
        "FileFormat": "plain-text",
        "HiveCompatiblePartitions": False,
        "PerHourPartition": False,
    }


def test_invalid_file_format_is_rejected(ec2: Any, vpc_id: str) -> None:
    with pytest.raises(ClientError):
        _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket", DestinationOptions={"FileFormat": "csv"})


def test_traffic_type_required_except_transit_gateway(ec2: Any, vpc_id: str) -> None:
    with pytest.raises(ClientError) as err:
        ec2.create_flow_logs(
            ResourceIds=[vpc_id],
            ResourceType="VPC",
            LogDestinationType="s3",
            LogDestination="arn:aws:s3:::flow-bucket",
        )
    assert err.value.response["Error"]["Code"] == "MissingParameter"


def test_log_delivery_statements_are_added_to_the_bucket_policy(ec2: Any, s3: Any, vpc_id: str) -> None:
    _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket/vpc-logs/")
    policy = json.loads(s3.get_bucket_policy(Bucket="flow-bucket")["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    write = by_sid["AWSLogDeliveryWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"arn:aws:s3:::flow-bucket/vpc-logs/AWSLogs/{ACCOUNT}/*"
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert by_sid["AWSLogDeliveryAclCheck"]["Resource"] == "arn:aws:s3:::flow-bucket"


def test_a_policy_that_already_grants_delivery_is_left_alone(ec2: Any, s3: Any, vpc_id: str) -> None:
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KentikLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": ["s3:PutObject", "s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::flow-bucket", "arn:aws:s3:::flow-bucket/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket="flow-bucket", Policy=json.dumps(grant))
    _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket/vpc-logs/")
    assert json.loads(s3.get_bucket_policy(Bucket="flow-bucket")["Policy"]) == grant


def test_deliver_log_status_filter_uses_the_real_status(ec2: Any, vpc_id: str) -> None:
    from moto.ec2.models import ec2_backends

    fl_id = _create(ec2, vpc_id, "arn:aws:s3:::flow-bucket")["FlowLogIds"][0]
    ec2_backends[ACCOUNT][REGION].flow_logs[fl_id].deliver_logs_status = "FAILED"
    failed = ec2.describe_flow_logs(Filters=[{"Name": "deliver-log-status", "Values": ["FAILED"]}])
    ok = ec2.describe_flow_logs(Filters=[{"Name": "deliver-log-status", "Values": ["SUCCESS"]}])
    assert [f["FlowLogId"] for f in failed["FlowLogs"]] == [fl_id]
    assert ok["FlowLogs"] == []


# -- Network Firewall UpdateLoggingConfiguration ------------------------------------------------------------


@pytest.fixture
def nfw(moto: None, boto: boto3.Session) -> Any:
    s3 = boto.client("s3")
    s3.create_bucket(Bucket="fw-logs")
    s3.create_bucket(Bucket="fw-logs-2")
    client = boto.client("network-firewall")
    client.create_firewall(
        FirewallName="fw",
        FirewallPolicyArn=f"arn:aws:network-firewall:{REGION}:{ACCOUNT}:firewall-policy/p",
        VpcId="vpc-0a1b2c3d4e5f60718",
        SubnetMappings=[],
    )
    return client


def _s3(log_type: str, bucket: str = "fw-logs") -> dict[str, Any]:
    return {
        "LogType": log_type,
        "LogDestinationType": "S3",
        "LogDestination": {"bucketName": bucket, "prefix": "nfw"},
    }


def _update(nfw: Any, *configs: dict[str, Any]) -> Any:
    return nfw.update_logging_configuration(
        FirewallName="fw", LoggingConfiguration={"LogDestinationConfigs": list(configs)}
    )


def _current(nfw: Any) -> list[dict[str, Any]]:
    conf = nfw.describe_logging_configuration(FirewallName="fw").get("LoggingConfiguration") or {}
    return list(conf.get("LogDestinationConfigs") or [])


def test_two_additions_in_one_call_fail_like_aws(nfw: Any) -> None:
    with pytest.raises(ClientError) as err:
        _update(nfw, _s3("FLOW"), _s3("ALERT"))
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert err.value.response["Error"]["Message"] == MULTIPLE
    assert _current(nfw) == []


def test_sequential_single_changes_succeed(nfw: Any) -> None:
    _update(nfw, _s3("FLOW"))
    _update(nfw, *_current(nfw), _s3("ALERT"))
    assert {c["LogType"] for c in _current(nfw)} == {"FLOW", "ALERT"}
    # change one destination, then remove one
    _update(nfw, _s3("FLOW", "fw-logs-2"), _s3("ALERT"))
    assert {c["LogType"]: c["LogDestination"]["bucketName"] for c in _current(nfw)} == {
        "FLOW": "fw-logs-2",
        "ALERT": "fw-logs",
    }
    _update(nfw, _s3("ALERT"))
    assert [c["LogType"] for c in _current(nfw)] == ["ALERT"]


def test_add_plus_change_or_double_removal_fail(nfw: Any) -> None:
    _update(nfw, _s3("FLOW"))
    _update(nfw, _s3("FLOW"), _s3("ALERT"))
    with pytest.raises(ClientError) as err:
        _update(nfw, _s3("FLOW", "fw-logs-2"), _s3("ALERT"), _s3("TLS"))
    assert err.value.response["Error"]["Message"] == MULTIPLE
    with pytest.raises(ClientError) as err:
        _update(nfw)
    assert err.value.response["Error"]["Message"] == MULTIPLE
    assert len(_current(nfw)) == 2


def test_destination_type_cannot_change_in_place(nfw: Any) -> None:
    _update(nfw, _s3("FLOW"))
    cwl = {"LogType": "FLOW", "LogDestinationType": "CloudWatchLogs", "LogDestination": {"logGroup": "g"}}
    with pytest.raises(ClientError) as err:
        _update(nfw, cwl)
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert _current(nfw) == [_s3("FLOW")]


def test_s3_destination_needs_bucket_name(nfw: Any) -> None:
    bad = {"LogType": "FLOW", "LogDestinationType": "S3", "LogDestination": {"prefix": "x"}}
    with pytest.raises(ClientError) as err:
        _update(nfw, bad)
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


# -- S3 bucket names, regions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "Upper-Case",
        "under_score",
        "-leading",
        "trailing-",
        "two..dots",
        "192.168.1.10",
        "sthree-logs",
        "x-s3alias",
    ],
)
def test_invalid_bucket_names_are_refused(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "InvalidBucketName"


def test_valid_bucket_name_and_location_constraint_rules(s3: Any) -> None:
    s3.create_bucket(Bucket="kentik-flow-logs.prod-1")
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="in-virginia", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert err.value.response["Error"]["Code"] == "InvalidLocationConstraint"
    eu = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing").client(
        "s3", region_name="eu-west-1"
    )
    with pytest.raises(ClientError):
        eu.create_bucket(Bucket="in-ireland")
    eu.create_bucket(Bucket="in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def test_describe_regions_lists_enabled_regions_unless_all_regions(ec2: Any) -> None:
    enabled = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions()["Regions"]}
    everything = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert "us-east-1" in enabled and "eu-west-1" in enabled
    assert "ap-east-1" not in enabled and "af-south-1" not in enabled
    assert everything["ap-east-1"] == "not-opted-in"
    assert everything["af-south-1"] == "not-opted-in"
    assert not any(r.startswith(("cn-", "us-gov-")) for r in everything)
    assert set(enabled) == {r for r, status in everything.items() if status != "not-opted-in"}


def test_apply_is_idempotent() -> None:
    from moto.s3.models import S3Backend

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    before = S3Backend.create_bucket
    apply_moto_fixes()
    assert S3Backend.create_bucket is before
