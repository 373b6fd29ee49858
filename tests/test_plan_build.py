"""The planner's resource kinds: subnets, ENIs and transit gateways on a moto account, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.discovery import scan
from aws.logs.format import log_format
from aws.logs.tgw_format import tgw_log_format
from aws.plans.build import build_plan
from aws.plans.change import apply_plan
from aws.plans.choices import TGW_AGGREGATION_NOTE, LogChoices, ResourceKind
from aws.plans.targets import resource_targets
from aws.s3.strategy import BucketChoice
from aws.sandbox.seed import SeedSummary
from aws.session import AwsSession
from tui.cli import main

REGION = "us-east-1"


def _account() -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "app"}])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    tgw = ec2.create_transit_gateway(
        Description="core",
        TagSpecifications=[{"ResourceType": "transit-gateway", "Tags": [{"Key": "Name", "Value": "core"}]}],
    )["TransitGateway"]["TransitGatewayId"]
    return {"vpc": vpc, "subnet": subnet, "eni": eni, "tgw": tgw}


def _bucket() -> BucketChoice:
    return BucketChoice(
        strategy="central", bucket="kentik-planner-test", regions=[REGION], central_region=REGION
    )


@pytest.mark.parametrize("kind", ["subnet", "eni", "tgw"])
def test_kind_missing_then_compliant_then_converges(session: AwsSession, kind: ResourceKind) -> None:
    ids = _account()
    choices = LogChoices(resources=kind, include=[ids[kind]], firewalls=False)
    inventory = scan(session, include=[REGION])
    [found] = resource_targets(session, inventory, choices, [REGION])
    assert found.target.resource_id == ids[kind]
    assert found.target.verdict == "missing"
    if kind == "tgw":
        assert found.name == "core"
    else:
        assert found.vpc_id == ids["vpc"]

    build = build_plan(session, inventory, _bucket(), choices)
    creates = [c for c in build.plan.changes if c.kind == "ec2.create-flow-logs"]
    assert len(creates) == 1
    params = creates[0].params
    assert params["ResourceIds"] == [ids[kind]]
    if kind == "tgw":  # AWS: no TrafficType, 60 s, for transit gateways
        assert params["ResourceType"] == "TransitGateway"
        assert "TrafficType" not in params
        assert params["MaxAggregationInterval"] == 60
        assert TGW_AGGREGATION_NOTE in build.notes
    else:
        assert params["TrafficType"] == "ALL"
        assert params["MaxAggregationInterval"] == 600
    report = apply_plan(build.plan, session)
    assert report.ok, report.results

    logs = boto3.client("ec2", region_name=REGION).describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [ids[kind]]}]
    )["FlowLogs"]
    wanted = tgw_log_format() if kind == "tgw" else log_format(())
    assert len(logs) == 1 and logs[0]["LogFormat"] == wanted
    assert logs[0]["LogDestination"].startswith("arn:aws:s3:::kentik-planner-test")

    inventory = scan(session, include=[REGION])
    [again] = resource_targets(session, inventory, choices, [REGION])
    assert again.target.verdict == "compliant"
    rebuild = build_plan(session, inventory, _bucket(), choices)
    assert rebuild.plan.changes == []
    before = session.stats.mutating()
    assert apply_plan(build.plan, session).ok  # the old plan again: everything already satisfied
    assert session.stats.mutating() == before


def test_include_names_subnets_or_their_vpc(session: AwsSession) -> None:
    ids = _account()
    inventory = scan(session, include=[REGION])
    by_vpc = resource_targets(
        session, inventory, LogChoices(resources="subnet", include=[ids["vpc"]]), [REGION]
    )
    assert [r.target.resource_id for r in by_vpc] == [ids["subnet"]]
    excluded = resource_targets(
        session,
        inventory,
        LogChoices(resources="subnet", include=[ids["vpc"]], exclude=[ids["subnet"]]),
        [REGION],
    )
    assert excluded == []


def _tgw_flow_log(tgw: str, log_format: str | None = None) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="old-logs")
    extra: dict[str, Any] = {"LogFormat": log_format} if log_format else {}
    boto3.client("ec2", region_name=REGION).create_flow_logs(
        ResourceType="TransitGateway",
        ResourceIds=[tgw],
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::old-logs",
        MaxAggregationInterval=60,
        **extra,
    )


def test_tgw_with_too_few_transit_gateway_fields_needs_change(session: AwsSession) -> None:
    ids = _account()
    _tgw_flow_log(ids["tgw"], "${version} ${tgw-id} ${srcaddr} ${dstaddr}")
    inventory = scan(session, include=[REGION])
    [found] = resource_targets(session, inventory, LogChoices(resources="tgw"), [REGION])
    assert found.target.verdict == "needs-change"
    [reason] = found.target.reasons
    assert reason.split(": ", 1)[1].startswith(
        "custom format: missing 32 of 36 transit gateway fields: resource-type,"
    )


def test_tgw_default_format_is_judged_by_the_transit_gateway_field_set(session: AwsSession) -> None:
    """AWS: an omitted LogFormat gives a transit gateway flow log every transit gateway field
    (https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html#flow-log-records)."""
    ids = _account()
    _tgw_flow_log(ids["tgw"])
    inventory = scan(session, include=[REGION])
    [found] = resource_targets(session, inventory, LogChoices(resources="tgw"), [REGION])
    assert found.target.verdict == "compliant"


def test_cli_plan_tgw_end_to_end(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    tgw = ec2.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    plan_file = tmp_path / "plan.json"
    args = ["plan", "--strategy", "central", "--bucket", "kentik-tgw-cli", "--regions", REGION]
    args += ["--resources", "tgw", "--include", tgw, "--no-firewalls"]
    assert main([*args, "-o", str(plan_file)]) == 0
    out = capsys.readouterr().out
    assert "60 s aggregation" in out
    plan = json.loads(plan_file.read_text())
    [create] = [c for c in plan["changes"] if c["kind"] == "ec2.create-flow-logs"]
    assert create["params"]["ResourceType"] == "TransitGateway"
    assert create["params"]["ResourceIds"] == [tgw]
    assert main(["apply", "--plan", str(plan_file), "--yes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"]
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [tgw]}])["FlowLogs"]
    assert len(logs) == 1 and logs[0]["MaxAggregationInterval"] == 60
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plan"]["changes"] == []
    assert main([*args[:-3], "--include", "tgw-0000000000000000f"]) == 2
    assert "transit gateways given with --include" in capsys.readouterr().err


def test_selected_vpc_whose_region_has_no_bucket_is_named_in_a_warning(session: AwsSession) -> None:
    ids = _account()
    west = boto3.client("ec2", region_name="us-west-2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    inventory = scan(session, include=[REGION, "us-west-2"])
    choices = LogChoices(selected=[ids["vpc"], west], firewalls=False)
    build = build_plan(session, inventory, _bucket(), choices)
    assert [w for w in build.warnings if w.startswith("Not in this plan")] == [
        f"Not in this plan, their region has no bucket in the chosen strategy: {west}"
    ]


def test_selected_subnet_outside_the_bucket_regions_is_named_in_a_warning(session: AwsSession) -> None:
    ids = _account()
    choices = LogChoices(
        resources="subnet", selected=[ids["subnet"], "subnet-0123456789abcdef0"], firewalls=False
    )
    build = build_plan(session, scan(session, include=[REGION]), _bucket(), choices)
    assert [w for w in build.warnings if w.startswith("Not in this plan")] == [
        "Not in this plan, no subnet with these ids in the regions the chosen strategy has a bucket for: "
        "subnet-0123456789abcdef0"
    ]


def test_only_the_selected_resources_get_changes(session: AwsSession) -> None:
    ids = _account()
    other = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    choices = LogChoices(selected=[ids["vpc"]], firewalls=False)
    build = build_plan(session, scan(session, include=[REGION]), _bucket(), choices)
    creates = [c for c in build.plan.changes if c.kind == "ec2.create-flow-logs"]
    assert [c.params["ResourceIds"] for c in creates] == [[ids["vpc"]]] and other not in str(
        build.plan.changes
    )


def test_an_empty_include_list_plans_no_flow_log(session: AwsSession) -> None:
    _account()
    build = build_plan(
        session, scan(session, include=[REGION]), _bucket(), LogChoices(include=[], firewalls=False)
    )
    assert [c.kind for c in build.plan.changes if c.kind == "ec2.create-flow-logs"] == []
