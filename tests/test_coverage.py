"""Coverage: a source counts only when it delivers to a bucket Kentik reads (issue: a complete flow log
to another bucket used to be judged "compliant" and Kentik never saw it)."""

from __future__ import annotations

import re

import boto3
import pytest
from pydantic import ValidationError

from aws.coverage import ReadLocation, ReadSet
from aws.discovery import scan
from aws.errors import ValidationFailed
from aws.iam.merge import merge_policy
from aws.iam.requirements import READ_EXISTING_SID, Requirements
from aws.inventory import Inventory
from aws.logs.format import REQUIRED_LOG_FORMAT
from aws.plans.build import PlanBuild, build_plan
from aws.plans.change import Change
from aws.plans.choices import LogChoices
from aws.s3.strategy import BucketChoice
from aws.session import AwsSession

REGION = "us-east-1"
KENTIK_BUCKET = "kentik-coverage-test"
OTHER_BUCKET = "existing-vpc-logs"
METADATA_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
}


def _vpc_logging_to(bucket: str, prefix: str = "") -> str:
    """A VPC whose flow log has every v2-v5 field and goes to `bucket` (created in this account)."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    destination = f"arn:aws:s3:::{bucket}" + (f"/{prefix}/" if prefix else "")
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=destination,
        LogFormat=REQUIRED_LOG_FORMAT,
    )
    return vpc


def _choice() -> BucketChoice:
    return BucketChoice(strategy="central", bucket=KENTIK_BUCKET, regions=[REGION], central_region=REGION)


def _plan(session: AwsSession, vpc: str, inventory: Inventory | None = None, **choices: object) -> PlanBuild:
    inventory = inventory or scan(session, include=[REGION])
    logs = LogChoices(include=[vpc], firewalls=False, **choices)  # type: ignore[arg-type]
    return build_plan(session, inventory, _choice(), logs)


def _creates_for(build: PlanBuild, vpc: str) -> list[Change]:
    return [
        c
        for c in build.plan.changes
        if c.kind == "ec2.create-flow-logs" and vpc in c.params.get("ResourceIds", [])
    ]


def test_scan_json_names_the_destination_account(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    inventory = scan(session, include=[REGION])
    [fl] = next(v for _, v in inventory.vpcs() if v.vpc_id == vpc).flow_logs
    assert (fl.bucket, fl.bucket_account) == (OTHER_BUCKET, session.identity().account)


def test_complete_log_to_another_own_bucket_joins_the_read_set(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET, prefix="security")
    build = _plan(session, vpc)
    assert [loc.path for loc in build.read_set.existing] == [f"{OTHER_BUCKET}/security/"]


def test_read_mode_creates_no_second_flow_log(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    assert _creates_for(_plan(session, vpc), vpc) == []


def test_read_mode_records_the_decision_with_its_reason(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    [decision] = [d for d in _plan(session, vpc).plan.coverage if d.source == vpc]
    assert (decision.decision, decision.bucket) == ("read", OTHER_BUCKET)
    assert "instead of a second log" in decision.reason


def test_duplicate_mode_adds_a_flow_log_to_kentiks_bucket(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    [create] = _creates_for(_plan(session, vpc, existing_destinations="duplicate"), vpc)
    assert create.params["LogDestination"] == f"arn:aws:s3:::{KENTIK_BUCKET}"


def test_duplicate_mode_never_deletes_the_complete_flow_log(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    build = _plan(session, vpc, existing_destinations="duplicate", replace_existing=True)
    assert [c for c in build.plan.changes if c.kind == "ec2.delete-flow-logs"] == []


def test_bucket_of_another_account_falls_back_to_a_new_flow_log(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    inventory = scan(session, include=[REGION])
    inventory.buckets = [KENTIK_BUCKET]  # as if OTHER_BUCKET belonged to someone else
    build = _plan(session, vpc, inventory)
    assert len(_creates_for(build, vpc)) == 1
    [decision] = [d for d in build.plan.coverage if d.source == vpc]
    assert "another account" in decision.reason


def test_log_to_kentiks_bucket_under_any_prefix_is_covered(session: AwsSession) -> None:
    vpc = _vpc_logging_to(KENTIK_BUCKET, prefix="vpc")
    build = _plan(session, vpc)
    assert [d.decision for d in build.plan.coverage if d.source == vpc] == ["covered"]


def test_policy_part_gets_every_location_kentik_must_read(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET, prefix="security")
    seen: list[list[str]] = []

    def policy(read_set: ReadSet, keys: list[str]) -> list[Change]:
        seen.append(read_set.paths)
        return []

    inventory = scan(session, include=[REGION])
    logs = LogChoices(include=[vpc], firewalls=False)
    build_plan(session, inventory, _choice(), logs, policy_changes=policy)
    assert seen == [[KENTIK_BUCKET, f"{OTHER_BUCKET}/security/"]]


def test_existing_bucket_statement_reads_only_below_awslogs() -> None:
    need = Requirements(buckets=(KENTIK_BUCKET,), existing=((OTHER_BUCKET, "security"),))
    result = merge_policy(METADATA_POLICY, need)
    [statement] = [s for s in result.proposed["Statement"] if s.get("Sid") == READ_EXISTING_SID]
    assert statement["Resource"] == [
        f"arn:aws:s3:::{OTHER_BUCKET}",
        f"arn:aws:s3:::{OTHER_BUCKET}/security/AWSLogs/*",
    ]


def test_existing_bucket_statement_never_grants_deletion() -> None:
    need = Requirements(buckets=(KENTIK_BUCKET,), existing=((OTHER_BUCKET, ""),), allow_delete=True)
    result = merge_policy(METADATA_POLICY, need)
    [statement] = [s for s in result.proposed["Statement"] if s.get("Sid") == READ_EXISTING_SID]
    assert statement["Action"] == ["s3:Get*", "s3:List*"]


@pytest.mark.parametrize(("prefix", "covered"), [("security/", True), ("security/eu/", False), ("", False)])
def test_existing_location_covers_only_its_own_awslogs_folder(prefix: str, covered: bool) -> None:
    """AWS writes below PREFIX/AWSLogs/, and the read grant is limited to that folder."""
    location = ReadLocation(bucket=OTHER_BUCKET, prefix="security", kentik=False)
    assert location.covers(OTHER_BUCKET, prefix) is covered


def test_kentik_bucket_location_covers_every_prefix() -> None:
    assert ReadLocation(bucket=KENTIK_BUCKET).covers(KENTIK_BUCKET, "any/where/")


@pytest.mark.parametrize("text", ["bucket/AWSLogs/", "bucket/a//b/", "/prefix"])
def test_read_set_refuses_malformed_locations(text: str) -> None:
    from aws.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        ReadSet.parse([text])


DENY_UNLESS_VPCE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OnlyThroughOurEndpoint",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{KENTIK_BUCKET}/*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1234"}},
        }
    ],
}


def test_explicit_deny_in_the_bucket_policy_is_reported_before_apply(session: AwsSession) -> None:
    """An explicit Deny wins over every Allow; log delivery's request carries no aws:SourceVpce, so
    "deny unless this endpoint" refuses it (https://docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_evaluation-logic.html)."""
    import json

    vpc = _vpc_logging_to(OTHER_BUCKET)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=KENTIK_BUCKET)
    s3.put_bucket_policy(Bucket=KENTIK_BUCKET, Policy=json.dumps(DENY_UNLESS_VPCE))
    build = _plan(session, vpc, existing_destinations="duplicate")
    assert [("Sid OnlyThroughOurEndpoint" in line) for line in build.delivery_blocked] == [True]


def test_plan_without_a_deny_claims_nothing_is_blocked(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET)
    assert _plan(session, vpc, existing_destinations="duplicate").delivery_blocked == []


SHARING_OWNER = "210987654321"


def test_shared_vpc_of_another_account_is_never_planned(session: AwsSession) -> None:
    """A RAM participant sees the owner's VPC but only the owner may create its flow logs
    (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-sharing.html#vpc-share-limitations)."""
    from aws.sandbox.strict import share_vpc

    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    share_vpc(REGION, vpc, SHARING_OWNER)
    build = _plan(session, vpc)
    assert _creates_for(build, vpc) == []
    [decision] = [d for d in build.plan.coverage if d.source == vpc]
    assert (
        decision.reason
        == f"VPC {vpc} is owned by account {SHARING_OWNER}: enable flow logs from that account"
    )


def test_shared_transit_gateway_is_never_planned(session: AwsSession) -> None:
    from aws.sandbox.strict import share_transit_gateway

    ec2 = boto3.client("ec2", region_name=REGION)
    tgw = ec2.create_transit_gateway(Description="shared")["TransitGateway"]["TransitGatewayId"]
    share_transit_gateway(REGION, tgw, SHARING_OWNER)
    inventory = scan(session, include=[REGION])
    logs = LogChoices(resources="tgw", include=[tgw], firewalls=False)
    build = build_plan(session, inventory, _choice(), logs)
    assert [d.decision for d in build.plan.coverage if d.source == tgw] == ["not-owned"]


def _firewall_to(bucket: str) -> list[object]:
    from aws.logs.firewall import FirewallTarget

    logging = {
        "LogDestinationConfigs": [
            {
                "LogType": "FLOW",
                "LogDestinationType": "S3",
                "LogDestination": {"bucketName": bucket, "prefix": "nfw"},
            }
        ]
    }
    arn = f"arn:aws:network-firewall:{REGION}:123456789012:firewall/edge"
    return [FirewallTarget(name="edge", arn=arn, region=REGION, logging=logging)]


@pytest.mark.parametrize(("owned", "decision"), [({OTHER_BUCKET}, "read"), (set(), "kept")])
def test_firewall_logs_to_another_bucket_join_the_read_set_only_when_it_is_ours(
    owned: set[str], decision: str
) -> None:
    from aws.plans.targets import CoverageJudge, firewall_coverage

    judge = CoverageJudge(ReadSet.of_buckets([KENTIK_BUCKET]), owned, "read", "123456789012")
    firewall_coverage(judge, _firewall_to(OTHER_BUCKET), LogChoices(firewall_logs=["FLOW"]))  # type: ignore[arg-type]
    assert [d.decision for d in judge.decisions] == [decision]


def test_firewall_in_the_read_set_gets_no_logging_change() -> None:
    from aws.plans.targets import CoverageJudge, firewall_plan

    judge = CoverageJudge(ReadSet.of_buckets([KENTIK_BUCKET]), {OTHER_BUCKET}, "read", "123456789012")
    changes = firewall_plan(
        judge,
        _firewall_to(OTHER_BUCKET),  # type: ignore[arg-type]
        LogChoices(firewall_logs=["FLOW"]),  # type: ignore[list-item]
        {REGION: KENTIK_BUCKET},
    )
    assert changes == []


def test_summary_lists_every_bucket_kentik_must_read() -> None:
    from screens.summary import registration, registration_text
    from tui.state import WizardState

    state = WizardState(buckets={REGION: KENTIK_BUCKET})
    state.read_set = ReadSet.of_buckets([KENTIK_BUCKET])
    state.read_set.add(ReadLocation(bucket=OTHER_BUCKET, prefix="security", kentik=False, region=REGION))
    data = registration(state, [], account="123456789012")
    assert [(b["bucket"], b["existing"], b["read_prefixes"]) for b in data["buckets"]] == [
        (OTHER_BUCKET, True, ["security/AWSLogs/"]),
        (KENTIK_BUCKET, False, []),
    ]
    assert "Kentik reads security/AWSLogs/ only" in registration_text(data)


def test_decision_records_the_prefix_without_slashes(session: AwsSession) -> None:
    vpc = _vpc_logging_to(OTHER_BUCKET, prefix="security")
    [decision] = [d for d in _plan(session, vpc).plan.coverage if d.source == vpc]
    assert decision.prefix == "security"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("logs/AWSLogs/", "AWS adds 'AWSLogs/' itself"),
        ("logs/team/AWSLogs/", "AWS adds 'AWSLogs/' itself"),  # not only the first folder
        ("logs/x*/", "wildcards or variables in IAM policies"),
        ("logs/${aws:username}/", "wildcards or variables in IAM policies"),
        ("logs/a//b/", "empty folder"),
    ],
)
def test_a_prefix_that_cannot_be_read_as_it_is_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(problem)):
        ReadLocation.parse(text)


@pytest.mark.parametrize("prefix", ["*", "team/AWSLogs", "/team/"])
def test_a_plan_files_existing_prefix_is_checked_like_a_typed_one(prefix: str) -> None:
    from aws.iam.requirements import ExistingBasis

    with pytest.raises(ValidationError, match="prefix"):
        ExistingBasis(bucket="logs", prefix=prefix)
