"""Seed a moto endpoint with an AWS organization: member accounts, their VPCs, and members that refuse.

    org = seed_organization(endpoint_url, members=3, refusing=[2], suspended=[1])

Everything goes through boto3 against `endpoint_url`, as the management account (moto's default
account 123456789012, access key "seed") would do it against AWS:

* CreateOrganization (FeatureSet ALL), then CreateAccount per member. moto's CreateAccount also creates
  the access role (`role_name`, AWS's default `OrganizationAccountAccessRole`) in the member, trusting
  the management account's root, as AWS does.
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html
* Each member not in `refusing` (indexes into the members): assume the role, and create
  `vpcs_per_region` VPCs (with one subnet, both Name-tagged) in each region and, with `firewall`, one
  Network Firewall in the first region (moto has no CreateFirewallPolicy: the policy ARN is a reference,
  as in aws/sandbox/seed.py).
* Each member in `refusing`: the role's trust policy is replaced (from inside the member, through the
  role) by one trusting another account only, so the management account's AssumeRole is refused
  (aws/sandbox/strict_sts.py enforces trust policies). It gets no VPCs.
* Each member in `suspended`: CloseAccount. ListAccounts then shows its Status as `SUSPENDED` (moto
  5.2.5 skips AWS's `PENDING_CLOSURE`); callers keep only `ACTIVE` accounts.

Account ids (and every other id) are deterministic when the caller seeded moto's `mock_random` (see
`aws.sandbox.server.reset_and_seed`); moto is not reset here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"
# The account a refusing member's role trusts instead of the management account (nobody in the sandbox).
OTHER_TRUSTED_ACCOUNT = "210987654321"
SEED_KEY = "seed"
DEFAULT_NAMES = ("network", "payments", "analytics", "sandbox", "security", "logging", "shared", "edge")


@dataclass(frozen=True)
class Member:
    """A member account the seeder made."""

    account_id: str
    name: str
    vpc_ids: dict[str, list[str]]  # region -> VPC ids (empty for a refusing member)
    refusing: bool
    suspended: bool = False
    email: str = ""
    role_arn: str = ""  # the access role (what AssumeRole names)
    subnet_ids: dict[str, list[str]] = field(default_factory=dict)  # region -> subnet ids (one per VPC)
    firewall_arn: str | None = None


@dataclass(frozen=True)
class OrgSeed:
    management: str
    organization_id: str
    members: tuple[Member, ...]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    @property
    def reachable(self) -> tuple[Member, ...]:
        """Members whose role the management account can assume (not refusing, not suspended)."""
        return tuple(m for m in self.members if not m.refusing and not m.suspended)


_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def _client(endpoint_url: str, service: str, region: str = "us-east-1", **credentials: str) -> Any:
    creds = credentials or {"aws_access_key_id": SEED_KEY, "aws_secret_access_key": SEED_KEY}
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=endpoint_url,
        config=_CONFIG,
        **creds,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "member"


def _organization_id(org: Any) -> str:
    try:
        return str(org.create_organization(FeatureSet="ALL")["Organization"]["Id"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "AlreadyInOrganizationException":
            raise
        return str(org.describe_organization()["Organization"]["Id"])


def _create_account(org: Any, name: str, email: str, role_name: str) -> str:
    """CreateAccount is asynchronous in AWS: wait for its status to leave IN_PROGRESS."""
    status = org.create_account(Email=email, AccountName=name, RoleName=role_name)["CreateAccountStatus"]
    for _ in range(50):
        if status.get("State") != "IN_PROGRESS":
            break
        time.sleep(0.1)
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
    if status.get("State") != "SUCCEEDED":
        raise RuntimeError(f"CreateAccount {name}: {status.get('State')} {status.get('FailureReason', '')}")
    return str(status["AccountId"])


def _assume(endpoint_url: str, role_arn: str) -> dict[str, str]:
    creds = _client(endpoint_url, "sts").assume_role(RoleArn=role_arn, RoleSessionName="org-seed")[
        "Credentials"
    ]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def _tags(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def _seed_member_vpcs(
    endpoint_url: str,
    creds: dict[str, str],
    name: str,
    regions: Sequence[str],
    vpcs_per_region: int,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    vpc_ids: dict[str, list[str]] = {}
    subnet_ids: dict[str, list[str]] = {}
    for region in regions:
        ec2 = _client(endpoint_url, "ec2", region, **creds)
        vpc_ids[region], subnet_ids[region] = [], []
        for n in range(vpcs_per_region):
            label = f"{name}-{region}-{n + 1}"
            vpc = ec2.create_vpc(CidrBlock=f"10.{n % 256}.0.0/16", TagSpecifications=_tags("vpc", label))
            vpc_id = vpc["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=f"10.{n % 256}.0.0/24",
                AvailabilityZone=f"{region}a",
                TagSpecifications=_tags("subnet", f"{label}-a"),
            )
            vpc_ids[region].append(vpc_id)
            subnet_ids[region].append(subnet["Subnet"]["SubnetId"])
    return vpc_ids, subnet_ids


def _seed_firewall(
    endpoint_url: str, creds: dict[str, str], account_id: str, name: str, region: str, vpc: str, subnet: str
) -> str:
    fw_name = f"{_slug(name)}-firewall"
    nfw = _client(endpoint_url, "network-firewall", region, **creds)
    return str(
        nfw.create_firewall(
            FirewallName=fw_name,
            FirewallPolicyArn=f"arn:aws:network-firewall:{region}:{account_id}:firewall-policy/{fw_name}-policy",
            VpcId=vpc,
            SubnetMappings=[{"SubnetId": subnet}],
            Description=f"{name} inspection",
            Tags=[{"Key": "Name", "Value": fw_name}],
        )["Firewall"]["FirewallArn"]
    )


def _refuse(endpoint_url: str, creds: dict[str, str], role_name: str) -> None:
    """Replace the role's trust (from inside the member) with one trusting another account only."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_TRUSTED_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = _client(endpoint_url, "iam", **creds)
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))


def _check_indexes(label: str, indexes: Sequence[int], members: int) -> set[int]:
    bad = [i for i in indexes if not 0 <= i < members]
    if bad:
        raise ValueError(f"{label}: no member {bad} (members are 0..{members - 1})")
    return set(indexes)


def seed_organization(
    endpoint_url: str,
    *,
    members: int = 3,
    names: Sequence[str] | None = None,
    regions: Sequence[str] = ("us-east-1", "us-west-2"),
    vpcs_per_region: int = 1,
    firewall: bool = False,
    refusing: Sequence[int] = (),
    suspended: Sequence[int] = (),
    role_name: str = ORG_ACCESS_ROLE,
) -> OrgSeed:
    """Create an organization with `members` member accounts on a moto endpoint (module docstring).

    `names` (one per member; default: network, payments, ...) name the accounts; `refusing` and
    `suspended` are indexes into the members. The strict sandbox's fixes must be applied in the process
    running moto (trust policies are only enforced there)."""
    if members < 0 or vpcs_per_region < 0:
        raise ValueError("members and vpcs_per_region can't be negative")
    if names is not None and len(names) != members:
        raise ValueError(f"{len(names)} names for {members} members")
    if firewall and (not regions or vpcs_per_region < 1):
        raise ValueError("a firewall needs a region and a VPC to sit in")
    refuse = _check_indexes("refusing", refusing, members)
    close = _check_indexes("suspended", suspended, members)
    account_names = (
        list(names)
        if names is not None
        else [DEFAULT_NAMES[i] if i < len(DEFAULT_NAMES) else f"member-{i + 1}" for i in range(members)]
    )

    management = _client(endpoint_url, "sts").get_caller_identity()["Account"]
    org = _client(endpoint_url, "organizations")
    organization_id = _organization_id(org)
    seeded: list[Member] = []
    for index, name in enumerate(account_names):
        email = f"aws+{_slug(name)}@example.com"
        account_id = _create_account(org, name, email, role_name)
        role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
        creds = _assume(endpoint_url, role_arn)
        vpc_ids: dict[str, list[str]] = {}
        subnet_ids: dict[str, list[str]] = {}
        firewall_arn = None
        if index in refuse:
            _refuse(endpoint_url, creds, role_name)
        else:
            vpc_ids, subnet_ids = _seed_member_vpcs(endpoint_url, creds, name, regions, vpcs_per_region)
            if firewall:
                first = regions[0]
                firewall_arn = _seed_firewall(
                    endpoint_url, creds, account_id, name, first, vpc_ids[first][0], subnet_ids[first][0]
                )
        seeded.append(
            Member(
                account_id=account_id,
                name=name,
                vpc_ids=vpc_ids,
                refusing=index in refuse,
                email=email,
                role_arn=role_arn,
                subnet_ids=subnet_ids,
                firewall_arn=firewall_arn,
            )
        )
    for index in sorted(close):
        org.close_account(AccountId=seeded[index].account_id)
        seeded[index] = replace(seeded[index], suspended=True)
    return OrgSeed(management=str(management), organization_id=organization_id, members=tuple(seeded))
