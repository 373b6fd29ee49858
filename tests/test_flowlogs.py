"""VPC flow logs: required configuration, verdict-to-action mapping, batching, Unsuccessful[] handling,
FlowLogAlreadyExists, idempotent re-apply and the destructive replace option."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from aws.errors import ValidationFailed
from aws.logs.flowlog_executors import CreateFlowLogsExecutor, FlowLogsPartialFailure, current_flow_log_ids
from aws.logs.flowlogs import (
    CREATE_KIND,
    DELETE_KIND,
    FlowLogOptions,
    FlowLogTarget,
    destination_arn,
    flow_log_config,
    flowlog_action,
    flowlog_changes,
)
from aws.logs.format import REQUIRED_FIELDS, parse_log_format
from aws.plans.change import Plan, apply_plan
from aws.session import AwsSession

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "kentik-flow-logs-use1"
OPTIONS = FlowLogOptions(buckets={REGION: BUCKET, "eu-west-1": "kentik-flow-logs-euw1"})

EXPECTED_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
    "${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} "
    "${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${sublocation-type} "
    "${sublocation-id} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${flow-direction} ${traffic-path}"
)


def missing(rid: str, region: str = REGION, rtype: str = "VPC") -> FlowLogTarget:
    return FlowLogTarget(resource_id=rid, resource_type=rtype, region=region, verdict="missing")  # type: ignore[arg-type]


def needs_change(rid: str, old: tuple[str, ...]) -> FlowLogTarget:
    return FlowLogTarget(
        resource_id=rid,
        region=REGION,
        verdict="needs-change",
        reasons=("default format",),
        existing_flow_log_ids=old,
    )


@pytest.fixture
def ec2() -> Any:
    """A plain client for set-up and inspection (not counted in session.stats)."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return boto3.client("ec2", region_name=REGION)


def make_vpcs(ec2: Any, n: int) -> list[str]:
    return sorted(ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(n))


def flow_logs_of(ec2: Any, rid: str) -> list[dict[str, Any]]:
    return ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [rid]}])["FlowLogs"]


def create_calls(session: AwsSession) -> int:
    return session.stats.calls[("ec2", "CreateFlowLogs")]


# -- configuration --------------------------------------------------------------------------------------


def test_required_format_is_exact_29_fields_in_aws_order() -> None:
    config = flow_log_config("VPC", REGION, OPTIONS)
    params = config.create_params(["vpc-1"])
    assert params["LogFormat"] == EXPECTED_FORMAT
    assert parse_log_format(params["LogFormat"]) == list(REQUIRED_FIELDS)
    assert len(REQUIRED_FIELDS) == 29
    assert params == {
        "ResourceType": "VPC",
        "ResourceIds": ["vpc-1"],
        "TrafficType": "ALL",
        "LogDestinationType": "s3",
        "LogDestination": f"arn:aws:s3:::{BUCKET}",
        "LogFormat": EXPECTED_FORMAT,
        "MaxAggregationInterval": 600,
        "DestinationOptions": {
            "FileFormat": "plain-text",
            "HiveCompatiblePartitions": False,
            "PerHourPartition": False,
        },
    }


def test_extra_fields_are_appended_never_replacing_required_ones() -> None:
    options = FlowLogOptions(buckets={REGION: BUCKET}, extra_fields=("reject-reason", "ecs-cluster-name"))
    fields = parse_log_format(flow_log_config("VPC", REGION, options).log_format)
    assert fields[:29] == list(REQUIRED_FIELDS)
    assert fields[29:] == ["ecs-cluster-name", "reject-reason"]  # the table's order, not the user's
    with pytest.raises(ValidationFailed, match="bogus"):
        flow_log_config("VPC", REGION, FlowLogOptions(buckets={REGION: BUCKET}, extra_fields=("bogus",)))


def test_options_reach_the_call() -> None:
    options = FlowLogOptions(buckets={REGION: BUCKET}, prefix="vpc", aggregation=60, hive=True, per_hour=True)
    params = flow_log_config("Subnet", REGION, options, partition="aws-us-gov").create_params(["subnet-1"])
    assert params["LogDestination"] == f"arn:aws-us-gov:s3:::{BUCKET}/vpc/"
    assert params["MaxAggregationInterval"] == 60
    assert params["ResourceType"] == "Subnet"
    assert params["DestinationOptions"] == {
        "FileFormat": "plain-text",
        "HiveCompatiblePartitions": True,
        "PerHourPartition": True,
    }


def test_transit_gateway_rules() -> None:
    params = flow_log_config("TransitGateway", REGION, OPTIONS).create_params(["tgw-1"])
    assert "TrafficType" not in params
    assert params["MaxAggregationInterval"] == 60  # required for transit gateways, whatever was chosen
    targets = [missing(f"tgw-{i:03d}", rtype="TransitGateway") for i in range(60)]
    changes = flowlog_changes(targets, OPTIONS, ACCOUNT)
    assert [len(c.params["ResourceIds"]) for c in changes] == [25, 25, 10]


@pytest.mark.parametrize("prefix", ["/vpc", "AWSLogs", "AWSLogs/", "AWSLogsX/", "a/AWSLogs/", "a//b", "a b/"])
def test_flowlog_changes_refuse_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        flowlog_changes([missing("vpc-1")], FlowLogOptions(buckets={REGION: BUCKET}, prefix=prefix), ACCOUNT)


def test_destination_arn() -> None:
    assert destination_arn("b-1") == "arn:aws:s3:::b-1"
    assert destination_arn("b-1", "x/y", "aws-cn") == "arn:aws-cn:s3:::b-1/x/y/"
    with pytest.raises(ValidationFailed):
        destination_arn("b-1/x")


def test_region_without_bucket_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="ap-south-1"):
        flowlog_changes([missing("vpc-1", region="ap-south-1")], OPTIONS, ACCOUNT)


# -- verdict -> action -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "old", "replace", "action"),
    [
        ("compliant", (), False, "none"),
        ("compliant", ("fl-1",), True, "none"),
        ("missing", (), False, "create"),
        ("missing", (), True, "create"),
        ("needs-change", ("fl-1",), False, "add-beside"),
        ("needs-change", ("fl-1",), True, "replace"),
    ],
)
def test_action_mapping(verdict: str, old: tuple[str, ...], replace: bool, action: str) -> None:
    target = FlowLogTarget(resource_id="vpc-1", region=REGION, verdict=verdict, existing_flow_log_ids=old)  # type: ignore[arg-type]
    options = FlowLogOptions(buckets={REGION: BUCKET}, replace_existing=replace)
    assert flowlog_action(target, options) == action


def test_plan_creates_beside_and_never_deletes_by_default() -> None:
    targets = [
        FlowLogTarget(
            resource_id="vpc-ok", region=REGION, verdict="compliant", existing_flow_log_ids=("fl-ok",)
        ),
        missing("vpc-new"),
        needs_change("vpc-old", ("fl-old",)),
    ]
    changes = flowlog_changes(targets, OPTIONS, ACCOUNT)
    assert [c.kind for c in changes] == [CREATE_KIND]
    assert changes[0].params["ResourceIds"] == ["vpc-new", "vpc-old"]
    assert not changes[0].destructive
    assert changes[0].operation == "CreateFlowLogs" and changes[0].group == "flowlogs"


def test_replace_adds_destructive_deletes_after_every_create() -> None:
    targets = [needs_change(f"vpc-{i:03d}", (f"fl-{i:03d}a", f"fl-{i:03d}b")) for i in range(7)] + [
        missing("vpc-x")
    ]
    options = FlowLogOptions(buckets={REGION: BUCKET}, replace_existing=True)
    changes = flowlog_changes(targets, options, ACCOUNT, batch_size=3)
    kinds = [c.kind for c in changes]
    assert kinds == [CREATE_KIND] * 3 + [DELETE_KIND] * 3
    deletes = changes[3:]
    assert all(d.destructive and d.operation == "DeleteFlowLogs" for d in deletes)
    for create, delete in zip(changes[:3], deletes, strict=True):
        assert delete.depends_on == [create.id]
        old = {f"fl-{rid[4:]}{s}" for rid in create.params["ResourceIds"] if rid != "vpc-x" for s in "ab"}
        assert set(delete.params["FlowLogIds"]) == old
    Plan(changes=[]).extend(changes)  # ids unique, dependencies earlier in the plan


def test_batches_per_region_type_and_configuration() -> None:
    targets = [missing(f"vpc-{i:04d}") for i in range(900)]
    targets += [missing(f"vpc-e{i:03d}", region="eu-west-1") for i in range(301)]
    targets += [missing(f"subnet-{i:03d}", rtype="Subnet") for i in range(5)]
    changes = flowlog_changes(targets, OPTIONS, ACCOUNT)
    sizes = [(c.region, c.params["ResourceType"], len(c.params["ResourceIds"])) for c in changes]
    assert sizes == [
        ("eu-west-1", "VPC", 300),
        ("eu-west-1", "VPC", 1),
        (REGION, "Subnet", 5),
        (REGION, "VPC", 300),
        (REGION, "VPC", 300),
        (REGION, "VPC", 300),
    ]
    assert len({c.id for c in changes}) == len(changes)
    # The same input plans the same ids (stable across runs).
    assert [c.id for c in flowlog_changes(reversed(targets), OPTIONS, ACCOUNT)] == [c.id for c in changes]


# -- applying against moto -----------------------------------------------------------------------------------


def test_batched_apply_counts_calls_and_returns_ids(session: AwsSession, ec2: Any) -> None:
    vpcs = make_vpcs(ec2, 12)
    changes = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT, batch_size=5)
    assert len(changes) == 3
    report = apply_plan(Plan(changes=changes), session)
    assert report.ok, report.results
    assert create_calls(session) == 3  # one call per batch, never one per VPC
    ids: dict[str, str] = {}
    for result in report.results:
        ids.update(result.outputs["flow_log_ids"])
        assert result.outputs["errors"] == {}
    assert sorted(ids) == vpcs
    for vpc in vpcs:
        [flow_log] = flow_logs_of(ec2, vpc)
        assert ids[vpc] == flow_log["FlowLogId"]
        assert flow_log["LogFormat"] == EXPECTED_FORMAT and flow_log["TrafficType"] == "ALL"


def test_second_apply_makes_no_mutating_call(session: AwsSession, ec2: Any) -> None:
    vpcs = make_vpcs(ec2, 4)
    plan = Plan(changes=flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT))
    assert apply_plan(plan, session).ok
    before = session.stats.mutating()
    again = apply_plan(plan, session)
    assert again.counts() == {"satisfied": 1}
    assert session.stats.mutating() == before
    assert all(len(flow_logs_of(ec2, v)) == 1 for v in vpcs)
    assert sorted(current_flow_log_ids(session, plan.changes[0])) == vpcs


def test_apply_only_sends_resources_still_lacking(session: AwsSession, ec2: Any, audit: Any) -> None:
    vpcs = make_vpcs(ec2, 3)
    plan = Plan(changes=flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT))
    ec2.create_flow_logs(**{**plan.changes[0].params, "ResourceIds": [vpcs[1]]})  # done meanwhile
    report = apply_plan(plan, session)
    assert report.ok
    [call] = [r for r in audit.records() if r["operation"] == "CreateFlowLogs"]
    assert call["params"]["ResourceIds"] == [vpcs[0], vpcs[2]]
    assert sorted(report.results[0].outputs["flow_log_ids"]) == vpcs


def test_a_differently_configured_flow_log_does_not_count(session: AwsSession, ec2: Any) -> None:
    [vpc] = make_vpcs(ec2, 1)
    change = flowlog_changes([missing(vpc)], OPTIONS, ACCOUNT)[0]
    ec2.create_flow_logs(
        **{
            **change.params,
            "MaxAggregationInterval": 60,
            "LogDestination": change.params["LogDestination"] + "/other/",
        }
    )
    executor = CreateFlowLogsExecutor()
    assert not executor.satisfied(session, change)
    executor.apply(session, change)
    assert executor.satisfied(session, change)
    assert len(flow_logs_of(ec2, vpc)) == 2  # the old one is left alone


def wrap_create(session: AwsSession, wrapper: Any) -> None:
    """Route the session's CreateFlowLogs calls through `wrapper(real, **params)`."""
    client = session.client("ec2", REGION)
    real = client.create_flow_logs
    client.create_flow_logs = lambda **params: wrapper(real, **params)


def test_unsuccessful_items_reported_per_resource_and_rerun_converges(
    session: AwsSession, ec2: Any, audit: Any
) -> None:
    vpcs = make_vpcs(ec2, 4)
    bad = vpcs[2]
    failing = {"on": True}

    def partly_failing(real: Any, **params: Any) -> dict[str, Any]:
        if not failing["on"] or bad not in params["ResourceIds"]:
            return real(**params)
        rest = [r for r in params["ResourceIds"] if r != bad]
        response = real(**{**params, "ResourceIds": rest}) if rest else {"FlowLogIds": []}
        response["Unsuccessful"] = [
            {
                "ResourceId": bad,
                "Error": {"Code": "InvalidParameter", "Message": "Access denied for LogDestination"},
            }
        ]
        return response

    wrap_create(session, partly_failing)
    change = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT)[0]
    with pytest.raises(FlowLogsPartialFailure) as caught:
        CreateFlowLogsExecutor().apply(session, change)
    outputs = caught.value.outputs
    assert sorted(outputs["flow_log_ids"]) == [v for v in vpcs if v != bad]
    assert list(outputs["errors"]) == [bad]
    assert "InvalidParameter" in outputs["errors"][bad]
    assert "3 of 4 resources" in str(caught.value) and bad in str(caught.value)

    # Through apply_plan: the change fails (the plan stops) with the failed resource named.
    report = apply_plan(Plan(changes=[change]), session)
    assert report.results[0].status == "failed" and bad in report.results[0].detail

    failing["on"] = False
    report = apply_plan(Plan(changes=[change]), session)
    assert report.ok
    last = [r for r in audit.records() if r["operation"] == "CreateFlowLogs"][-1]
    assert last["params"]["ResourceIds"] == [bad]  # only the failed one was retried
    assert all(len(flow_logs_of(ec2, v)) == 1 for v in vpcs)


def test_already_exists_in_unsuccessful_with_matching_config_is_success(
    session: AwsSession, ec2: Any
) -> None:
    vpcs = make_vpcs(ec2, 3)
    racer = vpcs[1]

    def someone_was_faster(real: Any, **params: Any) -> dict[str, Any]:
        theirs = ec2.create_flow_logs(**{**params, "ResourceIds": [racer], "ClientToken": "another-apply"})[
            "FlowLogIds"
        ][0]
        response = real(**{**params, "ResourceIds": [r for r in params["ResourceIds"] if r != racer]})
        response["Unsuccessful"] = [
            {"ResourceId": racer, "Error": {"Code": "FlowLogAlreadyExists", "Message": "exists"}}
        ]
        seen.append(theirs)
        return response

    seen: list[str] = []
    wrap_create(session, someone_was_faster)
    change = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT)[0]
    outputs = CreateFlowLogsExecutor().apply(session, change)
    assert outputs["errors"] == {}
    assert outputs["flow_log_ids"][racer] == seen[0]
    assert sorted(outputs["flow_log_ids"]) == vpcs


def test_already_exists_raised_with_matching_config_is_success(session: AwsSession, ec2: Any) -> None:
    vpcs = make_vpcs(ec2, 3)
    racer = vpcs[1]
    calls: list[list[str]] = []

    def someone_was_faster(real: Any, **params: Any) -> dict[str, Any]:
        calls.append(list(params["ResourceIds"]))
        if len(calls) == 1:
            ec2.create_flow_logs(**{**params, "ResourceIds": [racer], "ClientToken": "another-apply"})
        return real(**params)  # moto raises FlowLogAlreadyExists for the whole call

    wrap_create(session, someone_was_faster)
    change = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT)[0]
    outputs = CreateFlowLogsExecutor().apply(session, change)
    assert outputs["errors"] == {}
    assert sorted(outputs["flow_log_ids"]) == vpcs
    assert len(calls) == 2 and racer not in calls[1]
    assert all(len(flow_logs_of(ec2, v)) == 1 for v in vpcs)  # no duplicates


def test_already_exists_with_other_configuration_is_an_error(session: AwsSession, ec2: Any) -> None:
    vpcs = make_vpcs(ec2, 3)
    clash = vpcs[1]
    change = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT)[0]
    # Same bucket, AWS's default format: AWS refuses a second flow log to the same destination.
    old = ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[clash],
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=change.params["LogDestination"],
    )["FlowLogIds"][0]
    with pytest.raises(FlowLogsPartialFailure) as caught:
        CreateFlowLogsExecutor().apply(session, change)
    outputs = caught.value.outputs
    assert list(outputs["errors"]) == [clash]
    assert old in outputs["errors"][clash] and "FlowLogAlreadyExists" in outputs["errors"][clash]
    assert sorted(outputs["flow_log_ids"]) == [vpcs[0], vpcs[2]]


def test_replace_existing_deletes_only_when_confirmed(session: AwsSession, ec2: Any) -> None:
    [vpc, other] = make_vpcs(ec2, 2)
    old = ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[vpc],
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{BUCKET}/old/",
    )["FlowLogIds"][0]
    keep = ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[other],
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{BUCKET}/old/",
    )["FlowLogIds"][0]
    targets = [needs_change(vpc, (old,)), needs_change(other, (keep,))]

    default_plan = Plan(changes=flowlog_changes(targets, OPTIONS, ACCOUNT))
    assert not default_plan.destructive
    assert apply_plan(default_plan, session).ok
    beside = {fl["FlowLogId"] for fl in flow_logs_of(ec2, vpc)}
    assert old in beside and len(beside) == 2  # the compliant one was added beside the old one

    options = FlowLogOptions(buckets={REGION: BUCKET}, replace_existing=True)
    plan = Plan(changes=flowlog_changes([targets[0]], options, ACCOUNT))
    assert [c.kind for c in plan.changes] == [CREATE_KIND, DELETE_KIND]
    refused = apply_plan(plan, session)
    assert [r.status for r in refused.results] == ["satisfied", "refused"]
    assert old in {fl["FlowLogId"] for fl in flow_logs_of(ec2, vpc)}

    done = apply_plan(plan, session, confirm_destructive=True)
    assert [r.status for r in done.results] == ["satisfied", "applied"]
    assert done.results[1].outputs["deleted"] == [old]
    remaining = flow_logs_of(ec2, vpc)
    assert len(remaining) == 1 and remaining[0]["LogFormat"] == EXPECTED_FORMAT
    assert keep in {fl["FlowLogId"] for fl in flow_logs_of(ec2, other)}  # not part of the replace
    before = session.stats.mutating()
    assert apply_plan(plan, session, confirm_destructive=True).counts() == {"satisfied": 2}
    assert session.stats.mutating() == before


def test_prefix_destination_applies_and_matches(session: AwsSession, ec2: Any) -> None:
    vpcs = make_vpcs(ec2, 2)
    options = FlowLogOptions(buckets={REGION: BUCKET}, prefix="kentik/vpc", hive=True)
    plan = Plan(changes=flowlog_changes([missing(v) for v in vpcs], options, ACCOUNT))
    assert apply_plan(plan, session).ok
    [flow_log] = flow_logs_of(ec2, vpcs[0])
    assert flow_log["LogDestination"] == f"arn:aws:s3:::{BUCKET}/kentik/vpc/"
    assert flow_log.get("DestinationOptions", {}).get("HiveCompatiblePartitions") is True
    before = session.stats.mutating()
    assert apply_plan(plan, session).counts() == {"satisfied": 1}
    assert session.stats.mutating() == before


def test_describe_follows_pages_and_chunks_filters() -> None:
    from botocore.stub import Stubber

    from aws.logs.flowlog_executors import describe_flow_logs
    from aws.session import SessionOptions

    session = AwsSession(SessionOptions(region=REGION))
    client = session.client("ec2", REGION)
    ids = [f"vpc-{i:04d}" for i in range(150)]
    with Stubber(client) as stub:
        first = {"Name": "resource-id", "Values": ids[:100]}
        stub.add_response(
            "describe_flow_logs",
            {"FlowLogs": [{"FlowLogId": "fl-1", "ResourceId": ids[0]}], "NextToken": "t"},
            {"Filters": [first], "MaxResults": 1000},
        )
        stub.add_response(
            "describe_flow_logs",
            {"FlowLogs": [{"FlowLogId": "fl-2", "ResourceId": ids[99]}]},
            {"Filters": [first], "MaxResults": 1000, "NextToken": "t"},
        )
        stub.add_response(
            "describe_flow_logs",
            {"FlowLogs": [{"FlowLogId": "fl-3", "ResourceId": ids[120]}]},
            {"Filters": [{"Name": "resource-id", "Values": ids[100:]}], "MaxResults": 1000},
        )
        found = describe_flow_logs(session, REGION, resource_ids=list(reversed(ids)))
        stub.assert_no_pending_responses()
    assert [fl["FlowLogId"] for fl in found] == ["fl-1", "fl-2", "fl-3"]


# -- EC2 is eventually consistent -------------------------------------------------------------------
def test_create_waits_for_describe_to_show_the_new_flow_log(
    session: AwsSession, flowlog_lag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html: a resource just created
    may not show in Describe calls at once; the executor re-reads with bounded backoff."""
    from aws.logs import flowlog_executors as engine
    from aws.sandbox.strict import set_describe_lag

    monkeypatch.setattr(engine, "sleep", flowlog_lag.advance)
    set_describe_lag(10, clock=flowlog_lag)  # within the executor's ~15 s read-back budget
    change = _lagged_change(session)
    outputs = engine.CreateFlowLogsExecutor().apply(session, change)
    assert list(outputs["flow_log_ids"]) == change.params["ResourceIds"]


def test_create_beyond_the_read_back_budget_says_it_was_created(
    session: AwsSession, flowlog_lag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws.logs import flowlog_executors as engine
    from aws.sandbox.strict import set_describe_lag

    monkeypatch.setattr(engine, "sleep", flowlog_lag.advance)
    set_describe_lag(3600, clock=flowlog_lag)
    with pytest.raises(engine.FlowLogsPartialFailure) as caught:
        engine.CreateFlowLogsExecutor().apply(session, _lagged_change(session))
    assert "not visible in DescribeFlowLogs yet" in str(caught.value)


def _lagged_change(session: AwsSession) -> Any:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    vpcs = make_vpcs(boto3.client("ec2", region_name=REGION), 2)
    [change] = flowlog_changes([missing(v) for v in vpcs], OPTIONS, ACCOUNT)
    return change


@pytest.mark.parametrize("field", ["resource-id", "encryption-status"])
def test_newest_fields_are_offered_as_extras(field: str) -> None:
    config = flow_log_config("VPC", REGION, OPTIONS.model_copy(update={"extra_fields": (field,)}))
    assert config.log_format.endswith(f"${{{field}}}")
