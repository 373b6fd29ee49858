"""Change engine: JSON round trip, ordered idempotent apply, stop at first failure, destructive guard."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from aws.errors import ReadOnlyViolation, ValidationFailed
from aws.plan import ApplyReport, Change, ChangeResult, Executor, Plan, apply_plan
from aws.session import AwsSession


class TagVpc(Executor):
    """A real EC2 change for exercising the engine: tag a VPC."""

    kind = "test.tag-vpc"

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        ec2 = session.client("ec2", change.region)
        vpc_id = change.params["Resources"][0]
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
        wanted = {(t["Key"], t["Value"]) for t in change.params["Tags"]}
        return wanted <= {(t["Key"], t["Value"]) for t in tags}

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.call(session, change)
        return {"tagged": change.params["Resources"][0]}


def tag_change(
    vpc_id: str, key: str, *, destructive: bool = False, depends_on: list[str] | None = None
) -> Change:
    return Change(
        id=f"tag:{vpc_id}:{key}",
        kind="test.tag-vpc",
        title=f"Tag {vpc_id} with {key}",
        reason="engine test",
        target=f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}",
        service="ec2",
        region="us-east-1",
        operation="CreateTags",
        params={"Resources": [vpc_id], "Tags": [{"Key": key, "Value": "yes"}]},
        destructive=destructive,
        depends_on=depends_on or [],
        group="test",
    )


@pytest.fixture
def vpcs(session: AwsSession) -> list[str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")  # set-up calls are not counted in session.stats
    return [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(3)]


def test_plan_json_round_trip() -> None:
    plan = Plan(account="123456789012", notes=["n"], settings={"strategy": "central"})
    plan.add(tag_change("vpc-1", "a"))
    plan.add(tag_change("vpc-2", "b", destructive=True, depends_on=["tag:vpc-1:a"]))
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert "2 change(s)" in again.summary() and "1 destructive" in again.summary()


def test_plan_rejects_duplicates_and_forward_dependencies() -> None:
    plan = Plan()
    plan.add(tag_change("vpc-1", "a"))
    with pytest.raises(ValueError, match="duplicate"):
        plan.add(tag_change("vpc-1", "a"))
    with pytest.raises(ValueError, match="depends on"):
        plan.add(tag_change("vpc-2", "b", depends_on=["tag:vpc-9:z"]))


def test_bad_plan_file_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed, match="Not a flowlogs plan"):
        Plan.from_json("{not json")
    with pytest.raises(ValidationFailed, match="format 99"):
        Plan.from_json('{"format": 99}')


def test_apply_then_rerun_converges_without_mutations(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan(account="123456789012")
    plan.extend([tag_change(v, "kentik") for v in vpcs])
    seen: list[tuple[str, str]] = []
    report = apply_plan(
        plan,
        session,
        on_begin=lambda c: seen.append((c.id, "begin")),
        on_progress=lambda c, r: seen.append((c.id, r.status)),
    )
    assert report.ok and report.counts() == {"applied": 3}
    assert [s for _, s in seen] == ["begin", "applied"] * 3
    mutations = session.stats.mutating()
    assert mutations == 3
    again = apply_plan(plan, session)
    assert again.ok and again.counts() == {"satisfied": 3}
    assert session.stats.mutating() == mutations  # no mutating call on the rerun


def test_apply_stops_at_first_failure_and_rerun_converges(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan()
    plan.add(tag_change(vpcs[0], "k"))
    plan.add(tag_change("vpc-0000000000000dead", "k"))  # does not exist: fails
    plan.add(tag_change(vpcs[1], "k"))
    report = apply_plan(plan, session)
    assert [r.status for r in report.results] == ["applied", "failed", "not-run"]
    assert report.failed is not None and report.failed.change_id == "tag:vpc-0000000000000dead:k"
    assert "vpc-0000000000000dead" in report.failed.detail or "InvalidVpcID" in report.failed.detail
    fixed = Plan(changes=[plan.changes[0], plan.changes[2]])
    rerun = apply_plan(fixed, session)
    assert [r.status for r in rerun.results] == ["satisfied", "applied"]


def test_destructive_change_needs_confirmation(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan(changes=[tag_change(vpcs[0], "a"), tag_change(vpcs[1], "replace", destructive=True)])
    report = apply_plan(plan, session)
    assert [r.status for r in report.results] == ["applied", "refused"]
    assert session.stats.mutating() == 1
    report = apply_plan(plan, session, confirm_destructive=True)
    assert [r.status for r in report.results] == ["satisfied", "applied"]


def test_apply_refuses_plan_for_another_account(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan(account="999999999999", changes=[tag_change(vpcs[0], "a")])
    with pytest.raises(ValidationFailed, match="999999999999"):
        apply_plan(plan, session)
    assert session.stats.mutating() == 0


def test_apply_in_read_only_mode_fails_cleanly(session: AwsSession, vpcs: list[str]) -> None:
    session.read_only = True
    report = apply_plan(Plan(changes=[tag_change(vpcs[0], "a")]), session)
    assert report.results[0].status == "failed"
    assert "Read-only mode" in report.results[0].detail
    assert session.stats.mutating() == 0
    with pytest.raises(ReadOnlyViolation):
        session.client("ec2").create_tags(Resources=[vpcs[0]], Tags=[{"Key": "a", "Value": "b"}])


def test_unknown_change_kind_fails_that_change(session: AwsSession) -> None:
    change = tag_change("vpc-1", "a").model_copy(update={"kind": "no.such-kind"})
    report = apply_plan(Plan(changes=[change]), session)
    assert report.results[0].status == "failed" and "Unknown change kind" in report.results[0].detail


def test_report_model_round_trip() -> None:
    report = ApplyReport(results=[ChangeResult(change_id="x", status="applied", outputs={"id": "fl-1"})])
    assert ApplyReport.model_validate_json(report.model_dump_json()) == report
