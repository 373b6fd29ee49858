"""The strict sandbox's STS rules (aws/sandbox/strict_sts.py) and the organization seeder
(aws/sandbox/org_seed.py), over HTTP against a moto server on loopback.

moto 5.2.5's AssumeRole accepts any role ARN (even one that does not exist), ignores trust policies and
ExternalId, takes any DurationSeconds, and its credentials never expire; AWS refuses all of that
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). Each test's docstring says
what it claims."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from aws.sandbox.org_seed import OTHER_TRUSTED_ACCOUNT, OrgSeed, seed_organization
from aws.sandbox.strict import ManualClock
from aws.sandbox.strict_sts import (
    SCP_SUFFIX,
    clear_scps,
    deny_by_scp,
    set_sts_clock,
    trust_allows,
)

ACCOUNT = "123456789012"  # moto's default account: the caller of every test
OTHER = "111122223333"
REGION = "us-east-1"
DEFAULT_CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"  # moto's identity for keys it did not issue
Creds = dict[str, str]
DEFAULT_CREDS: Creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    yield f"http://{host}:{port}"
    moto_server.stop()


def _reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)


@pytest.fixture
def url(server: str) -> Iterator[str]:
    """A freshly reset server; no simulated SCP, the real clock (before and after the test)."""
    clear_scps()
    set_sts_clock(None)
    _reset(server)
    yield server
    clear_scps()
    set_sts_clock(None)
    _reset(server)


def client(url: str, service: str, creds: Creds | None = None, region: str = REGION, **config: Any) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=url,
        config=Config(retries={"max_attempts": 1}, **config),
        **(creds or DEFAULT_CREDS),
    )


def trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", **extra}


def make_role(url: str, name: str, document: str, creds: Creds | None = None, **extra: Any) -> str:
    role = client(url, "iam", creds).create_role(RoleName=name, AssumeRolePolicyDocument=document, **extra)
    return str(role["Role"]["Arn"])


def assume(url: str, role_arn: str, creds: Creds | None = None, **params: Any) -> dict[str, Any]:
    sts = client(url, "sts", creds, parameter_validation=False)
    result: dict[str, Any] = sts.assume_role(RoleArn=role_arn, RoleSessionName="strict-sts", **params)
    return result


def creds_of(result: dict[str, Any]) -> Creds:
    c = result["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def denied(caller: str, role_arn: str) -> tuple[str, int, str]:
    return (
        "AccessDenied",
        403,
        f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
    )


# -- roles that don't exist, trust policies --------------------------------------------------------------


def test_assume_role_of_a_role_that_does_not_exist_is_refused(url: str) -> None:
    """AWS answers AccessDenied (403) naming the caller and the role, the same as for a role that exists
    but does not trust the caller: it does not reveal whether the role exists."""
    role_arn = f"arn:aws:iam::{OTHER}:role/NoSuchRole"
    assert refusal(lambda: assume(url, role_arn)) == denied(DEFAULT_CALLER, role_arn)


def test_plain_moto_accepts_a_role_that_does_not_exist(url: str) -> None:
    """moto's STS backend itself hands out credentials for any ARN: the refusal is the strict sandbox's,
    made in the response layer where the caller is known (its message names the caller)."""
    from moto.sts.models import sts_backends

    role_arn = f"arn:aws:iam::{OTHER}:role/NoSuchRole"
    issued = sts_backends[ACCOUNT]["aws"].assume_role(
        region_name=REGION,
        role_session_name="plain",
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    assert issued.account_id == OTHER and issued.access_key_id.startswith("ASIA")
    code, _, message = refusal(lambda: assume(url, role_arn))
    assert code == "AccessDenied" and message.startswith(f"User: {DEFAULT_CALLER} ")


def test_trust_naming_another_account_refuses(url: str) -> None:
    role_arn = make_role(url, "elsewhere", trust(allow(f"arn:aws:iam::{OTHER}:root")))
    assert refusal(lambda: assume(url, role_arn)) == denied(DEFAULT_CALLER, role_arn)


@pytest.mark.parametrize(
    "principal",
    [
        f"arn:aws:iam::{ACCOUNT}:root",
        ACCOUNT,
        "*",
        [f"arn:aws:iam::{OTHER}:root", f"arn:aws:iam::{ACCOUNT}:root"],
    ],
    ids=["root-arn", "account-id", "anyone", "list"],
)
def test_trust_naming_our_account_accepts(url: str, principal: Any) -> None:
    """`arn:aws:iam::ACCT:root` and the bare account id both mean "any principal of the account"."""
    role_arn = make_role(url, "ours", trust(allow(principal)))
    who = client(url, "sts", creds_of(assume(url, role_arn))).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ours/strict-sts" and who["Account"] == ACCOUNT


def test_the_role_is_looked_up_in_the_target_account(url: str) -> None:
    """A role of the same name in the caller's own account does not make another account's ARN valid."""
    make_role(url, "ours", trust(allow(ACCOUNT)))
    role_arn = f"arn:aws:iam::{OTHER}:role/ours"
    assert refusal(lambda: assume(url, role_arn)) == denied(DEFAULT_CALLER, role_arn)


# -- ExternalId ----------------------------------------------------------------------------------------

EXTERNAL = {"StringEquals": {"sts:ExternalId": "kentik-1234"}}


def test_external_id_condition_refuses_a_request_without_one(url: str) -> None:
    """A key missing from the request fails a positive condition operator."""
    role_arn = make_role(url, "kentik", trust(allow(ACCOUNT, Condition=EXTERNAL)))
    assert refusal(lambda: assume(url, role_arn)) == denied(DEFAULT_CALLER, role_arn)


def test_external_id_condition_refuses_another_external_id(url: str) -> None:
    role_arn = make_role(url, "kentik", trust(allow(ACCOUNT, Condition=EXTERNAL)))
    assert refusal(lambda: assume(url, role_arn, ExternalId="kentik-9999")) == denied(
        DEFAULT_CALLER, role_arn
    )


@pytest.mark.parametrize(
    "condition",
    [
        EXTERNAL,
        {"StringLike": {"sts:ExternalId": "kentik-*"}},
        {"StringEquals": {"sts:externalid": ["x1", "kentik-1234"]}},
    ],
    ids=["StringEquals", "StringLike", "any-of-a-list"],
)
def test_external_id_condition_accepts_the_matching_external_id(url: str, condition: dict[str, Any]) -> None:
    role_arn = make_role(url, "kentik", trust(allow(ACCOUNT, Condition=condition)))
    assert assume(url, role_arn, ExternalId="kentik-1234")["AssumedRoleUser"]["Arn"].endswith(
        "/kentik/strict-sts"
    )


# -- assumed-role sessions as principals, explicit Deny ----------------------------------------------------


def test_an_assumed_role_session_matches_the_role_arn_in_a_trust_policy(url: str) -> None:
    """A trust policy naming `arn:aws:iam::ACCT:role/PATH/hub` lets sessions of role hub assume the role
    (a session ARN is arn:aws:sts::ACCT:assumed-role/hub/SESSION); other callers of the account do not."""
    hub_arn = make_role(url, "hub", trust(allow(ACCOUNT)), Path="/kentik/")
    assert hub_arn == f"arn:aws:iam::{ACCOUNT}:role/kentik/hub"
    spoke_arn = make_role(url, "spoke", trust(allow(hub_arn)))
    hub = creds_of(assume(url, hub_arn))
    chained = assume(url, spoke_arn, hub)
    assert chained["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/spoke/strict-sts"
    assert refusal(lambda: assume(url, spoke_arn)) == denied(DEFAULT_CALLER, spoke_arn)


def test_an_explicit_deny_in_the_trust_policy_refuses(url: str) -> None:
    """Deny wins over Allow: the Deny here applies to requests without the right ExternalId."""
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sts:*",
        "Condition": {"StringNotEquals": {"sts:ExternalId": "kentik-1234"}},
    }
    role_arn = make_role(url, "guarded", trust(allow(ACCOUNT), deny))
    assert refusal(lambda: assume(url, role_arn, ExternalId="other")) == denied(DEFAULT_CALLER, role_arn)
    assert refusal(lambda: assume(url, role_arn)) == denied(DEFAULT_CALLER, role_arn)
    assert assume(url, role_arn, ExternalId="kentik-1234")["Credentials"]["AccessKeyId"]


def test_trust_allows_grants_nothing_for_other_actions_principals_or_unknown_operators() -> None:
    """The evaluator (pure): a statement for another action, a service principal, or a condition operator
    it does not know grants nothing; neither does a document that is not JSON."""
    caller, account = DEFAULT_CALLER, ACCOUNT
    assert not trust_allows(
        trust(allow(ACCOUNT, Action="sts:TagSession")), caller_arn=caller, caller_account=account
    )
    service = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert not trust_allows(trust(service), caller_arn=caller, caller_account=account)
    odd = allow(ACCOUNT, Condition={"SomeFutureOperator": {"sts:ExternalId": "x"}})
    assert not trust_allows(trust(odd), caller_arn=caller, caller_account=account, external_id="x")
    assert not trust_allows("not json", caller_arn=caller, caller_account=account)


def test_trust_allows_not_action_covers_assume_role_when_it_does_not_name_it() -> None:
    not_action = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "NotAction": "sts:TagSession"}
    assert trust_allows(trust(not_action), caller_arn=DEFAULT_CALLER, caller_account=ACCOUNT)
    not_action["NotAction"] = "sts:Assume*"
    assert not trust_allows(trust(not_action), caller_arn=DEFAULT_CALLER, caller_account=ACCOUNT)


# -- DurationSeconds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "constraint"),
    [(899, "greater than or equal to 900"), (43201, "less than or equal to 43200")],
)
def test_duration_seconds_outside_900_to_43200_is_a_validation_error(
    url: str, duration: int, constraint: str
) -> None:
    role_arn = make_role(url, "long", trust(allow(ACCOUNT)), MaxSessionDuration=43200)
    code, status, message = refusal(lambda: assume(url, role_arn, DurationSeconds=duration))
    assert (code, status) == ("ValidationError", 400)
    assert f"Value '{duration}' at 'durationSeconds'" in message and constraint in message


def test_duration_seconds_at_the_bounds_is_accepted(url: str) -> None:
    role_arn = make_role(url, "long", trust(allow(ACCOUNT)), MaxSessionDuration=43200)
    for duration in (900, 43200):
        assert assume(url, role_arn, DurationSeconds=duration)["Credentials"]["AccessKeyId"]


def test_duration_seconds_above_the_roles_max_session_duration_is_refused(url: str) -> None:
    """The role's MaxSessionDuration (default 3600) caps DurationSeconds."""
    role_arn = make_role(url, "short", trust(allow(ACCOUNT)))
    code, _, message = refusal(lambda: assume(url, role_arn, DurationSeconds=3601))
    assert code == "ValidationError" and "MaxSessionDuration" in message


def test_role_chaining_is_limited_to_one_hour(url: str) -> None:
    hub_arn = make_role(url, "hub", trust(allow(ACCOUNT)))
    spoke_arn = make_role(url, "spoke", trust(allow(hub_arn)), MaxSessionDuration=43200)
    hub = creds_of(assume(url, hub_arn))
    code, _, message = refusal(lambda: assume(url, spoke_arn, hub, DurationSeconds=7200))
    assert code == "ValidationError" and "role chaining" in message
    assert assume(url, spoke_arn, hub, DurationSeconds=3600)["Credentials"]["AccessKeyId"]


# -- service control policies ---------------------------------------------------------------------------


def test_scp_denying_assume_role_refuses_with_an_explicit_deny(url: str) -> None:
    """The SCP of the caller's account applies (the resource is the role); clear_scps() lifts it."""
    role_arn = make_role(url, "ours", trust(allow(ACCOUNT)))
    deny_by_scp(ACCOUNT, "sts:AssumeRole")
    code, status, message = refusal(lambda: assume(url, role_arn))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: {DEFAULT_CALLER} is not authorized to perform: sts:AssumeRole on resource: {role_arn} "
        f"{SCP_SUFFIX}"
    )
    clear_scps()
    assert assume(url, role_arn)["Credentials"]["AccessKeyId"]


def test_scp_denying_an_ec2_action_gives_unauthorized_operation(url: str) -> None:
    """EC2 answers UnauthorizedOperation (403) with the explicit-deny message; an action the pattern does
    not match is not affected."""
    ec2 = client(url, "ec2")
    deny_by_scp(ACCOUNT, "ec2:Describe*")
    code, status, message = refusal(ec2.describe_vpcs)
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert message == (
        "You are not authorized to perform this operation. "
        f"User: {DEFAULT_CALLER} is not authorized to perform: ec2:DescribeVpcs on resource: * {SCP_SUFFIX}."
    )
    assert ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]


def test_scp_applies_to_its_own_account_only(url: str) -> None:
    deny_by_scp(OTHER, "ec2:*")
    assert client(url, "ec2").describe_vpcs()["Vpcs"]


@pytest.mark.parametrize(
    ("service", "pattern", "call", "action"),
    [
        ("network-firewall", "network-firewall:List*", lambda c: c.list_firewalls(), "ListFirewalls"),
        ("organizations", "organizations:*", lambda c: c.describe_organization(), "DescribeOrganization"),
    ],
    ids=["network-firewall", "organizations"],
)
def test_scp_denying_a_json_service_action_gives_access_denied_exception(
    url: str, service: str, pattern: str, call: Any, action: str
) -> None:
    deny_by_scp(ACCOUNT, pattern)
    code, status, message = refusal(lambda: call(client(url, service)))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (
        f"User: {DEFAULT_CALLER} is not authorized to perform: {service}:{action} on resource: * {SCP_SUFFIX}"
    )


def test_scp_needs_an_account_id_and_a_service_action() -> None:
    with pytest.raises(ValueError):
        deny_by_scp("not-an-account", "ec2:*")
    with pytest.raises(ValueError):
        deny_by_scp(ACCOUNT, "DescribeVpcs")


# -- expiry ------------------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    """The sandbox's STS clock, on epoch seconds (so the Expiration AssumeRole returns is believable)."""
    manual = ManualClock(start=time.time())
    set_sts_clock(manual)
    return manual


def test_credentials_expire_after_duration_seconds_and_fresh_ones_work(url: str, clock: ManualClock) -> None:
    role_arn = make_role(url, "ours", trust(allow(ACCOUNT)))
    issued = assume(url, role_arn, DurationSeconds=900)
    expiration = issued["Credentials"]["Expiration"]
    assert expiration.astimezone(timezone.utc).timestamp() == pytest.approx(clock() + 900, abs=0.01)
    sts = client(url, "sts", creds_of(issued))
    clock.advance(899)
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    clock.advance(1)
    assert refusal(sts.get_caller_identity) == (
        "ExpiredToken",
        403,
        "The security token included in the request is expired",
    )
    fresh = client(url, "sts", creds_of(assume(url, role_arn)))  # the caller's own keys still work
    assert fresh.get_caller_identity()["Arn"].endswith("assumed-role/ours/strict-sts")


@pytest.mark.parametrize(
    ("service", "call", "expected"),
    [
        ("ec2", lambda c: c.describe_vpcs(), ("RequestExpired", 400, "Request has expired.")),
        (
            "iam",
            lambda c: c.list_roles(),
            ("ExpiredToken", 403, "The security token included in the request is expired"),
        ),
        (
            "network-firewall",
            lambda c: c.list_firewalls(),
            ("ExpiredTokenException", 403, "The security token included in the request is expired"),
        ),
        ("s3", lambda c: c.list_buckets(), ("ExpiredToken", 400, "The provided token has expired.")),
    ],
    ids=["ec2", "iam", "network-firewall", "s3"],
)
def test_expired_credentials_are_refused_by_every_service(
    url: str, clock: ManualClock, service: str, call: Any, expected: tuple[str, int, str]
) -> None:
    role_arn = make_role(url, "ours", trust(allow(ACCOUNT)))
    c = client(url, service, creds_of(assume(url, role_arn)))
    call(c)
    clock.advance(3600)  # the default DurationSeconds
    assert refusal(lambda: call(c)) == expected


# -- the organization seeder -------------------------------------------------------------------------------


@pytest.fixture
def org(url: str) -> OrgSeed:
    from moto.moto_api._internal import mock_random

    mock_random.seed(20261126)
    return seed_organization(url, members=3, refusing=[1], suspended=[2], firewall=True)


def test_seeded_members_role_can_be_assumed_into_the_member_account(url: str, org: OrgSeed) -> None:
    member = org.members[0]
    creds = creds_of(assume(url, member.role_arn))
    assert client(url, "sts", creds).get_caller_identity()["Account"] == member.account_id != org.management
    for region, vpc_ids in member.vpc_ids.items():
        vpcs = client(url, "ec2", creds, region).describe_vpcs(VpcIds=vpc_ids)["Vpcs"]
        assert [v["OwnerId"] for v in vpcs] == [member.account_id]
        assert {t["Key"]: t["Value"] for t in vpcs[0]["Tags"]}["Name"] == f"{member.name}-{region}-1"
        subnets = client(url, "ec2", creds, region).describe_subnets(SubnetIds=member.subnet_ids[region])
        assert [s["VpcId"] for s in subnets["Subnets"]] == vpc_ids
    firewalls = client(url, "network-firewall", creds).list_firewalls()["Firewalls"]
    assert [f["FirewallArn"] for f in firewalls] == [member.firewall_arn]


def test_seeded_organization_lists_its_members(url: str, org: OrgSeed) -> None:
    described = client(url, "organizations").describe_organization()["Organization"]
    assert (described["Id"], described["MasterAccountId"]) == (org.organization_id, ACCOUNT)
    listed = {a["Id"] for a in client(url, "organizations").list_accounts()["Accounts"]}
    assert listed == {ACCOUNT, *(m.account_id for m in org.members)}
    assert [m.name for m in org.members] == ["network", "payments", "analytics"]


def test_seeded_refusing_member_refuses_the_management_account(url: str, org: OrgSeed) -> None:
    member = org.members[1]
    assert member.refusing and member.vpc_ids == {}
    assert refusal(lambda: assume(url, member.role_arn)) == denied(DEFAULT_CALLER, member.role_arn)
    [statement] = json.loads(_role_trust(member.role_arn.split(":")[4], "OrganizationAccountAccessRole"))[
        "Statement"
    ]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{OTHER_TRUSTED_ACCOUNT}:root"}


def _role_trust(account: str, name: str) -> str:
    from moto.iam.models import iam_backends

    return str(iam_backends[account]["aws"].get_role(name).assume_role_policy_document)


def test_seeded_suspended_member_is_not_active(url: str, org: OrgSeed) -> None:
    status = {a["Id"]: a["Status"] for a in client(url, "organizations").list_accounts()["Accounts"]}
    suspended = org.members[2]
    assert suspended.suspended and status[suspended.account_id] != "ACTIVE"
    assert [m.account_id for m in org.reachable] == [org.members[0].account_id]
    assert {status[m.account_id] for m in org.members if not m.suspended} == {"ACTIVE"}


def test_seeded_accounts_are_deterministic(url: str, org: OrgSeed) -> None:
    """The same mock_random seed on a reset moto gives the same account ids."""
    from moto.moto_api._internal import mock_random

    _reset(url)
    mock_random.seed(20261126)
    again = seed_organization(url, members=3, refusing=[1], suspended=[2], firewall=True)
    assert [m.account_id for m in again.members] == [m.account_id for m in org.members]
