"""AWS Organizations: the account selection, member sessions through an assumed role, and the scan of
every account (aws.org, aws.org_scan), on in-process moto with the strict sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.errors import AccessDeniedError, ScpDenied, ValidationFailed, explain
from aws.org import AccountSelection, RoleNotAssumable, list_org_accounts, reach_accounts, select_accounts
from aws.org_scan import AccountScan, scan_accounts
from aws.sandbox.strict import ManualClock
from aws.sandbox.strict_sts import set_sts_clock
from aws.session import AwsSession

MANAGEMENT = "123456789012"


@pytest.fixture
def org(session: AwsSession) -> list[str]:
    """An organization with three members (moto makes OrganizationAccountAccessRole in each, trusting
    the management account), and their ids in creation order."""
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    return [
        client.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for i in range(3)
    ]


def _refuse(session: AwsSession, account: str) -> None:
    """Make the member's access role trust another account only (the strict sandbox then refuses us)."""
    member = session.assume_role(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")
    member.client("iam").update_assume_role_policy(
        RoleName="OrganizationAccountAccessRole",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}',
    )


# -- the selection ---------------------------------------------------------------------------------
def test_selection_names_every_bad_value_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        AccountSelection.parse(accounts=["12345", "abc"], exclude=["9x"], assume_role="arn:aws:iam::1:role/x")
    assert all(bad in caught.value.message for bad in ("12345", "abc", "9x", "give the role's name"))


def test_selection_refuses_org_and_accounts_together() -> None:
    with pytest.raises(ValidationFailed, match="either --org or --accounts"):
        AccountSelection.parse(org=True, accounts=["111111111111"])


def test_selection_refuses_excluding_every_named_account() -> None:
    with pytest.raises(ValidationFailed, match="leaves no account"):
        AccountSelection.parse(accounts=["111111111111"], exclude=["111111111111"])


def test_selection_defaults_to_the_organizations_access_role() -> None:
    assert AccountSelection.parse(org=True).assume_role == "OrganizationAccountAccessRole"


def test_selection_without_accounts_is_a_one_account_run() -> None:
    assert not AccountSelection.parse().many


# -- errors ----------------------------------------------------------------------------------------
def _denied(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "AssumeRole")


def test_a_deny_in_a_service_control_policy_is_its_own_error() -> None:
    err = explain(
        _denied(
            "User: arn:aws:iam::123456789012:user/a is not authorized to perform: sts:AssumeRole on "
            "resource: arn:aws:iam::210987654321:role/R with an explicit deny in a service control policy"
        ),
        service="sts",
    )
    assert isinstance(err, ScpDenied)


def test_a_plain_access_denial_is_not_an_scp() -> None:
    err = explain(
        _denied("User: x is not authorized to perform: sts:AssumeRole on resource: y"), service="sts"
    )
    assert type(err) is AccessDeniedError


# -- listing the organization ------------------------------------------------------------------------
def test_org_lists_the_active_accounts_with_their_names(session: AwsSession, org: list[str]) -> None:
    names = {m.account: m.name for m in list_org_accounts(session)}
    assert names == {MANAGEMENT: "master", **{a: f"member-{i}" for i, a in enumerate(org)}}


def test_org_leaves_out_a_closed_account(session: AwsSession, org: list[str]) -> None:
    boto3.client("organizations", region_name="us-east-1").close_account(AccountId=org[1])
    assert org[1] not in [m.account for m in list_org_accounts(session)]


def test_org_outside_an_organization_is_a_usage_error(session: AwsSession) -> None:
    with pytest.raises(ValidationFailed, match="not in an AWS Organization"):
        list_org_accounts(session)


def test_exclude_takes_accounts_out_of_the_organization(session: AwsSession, org: list[str]) -> None:
    picked = select_accounts(session, AccountSelection.parse(org=True, exclude=[org[0], MANAGEMENT]))
    assert [m.account for m in picked] == sorted(org[1:])


# -- reaching the members ----------------------------------------------------------------------------
def test_a_member_session_acts_in_the_member_account(session: AwsSession, org: list[str]) -> None:
    selection = AccountSelection.parse(accounts=[org[0]])
    (access,) = reach_accounts(session, select_accounts(session, selection), selection)
    assert access.session is not None and access.session.identity().account == org[0]


def test_the_callers_own_account_is_used_without_assuming_a_role(session: AwsSession, org: list[str]) -> None:
    selection = AccountSelection.parse(accounts=[MANAGEMENT])
    (access,) = reach_accounts(session, select_accounts(session, selection), selection)
    assert access.session is session and session.stats.calls[("sts", "AssumeRole")] == 0


def test_a_refusing_member_is_reported_with_what_to_check(session: AwsSession, org: list[str]) -> None:
    _refuse(session, org[1])
    selection = AccountSelection.parse(accounts=[org[1]])
    (access,) = reach_accounts(session, select_accounts(session, selection), selection)
    assert isinstance(access.failure, RoleNotAssumable) and "trust policy" in access.failure.hint


@pytest.fixture
def sts_clock() -> Iterator[ManualClock]:
    """The strict sandbox's STS clock (it issues and expires assumed credentials), on manual time."""
    clock = ManualClock(start=time.time())
    set_sts_clock(clock)
    yield clock
    set_sts_clock(None)


def _member_on(session: AwsSession, account: str, clock: ManualClock) -> AwsSession:
    """A member session whose refresh is judged on the same clock as the sandbox's expiry."""
    return session.assume_role(
        f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        time_fetcher=lambda: datetime.fromtimestamp(clock(), timezone.utc),
    )


def test_a_member_session_outlives_its_first_credentials(
    session: AwsSession, org: list[str], sts_clock: ManualClock
) -> None:
    member = _member_on(session, org[0], sts_clock)
    sts_clock.advance(3700)  # past the first credentials' expiry: the sandbox refuses them now
    assert member.client("ec2").describe_vpcs()["Vpcs"] is not None


def test_credentials_are_renewed_by_assuming_the_role_again(
    session: AwsSession, org: list[str], sts_clock: ManualClock
) -> None:
    member = _member_on(session, org[0], sts_clock)
    sts_clock.advance(55 * 60)  # within botocore's mandatory refresh window of the 1 h expiry
    member.client("ec2").describe_vpcs()
    assert session.stats.calls[("sts", "AssumeRole")] == 2


def test_a_renewal_the_role_refuses_is_a_credentials_error(
    session: AwsSession, org: list[str], sts_clock: ManualClock
) -> None:
    from botocore.exceptions import CredentialRetrievalError

    from aws.errors import CredentialsError

    member = _member_on(session, org[0], sts_clock)
    _refuse(session, org[0])
    sts_clock.advance(3700)
    with pytest.raises(CredentialRetrievalError) as caught:
        member.client("ec2").describe_vpcs()
    assert isinstance(explain(caught.value), CredentialsError)


# -- scanning every account --------------------------------------------------------------------------
def test_scan_covers_every_account_of_the_organization(session: AwsSession, org: list[str]) -> None:
    result = scan_accounts(session, AccountSelection.parse(org=True), include=["us-east-1"], workers=1)
    assert {a.account: a.status for a in result.accounts} == {a: "scanned" for a in [MANAGEMENT, *org]}


def test_each_account_inventory_is_that_accounts_own(session: AwsSession, org: list[str]) -> None:
    result = scan_accounts(session, AccountSelection.parse(org=True), include=["us-east-1"], workers=1)
    assert all(a.inventory is not None and a.inventory.identity.account == a.account for a in result.accounts)


def test_an_unreachable_member_does_not_stop_the_others(session: AwsSession, org: list[str]) -> None:
    _refuse(session, org[2])
    result = scan_accounts(session, AccountSelection.parse(org=True), include=["us-east-1"], workers=1)
    statuses = {a.account: a.status for a in result.accounts}
    assert statuses.pop(org[2]) == "unreachable" and set(statuses.values()) == {"scanned"}


def test_scan_reports_each_account_and_region_as_it_finishes(session: AwsSession, org: list[str]) -> None:
    lock = threading.Lock()
    seen: list[tuple[str, str]] = []
    finished: list[AccountScan] = []

    def region(account: str, result: Any) -> None:
        with lock:
            seen.append((account, result.name))

    scan_accounts(
        session,
        AccountSelection.parse(accounts=org[:2]),
        include=["us-east-1", "us-west-2"],
        workers=1,
        on_region=region,
        on_account=finished.append,
    )
    assert sorted(seen) == sorted((a, r) for a in org[:2] for r in ("us-east-1", "us-west-2"))
    assert sorted(e.account for e in finished) == sorted(org[:2])


def test_account_workers_out_of_range_is_a_usage_error(session: AwsSession) -> None:
    with pytest.raises(ValidationFailed, match="--account-workers"):
        scan_accounts(session, AccountSelection.parse(org=True), account_workers=0)


# -- flowlogs scan --org -------------------------------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture[str], session: AwsSession, *argv: str) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(["scan", *argv], session_factory=lambda settings, endpoint_url=None: session)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scan_org_json_has_an_inventory_per_account(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    import json

    code, out, _ = _cli(capsys, session, "--org", "--regions", "us-east-1", "--json")
    data = json.loads(out)
    assert code == 0
    assert {a["account"]: a["inventory"]["identity"]["account"] for a in data["accounts"]} == {
        a: a for a in [MANAGEMENT, *org]
    }


def test_cli_scan_with_an_unreachable_member_exits_1(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _refuse(session, org[0])
    code, _, _ = _cli(capsys, session, "--accounts", ",".join(org), "--regions", "us-east-1")
    assert code == 1


def test_cli_scan_names_an_unreachable_member_with_what_to_check(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _refuse(session, org[0])
    _, out, _ = _cli(capsys, session, "--accounts", ",".join(org), "--regions", "us-east-1")
    assert f"{org[0]}: unreachable" in out and "trust policy" in out


def test_cli_scan_every_member_refused_exits_3(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    for account in org[:2]:
        _refuse(session, account)
    code, _, _ = _cli(capsys, session, "--accounts", ",".join(org[:2]), "--regions", "us-east-1")
    assert code == 3


def test_cli_scan_bad_account_id_exits_2_before_any_call(
    capsys: pytest.CaptureFixture[str], session: AwsSession
) -> None:
    code, _, err = _cli(capsys, session, "--accounts", "12345", "--regions", "us-east-1")
    assert code == 2 and "12345" in err and sum(session.stats.calls.values()) == 0


def test_cli_scan_org_report_fits_80_columns(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _refuse(session, org[0])
    _, out, _ = _cli(capsys, session, "--org", "--regions", "us-east-1")
    assert max(len(line) for line in out.splitlines()) <= 80


# -- flowlogs verify --org ---------------------------------------------------------------------------
CENTRAL = "kentik-central-logs"


def _central_bucket(session: AwsSession, members: list[str]) -> None:
    """A central bucket in the management account whose policy lets log delivery write for each member."""
    import json

    statements = [
        {
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": [f"arn:aws:s3:::{CENTRAL}/AWSLogs/{a}/*" for a in members],
            "Condition": {
                "StringEquals": {"aws:SourceAccount": members, "s3:x-amz-acl": "bucket-owner-full-control"}
            },
        },
        {
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{CENTRAL}",
            "Condition": {"StringEquals": {"aws:SourceAccount": members}},
        },
    ]
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket=CENTRAL)
    s3.put_bucket_policy(
        Bucket=CENTRAL, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )


def _member_flow_log(session: AwsSession, account: str) -> str:
    member = session.assume_role(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")
    ec2 = member.client("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    return str(
        ec2.create_flow_logs(
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{CENTRAL}",
        )["FlowLogIds"][0]
    )


def _deliver_for(session: AwsSession, account: str, flow_log_id: str) -> None:
    import gzip

    from aws.logs import keys
    from aws.logs.format import REQUIRED_FIELDS

    body = (
        " ".join(REQUIRED_FIELDS)
        + "\n"
        + " ".join("OK" if f == "log-status" else "-" for f in REQUIRED_FIELDS)
    )
    key = keys.flowlog_key(account, "us-east-1", flow_log_id, datetime.now(timezone.utc))
    session.client("s3", "us-east-1").put_object(Bucket=CENTRAL, Key=key, Body=gzip.compress(body.encode()))


def _verify(capsys: pytest.CaptureFixture[str], session: AwsSession, *argv: str) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(
        ["verify", "--bucket", CENTRAL, "--regions", "us-east-1", "--once", *argv],
        session_factory=lambda settings, endpoint_url=None: session,
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_org_watches_each_members_flow_logs_in_the_central_bucket(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _central_bucket(session, org[:2])
    logs = {a: _member_flow_log(session, a) for a in org[:2]}
    for account, flow_log in logs.items():
        _deliver_for(session, account, flow_log)
    code, out, err = _verify(capsys, session, "--accounts", ",".join(org[:2]))
    assert code == 0, out + err
    assert all(f"account {a}:" in out for a in org[:2]) and "2 of 2 source(s)" in out


def test_verify_org_waits_for_a_member_that_has_not_delivered(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _central_bucket(session, org[:2])
    logs = {a: _member_flow_log(session, a) for a in org[:2]}
    _deliver_for(session, org[0], logs[org[0]])
    code, out, _ = _verify(capsys, session, "--accounts", ",".join(org[:2]))
    assert code == 1 and "1 of 2 source(s)" in out


def test_verify_org_with_an_unreachable_member_exits_1(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _central_bucket(session, org[:1])
    flow_log = _member_flow_log(session, org[0])
    _deliver_for(session, org[0], flow_log)
    _refuse(session, org[1])
    code, _, _ = _verify(capsys, session, "--accounts", ",".join(org[:2]))
    assert code == 1


def test_verify_org_names_the_member_it_could_not_reach(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    _central_bucket(session, org[:1])
    _deliver_for(session, org[0], _member_flow_log(session, org[0]))
    _refuse(session, org[1])
    _, _, err = _verify(capsys, session, "--accounts", ",".join(org[:2]))
    assert f"account {org[1]} not reached" in err


def test_verify_bucket_account_needs_an_account_selection(
    capsys: pytest.CaptureFixture[str], session: AwsSession
) -> None:
    code, _, err = _verify(capsys, session, "--bucket-account", "111111111111")
    assert code == 2 and "--bucket-account goes with" in err


def test_account_flags_before_the_command_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["--org", "scan"])
    assert caught.value.code == 2 and "put it after the command" in capsys.readouterr().err


def test_an_scp_on_the_callers_account_is_named_as_such(session: AwsSession, org: list[str]) -> None:
    from aws.sandbox.strict_sts import clear_scps, deny_by_scp

    deny_by_scp(MANAGEMENT, "sts:AssumeRole")
    try:
        selection = AccountSelection.parse(accounts=[org[0]])
        (access,) = reach_accounts(session, select_accounts(session, selection), selection)
    finally:
        clear_scps()
    assert isinstance(access.failure, ScpDenied) and f"caller's account {MANAGEMENT}" in access.failure.hint


def test_cli_scan_whose_every_region_is_denied_exits_3(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    from aws.sandbox.strict_sts import clear_scps, deny_by_scp

    deny_by_scp(org[0], "ec2:*")
    try:
        code, _, _ = _cli(capsys, session, "--accounts", org[0], "--regions", "us-east-1")
    finally:
        clear_scps()
    assert code == 3


def test_policy_org_says_what_kentiks_nested_setup_needs(
    capsys: pytest.CaptureFixture[str], session: AwsSession, org: list[str]
) -> None:
    import json

    from tui.cli import main

    session.client("s3", "us-west-2").create_bucket(
        Bucket="central-logs", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    main(
        [
            "policy",
            "--org",
            "--role",
            "KentikSpoke",
            "--kentik-role",
            "hub",
            "--bucket",
            "central-logs",
            "--json",
        ],
        session_factory=lambda settings, endpoint_url=None: session,
    )
    assert json.loads(capsys.readouterr().out)["kentik_nested"] == {
        "primary_role_arn": f"arn:aws:iam::{MANAGEMENT}:role/hub",
        "secondary_accounts": sorted(org),
        "secondary_role_suffix": "KentikSpoke",
        "regions": ["us-west-2"],
        "blocked_accounts": [],
    }


def test_demo_server_refuses_more_refusing_members_than_members(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    assert main(["demo-server", "--org-members", "1", "--org-refusing", "2"]) == 2


def test_a_member_session_keeps_the_profiles_config(audit: Any, org_in_profile: list[str]) -> None:
    """The member's clients read the same profile's config (endpoint, CA bundle, addressing) as the
    caller's; only the credentials are the assumed role's."""
    from aws.session import SessionOptions

    caller = AwsSession(SessionOptions(profile="work", region="us-east-1"), audit=audit)
    member = caller.assume_role(f"arn:aws:iam::{org_in_profile[0]}:role/OrganizationAccountAccessRole")
    assert member._boto._session.get_scoped_config().get("s3") == {"addressing_style": "path"}


@pytest.fixture
def org_in_profile(moto: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A profile `work` (keys and an S3 addressing setting) and an organization with one member."""
    config = tmp_path / "aws-config"
    config.write_text("[profile work]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    creds = tmp_path / "aws-credentials"
    creds.write_text("[work]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    made = client.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]
    return [made["AccountId"]]
