"""Assessment rules, one case per verdict and reason, over DescribeFlowLogs / DescribeLoggingConfiguration
shaped input (no AWS calls)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from aws.assess import assess_firewall, assess_vpc, flow_log_problems
from aws.discovery_api import firewall_destinations_from_api, flow_log_from_api
from aws.inventory import Firewall, Inventory, ReasonCode, Verdict, Vpc, inventory_json_schema
from aws.kentik_roles import trust_match
from aws.logs.format import REQUIRED_FIELDS, V2_FIELDS, V3_FIELDS, V4_FIELDS, V5_FIELDS, log_format

VPC = "vpc-0123456789abcdef0"


def api_flow_log(**overrides: Any) -> dict[str, Any]:
    """A DescribeFlowLogs entry that meets the spec; overrides change or (value None) remove keys."""
    item: dict[str, Any] = {
        "FlowLogId": "fl-good",
        "ResourceId": VPC,
        "FlowLogStatus": "ACTIVE",
        "DeliverLogsStatus": "SUCCESS",
        "TrafficType": "ALL",
        "LogDestinationType": "s3",
        "LogDestination": "arn:aws:s3:::kentik-logs/flows/",
        "LogFormat": log_format(),
        "MaxAggregationInterval": 600,
    }
    for key, value in overrides.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return item


def vpc_with(*flow_logs: dict[str, Any], partial: tuple[dict[str, Any], ...] = ()) -> Vpc:
    vpc = Vpc(vpc_id=VPC, name="prod")
    vpc.flow_logs = [flow_log_from_api(f) for f in flow_logs]
    vpc.partial_flow_logs = [flow_log_from_api(f, VPC) for f in partial]
    return assess_vpc(vpc)


def codes(vpc: Vpc) -> list[ReasonCode]:
    return [r.code for r in vpc.reasons]


# -- compliant -------------------------------------------------------------------------------------
def test_compliant_flow_log_makes_the_vpc_compliant() -> None:
    vpc = vpc_with(api_flow_log())
    assert vpc.verdict is Verdict.COMPLIANT
    assert vpc.reasons == []
    assert vpc.compliant_flow_log_id == "fl-good"
    fl = vpc.flow_logs[0]
    assert (fl.bucket, fl.prefix) == ("kentik-logs", "flows/")
    assert fl.compliant and fl.fields == list(REQUIRED_FIELDS)


def test_explicit_plain_text_and_extra_fields_stay_compliant() -> None:
    item = api_flow_log(
        DestinationOptions={"FileFormat": "plain-text", "HiveCompatiblePartitions": False},
        LogFormat=log_format(["reject-reason", "ecs-cluster-name"]),
    )
    assert vpc_with(item).verdict is Verdict.COMPLIANT


def test_fields_in_any_order_are_accepted() -> None:
    fmt = " ".join(f"${{{f}}}" for f in reversed(REQUIRED_FIELDS))
    assert vpc_with(api_flow_log(LogFormat=fmt)).verdict is Verdict.COMPLIANT


def test_one_good_flow_log_among_bad_ones_is_enough() -> None:
    bad = api_flow_log(FlowLogId="fl-bad", TrafficType="REJECT")
    vpc = vpc_with(bad, api_flow_log())
    assert vpc.verdict is Verdict.COMPLIANT
    assert vpc.compliant_flow_log_id == "fl-good"
    assert [p.code for p in vpc.flow_logs[0].problems] == [ReasonCode.TRAFFIC_TYPE]


# -- needs-change, one reason each -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("missing", "version_fields"),
    [("v3", V3_FIELDS), ("v4", V4_FIELDS), ("v5", V5_FIELDS), ("v2 subset", ("tcp-flags", "bytes"))],
)
def test_missing_fields_are_named(missing: str, version_fields: tuple[str, ...]) -> None:
    kept = [f for f in REQUIRED_FIELDS if f not in version_fields]
    vpc = vpc_with(api_flow_log(LogFormat=" ".join(f"${{{f}}}" for f in kept)))
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    (reason,) = vpc.reasons
    assert reason.code is ReasonCode.MISSING_FIELDS
    assert reason.missing_fields == [f for f in REQUIRED_FIELDS if f in version_fields]
    assert reason.flow_log_id == "fl-good"
    assert "custom format" in reason.message
    for name in version_fields:
        assert name in reason.message


@pytest.mark.parametrize("log_format_value", [None, " ".join(f"${{{f}}}" for f in V2_FIELDS)])
def test_default_format_misses_the_v3_to_v5_fields(log_format_value: str | None) -> None:
    vpc = vpc_with(api_flow_log(LogFormat=log_format_value))
    (reason,) = vpc.reasons
    assert reason.code is ReasonCode.MISSING_FIELDS
    assert reason.missing_fields == list(V3_FIELDS + V4_FIELDS + V5_FIELDS)
    assert "default format" in reason.message
    assert "missing 15 of 29" in reason.message


@pytest.mark.parametrize("traffic", ["REJECT", "ACCEPT"])
def test_accept_or_reject_only(traffic: str) -> None:
    vpc = vpc_with(api_flow_log(TrafficType=traffic))
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    assert codes(vpc) == [ReasonCode.TRAFFIC_TYPE]
    assert f"captures {traffic} traffic only" in vpc.reasons[0].message


def test_cloudwatch_destination() -> None:
    item = api_flow_log(
        LogDestinationType="cloud-watch-logs",
        LogDestination="arn:aws:logs:us-east-1:123456789012:log-group:vpc-flows",
        LogGroupName="vpc-flows",
    )
    vpc = vpc_with(item)
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    assert codes(vpc) == [ReasonCode.NOT_S3]
    assert "CloudWatch Logs (vpc-flows)" in vpc.reasons[0].message


def test_old_cloudwatch_flow_log_without_destination_type() -> None:
    item = api_flow_log(LogDestinationType=None, LogDestination=None, LogGroupName="legacy")
    fl = flow_log_from_api(item)
    assert fl.destination_type == "cloud-watch-logs"
    assert [p.code for p in flow_log_problems(fl)] == [ReasonCode.NOT_S3]


def test_firehose_destination() -> None:
    arn = "arn:aws:firehose:us-east-1:123456789012:deliverystream/flows"
    vpc = vpc_with(api_flow_log(LogDestinationType="kinesis-data-firehose", LogDestination=arn))
    assert codes(vpc) == [ReasonCode.NOT_S3]
    assert "Kinesis Data Firehose" in vpc.reasons[0].message and arn in vpc.reasons[0].message


def test_parquet() -> None:
    vpc = vpc_with(api_flow_log(DestinationOptions={"FileFormat": "parquet"}))
    assert codes(vpc) == [ReasonCode.PARQUET]
    assert "parquet" in vpc.reasons[0].message


def test_delivery_failed_carries_the_error_message() -> None:
    vpc = vpc_with(api_flow_log(DeliverLogsStatus="FAILED", DeliverLogsErrorMessage="Access error"))
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    assert codes(vpc) == [ReasonCode.DELIVERY_FAILED]
    assert "delivery FAILED: Access error" in vpc.reasons[0].message


def test_inactive_flow_log() -> None:
    vpc = vpc_with(api_flow_log(FlowLogStatus="INACTIVE"))
    assert codes(vpc) == [ReasonCode.INACTIVE]


def test_every_problem_of_every_flow_log_is_listed() -> None:
    a = api_flow_log(FlowLogId="fl-a", TrafficType="ACCEPT", LogFormat=None)
    b = api_flow_log(
        FlowLogId="fl-b", DestinationOptions={"FileFormat": "parquet"}, DeliverLogsStatus="FAILED"
    )
    vpc = vpc_with(a, b)
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    assert [(r.flow_log_id, r.code) for r in vpc.reasons] == [
        ("fl-a", ReasonCode.TRAFFIC_TYPE),
        ("fl-a", ReasonCode.MISSING_FIELDS),
        ("fl-b", ReasonCode.PARQUET),
        ("fl-b", ReasonCode.DELIVERY_FAILED),
    ]
    assert "no error message" in vpc.reasons[-1].message


# -- missing and partial coverage ------------------------------------------------------------------
def test_no_flow_log_is_missing() -> None:
    vpc = vpc_with()
    assert vpc.verdict is Verdict.MISSING
    assert codes(vpc) == [ReasonCode.NO_FLOW_LOG]
    assert vpc.compliant_flow_log_id is None


def test_subnet_flow_log_alone_is_only_partial_coverage() -> None:
    subnet_log = api_flow_log(FlowLogId="fl-sub", ResourceId="subnet-0aaa")
    vpc = vpc_with(partial=(subnet_log,))
    assert vpc.verdict is Verdict.MISSING  # a perfect subnet flow log never makes the VPC compliant
    assert codes(vpc) == [ReasonCode.NO_FLOW_LOG, ReasonCode.PARTIAL_COVERAGE]
    assert "partial coverage" in vpc.reasons[1].message
    assert "subnet subnet-0aaa (fl-sub)" in vpc.reasons[1].message
    assert vpc.partial_flow_logs[0].resource_type == "Subnet"
    assert vpc.partial_flow_logs[0].vpc_id == VPC


def test_eni_flow_log_is_reported_as_partial_next_to_a_bad_vpc_flow_log() -> None:
    eni_log = api_flow_log(FlowLogId="fl-eni", ResourceId="eni-0bbb")
    vpc = vpc_with(api_flow_log(TrafficType="REJECT"), partial=(eni_log,))
    assert vpc.verdict is Verdict.NEEDS_CHANGE
    assert codes(vpc) == [ReasonCode.TRAFFIC_TYPE, ReasonCode.PARTIAL_COVERAGE]
    assert "ENI eni-0bbb (fl-eni)" in vpc.reasons[1].message


def test_compliant_vpc_does_not_list_partial_flow_logs_as_reasons() -> None:
    vpc = vpc_with(api_flow_log(), partial=(api_flow_log(FlowLogId="fl-sub", ResourceId="subnet-1"),))
    assert vpc.verdict is Verdict.COMPLIANT and vpc.reasons == []


# -- firewalls -------------------------------------------------------------------------------------
def firewall(*configs: dict[str, Any], error: str | None = None) -> Firewall:
    fw = Firewall(name="fw", arn="arn:aws:network-firewall:us-east-1:123456789012:firewall/fw", error=error)
    fw.destinations = firewall_destinations_from_api({"LogDestinationConfigs": list(configs)})
    return assess_firewall(fw)


def s3(log_type: str, bucket: str = "kentik-logs", prefix: str = "fw") -> dict[str, Any]:
    return {
        "LogType": log_type,
        "LogDestinationType": "S3",
        "LogDestination": {"bucketName": bucket, "prefix": prefix},
    }


def cloudwatch(log_type: str) -> dict[str, Any]:
    return {
        "LogType": log_type,
        "LogDestinationType": "CloudWatchLogs",
        "LogDestination": {"logGroup": "/nfw"},
    }


def test_firewall_flow_and_alert_to_s3_is_compliant() -> None:
    fw = firewall(s3("FLOW"), s3("ALERT", prefix="alerts"))
    assert fw.verdict is Verdict.COMPLIANT and fw.reasons == []
    assert (fw.flow.to_s3, fw.flow.bucket, fw.flow.prefix) == (True, "kentik-logs", "fw")
    assert (fw.alert.to_s3, fw.alert.prefix) == (True, "alerts")


def test_firewall_without_logging_is_missing() -> None:
    fw = firewall()
    assert fw.verdict is Verdict.MISSING
    assert [r.code for r in fw.reasons] == [ReasonCode.FIREWALL_FLOW, ReasonCode.FIREWALL_ALERT]
    assert fw.reasons[0].message == "FLOW logs are not enabled"


def test_firewall_alert_to_cloudwatch_needs_change() -> None:
    fw = firewall(s3("FLOW"), cloudwatch("ALERT"))
    assert fw.verdict is Verdict.NEEDS_CHANGE
    assert [r.code for r in fw.reasons] == [ReasonCode.FIREWALL_ALERT]
    assert fw.alert.to_s3 is False
    assert fw.alert.other == ["CloudWatch Logs /nfw"]
    assert "ALERT logs go to CloudWatch Logs /nfw, not S3" in fw.reasons[0].message


def test_firewall_flow_missing_alert_to_s3_needs_change() -> None:
    fw = firewall(
        s3("ALERT"), {"LogType": "TLS", "LogDestinationType": "S3", "LogDestination": {"bucketName": "b"}}
    )
    assert fw.verdict is Verdict.NEEDS_CHANGE
    assert [r.message for r in fw.reasons] == ["FLOW logs are not enabled"]


def test_firewall_firehose_only_needs_change() -> None:
    fw = firewall(
        {
            "LogType": "FLOW",
            "LogDestinationType": "KinesisDataFirehose",
            "LogDestination": {"deliveryStream": "s"},
        }
    )
    assert fw.verdict is Verdict.NEEDS_CHANGE
    assert fw.flow.other == ["Firehose s"]


def test_firewall_with_unreadable_logging_is_unknown() -> None:
    fw = firewall(error="Access denied")
    assert fw.verdict is Verdict.UNKNOWN
    assert [r.code for r in fw.reasons] == [ReasonCode.UNREADABLE]


# -- parsing helpers -------------------------------------------------------------------------------
def trust(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", **statement}],
    }


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (trust({"Principal": {"AWS": "arn:aws:iam::834693425129:role/eks-ingest-node"}}), (True, [])),
        (trust({"Principal": {"AWS": ["arn:aws:iam::111111111111:root", "834693425129"]}}), (True, [])),
        (
            trust(
                {
                    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                    "Condition": {"StringEquals": {"sts:ExternalId": ["k-1", "k-2"]}},
                }
            ),
            (False, ["k-1", "k-2"]),
        ),
        (trust({"Principal": {"Service": "ec2.amazonaws.com"}}), (False, [])),
        (
            {
                "Statement": {
                    "Effect": "Deny",
                    "Principal": {"AWS": "834693425129"},
                    "Action": "sts:AssumeRole",
                }
            },
            (False, []),
        ),
        (
            quote(json.dumps(trust({"Principal": {"AWS": "arn:aws:iam::834693425129:root"}}))),
            (True, []),
        ),
    ],
)
def test_trust_match(doc: Any, expected: tuple[bool, list[str]]) -> None:
    trusts, external_ids, _ = trust_match(doc)
    assert (trusts, external_ids) == expected


def test_json_schema_documents_verdicts_and_counts() -> None:
    schema = inventory_json_schema()
    text = json.dumps(schema)
    for value in ("compliant", "needs-change", "missing", "not-enabled", "partial-coverage"):
        assert f'"{value}"' in text
    assert "counts" in schema["$defs"]["RegionResult"]["properties"]
    assert set(Inventory.model_json_schema()["required"]) >= {"identity", "home_region", "started_at"}
