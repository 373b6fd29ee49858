"""An organization in in-process moto for the plan-across-accounts tests: members made with moto's
CreateAccount (which makes OrganizationAccountAccessRole there, trusting the management account, as AWS
does), VPCs created from inside each member through that role, and members whose role refuses."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3

from aws.org import AccountSelection
from aws.org_scan import OrgInventory, scan_accounts
from aws.session import AwsSession

ROLE = "OrganizationAccountAccessRole"
REGIONS = ("us-east-1", "eu-west-1")


@dataclass(frozen=True)
class OrgWorld:
    management: str
    members: tuple[str, ...]  # member account ids, in creation order
    vpcs: dict[str, dict[str, str]]  # account -> region -> VPC id
    refusing: tuple[str, ...] = ()

    def selection(self, accounts: tuple[str, ...] | None = None) -> AccountSelection:
        return AccountSelection.parse(accounts=accounts or self.members)


def make_org(
    session: AwsSession,
    *,
    members: int = 3,
    regions: tuple[str, ...] = ("us-east-1",),
    refusing: tuple[int, ...] = (),
    no_vpcs: tuple[int, ...] = (),
) -> OrgWorld:
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    ids: list[str] = []
    vpcs: dict[str, dict[str, str]] = {}
    refused: list[str] = []
    for i in range(members):
        made = org.create_account(Email=f"member{i}@example.com", AccountName=f"member-{i}")
        account = made["CreateAccountStatus"]["AccountId"]
        ids.append(account)
        member = session.assume_role(f"arn:aws:iam::{account}:role/{ROLE}")
        for region in REGIONS:  # no default VPCs: each member has exactly the VPCs made here
            drop_default_vpc(member, region)
        if i not in no_vpcs and i not in refusing:
            vpcs[account] = {
                r: member.client("ec2", r).create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"]
                for r in regions
            }
        if i in refusing:
            refuse(session, account, member)
            refused.append(account)
    return OrgWorld(session.identity().account, tuple(ids), vpcs, tuple(refused))


def refuse(session: AwsSession, account: str, member: AwsSession | None = None) -> None:
    """The member's role now trusts another account only: AssumeRole into `account` is refused."""
    member = member or session.assume_role(f"arn:aws:iam::{account}:role/{ROLE}")
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
    member.client("iam").update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(trust))


def scan_org(session: AwsSession, world: OrgWorld, regions: tuple[str, ...] = ("us-east-1",)) -> OrgInventory:
    return scan_accounts(session, world.selection(), include=list(regions), workers=2, account_workers=2)


def accesses(session: AwsSession, world: OrgWorld) -> dict[str, AwsSession]:
    return {
        a: session.assume_role(f"arn:aws:iam::{a}:role/{ROLE}")
        for a in world.members
        if a not in world.refusing
    }


def drop_default_vpc(session: AwsSession, region: str) -> None:
    ec2 = session.client("ec2", region)
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        vpc_id = vpc["VpcId"]
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        for igw in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vpc_id)
