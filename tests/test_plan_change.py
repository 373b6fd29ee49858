"""Change engine: JSON round trip, ordered idempotent apply, dependency-aware skipping, destructive guard."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from aws.errors import ReadOnlyViolation, ValidationFailed
from aws.plans.change import (
    ApplyReport,
    Change,
    ChangeResult,
    Executor,
    Params,
    Plan,
    apply_plan,
    link_to_buckets,
)
from aws.session import AwsSession


class _Tag(Params):
    Key: str
    Value: str


class TagParams(Params):
    Resources: list[str]
    Tags: list[_Tag]


class TagVpc(Executor):
    """A real EC2 change for exercising the engine: tag a VPC."""

    kind = "test.tag-vpc"
    service, operation = "ec2", "CreateTags"
    Params = TagParams

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        ec2 = session.client("ec2", change.region)
        vpc_id = change.params["Resources"][0]
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
        wanted = {(t["Key"], t["Value"]) for t in change.params["Tags"]}
        return wanted <= {(t["Key"], t["Value"]) for t in tags}

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.call(session, change)
        return {"tagged": change.params["Resources"][0]}


class RetagVpc(TagVpc):
    """The same call, declared destructive (overwrites a tag's value)."""

    kind = "test.retag-vpc"
    destructive = True


def tag_change(
    vpc_id: str, key: str, *, destructive: bool = False, depends_on: list[str] | None = None
) -> Change:
    return Change(
        id=f"tag:{vpc_id}:{key}",
        kind=RetagVpc.kind if destructive else TagVpc.kind,
        title=f"Tag {vpc_id} with {key}",
        reason="engine test",
        target=f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}",
        region="us-east-1",
        params={"Resources": [vpc_id], "Tags": [{"Key": key, "Value": "yes"}]},
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


def test_failure_does_not_stop_unrelated_changes(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan()
    plan.add(tag_change(vpcs[0], "k"))
    plan.add(tag_change("vpc-0000000000000dead", "k"))  # does not exist: fails
    plan.add(tag_change(vpcs[1], "k"))
    report = apply_plan(plan, session)
    assert [r.status for r in report.results] == ["applied", "failed", "applied"]


def test_failed_change_is_reported_with_the_aws_error(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan(changes=[tag_change("vpc-0000000000000dead", "k"), tag_change(vpcs[0], "k")])
    failed = apply_plan(plan, session).failed
    assert failed is not None and failed.change_id == "tag:vpc-0000000000000dead:k"
    assert (
        failed.detail
        == "CreateTags failed (InvalidVpcID.NotFound): VpcID vpc-0000000000000dead does not exist."
    )


def failing_chain(vpcs: list[str]) -> Plan:
    """dead (fails) <- a <- b, and an unrelated c."""
    plan = Plan()
    plan.add(tag_change("vpc-0000000000000dead", "k"))
    plan.add(tag_change(vpcs[0], "a", depends_on=["tag:vpc-0000000000000dead:k"]))
    plan.add(tag_change(vpcs[1], "b", depends_on=[f"tag:{vpcs[0]}:a"]))
    plan.add(tag_change(vpcs[2], "c"))
    return plan


def test_dependants_of_a_failure_are_skipped_naming_the_root(session: AwsSession, vpcs: list[str]) -> None:
    report = apply_plan(failing_chain(vpcs), session)
    assert [(r.status, r.blocked_by) for r in report.results] == [
        ("failed", ""),
        ("skipped", "tag:vpc-0000000000000dead:k"),
        ("skipped", "tag:vpc-0000000000000dead:k"),
        ("applied", ""),
    ]


def test_skipped_changes_make_no_call(session: AwsSession, vpcs: list[str]) -> None:
    apply_plan(failing_chain(vpcs), session)
    assert session.stats.calls[("ec2", "CreateTags")] == 2  # the failing one and the unrelated one


def test_skipped_changes_are_reported_but_not_begun(session: AwsSession, vpcs: list[str]) -> None:
    begun: list[str] = []
    done: list[str] = []
    apply_plan(
        failing_chain(vpcs),
        session,
        on_begin=lambda c: begun.append(c.id),
        on_progress=lambda c, r: done.append(c.id),
    )
    assert (len(begun), len(done)) == (2, 4)


def test_report_counts_skipped_and_is_not_ok(session: AwsSession, vpcs: list[str]) -> None:
    report = apply_plan(failing_chain(vpcs), session)
    assert (report.ok, report.counts()) == (False, {"failed": 1, "skipped": 2, "applied": 1})


def test_refused_change_blocks_its_dependants(session: AwsSession, vpcs: list[str]) -> None:
    plan = Plan()
    plan.add(tag_change(vpcs[0], "replace", destructive=True))
    plan.add(tag_change(vpcs[1], "after", depends_on=[f"tag:{vpcs[0]}:replace"]))
    report = apply_plan(plan, session)
    assert [(r.status, r.blocked_by) for r in report.results] == [
        ("refused", ""),
        ("skipped", f"tag:{vpcs[0]}:replace"),
    ]


def test_rerun_after_fixing_the_failure_converges(session: AwsSession, vpcs: list[str]) -> None:
    plan = failing_chain(vpcs)
    apply_plan(plan, session)
    fixed = Plan(
        changes=[
            c.model_copy(update={"depends_on": []}) if c.id.endswith(":a") else c for c in plan.changes[1:]
        ]
    )
    rerun = apply_plan(fixed, session)
    assert [r.status for r in rerun.results] == ["applied", "applied", "satisfied"]


def test_dependency_on_a_later_change_is_refused_before_any_call(
    session: AwsSession, vpcs: list[str]
) -> None:
    plan = Plan(changes=[tag_change(vpcs[0], "a", depends_on=[f"tag:{vpcs[1]}:b"]), tag_change(vpcs[1], "b")])
    with pytest.raises(ValidationFailed, match="not an earlier change"):
        apply_plan(plan, session)
    assert session.stats.mutating() == 0


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


def bare(change_id: str, kind: str, **params: Any) -> Change:
    return Change(
        id=change_id,
        kind=kind,
        title=change_id,
        reason="link test",
        target=params.pop("target", "arn:aws:s3:::x"),
        region="us-east-1",
        params=params,
    )


def linked_plan() -> Plan:
    key = "arn:aws:kms:us-east-1:123456789012:key/k1"
    return Plan(
        changes=[
            bare("s3.create-bucket:logs", "s3.create-bucket", Bucket="logs"),
            bare("kms.put-key-policy:k1", "kms.put-key-policy", KeyId=key, target=key),
            bare("s3.put-lifecycle:logs", "s3.put-lifecycle", Bucket="logs"),
            bare("s3.create-bucket:other", "s3.create-bucket", Bucket="other"),
            bare("ec2.create-flow-logs:1", "ec2.create-flow-logs", LogDestination="arn:aws:s3:::logs/p/"),
            bare(
                "network-firewall.s3-log-destination:fw:FLOW",
                "network-firewall.s3-log-destination",
                LoggingConfiguration={
                    "LogDestinationConfigs": [
                        {
                            "LogType": "ALERT",
                            "LogDestinationType": "S3",
                            "LogDestination": {"bucketName": "other"},
                        },
                        {
                            "LogType": "FLOW",
                            "LogDestinationType": "S3",
                            "LogDestination": {"bucketName": "logs"},
                        },
                    ]
                },
            ),
        ]
    )


def test_flow_logs_depend_on_their_bucket_and_its_key_policy() -> None:
    plan = linked_plan()
    link_to_buckets(plan, {"logs": "arn:aws:kms:us-east-1:123456789012:key/k1"})
    assert plan.changes[4].depends_on == ["s3.create-bucket:logs", "kms.put-key-policy:k1"]


def test_firewall_logging_depends_on_the_bucket_of_its_log_type() -> None:
    plan = linked_plan()
    link_to_buckets(plan)
    assert plan.changes[5].depends_on == ["s3.create-bucket:logs"]
