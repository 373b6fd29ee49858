"""`flowlogs plan --accounts ... [--bucket-account ID]` and `flowlogs apply --plan F [--external-id ID]`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.s3 import org_policy as op
from aws.session import AwsSession
from tests.org_fixtures import ROLE, make_org, refuse
from tui.cli import main

PLAN = [
    "plan",
    "--strategy",
    "central",
    "--bucket",
    "kentik-flow-logs",
    "--regions",
    "us-east-1",
    "--no-firewalls",
]


def applying(path: Path) -> list[str]:
    """`flowlogs apply --plan PATH`, naming again (--accounts) the accounts a plan across accounts
    changes or grants delivery to, as a user has to."""
    data = json.loads(path.read_text())
    org = data.get("settings", {}).get("org")
    named = sorted({*org["members"], org["bucket_account"]} - {"", data["account"]}) if org else []
    return ["apply", "--plan", str(path), *(["--accounts", ",".join(named)] if named else [])]


def run(capsys: pytest.CaptureFixture[str], session: AwsSession, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), session_factory=lambda settings, endpoint_url=None: session)
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_across_accounts_exits_0(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_org(session, members=2)
    code, _, _ = run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert code == 0


def test_plan_output_groups_changes_by_account(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_org(session, members=2)
    _, out, _ = run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert all(f"Account {a}:" in out for a in world.members)


def test_a_member_whose_role_refuses_exits_1(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_org(session, members=2, refusing=(1,))
    code, _, _ = run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert code == 1


def test_a_member_whose_role_refuses_is_named_with_what_to_check(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_org(session, members=2, refusing=(1,))
    _, _, err = run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert f"account {world.members[1]}" in err and "trust policy" in err


def test_bucket_account_must_be_an_account_id(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, session, *PLAN, "--accounts", "111111111111", "--bucket-account", "log-archive")
    assert code == 2


def _plan_file(session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> Path:
    world = make_org(session, members=2, no_vpcs=(1,))
    path = tmp_path / "plan.json"
    code, _, _ = run(
        capsys,
        session,
        *PLAN,
        "--accounts",
        ",".join(world.members),
        "--bucket-account",
        world.members[1],
        "-o",
        str(path),
        *extra,
    )
    assert code == 0
    return path


def test_apply_of_a_plan_across_accounts_exits_0(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    assert run(capsys, session, *applying(path), "--yes")[0] == 0


def test_apply_of_a_plan_across_accounts_again_finds_everything_satisfied(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    assert run(capsys, session, *applying(path), "--yes")[0] == 0
    _, out, _ = run(capsys, session, *applying(path), "--yes", "--json")
    assert {r["status"] for r in json.loads(out)["results"]} == {"satisfied"}


def _edit(path: Path, edit: Any) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def test_apply_refuses_a_plan_whose_member_role_is_not_a_role_name(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _edit(_plan_file(session, capsys, tmp_path), lambda d: d["settings"]["org"].update(role="a/b"))
    assert run(capsys, session, *applying(path), "--yes")[0] == 2


def test_apply_refuses_a_change_in_a_foreign_account_before_any_call(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _edit(
        _plan_file(session, capsys, tmp_path), lambda d: d["changes"][-1].update(account="999999999999")
    )
    calls: list[str] = []
    monkeypatch.setattr(AwsSession, "client", lambda self, *a, **k: calls.append(a[0]))  # type: ignore[misc]
    code, _, _ = run(capsys, session, *applying(path), "--yes")
    assert (code, calls) == (2, [])


def test_apply_refuses_a_bad_external_id(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    assert run(capsys, session, *applying(path), "--yes", "--external-id", "x")[0] == 2


def test_the_plan_file_names_the_role(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = _plan_file(session, capsys, tmp_path).read_text()
    assert json.loads(text)["settings"]["org"]["role"] == ROLE


def test_the_plan_file_holds_no_credentials(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = _plan_file(session, capsys, tmp_path).read_text()
    assert "SecretAccessKey" not in text


def test_apply_refuses_a_plan_that_grants_an_outside_account_before_any_call(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hand-edited plan adding an outside account to the org bucket policy (its basis and its document,
    consistently) is refused whole, before AWS is asked anything."""

    def grant_outsider(data: dict[str, Any]) -> None:
        change = next(c for c in data["changes"] if c["kind"] == "s3.put-org-bucket-policy")
        basis = change["basis"]
        basis["accounts"] = sorted([*basis["accounts"], "666666666666"])
        bucket = change["params"]["Bucket"]
        required = op.org_bucket_statements(bucket, basis["accounts"], prefixes=basis["prefixes"])
        policy = op.merge_org_statements(json.loads(change["params"]["Policy"]), required)
        change["params"]["Policy"] = policy.text

    path = _edit(_plan_file(session, capsys, tmp_path), grant_outsider)
    calls: list[str] = []
    monkeypatch.setattr(AwsSession, "client", lambda self, *a, **k: calls.append(a[0]))  # type: ignore[misc]
    code, _, _ = run(capsys, session, *applying(path), "--yes")
    assert (code, calls) == (2, [])


def test_apply_names_the_trust_policy_when_a_members_role_refuses(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    changes = json.loads(path.read_text())["changes"]
    refuse(session, next(c["account"] for c in changes if c["kind"] == "ec2.create-flow-logs"))
    _, out, err = run(capsys, session, *applying(path), "--yes")
    assert "trust policy" in out + err


# -- what the scan already reached, and the bucket account -------------------------------------------


def test_plan_across_accounts_assumes_each_members_role_once(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_org(session, members=2)
    assumed: list[str] = []
    real = AwsSession.assume_role

    def counting(self: AwsSession, arn: str, **kwargs: Any) -> AwsSession:
        assumed.append(arn)
        return real(self, arn, **kwargs)

    monkeypatch.setattr(AwsSession, "assume_role", counting)
    run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert sorted(assumed) == sorted(f"arn:aws:iam::{a}:role/{ROLE}" for a in world.members)


def test_an_unreachable_bucket_account_outside_the_run_exits_3(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_org(session, members=2, refusing=(1,))
    code, _, _ = run(
        capsys, session, *PLAN, "--accounts", world.members[0], "--bucket-account", world.members[1]
    )
    assert code == 3


def test_an_unreachable_bucket_account_of_the_run_exits_3(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_org(session, members=2, refusing=(1,))
    code, _, _ = run(
        capsys, session, *PLAN, "--accounts", ",".join(world.members), "--bucket-account", world.members[1]
    )
    assert code == 3


@pytest.fixture
def scp() -> Iterator[Callable[[str, str], None]]:
    """`scp(account, action)`: a simulated SCP denies `action` in `account` (lifted after the test)."""
    from aws.sandbox.strict_sts import clear_scps, deny_by_scp

    yield deny_by_scp
    clear_scps()


def test_a_member_whose_every_region_failed_exits_1(
    session: AwsSession, capsys: pytest.CaptureFixture[str], scp: Callable[[str, str], None]
) -> None:
    world = make_org(session, members=2)
    scp(world.members[1], "ec2:DescribeVpcs")
    code, _, _ = run(capsys, session, *PLAN, "--accounts", ",".join(world.members))
    assert code == 1


# -- a one-account plan on the bucket (and key) of a plan across accounts ---------------------------------


ONE_ACCOUNT = ["plan", "--strategy", "central", "--bucket", "kentik-flow-logs", "--regions", "us-east-1"]


def _after_org_apply(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path, *, kms: bool, with_caller: bool
) -> list[str]:
    """An org plan (bucket in the caller's account) applied; returns the encryption flags it used."""
    world = make_org(session, members=1)
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"] if kms else ""
    flags = ["--kms-key", key] if kms else []
    accounts = [*([world.management] if with_caller else []), *world.members]
    org_plan = tmp_path / "org.json"
    code, out, err = run(
        capsys, session, *PLAN, *flags, "--accounts", ",".join(accounts), "-o", str(org_plan)
    )
    assert code == 0, out + err
    code, out, err = run(capsys, session, *applying(org_plan), "--yes")
    assert code == 0, out + err
    return flags


@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "sse-kms"])
def test_a_one_account_plan_after_an_org_plan_on_the_same_bucket_applies(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path, kms: bool
) -> None:
    flags = _after_org_apply(session, capsys, tmp_path, kms=kms, with_caller=False)
    one = tmp_path / "one.json"
    code, out, err = run(capsys, session, *ONE_ACCOUNT, "--no-firewalls", *flags, "-o", str(one))
    assert code == 0, out + err
    assert run(capsys, session, *applying(one), "--yes")[0] == 0


def test_a_one_account_plan_for_an_account_the_org_statements_list_leaves_the_bucket_policy(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _after_org_apply(session, capsys, tmp_path, kms=False, with_caller=True)
    one = tmp_path / "one.json"
    code, out, err = run(capsys, session, *ONE_ACCOUNT, "--no-firewalls", "-o", str(one))
    assert code == 0, out + err
    assert "s3.put-bucket-policy" not in {c["kind"] for c in json.loads(one.read_text())["changes"]}


def _member_firewall(session: AwsSession, account: str) -> str:
    """A Network Firewall in the member (without logging), made through its access role."""
    member = session.assume_role(f"arn:aws:iam::{account}:role/{ROLE}")
    ec2 = member.client("ec2", "us-east-1")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlock"])
    nfw = member.client("network-firewall", "us-east-1")
    nfw.create_firewall(
        FirewallName="edge",
        FirewallPolicyArn=f"arn:aws:network-firewall:us-east-1:{account}:firewall-policy/default",
        VpcId=vpc,
        SubnetMappings=[{"SubnetId": subnet["Subnet"]["SubnetId"]}],
    )
    return "edge"


def _firewall_plan(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[str, Path]:
    world = make_org(session, members=1)
    member = world.members[0]
    _member_firewall(session, member)
    path = tmp_path / "plan.json"
    args = [a for a in PLAN if a != "--no-firewalls"]
    code, out, err = run(capsys, session, *args, "--accounts", member, "-o", str(path))
    assert code == 0, out + err
    return member, path


def test_a_members_firewall_logging_is_planned_in_the_member(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    member, path = _firewall_plan(session, capsys, tmp_path)
    changes = [
        c for c in json.loads(path.read_text())["changes"] if c["kind"].startswith("network-firewall.")
    ]
    assert changes and {c["account"] for c in changes} == {member}


def test_applying_a_members_firewall_logging_points_it_at_the_central_bucket(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    member, path = _firewall_plan(session, capsys, tmp_path)
    assert run(capsys, session, *applying(path), "--yes")[0] == 0
    nfw = session.assume_role(f"arn:aws:iam::{member}:role/{ROLE}").client("network-firewall", "us-east-1")
    configs = nfw.describe_logging_configuration(FirewallName="edge")["LoggingConfiguration"][
        "LogDestinationConfigs"
    ]
    assert {(c["LogType"], c["LogDestination"]["bucketName"]) for c in configs} == {
        ("FLOW", "kentik-flow-logs"),
        ("ALERT", "kentik-flow-logs"),
    }


def _regional_plan(session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    world = make_org(session, members=2, regions=("us-east-1", "eu-west-1"))
    path = tmp_path / "regional.json"
    args = ["plan", "--strategy", "regional", "--bucket", "kentik-{region}-logs", "--no-firewalls"]
    code, out, err = run(
        capsys,
        session,
        *args,
        "--regions",
        "us-east-1,eu-west-1",
        "--accounts",
        ",".join(world.members),
        "-o",
        str(path),
    )
    assert code == 0, out + err
    return path


def test_a_regional_plan_across_accounts_applies(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _regional_plan(session, capsys, tmp_path)
    assert run(capsys, session, *applying(path), "--yes")[0] == 0


def test_a_regional_plan_across_accounts_converges(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _regional_plan(session, capsys, tmp_path)
    run(capsys, session, *applying(path), "--yes")
    _, out, _ = run(capsys, session, *applying(path), "--yes", "--json")
    assert {r["status"] for r in json.loads(out)["results"]} == {"satisfied"}


def test_a_central_plan_after_a_regional_one_keeps_the_regional_buckets_policies(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Mixed: regional buckets first, then one central bucket for the same accounts; both deliver."""
    path = _regional_plan(session, capsys, tmp_path)
    run(capsys, session, *applying(path), "--yes")
    members = json.loads(path.read_text())["settings"]["org"]["members"]
    central = tmp_path / "central.json"
    code, out, err = run(capsys, session, *PLAN, "--accounts", ",".join(members), "-o", str(central))
    assert code == 0, out + err
    assert run(capsys, session, *applying(central), "--yes")[0] == 0
    policy = json.loads(
        session.client("s3", "eu-west-1").get_bucket_policy(Bucket="kentik-eu-west-1-logs")["Policy"]
    )
    listed = {
        a
        for s in policy["Statement"]
        for a in s.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount", [])
    }
    assert set(members) <= listed


def test_apply_of_a_plan_across_accounts_needs_the_accounts_named_again(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The plan file alone never decides which accounts are changed (it may have been edited)."""
    path = _plan_file(session, capsys, tmp_path)
    code, _, err = run(capsys, session, "apply", "--plan", str(path), "--yes")
    assert code == 2 and "accounts you did not name" in err


def test_apply_refuses_a_plan_naming_an_account_outside_those_allowed(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    members = applying(path)[-1].split(",")
    code, _, err = run(capsys, session, "apply", "--plan", str(path), "--yes", "--accounts", members[0])
    assert code == 2 and members[-1] in err


def test_apply_with_org_refuses_a_plan_naming_an_account_outside_the_organization(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _edit(
        _plan_file(session, capsys, tmp_path),
        lambda d: d["settings"]["org"].update(members=[*d["settings"]["org"]["members"], "999999999999"]),
    )
    code, _, err = run(capsys, session, "apply", "--plan", str(path), "--yes", "--org")
    assert code == 2 and "999999999999" in err


def test_apply_with_org_applies_a_plan_within_the_organization(
    session: AwsSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _plan_file(session, capsys, tmp_path)
    assert run(capsys, session, "apply", "--plan", str(path), "--yes", "--org")[0] == 0
