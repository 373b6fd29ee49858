"""The strict sandbox (aws/sandbox/strict.py, aws.iam.deny in the delivery simulator): AWS rules that
plain moto does not enforce. Each test's docstring says what moto does and where AWS says otherwise."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.logs.format import REQUIRED_LOG_FORMAT
from aws.logs.tgw_format import TGW_LOG_FORMAT, tgw_log_format
from aws.sandbox.delivery import DeliverySimulator, delivery_refusal
from aws.sandbox.strict import (
    LAG_ENV,
    UNAUTHORIZED,
    ManualClock,
    current_lag,
    set_describe_lag,
    share_transit_gateway,
    share_vpc,
)

ACCOUNT = "123456789012"
OWNER = "222233334444"
REGION = "us-east-1"
BUCKET = "strict-logs"
NOW = datetime(2026, 3, 7, 9, 5, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def boto() -> boto3.Session:
    import moto.core.models  # noqa: F401  (hooks botocore before the session copies its handlers)

    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def aws(moto: None, boto: boto3.Session) -> dict[str, Any]:
    clients: dict[str, Any] = {name: boto.client(name) for name in ("ec2", "s3", "kms")}
    clients["s3"].create_bucket(Bucket=BUCKET)
    return clients


def _create(ec2: Any, resource_type: str, ids: list[str], **extra: Any) -> Any:
    if resource_type not in ("TransitGateway", "TransitGatewayAttachment"):
        extra.setdefault("TrafficType", "ALL")
    return ec2.create_flow_logs(
        ResourceType=resource_type,
        ResourceIds=ids,
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{BUCKET}",
        **extra,
    )


# -- 1. shared VPCs and transit gateways: only the owner creates flow logs --------------------------------


def test_participant_cannot_create_flow_logs_for_shared_vpc_subnet_or_transit_gateway(
    aws: dict[str, Any],
) -> None:
    """moto has no resource sharing: every VPC, subnet and transit gateway is the caller's, and
    CreateFlowLogs accepts any of them. AWS: a RAM participant sees the owner's VPC and subnets (OwnerId =
    the owner) but "cannot create, delete, or describe flow logs for a shared VPC subnet"
    (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-share-limitations.html), and "to create a
    transit gateway flow log, you must be the owner of the transit gateway"
    (https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html). ../shared/aws-facts.md: "A
    participant in a shared VPC (RAM) ... cannot create flow logs for the VPC"."""
    ec2 = aws["ec2"]
    shared = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=shared, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    mine = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    tgw = ec2.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    share_vpc(REGION, shared, OWNER)
    share_transit_gateway(REGION, tgw, OWNER)

    # visible, with the owner's account id (and the owner-id filter agrees)
    [vpc] = ec2.describe_vpcs(VpcIds=[shared])["Vpcs"]
    assert vpc["OwnerId"] == OWNER
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["OwnerId"] == OWNER
    assert ec2.describe_transit_gateways(TransitGatewayIds=[tgw])["TransitGateways"][0]["OwnerId"] == OWNER
    owned = ec2.describe_vpcs(Filters=[{"Name": "owner-id", "Values": [ACCOUNT]}])["Vpcs"]
    assert shared not in {v["VpcId"] for v in owned} and mine in {v["VpcId"] for v in owned}

    resp = _create(ec2, "VPC", [shared, mine])
    assert len(resp["FlowLogIds"]) == 1
    [failed] = resp["Unsuccessful"]
    assert failed["ResourceId"] == shared and failed["Error"]["Code"] == UNAUTHORIZED
    assert OWNER in failed["Error"]["Message"]
    for rtype, rid in (("Subnet", subnet), ("TransitGateway", tgw)):
        resp = _create(ec2, rtype, [rid])
        assert resp["FlowLogIds"] == []
        assert [(u["ResourceId"], u["Error"]["Code"]) for u in resp["Unsuccessful"]] == [(rid, UNAUTHORIZED)]
    resources = {fl["ResourceId"] for fl in ec2.describe_flow_logs()["FlowLogs"]}
    assert resources == {mine}

    # back to the caller's: allowed again
    share_transit_gateway(REGION, tgw, None)
    assert _create(ec2, "TransitGateway", [tgw])["Unsuccessful"] == []


# -- 2. eventual consistency of DescribeFlowLogs -----------------------------------------------------------


def test_describe_flow_logs_lags_create_flow_logs(aws: dict[str, Any], flowlog_lag: ManualClock) -> None:
    """moto is strongly consistent: DescribeFlowLogs shows a flow log as soon as CreateFlowLogs returns.
    AWS's EC2 API is eventually consistent ("the result of an API command you run that affects your
    Amazon EC2 resources might not be immediately visible to all subsequent commands you run",
    https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html); ../shared/aws-facts.md:
    "a flow log just created may not show in DescribeFlowLogs for seconds". The `flowlog_lag` fixture
    sets a 30 s lag on a manual clock; CreateFlowLogs still knows the flow log (duplicate refused)."""
    ec2 = aws["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    [fl_id] = _create(ec2, "VPC", [vpc])["FlowLogIds"]
    assert ec2.describe_flow_logs()["FlowLogs"] == []
    assert ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"] == []
    with pytest.raises(ClientError) as err:
        _create(ec2, "VPC", [vpc])
    assert err.value.response["Error"]["Code"] == "FlowLogAlreadyExists"
    flowlog_lag.advance(29.9)
    assert ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"] == []
    flowlog_lag.advance(0.1)
    assert [fl["FlowLogId"] for fl in ec2.describe_flow_logs()["FlowLogs"]] == [fl_id]
    # a lagging flow log can still be deleted
    [young] = _create(ec2, "VPC", [ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]])["FlowLogIds"]
    ec2.delete_flow_logs(FlowLogIds=[young])
    flowlog_lag.advance(60)
    assert [fl["FlowLogId"] for fl in ec2.describe_flow_logs()["FlowLogs"]] == [fl_id]


def test_describe_lag_from_the_environment(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo switches the lag on with FLOWLOGS_SANDBOX_FLOWLOG_LAG (seconds); unset or 0 = off."""
    set_describe_lag(None)
    assert current_lag() == 0
    ec2 = aws["ec2"]
    monkeypatch.setenv(LAG_ENV, "3600")
    assert current_lag() == 3600
    [fl_id] = _create(ec2, "VPC", [ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]])["FlowLogIds"]
    assert ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"] == []
    monkeypatch.setenv(LAG_ENV, "not a number")
    assert current_lag() == 0
    monkeypatch.delenv(LAG_ENV)
    assert len(ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"]) == 1


# -- 3. transit gateway flow logs have their own field set -------------------------------------------------


def test_transit_gateway_flow_logs_refuse_vpc_fields(aws: dict[str, Any]) -> None:
    """moto stores any LogFormat for any resource type (and the VPC default format when it is omitted).
    AWS: transit gateway flow logs have their own fields ("Transit Gateway Flow Log records",
    https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html#flow-log-records) and an omitted
    LogFormat "includes all log fields for transit gateway resource types"
    (https://docs.aws.amazon.com/vpc/latest/tgw/flow-logs-api-cli.html). ../shared/aws-facts.md: "the 29
    VPC fields are the wrong format for them"."""
    ec2 = aws["ec2"]
    tgw = ec2.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.6.1.0/24")["Subnet"]["SubnetId"]
    attachment = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet]
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]

    for rtype, rid in (("TransitGateway", tgw), ("TransitGatewayAttachment", attachment)):
        with pytest.raises(ClientError) as err:
            _create(ec2, rtype, [rid], LogFormat=REQUIRED_LOG_FORMAT)
        error = err.value.response["Error"]
        assert error["Code"] == "InvalidParameter"
        for field in ("${interface-id}", "${action}", "${vpc-id}", "${instance-id}", "${traffic-path}"):
            assert field in error["Message"]
        assert "${srcaddr}" not in error["Message"]  # shared with transit gateway logs
    assert ec2.describe_flow_logs()["FlowLogs"] == []

    [explicit] = _create(ec2, "TransitGateway", [tgw], LogFormat=tgw_log_format())["FlowLogIds"]
    [omitted] = _create(ec2, "TransitGatewayAttachment", [attachment])["FlowLogIds"]
    formats = {fl["FlowLogId"]: fl["LogFormat"] for fl in ec2.describe_flow_logs()["FlowLogs"]}
    assert formats == {explicit: TGW_LOG_FORMAT, omitted: TGW_LOG_FORMAT}
    # VPC flow logs keep taking the VPC fields
    assert _create(ec2, "VPC", [vpc], LogFormat=REQUIRED_LOG_FORMAT)["Unsuccessful"] == []


# -- 4. explicit Deny in bucket and key policies stops log delivery ---------------------------------------


def _append_statement(s3: Any, statement: dict[str, Any]) -> None:
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    policy["Statement"].append(statement)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def _deliver(aws: dict[str, Any], fl_id: str) -> tuple[int, str, str]:
    written = DeliverySimulator(first_delay=0).tick(NOW)
    [fl] = aws["ec2"].describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"]
    return len(written), fl["DeliverLogsStatus"], fl.get("DeliverLogsErrorMessage") or ""


def test_conditional_explicit_deny_in_bucket_and_key_policies_stops_delivery(aws: dict[str, Any]) -> None:
    """The delivery simulator used to honour only UNconditional Denies (like moto, which evaluates no
    resource policy at all). AWS: an explicit Deny overrides any Allow, and a condition key the request
    lacks makes a negated operator (StringNotEquals) true
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
    log delivery (delivery.logs.amazonaws.com) carries no aws:SourceVpce, so "Deny unless from my VPC
    endpoint" stops it, with DeliverLogsStatus FAILED / "Access error" (../shared/aws-facts.md: SSE-KMS
    key policy must let the service use the key, otherwise FAILED "Access error"), while "Deny insecure
    transport" does not (delivery uses TLS)."""
    ec2, s3, kms = aws["ec2"], aws["s3"], aws["kms"]
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    [fl_id] = _create(ec2, "VPC", [vpc])["FlowLogIds"]  # adds AWS's AWSLogDeliveryWrite statements

    _append_statement(
        s3,
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    assert _deliver(aws, fl_id) == (1, "SUCCESS", "")

    only_vpce = {
        "Sid": "OnlyThroughMyEndpoint",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}},
    }
    _append_statement(s3, only_vpce)
    assert _deliver(aws, fl_id) == (0, "FAILED", "Access error")
    reason = delivery_refusal(ACCOUNT, BUCKET, f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/x.log.gz")
    assert reason is not None and "Sid OnlyThroughMyEndpoint" in reason and "bucket policy" in reason

    # exempting AWS services (the documented fix) lets delivery through again
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    policy["Statement"][-1]["Condition"]["BoolIfExists"] = {"aws:PrincipalIsAWSService": "false"}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    assert _deliver(aws, fl_id) == (1, "SUCCESS", "")

    # a key policy that grants the service, then denies it outside the organization: Deny wins
    key = kms.create_key(Description="log key")["KeyMetadata"]
    kms.put_key_policy(
        KeyId=key["KeyId"],
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Admins",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
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
                    },
                    {
                        "Sid": "OrgOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "kms:*",
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
                    },
                ],
            }
        ),
    )
    s3.put_bucket_encryption(
        Bucket=BUCKET,
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
    assert _deliver(aws, fl_id) == (0, "FAILED", "Access error")
    reason = delivery_refusal(ACCOUNT, BUCKET, f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/x.log.gz")
    assert reason is not None and "key policy" in reason and "Sid OrgOnly" in reason


# -- 5. tag rules: CreateFlowLogs' TagSpecifications and PutBucketTagging ---------------------------------


def _tags(n: int, key: str = "k", value: str = "v") -> list[dict[str, str]]:
    return [{"Key": f"{key}{i}" if n > 1 else key, "Value": value} for i in range(n)]


BAD_FLOW_LOG_TAGS = {
    "reserved aws: prefix": (
        [{"ResourceType": "vpc-flow-log", "Tags": _tags(1, "aws:owner")}],
        "InvalidParameterValue",
    ),
    "key over 128 characters": (
        [{"ResourceType": "vpc-flow-log", "Tags": _tags(1, "k" * 129)}],
        "InvalidParameterValue",
    ),
    "value over 256 characters": (
        [{"ResourceType": "vpc-flow-log", "Tags": _tags(1, "k", "v" * 257)}],
        "InvalidParameterValue",
    ),
    "51 tags": ([{"ResourceType": "vpc-flow-log", "Tags": _tags(51)}], "TagLimitExceeded"),
    "another resource type": ([{"ResourceType": "vpc", "Tags": _tags(1)}], "InvalidParameterValue"),
}


@pytest.mark.parametrize("case", list(BAD_FLOW_LOG_TAGS))
def test_create_flow_logs_refuses_tags_aws_refuses(aws: dict[str, Any], case: str) -> None:
    """moto accepts a tag key starting 'aws:' and keys and values of any length on CreateFlowLogs, drops a
    tag specification of another resource type silently, and creates the flow log before it refuses a
    51st tag. AWS: at most 50 tags per resource, keys 1-128 and values 0-256 characters, the 'aws:' prefix
    reserved (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions)."""
    specs, code = BAD_FLOW_LOG_TAGS[case]
    vpc = aws["ec2"].create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as info:
        _create(aws["ec2"], "VPC", [vpc], TagSpecifications=specs)
    assert info.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("case", list(BAD_FLOW_LOG_TAGS))
def test_refused_flow_log_tags_create_no_flow_log(aws: dict[str, Any], case: str) -> None:
    """AWS refuses the request whole: no flow log is created (moto created it before refusing a 51st tag)."""
    vpc = aws["ec2"].create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError):
        _create(aws["ec2"], "VPC", [vpc], TagSpecifications=BAD_FLOW_LOG_TAGS[case][0])
    assert aws["ec2"].describe_flow_logs()["FlowLogs"] == []


def test_create_flow_logs_keeps_valid_tags(aws: dict[str, Any]) -> None:
    vpc = aws["ec2"].create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    tags = [*_tags(49), {"Key": "k" * 128, "Value": "v" * 256}]
    _create(aws["ec2"], "VPC", [vpc], TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": tags}])
    [fl] = aws["ec2"].describe_flow_logs()["FlowLogs"]
    assert sorted(fl["Tags"], key=str) == sorted(tags, key=str)


BAD_BUCKET_TAGS = {
    "51 tags": (_tags(51), "BadRequest"),
    "key over 128 characters": (_tags(1, "k" * 129), "InvalidTag"),
    "value over 256 characters": (_tags(1, "k", "v" * 257), "InvalidTag"),
}


@pytest.mark.parametrize("case", list(BAD_BUCKET_TAGS))
def test_put_bucket_tagging_refuses_tag_sets_s3_refuses(aws: dict[str, Any], case: str) -> None:
    """moto's PutBucketTagging takes any number of tags of any length (it refuses duplicate keys and
    'aws:' keys itself). S3: at most 50 tags per bucket, keys up to 128 and values up to 256 characters
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/CostAllocTagging.html); the count error's code
    is S3-compatible servers' model of it (unverified)."""
    tags, code = BAD_BUCKET_TAGS[case]
    with pytest.raises(ClientError) as info:
        aws["s3"].put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags})
    assert info.value.response["Error"]["Code"] == code


def test_refused_bucket_tag_set_leaves_the_tags_as_they_were(aws: dict[str, Any]) -> None:
    aws["s3"].put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": _tags(1, "team", "net")})
    with pytest.raises(ClientError):
        aws["s3"].put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": _tags(51)})
    assert aws["s3"].get_bucket_tagging(Bucket=BUCKET)["TagSet"] == _tags(1, "team", "net")


def test_put_bucket_tagging_takes_fifty_tags_of_the_longest_lengths(aws: dict[str, Any]) -> None:
    tags = [*_tags(49), {"Key": "k" * 128, "Value": "v" * 256}]
    aws["s3"].put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags})
    assert len(aws["s3"].get_bucket_tagging(Bucket=BUCKET)["TagSet"]) == 50


def test_head_bucket_of_another_accounts_bucket_is_refused(aws: dict[str, Any]) -> None:
    """AWS answers 403 (moto 200) unless the bucket policy lets the caller's account list the bucket."""
    other = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="other", aws_secret_access_key="other"
    )
    mine = boto3.client("s3", region_name="us-east-1")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_ACCOUNT_ID", "111111111111")
        other.create_bucket(Bucket="someone-elses-logs")
    with pytest.raises(ClientError) as refused:
        mine.head_bucket(Bucket="someone-elses-logs")
    assert refused.value.response["Error"]["Code"] == "403"


def test_head_bucket_is_answered_when_the_bucket_policy_lets_the_caller_list(aws: dict[str, Any]) -> None:
    other = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="other", aws_secret_access_key="other"
    )
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::shared-logs",
            }
        ],
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_ACCOUNT_ID", "111111111111")
        other.create_bucket(Bucket="shared-logs")
        other.put_bucket_policy(Bucket="shared-logs", Policy=json.dumps(grant))
    head = boto3.client("s3", region_name="us-east-1").head_bucket(Bucket="shared-logs")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
