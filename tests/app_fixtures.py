"""Fixtures for TUI tests: a seeded, deterministic demo account on in-process moto.

`mock_random.seed` makes moto's ids repeatable, and touching every region's EC2 backend in a fixed order
before any concurrent scan keeps default-VPC ids repeatable too, so snapshots show the same ids each run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.audit import AuditLog
from aws.inventory import Inventory
from aws.sandbox.seed import SeedSummary
from aws.session import AwsSession, SessionOptions
from tui.app import FlowlogsApp
from tui.config import Settings
from tui.factory import create_app


@dataclass
class _Snapshot:
    """moto's whole state after seeding and one scan: every backend in use (all accounts, and attributes
    such as S3's bucket registry) and moto's random state, so ids made later repeat too; a deep copy."""

    backends: list[Any]  # moto's BackendDicts in use
    inventory: str  # the whole account's scan (JSON), made before the snapshot was taken
    state: tuple[list[tuple[dict[str, Any], dict[str, Any]]], Any, SeedSummary]


_SEEDED: list[_Snapshot] = []  # one per process (each xdist worker seeds once)


def _seed_fresh() -> SeedSummary:
    from moto.ec2.models import ec2_backends
    from moto.moto_api._internal import mock_random

    from aws.sandbox.seed import seed_account

    mock_random.seed(20261126)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    enabled = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
    for region in enabled:  # default VPCs are made on first use: make them in a fixed order
        ec2_backends["123456789012"][region]
    return seed_account(None)


def _take_snapshot(summary: SeedSummary) -> _Snapshot:
    """Scan the account once (moto makes some backends and ids only when first asked), then copy it all."""
    from moto.core.base_backend import BackendDict
    from moto.moto_api._internal import mock_random

    from aws.discovery import scan

    inventory = scan(AwsSession(SessionOptions(region="us-east-1"))).model_dump_json()
    backends = list(BackendDict._instances)
    contents = [(dict(bd), dict(vars(bd))) for bd in backends]
    return _Snapshot(backends, inventory, copy.deepcopy((contents, mock_random.getstate(), summary)))


def _restore(snapshot: _Snapshot) -> SeedSummary:
    from moto.core.base_backend import BackendDict
    from moto.moto_api._internal import mock_random

    contents, random_state, summary = copy.deepcopy(snapshot.state)
    for bd, (accounts, attributes) in zip(snapshot.backends, contents, strict=True):
        bd.update(accounts)
        vars(bd).update(attributes)
        if bd not in BackendDict._instances:
            BackendDict._instances.append(bd)
    mock_random.setstate(random_state)
    return summary


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[SeedSummary]:
    """The demo account on in-process moto, the same in every test. Seeding takes seconds, so the first
    test of a process seeds and snapshots moto's state and later tests get a copy of it."""
    from moto import mock_aws

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    with mock_aws():
        if not _SEEDED:
            _SEEDED.append(_take_snapshot(_seed_fresh()))
        yield _restore(_SEEDED[0])  # the first test too: every test runs on a copy, never the originals


def seeded_inventory(session: AwsSession) -> Inventory:
    """`scan(session)` of the untouched seeded account, as scanned once when it was seeded (the seed and
    so the scan are deterministic; only the scan's own timings would differ)."""
    assert _SEEDED, "seeded_inventory needs the seeded fixture"
    return Inventory.model_validate_json(_SEEDED[0].inventory)


def make_app(
    tmp_path: Path,
    *,
    read_only: bool = False,
    start_step: str | None = None,
    resume: bool | None = False,
) -> FlowlogsApp:
    settings = Settings(audit_log=tmp_path / "audit.jsonl", read_only=read_only)
    session = AwsSession(
        SessionOptions(region="us-east-1", read_only=read_only), audit=AuditLog(settings.audit_path)
    )
    return create_app(settings, session=session, start_step=start_step, resume=resume)


# -- an organization (discovery with --org / --accounts) ------------------------------------------------
ORG_REGIONS = ("us-east-1", "us-west-2")  # the regions the organization's tests scan (fast, and enough)


@dataclass(frozen=True)
class OrgMember:
    account_id: str
    name: str
    vpc_id: str  # its named VPC in us-east-1 ('' for a refusing member: nobody got in to make one)
    refusing: bool


def _seed_org_members(names: tuple[str, ...], refusing: tuple[int, ...]) -> list[OrgMember]:
    """On the seeded demo account (the management account, 123456789012): an organization, one member
    per name, each with a named VPC in us-east-1 made through its OrganizationAccountAccessRole, and the
    members' default VPCs made in a fixed order (moto makes them on first use), so ids repeat."""
    from moto.ec2.models import ec2_backends

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    members = []
    for index, name in enumerate(names):
        status = org.create_account(AccountName=name, Email=f"aws+{name}@example.com")["CreateAccountStatus"]
        account = status["AccountId"]
        for region in ORG_REGIONS:
            ec2_backends[account][region]
        vpc_id = ""
        if index not in refusing:
            creds = boto3.client("sts", region_name="us-east-1").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
            )["Credentials"]
            ec2 = boto3.client(
                "ec2",
                region_name="us-east-1",
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            vpc = ec2.create_vpc(
                CidrBlock="10.20.0.0/16",
                TagSpecifications=[
                    {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{name}-app"}]}
                ],
            )
            vpc_id = vpc["Vpc"]["VpcId"]
        members.append(OrgMember(account, name, vpc_id, index in refusing))
    return members


@pytest.fixture
def org_seeded(seeded: SeedSummary) -> Iterator[list[OrgMember]]:
    """The seeded demo account as an organization's management account, with 3 members: payments,
    data-lake (its role refuses the management account: `refuse_assume_role` makes AssumeRole say so)
    and sandbox."""
    from aws.sandbox.strict_sts import clear_scps

    yield _seed_org_members(("payments", "data-lake", "sandbox"), refusing=(1,))
    clear_scps()  # an SCP a test set must not outlive it


def refuse_assume_role(session: AwsSession, account: str, *, scp: bool = False) -> None:
    """AssumeRole into `account` is refused by the strict sandbox, as AWS refuses it: the member's role
    trusts another account only (AccessDenied), or, with `scp`, an organization policy on the caller's
    account denies sts:AssumeRole (an explicit deny in an SCP: every member is then out of reach)."""
    from moto.iam.models import iam_backends

    from aws.sandbox.strict_sts import deny_by_scp

    if scp:
        deny_by_scp(session.identity().account, "sts:AssumeRole")
        return
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam_backends[account]["global"].update_assume_role_policy(
        "OrganizationAccountAccessRole", json.dumps(trust)
    )


def make_org_app(
    tmp_path: Path,
    members: list[OrgMember],
    *,
    accounts: tuple[str, ...] = (),
    scp: bool = False,
) -> FlowlogsApp:
    """The app with --org (or --accounts `accounts`) over ORG_REGIONS; refusing members refuse AssumeRole
    (`scp`: denied by an organization policy instead)."""
    from aws.org import AccountSelection

    settings = Settings(audit_log=tmp_path / "audit.jsonl", include_regions=list(ORG_REGIONS))
    session = AwsSession(SessionOptions(region="us-east-1"), audit=AuditLog(settings.audit_path))
    for member in members:
        if member.refusing:
            refuse_assume_role(session, member.account_id, scp=scp)
    selection = AccountSelection.parse(org=not accounts, accounts=accounts)
    return create_app(settings, session=session, accounts=selection, account_workers=4)
