"""flowlogs tags what it creates (aws/tags.py): flow logs on create, buckets it creates after CreateBucket,
with `managed-by=flowlogs-tui` and `flowlogs-plan=<the plan's id>`; a user's bucket tags are never
overwritten, reruns converge, and plan files accept exactly these tags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.discovery import scan
from aws.errors import ValidationFailed
from aws.logs.flowlog_executors import CreateFlowLogsExecutor, client_token
from aws.plans.build import PlanBuild, build_plan
from aws.plans.change import Change, Plan, apply_plan
from aws.plans.choices import LogChoices
from aws.s3.executors import TagBucketExecutor
from aws.s3.strategy import BucketChoice
from aws.session import AwsSession
from aws.tags import PLAN_ID, flow_log_tag_specifications, our_tags, plan_id, tag_plan

REGION = "us-east-1"
BUCKET = "kentik-tagging-test"


@pytest.fixture
def vpc(session: AwsSession) -> str:
    vpc_id: str = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    return vpc_id


def _build(session: AwsSession) -> PlanBuild:
    bucket = BucketChoice(strategy="central", bucket=BUCKET, regions=[REGION], central_region=REGION)
    return build_plan(session, scan(session, include=[REGION]), bucket, LogChoices(firewalls=False))


def _of(plan: Plan, kind: str) -> Change:
    return next(c for c in plan.changes if c.kind == kind)


def _s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def _bucket_tags() -> list[dict[str, str]]:
    tags: list[dict[str, str]] = _s3().get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    return tags


def _put_bucket_tags(tags: list[dict[str, str]]) -> Callable[[Change], None]:
    """An `on_begin` that tags the bucket the way its owner would, just before the tag change runs."""

    def begin(change: Change) -> None:
        if change.kind == "s3.tag-bucket":
            _s3().put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags})

    return begin


# -- the plan's id and the tags it plans -----------------------------------------------------------------


def test_plan_id_is_sixteen_hex_digits_of_the_plans_digest(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert PLAN_ID.match(plan.id) and plan.id == plan_id(plan)


def test_the_same_plan_made_twice_has_the_same_id(session: AwsSession, vpc: str) -> None:
    assert _build(session).plan.id == _build(session).plan.id


def test_every_flow_log_create_carries_our_tags_for_the_plan(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    specs = [c.params.get("TagSpecifications") for c in plan.changes if c.kind == "ec2.create-flow-logs"]
    assert specs == [
        [
            {
                "ResourceType": "vpc-flow-log",
                "Tags": [
                    {"Key": "managed-by", "Value": "flowlogs-tui"},
                    {"Key": "flowlogs-plan", "Value": plan.id},
                ],
            }
        ]
    ]


def test_a_bucket_the_plan_creates_is_tagged_after_its_create(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    tag = _of(plan, "s3.tag-bucket")
    assert (tag.params["Tagging"]["TagSet"], tag.depends_on) == (
        our_tags(plan.id),
        [f"s3.create-bucket:{BUCKET}"],
    )


def test_an_existing_bucket_gets_no_tag_change(session: AwsSession, vpc: str) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    assert [c.id for c in _build(session).plan.changes if c.kind == "s3.tag-bucket"] == []


def test_tagging_a_plan_again_changes_nothing(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert tag_plan(plan.model_copy(deep=True)) == plan


def test_a_plan_file_made_before_tagging_still_reads(session: AwsSession, vpc: str) -> None:
    data = json.loads(_build(session).plan.to_json())
    data.pop("id")
    for change in data["changes"]:
        change["params"].pop("TagSpecifications", None)
    data["changes"] = [c for c in data["changes"] if c["kind"] != "s3.tag-bucket"]
    assert Plan.from_json(json.dumps(data)).id == ""


def test_a_plan_file_with_tags_reads_back_equal(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert Plan.from_json(plan.to_json()) == plan


# -- apply -----------------------------------------------------------------------------------------------


def test_applied_plan_tags_the_flow_logs_it_creates(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert apply_plan(plan, session).ok
    [fl] = boto3.client("ec2", region_name=REGION).describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [vpc]}]
    )["FlowLogs"]
    assert sorted(fl["Tags"], key=str) == sorted(our_tags(plan.id), key=str)


def test_applied_plan_tags_the_bucket_it_creates(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert apply_plan(plan, session).ok
    assert _bucket_tags() == our_tags(plan.id)


def test_tags_the_bucket_got_meanwhile_are_kept(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    team = {"Key": "team", "Value": "network"}
    assert apply_plan(plan, session, on_begin=_put_bucket_tags([team])).ok
    assert _bucket_tags() == [team, *our_tags(plan.id)]


def test_a_key_the_bucket_already_has_keeps_its_value(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    theirs = {"Key": "managed-by", "Value": "terraform"}
    assert apply_plan(plan, session, on_begin=_put_bucket_tags([theirs])).ok
    assert _bucket_tags() == [theirs, {"Key": "flowlogs-plan", "Value": plan.id}]


def test_tagging_past_fifty_tags_fails_naming_the_limit(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    theirs = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    [failed] = apply_plan(plan, session, on_begin=_put_bucket_tags(theirs)).problems
    assert (failed.change_id, "AWS allows at most 50 per resource" in failed.detail) == (
        f"s3.tag-bucket:{BUCKET}",
        True,
    )


def test_tagging_past_fifty_tags_sends_no_put_bucket_tagging(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    apply_plan(plan, session, on_begin=_put_bucket_tags([{"Key": f"k{i}", "Value": "v"} for i in range(49)]))
    assert session.stats.calls[("s3", "PutBucketTagging")] == 0


def test_a_bucket_with_aws_system_tags_is_not_retagged(session: AwsSession, vpc: str) -> None:
    from moto.s3.models import s3_backends

    plan = _build(session).plan

    def system_tag(change: Change) -> None:  # as CloudFormation leaves on the buckets it makes
        if change.kind == "s3.tag-bucket":
            backend = s3_backends[plan.account]["aws"]
            arn = backend.get_bucket(BUCKET).arn
            backend.tagger.tag_resource(arn, [{"Key": "aws:cloudformation:stack-name", "Value": "logs"}])

    [failed] = apply_plan(plan, session, on_begin=system_tag).problems
    assert "'aws:cloudformation:stack-name' starts with 'aws:'" in failed.detail


def test_rerun_of_an_applied_plan_is_satisfied_and_sends_nothing(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert apply_plan(plan, session).ok
    before = session.stats.mutating()
    assert set(apply_plan(plan, session).counts()) == {"satisfied"}
    assert session.stats.mutating() == before


# -- "satisfied" does not depend on the plan's id --------------------------------------------------------


def test_bucket_tagged_by_another_plan_counts_as_tagged(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    assert apply_plan(plan, session).ok
    other = _of(plan, "s3.tag-bucket").model_copy(deep=True)
    other.params["Tagging"] = {"TagSet": our_tags("0123456789abcdef")}
    assert TagBucketExecutor().satisfied(session, other)


def test_compliant_flow_log_without_our_tags_counts_as_done(session: AwsSession, vpc: str) -> None:
    plan = _build(session).plan
    create = _of(plan, "ec2.create-flow-logs")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    untagged = {k: v for k, v in create.params.items() if k != "TagSpecifications"}
    boto3.client("ec2", region_name=REGION).create_flow_logs(**untagged)  # someone else made it
    assert CreateFlowLogsExecutor().satisfied(session, create)


def test_client_token_differs_between_plans_ids(session: AwsSession, vpc: str) -> None:
    create = _of(_build(session).plan, "ec2.create-flow-logs")
    other = create.model_copy(deep=True)
    other.params["TagSpecifications"] = flow_log_tag_specifications("0123456789abcdef")
    ids = create.params["ResourceIds"]
    assert client_token(create, ids) != client_token(other, ids)


# -- plan files: exactly our tags ------------------------------------------------------------------------


def _flow_log_tags(plan: dict[str, Any]) -> list[dict[str, str]]:
    change = next(c for c in plan["changes"] if c["kind"] == "ec2.create-flow-logs")
    tags: list[dict[str, str]] = change["params"]["TagSpecifications"][0]["Tags"]
    return tags


def _bucket_tag_set(plan: dict[str, Any]) -> list[dict[str, str]]:
    change = next(c for c in plan["changes"] if c["kind"] == "s3.tag-bucket")
    tags: list[dict[str, str]] = change["params"]["Tagging"]["TagSet"]
    return tags


def _other_plan_id(plan: dict[str, Any]) -> None:
    _flow_log_tags(plan)[1]["Value"] = "0123456789abcdef"


def _extra_flow_log_tag(plan: dict[str, Any]) -> None:
    _flow_log_tags(plan).append({"Key": "owner", "Value": "someone"})


def _other_resource_type(plan: dict[str, Any]) -> None:
    change = next(c for c in plan["changes"] if c["kind"] == "ec2.create-flow-logs")
    change["params"]["TagSpecifications"][0]["ResourceType"] = "vpc"


def _bucket_tag_changed(plan: dict[str, Any]) -> None:
    _bucket_tag_set(plan)[0]["Value"] = "someone-else"


def _plan_id_dropped(plan: dict[str, Any]) -> None:
    plan["id"] = ""


def _plan_id_not_hex(plan: dict[str, Any]) -> None:
    plan["id"] = "not-a-plan-id!!!"


def _existing_bucket_tagged(plan: dict[str, Any]) -> None:
    plan["changes"] = [c for c in plan["changes"] if c["kind"] != "s3.create-bucket"]
    for change in plan["changes"]:
        change["depends_on"] = [d for d in change["depends_on"] if not d.startswith("s3.create-bucket:")]


TAMPERING = {
    "flow log tag names another plan": (_other_plan_id, "are not the ones flowlogs puts"),
    "flow log tag added": (_extra_flow_log_tag, "are not the ones flowlogs puts"),
    "tag specification for another resource type": (_other_resource_type, "ResourceType"),
    "bucket tag changed": (_bucket_tag_changed, "are not the ones flowlogs puts"),
    "plan id dropped": (_plan_id_dropped, "are not the ones flowlogs puts"),
    "plan id not hexadecimal": (_plan_id_not_hex, "is not 16 hexadecimal digits"),
    "bucket the plan does not create": (_existing_bucket_tagged, "only tags a bucket"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_plan_file_with_other_tags_is_refused_naming_the_problem(
    session: AwsSession, vpc: str, name: str
) -> None:
    edit, said = TAMPERING[name]
    data = json.loads(_build(session).plan.to_json())
    edit(data)
    with pytest.raises(ValidationFailed) as info:
        Plan.from_json(json.dumps(data))
    assert said in str(info.value)


def test_flowlogs_plan_prints_the_plan_id_its_resources_are_tagged_with(
    seeded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    path = tmp_path / "plan.json"
    main(["plan", "--strategy", "central", "--bucket", "kentik-x", "--regions", "us-east-1", "-o", str(path)])
    plan_id = json.loads(path.read_text())["id"]
    second_line = capsys.readouterr().out.splitlines()[1]
    assert second_line == f"Plan {plan_id} (its resources are tagged flowlogs-plan={plan_id})"
