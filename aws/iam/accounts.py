"""Who Kentik is in IAM: the role it assumes, and the member accounts of a nested configuration.

* `role_trust()`: the ARN of the role Kentik assumes and the external id its trust policy requires.
* Nested configuration (a spoke role in each member account, reached by assuming a named role there):
  `NestedInput` is what the user typed, validated (`ValidationFailed`); `nested_targets()` assumes the
  role in each account and finds the spoke role's policy; `nested_proposals()` adds each account's
  proposal. Failures are recorded per account (`.error`): the other accounts still get their diff.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from aws.errors import FlowlogsError, ValidationFailed, error_code, explain
from aws.iam.documents import PolicyTarget, find_policy, iam_client
from aws.iam.proposal import PolicyProposal, propose
from aws.iam.requirements import Requirements
from aws.kentik_roles import trust_match
from aws.org import assume_failure
from aws.permissions import declare
from aws.session import AwsSession

PERMISSIONS = declare(__name__, read=["iam:GetRole"])

_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class RoleTrust:
    """The role Kentik assumes: its ARN and the first external id its trust policy requires ("" if none)."""

    arn: str
    external_id: str
    kentik: bool = False  # the trust policy names Kentik's AWS account


def role_trust(session: AwsSession, role_name: str) -> RoleTrust:
    """The ARN and trusted external id of role `role_name` (IAM errors explained)."""
    try:
        role = iam_client(session).get_role(RoleName=role_name)["Role"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            raise ValidationFailed(f"Role {role_name} was not found in this account.") from err
        raise explain(err, service="iam") from err
    kentik, external_ids, _ = trust_match(role.get("AssumeRolePolicyDocument"))
    return RoleTrust(role["Arn"], external_ids[0] if external_ids else "", kentik)


# -- nested configuration --------------------------------------------------------------------------


def split_names(text: str) -> list[str]:
    """Names typed comma and/or space separated."""
    return [n for n in re.split(r"[\s,]+", text.strip()) if n]


@dataclass(frozen=True)
class NestedInput:
    """What the user typed for the nested configuration, validated."""

    accounts: tuple[str, ...]
    assume_role: str
    spoke_role: str
    external_id: str

    @classmethod
    def parse(cls, accounts: str, assume_role: str, spoke_role: str, external_id: str) -> NestedInput:
        ids = list(dict.fromkeys(split_names(accounts)))
        if not ids:
            raise ValidationFailed("Type the member account ids (12 digits each, comma separated).")
        bad = [a for a in ids if not _ACCOUNT.match(a)]
        if bad:
            raise ValidationFailed(f"Account ids are 12 digits, not: {', '.join(bad)}")
        assume = assume_role.strip()
        if not assume:
            raise ValidationFailed("Name the role to assume in each member account.")
        if "/" in assume or ":" in assume:
            raise ValidationFailed(f"{assume!r}: type the role's name, not its ARN (the account varies).")
        return cls(tuple(ids), assume, spoke_role.strip() or assume, external_id.strip())


@dataclass
class NestedTarget:
    """One member account of a nested configuration: its session and spoke policy (or the error)."""

    account: str
    role_arn: str
    session: AwsSession | None = None
    target: PolicyTarget | None = None
    error: str = ""
    error_kind: str = ""  # the FlowlogsError kind (access, network, credentials, ...) when it failed


def nested_targets(
    session: AwsSession,
    accounts: Sequence[str],
    *,
    assume_role_name: str,
    spoke_role_name: str | None = None,
    external_id: str = "",
    policy_name: str | None = None,
    policy_arn_name: str | None = None,
) -> list[NestedTarget]:
    """For each member account: assume `assume_role_name` there and find the spoke role's policy
    (`spoke_role_name`, default the assumed role). `policy_arn_name` names a customer-managed policy by
    name in each account. Failures are recorded per account (the others still get their diff)."""
    out = []
    me = session.identity()
    for account in accounts:
        own = account == me.account  # the caller's own account: no role to assume there
        role_arn = "" if own else f"arn:{me.partition}:iam::{account}:role/{assume_role_name}"
        item = NestedTarget(account=account, role_arn=role_arn)
        try:
            try:
                item.session = session if own else session.assume_role(role_arn, external_id=external_id)
            except FlowlogsError as err:
                raise assume_failure(err, role_arn, me.arn, external_id) from err
            arn = (
                f"arn:{session.partition}:iam::{account}:policy/{policy_arn_name}"
                if policy_arn_name
                else None
            )
            item.target = find_policy(
                item.session,
                role_name=spoke_role_name or assume_role_name,
                policy_arn=arn,
                policy_name=policy_name,
            )
        except FlowlogsError as err:
            item.error, item.error_kind = str(err), err.kind
        out.append(item)
    return out


@dataclass
class NestedProposal:
    """One member account of the nested configuration: its assumed session and proposal, or the error."""

    account: str
    role_arn: str  # the role assumed there
    session: AwsSession | None = None
    proposal: PolicyProposal | None = None
    error: str = ""

    @property
    def needs_change(self) -> bool:
        p = self.proposal
        return p is not None and bool(p.changes) and not p.merge.blocking


def nested_proposals(session: AwsSession, given: NestedInput, need: Requirements) -> list[NestedProposal]:
    """Each member account's proposal for `need`, through the role assumed there (errors per account:
    one that cannot be reached, has no policy, or whose merged policy would be too large)."""
    found = nested_targets(
        session,
        given.accounts,
        assume_role_name=given.assume_role,
        spoke_role_name=given.spoke_role,
        external_id=given.external_id,
    )
    out = []
    for item in found:
        entry = NestedProposal(item.account, item.role_arn, item.session, error=item.error)
        if item.session is not None and item.target is not None:
            try:
                entry.proposal = propose(item.session, item.target, need)
            except FlowlogsError as err:  # e.g. the merged policy would be too large
                entry.error = str(err)
        elif not entry.error:
            entry.error = "No policy found."
        out.append(entry)
    return out
