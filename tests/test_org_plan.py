"""Plans across accounts (issue 14): one central bucket (or one per region) for many member accounts.

The policies (pure), the strict sandbox's cross-account rules, the plan, apply through member roles,
the plan file's rules and delivery into the central bucket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.audit import AuditLog
from aws.errors import AccessDeniedError, ValidationFailed
from aws.lock import LockHeld, account_lock, account_locks
from aws.plans.change import Plan, PlanRejected, apply_plan
from aws.plans.choices import LogChoices
from aws.plans.org_build import OrgPlanBuild, build_org_plan
from aws.s3 import bucket_policy as bp
from aws.s3 import org_policy as op
from aws.s3.strategy import BucketChoice
from aws.session import AwsSession
from tests.org_fixtures import ROLE, OrgWorld, accesses, make_org, scan_org

BUCKET = "kentik-flow-logs"


# -- the policies (no AWS) -----------------------------------------------------------------------------


def test_126_accounts_fit_in_one_bucket_policy() -> None:
    assert op.accounts_that_fit(BUCKET) == 126


def test_the_computed_number_of_accounts_fits_in_20_kb() -> None:
    fits = op.accounts_that_fit(BUCKET)
    merged = op.bucket_merge(None, BUCKET, op._synthetic(fits))
    assert bp.policy_size(merged.policy) <= bp.BUCKET_POLICY_LIMIT


def test_one_account_more_than_fits_is_refused_naming_the_number() -> None:
    fits = op.accounts_that_fit(BUCKET)
    merged = op.bucket_merge(None, BUCKET, op._synthetic(fits + 1))
    with pytest.raises(op.OrgPolicyTooLarge) as caught:
        op.check_org_size(merged, what="bucket policy", bucket=BUCKET)
    assert (caught.value.fits, caught.value.accounts) == (fits, fits + 1)


def test_each_account_costs_149_bytes_without_prefix() -> None:
    one, two = (bp.policy_size(op.bucket_merge(None, BUCKET, op._synthetic(n)).policy) for n in (1, 2))
    assert two - one == 149


def test_prefixes_leave_room_for_fewer_accounts() -> None:
    assert op.accounts_that_fit(BUCKET, prefixes=["vpc-flow-logs", "firewall-logs"]) == 83


def test_one_statement_pair_per_50_accounts() -> None:
    statements = op.org_bucket_statements(BUCKET, op._synthetic(120))
    assert [s["Sid"] for s in statements if s["Action"] == "s3:PutObject"] == [
        f"{op.SID_ORG_WRITE}{n}" for n in (1, 2, 3)
    ]


def test_write_statement_names_each_account_under_each_prefix() -> None:
    write = op.org_bucket_statements(BUCKET, ["222222222222", "111111111111"], prefixes=["vpc", "fw"])[0]
    assert write["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/{folder}/AWSLogs/{account}/*"
        for account in ("111111111111", "222222222222")
        for folder in ("vpc", "fw")
    ]


def test_statements_scope_delivery_by_source_account_and_arn() -> None:
    acl = op.org_bucket_statements(BUCKET, ["111111111111", "222222222222"])[1]
    assert acl["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ["111111111111", "222222222222"]},
        "ArnLike": {"aws:SourceArn": ["arn:aws:logs:*:111111111111:*", "arn:aws:logs:*:222222222222:*"]},
    }


def test_no_statement_uses_source_org_id() -> None:
    text = json.dumps(
        op.org_bucket_statements(BUCKET, ["111111111111"]) + op.org_key_statements(["111111111111"])
    )
    assert "SourceOrgID" not in text


def test_a_run_with_fewer_accounts_keeps_those_already_listed() -> None:
    before = op.bucket_merge(None, BUCKET, ["111111111111", "222222222222"]).policy
    after = op.bucket_merge(before, BUCKET, ["333333333333"])
    assert after.accounts == ["111111111111", "222222222222", "333333333333"]


def test_merging_again_changes_nothing() -> None:
    once = op.bucket_merge(None, BUCKET, ["111111111111"]).policy
    assert not op.bucket_merge(once, BUCKET, ["111111111111"]).changed


def _write_resources(policy: dict[str, object]) -> list[str]:
    return [r for s in bp.statements(policy) if s["Action"] == "s3:PutObject" for r in s["Resource"]]


def test_a_later_run_with_a_prefix_keeps_the_top_folder_already_granted() -> None:
    before = op.bucket_merge(None, BUCKET, ["111111111111"]).policy  # logs without a prefix
    after = op.bucket_merge(before, BUCKET, ["111111111111"], prefixes=["vpc-flow-logs"])
    assert f"arn:aws:s3:::{BUCKET}/AWSLogs/111111111111/*" in _write_resources(after.policy)


def test_a_later_run_without_a_prefix_adds_the_top_folder() -> None:
    before = op.bucket_merge(None, BUCKET, ["111111111111"], prefixes=["vpc-flow-logs"]).policy
    after = op.bucket_merge(before, BUCKET, ["111111111111"], prefixes=[""])
    assert f"arn:aws:s3:::{BUCKET}/AWSLogs/111111111111/*" in _write_resources(after.policy)


def test_other_statements_are_kept() -> None:
    theirs = {"Sid": "Theirs", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    merged = op.bucket_merge({"Version": "2012-10-17", "Statement": [theirs]}, BUCKET, ["111111111111"])
    assert merged.policy["Statement"][0] == theirs


def test_key_statements_list_every_member() -> None:
    (statement,) = op.org_key_statements(["111111111111", "222222222222"])
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ["111111111111", "222222222222"]


# -- the strict sandbox -----------------------------------------------------------------------------------


def _member(session: AwsSession, world: OrgWorld, index: int) -> AwsSession:
    return session.assume_role(f"arn:aws:iam::{world.members[index]}:role/{ROLE}")


def test_flow_logs_into_another_accounts_bucket_without_its_policy_are_refused(session: AwsSession) -> None:
    world = make_org(session, members=1)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    member = world.members[0]
    response = (
        _member(session, world, 0)
        .client("ec2", "us-east-1")
        .create_flow_logs(
            ResourceType="VPC",
            ResourceIds=[world.vpcs[member]["us-east-1"]],
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{BUCKET}",
        )
    )
    assert [u["Error"]["Message"] for u in response["Unsuccessful"]] == [
        f"Access Denied for LogDestination: {BUCKET}. Please check LogDestination permission."
    ]


def test_flow_logs_into_another_accounts_bucket_that_lists_the_account_are_created(
    session: AwsSession,
) -> None:
    world = make_org(session, members=1)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=op.bucket_merge(None, BUCKET, world.members).text)
    member = world.members[0]
    response = (
        _member(session, world, 0)
        .client("ec2", "us-east-1")
        .create_flow_logs(
            ResourceType="VPC",
            ResourceIds=[world.vpcs[member]["us-east-1"]],
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{BUCKET}",
        )
    )
    assert response["Unsuccessful"] == [] and len(response["FlowLogIds"]) == 1


def test_a_bucket_policy_over_20_kb_is_refused(moto: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    too_big = op.bucket_merge(None, BUCKET, op._synthetic(op.accounts_that_fit(BUCKET) + 1)).text
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=too_big)
    assert caught.value.response["Error"]["Code"] == "PolicyTooLarge"


# -- the plan ----------------------------------------------------------------------------------------------


def _central(region: str = "us-east-1", **extra: object) -> BucketChoice:
    return BucketChoice(strategy="central", bucket=BUCKET, regions=[region], central_region=region, **extra)  # type: ignore[arg-type]


def _plan(session: AwsSession, world: OrgWorld, bucket_account: str = "", **choice: object) -> OrgPlanBuild:
    org = scan_org(session, world)
    bucket = _central(**choice)
    return build_org_plan(
        session,
        org,
        accesses(session, world),
        bucket,
        LogChoices(firewalls=False),
        bucket_account=bucket_account or world.management,
    )


def _policy_accounts(build: OrgPlanBuild) -> list[str]:
    change = next(c for c in build.plan.changes if c.kind == "s3.put-org-bucket-policy")
    return list(change.basis["accounts"])


def test_central_plan_lists_every_member_in_the_bucket_policy(session: AwsSession) -> None:
    world = make_org(session, members=3)
    assert _policy_accounts(_plan(session, world)) == sorted(world.members)


def test_each_members_flow_logs_run_in_its_account(session: AwsSession) -> None:
    world = make_org(session, members=2)
    build = _plan(session, world)
    flow = [c for c in build.plan.changes if c.kind == "ec2.create-flow-logs"]
    assert sorted(c.account for c in flow) == sorted(world.members)


def test_member_flow_logs_point_at_the_central_bucket(session: AwsSession) -> None:
    world = make_org(session, members=2)
    flow = [c for c in _plan(session, world).plan.changes if c.kind == "ec2.create-flow-logs"]
    assert {c.params["LogDestination"] for c in flow} == {f"arn:aws:s3:::{BUCKET}"}


def test_summary_has_one_group_per_account(session: AwsSession) -> None:
    world = make_org(session, members=2)
    summary = _plan(session, world).plan.summary()
    assert all(f"account {a}:" in summary for a in (world.management, *world.members))


def test_the_plan_records_the_role_and_members(session: AwsSession) -> None:
    world = make_org(session, members=2)
    org = _plan(session, world).plan.settings["org"]
    assert (org["role"], sorted(org["members"])) == (ROLE, sorted(world.members))


def test_bucket_in_a_log_archive_member_runs_in_that_account(session: AwsSession) -> None:
    world = make_org(session, members=3, no_vpcs=(2,))
    archive = world.members[2]
    build = _plan(session, world, bucket_account=archive)
    assert {c.account for c in build.plan.changes if c.group == "bucket"} == {archive}


def test_log_archive_without_vpcs_is_not_listed_in_the_policy(session: AwsSession) -> None:
    world = make_org(session, members=3, no_vpcs=(2,))
    build = _plan(session, world, bucket_account=world.members[2])
    assert _policy_accounts(build) == sorted(world.members[:2])


def test_a_member_whose_role_refuses_is_left_out(session: AwsSession) -> None:
    world = make_org(session, members=3, refusing=(1,))
    build = _plan(session, world)
    assert list(build.left_out) == [world.members[1]]


def test_a_member_left_out_is_not_in_the_bucket_policy(session: AwsSession) -> None:
    world = make_org(session, members=3, refusing=(1,))
    assert world.members[1] not in _policy_accounts(_plan(session, world))


def test_kms_key_policy_lists_every_member(session: AwsSession) -> None:
    world = make_org(session, members=2)
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    build = _plan(session, world, encryption="SSE-KMS", kms_key_arns=[key])
    change = next(c for c in build.plan.changes if c.kind == "kms.put-org-key-policy")
    assert sorted(change.basis["accounts"]) == sorted(world.members)


def test_regional_buckets_list_only_the_members_with_resources_in_their_region(session: AwsSession) -> None:
    world = make_org(session, members=2)
    eu = _member(session, world, 0).client("ec2", "eu-west-1").create_vpc(CidrBlock="10.9.0.0/16")
    assert eu["Vpc"]["VpcId"]
    org = scan_org(session, world, regions=("us-east-1", "eu-west-1"))
    bucket = BucketChoice(
        strategy="regional", bucket="kentik-logs-{region}", regions=["us-east-1", "eu-west-1"]
    )
    build = build_org_plan(
        session,
        org,
        accesses(session, world),
        bucket,
        LogChoices(firewalls=False),
        bucket_account=world.management,
    )
    eu_policy = next(
        c for c in build.plan.changes if c.kind == "s3.put-org-bucket-policy" and c.region == "eu-west-1"
    )
    assert eu_policy.basis["accounts"] == [world.members[0]]


def test_flow_logs_without_a_prefix_beside_a_firewall_prefix_are_created(session: AwsSession) -> None:
    """--firewall-prefix alone: the flow logs still go to BUCKET/AWSLogs/ACCOUNT/, which the policy must
    let delivery write (the strict sandbox refuses CreateFlowLogs otherwise)."""
    world = make_org(session, members=1)
    plan = _plan(session, world, prefixes=["firewall-logs"]).plan
    report = apply_plan(plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    flow = {c.id for c in plan.changes if c.kind == "ec2.create-flow-logs"}
    assert {r.status for r in report.results if r.change_id in flow} == {"applied"}


@pytest.fixture
def scp() -> Iterator[Callable[[str, str], None]]:
    """`scp(account, action)`: a simulated SCP denies `action` in `account` (lifted after the test)."""
    from aws.sandbox.strict_sts import clear_scps, deny_by_scp

    yield deny_by_scp
    clear_scps()


def test_a_member_whose_every_region_failed_is_left_out(
    session: AwsSession, scp: Callable[[str, str], None]
) -> None:
    world = make_org(session, members=2)
    scp(world.members[1], "ec2:DescribeVpcs")
    assert list(_plan(session, world).left_out) == [world.members[1]]


def test_a_member_whose_every_region_failed_is_named_with_the_failed_call(
    session: AwsSession, scp: Callable[[str, str], None]
) -> None:
    world = make_org(session, members=2)
    scp(world.members[1], "ec2:DescribeVpcs")
    assert "ec2:DescribeVpcs failed" in _plan(session, world).left_out[world.members[1]]


def test_an_unreachable_bucket_account_is_refused_as_access_denied(session: AwsSession) -> None:
    world = make_org(session, members=2, refusing=(1,))
    with pytest.raises(AccessDeniedError, match=f"bucket account {world.members[1]} could not be reached"):
        _plan(session, world, bucket_account=world.members[1])


def test_too_many_accounts_for_one_bucket_are_refused(
    session: AwsSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_org(session, members=2)
    monkeypatch.setattr(bp, "BUCKET_POLICY_LIMIT", 800)  # room for one account only
    with pytest.raises(op.OrgPolicyTooLarge) as caught:
        _plan(session, world)
    assert caught.value.fits == 1


# -- apply through the member roles ----------------------------------------------------------------------


def _sessions(session: AwsSession) -> object:
    return lambda account: session.assume_role(f"arn:aws:iam::{account}:role/{ROLE}")


def test_apply_through_member_roles_converges(session: AwsSession) -> None:
    world = make_org(session, members=2, no_vpcs=(1,))
    plan = _plan(session, world, bucket_account=world.members[1]).plan
    first = apply_plan(plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    assert first.ok
    again = apply_plan(plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    assert again.counts() == {"satisfied": len(plan.changes)}


def test_audit_records_carry_the_member_account(session: AwsSession, audit: AuditLog) -> None:
    world = make_org(session, members=1)
    plan = _plan(session, world).plan
    apply_plan(plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    records = [json.loads(line) for line in Path(audit.path).read_text().splitlines()]
    creates = {r["account"] for r in records if r.get("operation") == "CreateFlowLogs"}
    assert creates == {world.members[0]}


def test_a_plan_across_accounts_needs_the_member_sessions(session: AwsSession) -> None:
    world = make_org(session, members=1)
    plan = _plan(session, world).plan
    with pytest.raises(ValidationFailed, match="no way to reach them was given"):
        apply_plan(plan, session)


def test_apply_refuses_to_add_an_account_the_plan_only_keeps(session: AwsSession) -> None:
    """An account the policy listed when the plan was made (basis `kept`) and no longer does is not one
    the plan may grant: apply refuses rather than add it back."""
    from aws.plans.change import Change, StaleChange
    from aws.s3.org_policy_executors import PutOrgBucketPolicyExecutor

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    accounts = ["111111111111", "666666666666"]
    change = Change(
        id=f"s3.put-org-bucket-policy:{BUCKET}",
        kind="s3.put-org-bucket-policy",
        title="t",
        reason="r",
        target=f"arn:aws:s3:::{BUCKET}",
        region="us-east-1",
        account="123456789012",
        params={
            "Bucket": BUCKET,
            "ExpectedBucketOwner": "123456789012",
            "Policy": op.bucket_merge(None, BUCKET, accounts).text,
        },
        basis={"accounts": accounts, "prefixes": [""], "kept": ["666666666666"]},
    )
    with pytest.raises(StaleChange, match="666666666666"):
        PutOrgBucketPolicyExecutor().checked(session, change)


def test_after_apply_a_members_flow_log_to_the_central_bucket_is_covered(session: AwsSession) -> None:
    world = make_org(session, members=1)
    apply_plan(_plan(session, world).plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    again = _plan(session, world)
    assert {d.decision for d in again.coverage} == {"covered"}


def test_delivery_into_the_central_bucket_lands_under_the_members_folder(session: AwsSession) -> None:
    from aws.sandbox.delivery import DeliverySimulator

    world = make_org(session, members=1)
    apply_plan(_plan(session, world).plan, session, sessions=_sessions(session))  # type: ignore[arg-type]
    written = DeliverySimulator(first_delay=0).tick()
    assert {(o.bucket, o.key.split("/")[1]) for o in written} == {(BUCKET, world.members[0])}


# -- plan files ---------------------------------------------------------------------------------------------


def _file(**org: object) -> dict[str, object]:
    members = ["111111111111"]
    change = {
        "id": "s3.put-public-access-block:kentik-flow-logs",
        "kind": "s3.put-public-access-block",
        "title": "Block",
        "reason": "why",
        "target": f"arn:aws:s3:::{BUCKET}",
        "account": "111111111111",
        "region": "us-east-1",
        "params": {
            "Bucket": BUCKET,
            "ExpectedBucketOwner": "111111111111",
            "PublicAccessBlockConfiguration": dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
        },
        "group": "bucket",
    }
    settings = {"org": {"members": members, "role": ROLE, "bucket_account": "111111111111", **org}}
    return {"format": 3, "account": "123456789012", "changes": [change], "settings": settings}


def test_a_plan_file_of_member_accounts_is_read() -> None:
    assert Plan.from_json(json.dumps(_file())).changes[0].account == "111111111111"


def test_a_change_in_an_account_the_plan_does_not_list_is_refused() -> None:
    data = _file()
    data["changes"][0]["account"] = "999999999999"  # type: ignore[index]
    with pytest.raises(PlanRejected):
        Plan.from_json(json.dumps(data))


def test_a_plan_whose_member_role_is_not_a_role_name_is_refused() -> None:
    with pytest.raises(PlanRejected):
        Plan.from_json(json.dumps(_file(role="arn:aws:iam::111111111111:role/x")))


# -- locks ----------------------------------------------------------------------------------------------------


def test_locks_of_every_account_are_taken_in_sorted_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws.lock

    taken: list[str] = []
    real = aws.lock.account_lock

    def recording(state_dir: Path, account: str, **kwargs: Any) -> Any:
        taken.append(account)
        return real(state_dir, account, **kwargs)

    monkeypatch.setattr(aws.lock, "account_lock", recording)
    with account_locks(tmp_path, ["333333333333", "111111111111", "222222222222"]):
        pass
    assert taken == ["111111111111", "222222222222", "333333333333"]


def test_a_held_account_lock_refuses_the_plan_across_accounts(tmp_path: Path) -> None:
    with account_lock(tmp_path, "222222222222"), pytest.raises(LockHeld):  # noqa: SIM117
        with account_locks(tmp_path, ["111111111111", "222222222222"]):
            pass


EVIL, EVIL_ACCOUNT = "exfil-logs", "999999999999"


def _aimed_at_a_bucket_named_as_created(session: AwsSession) -> tuple[Plan, str]:
    """A tampered plan: a member's flow log aimed at an outside account's bucket (whose policy lets the
    member deliver), with an `s3.create-bucket` for that name the log change does not wait for."""
    from moto.s3.models import s3_backends

    world = make_org(session, members=1)
    member = world.members[0]
    build = build_org_plan(
        session,
        scan_org(session, world),
        accesses(session, world),
        BucketChoice(strategy="central", bucket=BUCKET, regions=["us-east-1"], central_region="us-east-1"),
        LogChoices(firewalls=False),
        bucket_account=world.management,
    )
    s3_backends[EVIL_ACCOUNT]["aws"].create_bucket(EVIL, "us-east-1")
    s3_backends[EVIL_ACCOUNT]["aws"].put_bucket_policy(
        EVIL, op.bucket_merge(None, EVIL, [member]).text.encode()
    )
    data = json.loads(build.plan.to_json())
    log = next(c for c in data["changes"] if c["kind"] == "ec2.create-flow-logs")
    log["params"]["LogDestination"], log["depends_on"], data["read_set"] = f"arn:aws:s3:::{EVIL}", [], []
    data["changes"].insert(
        0,
        {
            "id": f"s3.create-bucket:{EVIL}",
            "kind": "s3.create-bucket",
            "title": "Create bucket",
            "reason": "r",
            "target": f"arn:aws:s3:::{EVIL}",
            "account": world.management,
            "region": "us-east-1",
            "params": {"Bucket": EVIL},
            "group": "bucket",
        },
    )
    return Plan.from_json(json.dumps(data)), member


def test_a_log_not_waiting_for_the_bucket_it_names_as_created_is_checked_in_the_owner(
    session: AwsSession,
) -> None:
    plan, _ = _aimed_at_a_bucket_named_as_created(session)
    with pytest.raises(ValidationFailed, match=f"Logs would go to bucket '{EVIL}'"):
        apply_plan(plan, session, sessions=lambda a: session.assume_role(f"arn:aws:iam::{a}:role/{ROLE}"))
