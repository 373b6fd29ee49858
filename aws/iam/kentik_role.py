"""Kentik's role from nothing: the role Kentik assumes, its metadata policy and its S3 read statement,
planned as Changes (issue 15, "A Kentik role from nothing").

* `KentikRoleSpec`: the role name and Kentik's external id (the Kentik company id), validated whole on
  construction (`KentikRoleInputInvalid`, listing every problem) before any AWS call. IAM's rules: a role
  name is 1-64 characters of letters, digits and `+=,.@_-`; an external id 2-1224 characters of those and
  `:/`.
* What is derived from it (pure): `trust_document()` (Kentik's principal, `sts:AssumeRole`, condition
  `StringEquals sts:ExternalId`), `metadata_document()` (the describe permissions of Kentik's published
  Terraform module, `METADATA_ACTIONS`), the metadata policy's name (`{role}-metadata`) and the inline
  policy holding the S3 read statement (`READ_POLICY_NAME`).
* `plan_kentik_role()`: reads what exists (the role's trust, the metadata policy, the inline policy) and
  builds the Plan: create the role, create the metadata policy, attach it, put the S3 read statement
  (`iam.put-role-read-policy`: the IAM step's merge, into a new inline policy or the one already there). Something of
  that name that is not what flowlogs would make is never overwritten: `ExistingRoleDiffers` /
  `ExistingPolicyDiffers` name what differs (the executors refuse the same at apply time). A rerun plans
  the same Changes, each already satisfied.

Read calls only (IAM GetRole, GetPolicy, GetPolicyVersion, GetRolePolicy); the executors are in
aws.iam.role_executors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aws.errors import ValidationFailed, error_code, explain
from aws.iam.diff import pretty_json
from aws.iam.documents import decode_document, iam_client
from aws.iam.eval import action_granted
from aws.iam.merge import merge_policy
from aws.iam.proposal import requirements_basis
from aws.iam.requirements import Requirements, SizeReport, document_sha256, policy_size
from aws.kentik_roles import KENTIK_ACCOUNT, trust_match
from aws.org import ROLE_NAME
from aws.permissions import declare
from aws.plans.change import Change, Plan, StaleChange, validate_plan
from aws.session import AwsSession
from aws.tags import our_tags

PERMISSIONS = declare(
    __name__, read=["iam:GetRole", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRolePolicy"]
)

# Kentik's principal and its partition (../shared/aws-facts.md, and the module's trust template below).
KENTIK_PRINCIPAL = f"arn:aws:iam::{KENTIK_ACCOUNT}:role/eks-ingest-node"
KENTIK_PARTITION = "aws"

# The describe permissions Kentik's published Terraform module grants its role: the first statement of
# kentik/config-snippets-cloud cloud_AWS/terraform/module/files/kentikEC2Access.json (commit
# 058b50d5b3404f4bdb90ba09f3e62ff1c66f7bd7; the file last changed in e7634c7d5b30, 2022-10-18), attached by
# cloud_AWS/terraform/module/iam.tf as the policy "{prefix}-EC2Access"; its trust comes from
# templates/kentikIngestRole.json.tmpl. IAM action names are case-insensitive: they are written here in
# AWS's documented case. The module's second statement (S3 read and delete on `*flow-logs` buckets) is not
# taken: Kentik's S3 access is flowlogs' own read statement for the buckets Kentik reads.
METADATA_ACTIONS = (
    "cloudwatch:Describe*",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "directconnect:DescribeConnections",
    "directconnect:DescribeDirectConnectGatewayAttachments",
    "directconnect:DescribeDirectConnectGateways",
    "directconnect:DescribeLags",
    "directconnect:DescribeVirtualGateways",
    "directconnect:DescribeVirtualInterfaces",
    "directconnect:List*",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeCustomerGateways",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribePrefixLists",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeTransitGatewayAttachments",
    "ec2:DescribeTransitGatewayConnectPeers",
    "ec2:DescribeTransitGatewayConnects",
    "ec2:DescribeTransitGatewayRouteTables",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpnConnections",
    "ec2:DescribeVpnGateways",
    "ec2:SearchTransitGatewayRoutes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "network-firewall:Describe*",
    "network-firewall:List*",
)
METADATA_SID = "KentikMetadataRead"
TRUST_SID = "KentikAssumeRole"
READ_POLICY_NAME = "kentik-flowlogs-read"  # the inline policy holding the S3 read statement
ROLE_DESCRIPTION = (
    f"Assumed by Kentik ({KENTIK_ACCOUNT}) to read cloud metadata and flow logs; made by flowlogs"
)
POLICY_DESCRIPTION = "Kentik's metadata access (the describe permissions of Kentik's Terraform module)"

CREATE_ROLE, CREATE_POLICY, ATTACH = "iam.create-role", "iam.create-policy", "iam.attach-role-policy"
# The S3 read statement: PutRolePolicy of an inline policy the role may not have yet. (The IAM step's
# `iam.put-role-policy` changes an inline policy that exists: its precondition cannot say "absent".)
PUT_READ_POLICY = "iam.put-role-read-policy"
_SEED = {"Sid": "FlowlogsSeed", "Effect": "Deny", "Action": "flowlogs:Nothing", "Resource": "*"}

EXTERNAL_ID_RULE = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
_ID_CHAR = re.compile(r"[\w+=,.@:/-]", re.ASCII)
_ALLOWED_ROLE = "letters, digits and + = , . @ _ -"
_ALLOWED_ID = "letters, digits and + = , . @ : / _ -"


class KentikRoleInputInvalid(ValidationFailed):
    """The role name or external id breaks IAM's rules; `problems` lists every one. No AWS call made."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "Kentik's role cannot be created as given: " + "; ".join(problems) + ". Nothing was changed.",
            hint="The external id is your Kentik company id (Kentik portal: Settings, Company).",
        )
        self.problems = problems


class ExistingDiffers(StaleChange):
    """Something of the name flowlogs would create exists and is not what flowlogs would make: it is never
    overwritten. `differences` says what differs."""

    def __init__(self, found: str, differences: list[str], *, left: str, hint: str) -> None:
        super().__init__(f"{found}: " + "; ".join(differences) + f". {left}; nothing was changed.", hint=hint)
        self.differences = differences


class ExistingRoleDiffers(ExistingDiffers):
    """A role of that name exists and its trust policy is not the one flowlogs would write."""

    def __init__(self, role_name: str, differences: list[str]) -> None:
        super().__init__(
            f"Role {role_name} already exists and is not the Kentik role flowlogs would create",
            differences,
            left="Its trust policy was left as it is",
            hint="Choose another role name, or use this role as it is (policy --role NAME).",
        )
        self.role_name = role_name


class ExistingPolicyDiffers(ExistingDiffers):
    """A customer-managed policy of the metadata policy's name exists with another document."""

    def __init__(self, policy_arn: str, differences: list[str]) -> None:
        super().__init__(
            f"Policy {policy_arn} already exists with another document",
            differences,
            left="It was left as it is",
            hint="Choose another role name (the metadata policy is named after it), or delete that policy.",
        )
        self.policy_arn = policy_arn


def is_role_name(name: str) -> bool:
    """IAM's rule for a role name (`aws.org.ROLE_NAME`), matched whole and in ASCII: IAM's letters and
    digits are ASCII's, where Python's `\\w` also takes those of other scripts."""
    return name.isascii() and ROLE_NAME.fullmatch(name) is not None


def input_problems(role_name: str, external_id: str) -> list[str]:
    """Every way the role name and external id break IAM's rules (plain sentences; [] when fine)."""
    problems = []
    if not role_name:
        problems.append("name the role (1-64 characters)")
    elif len(role_name) > 64:
        problems.append(f"the role name is {len(role_name)} characters, more than IAM's 64")
    elif not is_role_name(role_name):
        bad = sorted({c for c in role_name if not is_role_name(c)})
        problems.append(f"the role name may only hold {_ALLOWED_ROLE}, not {' '.join(map(repr, bad))}")
    if not external_id:
        problems.append("give Kentik's external id (your Kentik company id)")
    elif not 2 <= len(external_id) <= 1224:
        problems.append(f"the external id is {len(external_id)} characters; IAM takes 2-1224")
    elif not EXTERNAL_ID_RULE.fullmatch(external_id):
        bad = sorted({c for c in external_id if not _ID_CHAR.fullmatch(c)})
        problems.append(f"the external id may only hold {_ALLOWED_ID}, not {' '.join(map(repr, bad))}")
    return problems


@dataclass(frozen=True)
class KentikRoleSpec:
    """The role to create: its name and Kentik's external id, validated on construction."""

    role_name: str
    external_id: str

    def __post_init__(self) -> None:
        problems = input_problems(self.role_name, self.external_id)
        if problems:
            raise KentikRoleInputInvalid(problems)

    @property
    def policy_name(self) -> str:
        return metadata_policy_name(self.role_name)


def metadata_policy_name(role_name: str) -> str:
    """The metadata policy's name: derived from the role's (at most 73 characters, within IAM's 128)."""
    return f"{role_name}-metadata"


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def policy_arn(partition: str, account: str, policy_name: str) -> str:
    return f"arn:{partition}:iam::{account}:policy/{policy_name}"


def trust_document(external_id: str) -> dict[str, Any]:
    """The trust policy: Kentik's principal may assume the role, with the external id."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TRUST_SID,
                "Effect": "Allow",
                "Principal": {"AWS": KENTIK_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def metadata_document() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": METADATA_SID, "Effect": "Allow", "Action": list(METADATA_ACTIONS), "Resource": "*"}
        ],
    }


def trust_differences(current: dict[str, Any], external_id: str) -> list[str]:
    """How an existing role's trust policy differs from `trust_document(external_id)` ([] when equal)."""
    if current == trust_document(external_id):
        return []
    _, external_ids, principals = trust_match(current)
    out = []
    if principals != [KENTIK_PRINCIPAL]:
        out.append(
            f"it trusts {', '.join(principals) or 'no AWS principal'}, not Kentik's {KENTIK_PRINCIPAL}"
        )
    if external_ids != [external_id]:
        given = f"sts:ExternalId {', '.join(external_ids)}" if external_ids else "no sts:ExternalId"
        out.append(f"it requires {given}, not {external_id}")
    return out or ["its trust policy has other statements, actions or conditions than Kentik's"]


def policy_differences(current: dict[str, Any]) -> list[str]:
    """How an existing metadata policy's default document differs from `metadata_document()`."""
    if current == metadata_document():
        return []
    try:
        missing = [a for a in METADATA_ACTIONS if not action_granted(current, a)]
    except ValidationFailed:
        return ["it is not an IAM policy flowlogs can read"]
    if missing:
        return [f"it does not grant {len(missing)} of Kentik's describe permissions (first: {missing[0]})"]
    return ["its statements are not the ones flowlogs writes (other actions, resources or conditions)"]


def read_policy_document(current: dict[str, Any] | None, need: Requirements) -> tuple[dict[str, Any], str]:
    """The inline policy granting `need` (the IAM step's merge, into `current` when the role already has
    the policy), and what the merge does. Raises ValidationFailed when it would be over IAM's size limit."""
    if current is not None:
        merge = merge_policy(current, need, kind="inline")
        merge.size.require_ok()
        return merge.proposed, merge.summary()
    # merge_policy works on a policy (one statement at least): merge into a seed, then drop the seed
    seeded = merge_policy({"Version": "2012-10-17", "Statement": [_SEED]}, need, kind="inline")
    document = {**seeded.proposed, "Statement": [st for st in seeded.proposed["Statement"] if st != _SEED]}
    SizeReport(policy_size(document), "inline").require_ok()
    return document, seeded.summary()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# -- what exists (read calls) -------------------------------------------------------------------------


def _absent(call: Any, **params: Any) -> Any | None:
    """The call's answer, or None when IAM says the entity does not exist (other errors explained)."""
    try:
        return call(**params)
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise explain(err, service="iam") from err


def current_trust(session: AwsSession, role_name: str) -> dict[str, Any] | None:
    """The role's trust policy, or None when there is no such role."""
    found = _absent(iam_client(session).get_role, RoleName=role_name)
    return None if found is None else decode_document(found["Role"]["AssumeRolePolicyDocument"])


def current_policy(session: AwsSession, arn: str) -> dict[str, Any] | None:
    """The managed policy's default document, or None when there is no such policy."""
    iam = iam_client(session)
    meta = _absent(iam.get_policy, PolicyArn=arn)
    if meta is None:
        return None
    version = meta["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return decode_document(doc)


def current_inline(session: AwsSession, role_name: str, name: str) -> dict[str, Any] | None:
    found = _absent(iam_client(session).get_role_policy, RoleName=role_name, PolicyName=name)
    return None if found is None else decode_document(found["PolicyDocument"])


# -- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KentikRolePlan:
    """The Plan that makes Kentik's role, with what it names."""

    plan: Plan
    role_arn: str
    policy_arn: str
    external_id: str
    role_exists: bool  # the role is already there (with Kentik's trust): a rerun


def check_partition(partition: str) -> None:
    if partition != KENTIK_PARTITION:
        raise ValidationFailed(
            f"Kentik's role {KENTIK_PRINCIPAL} is in the {KENTIK_PARTITION} partition; a role in {partition} "
            "cannot trust it. Nothing was changed."
        )


def kentik_role_changes(
    spec: KentikRoleSpec,
    need: Requirements,
    *,
    account: str,
    partition: str,
    region: str,
    inline: dict[str, Any] | None = None,
) -> list[Change]:
    """The four Changes (pure): create the role, create the metadata policy, attach it, put the S3 read
    statement (merged into `inline`, the inline policy's current document, when there is one)."""
    check_partition(partition)
    role = role_arn(partition, account, spec.role_name)
    metadata = policy_arn(partition, account, spec.policy_name)
    tags = [dict(t) for t in our_tags()]

    def iam_change(kind: str, key: str, target: str, title: str, reason: str, **fields: Any) -> Change:
        """A Change of the IAM group in `region`, its id the kind and `key`."""
        return Change(
            id=f"{kind}:{key}",
            kind=kind,
            title=title,
            reason=reason,
            target=target,
            region=region,
            group="iam",
            **fields,
        )

    create_role = iam_change(
        CREATE_ROLE,
        spec.role_name,
        role,
        f"Create role {spec.role_name}, trusted by Kentik with external id {spec.external_id}",
        "Kentik reads metadata and logs by assuming a role in this account; none trusts Kentik yet.",
        params={
            "RoleName": spec.role_name,
            "AssumeRolePolicyDocument": pretty_json(trust_document(spec.external_id)),
            "Description": ROLE_DESCRIPTION,
            "Tags": tags,
        },
        basis={"external_id": spec.external_id},
    )
    create_policy = iam_change(
        CREATE_POLICY,
        metadata,
        metadata,
        f"Create policy {spec.policy_name} with Kentik's describe permissions",
        "The metadata permissions Kentik's published Terraform module grants its role.",
        params={
            "PolicyName": spec.policy_name,
            "PolicyDocument": pretty_json(metadata_document()),
            "Description": POLICY_DESCRIPTION,
            "Tags": tags,
        },
        basis={"role_name": spec.role_name},
    )
    attach = iam_change(
        ATTACH,
        f"{spec.role_name}/{spec.policy_name}",
        role,
        f"Attach {spec.policy_name} to role {spec.role_name}",
        "The role gets the metadata permissions.",
        params={"RoleName": spec.role_name, "PolicyArn": metadata},
        depends_on=[create_role.id, create_policy.id],
    )
    document, summary = read_policy_document(inline, need)
    read = iam_change(
        PUT_READ_POLICY,
        f"{spec.role_name}/{READ_POLICY_NAME}",
        role,
        f"Let role {spec.role_name} read the log buckets (inline policy {READ_POLICY_NAME})",
        "Spec 'Update IAM Permissions for S3': " + summary,
        params={
            "RoleName": spec.role_name,
            "PolicyName": READ_POLICY_NAME,
            "PolicyDocument": pretty_json(document),
            "Precondition": {"DocumentSha256": document_sha256(inline) if inline is not None else None},
        },
        basis=requirements_basis(need),
        depends_on=[create_role.id],
    )
    return [create_role, create_policy, attach, read]


def plan_kentik_role(session: AwsSession, spec: KentikRoleSpec, need: Requirements) -> KentikRolePlan:
    """Read what exists and plan Kentik's role. Raises ExistingRoleDiffers / ExistingPolicyDiffers when a
    role or policy of those names is not what flowlogs would make (nothing is planned over it)."""
    me = session.identity()
    check_partition(me.partition)
    role = role_arn(me.partition, me.account, spec.role_name)
    metadata = policy_arn(me.partition, me.account, spec.policy_name)
    trust = current_trust(session, spec.role_name)
    if trust is not None:
        differs = trust_differences(trust, spec.external_id)
        if differs:
            raise ExistingRoleDiffers(spec.role_name, differs)
    document = current_policy(session, metadata)
    if document is not None:
        differs = policy_differences(document)
        if differs:
            raise ExistingPolicyDiffers(metadata, differs)
    inline = current_inline(session, spec.role_name, READ_POLICY_NAME) if trust is not None else None
    changes = kentik_role_changes(
        spec, need, account=me.account, partition=me.partition, region=session.home_region, inline=inline
    )
    plan = Plan(account=me.account, partition=me.partition, changes=changes)
    plan.notes.append(
        f"Kentik's role {role}: trusted by {KENTIK_PRINCIPAL} with sts:ExternalId {spec.external_id}"
    )
    validate_plan(plan)  # what `flowlogs apply --plan` will check: the engine's own plan passes it
    return KentikRolePlan(plan, role, metadata, spec.external_id, role_exists=trust is not None)
