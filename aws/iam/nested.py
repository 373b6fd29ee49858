"""Kentik's nested configuration across an organization: which spoke policies change, and what Kentik
needs to be told.

Kentik assumes its primary (hub) role, which assumes the secondary (spoke) role in each member account.
The S3 read statement therefore goes into the spoke policy of the account that OWNS each log bucket
(a central bucket: the spoke of the bucket's account; buckets in several accounts: each of their
spokes). The primary role is left alone.

* `KentikRoles.parse` validates `--kentik-role NAME|ARN` and `--kentik-spoke-role NAME`.
* `spoke_policy_changes` gives the policy Changes per bucket-owning account, through that account's
  session (each Change carries its account; ids are made unique per account).
* `NestedSetup` is what the Kentik portal asks for a nested setup: the primary role ARN, the secondary
  account ids, the secondary role name (suffix) and the regions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from aws.coverage import ReadLocation
from aws.errors import FlowlogsError, ValidationFailed
from aws.iam.proposal import policy_changes
from aws.iam.requirements import Requirements
from aws.org import ROLE_NAME
from aws.plans.change import Change
from aws.session import AwsSession, account_in

ROLE_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$"
)


@dataclass(frozen=True)
class KentikRoles:
    """Kentik's own roles in a nested setup: the primary role (name in the caller's account, or ARN)
    and the spoke role's name in each member. Apart from our access role (--assume-role)."""

    primary: str = ""
    spoke: str = ""

    @classmethod
    def parse(cls, primary: str | None, spoke: str | None) -> KentikRoles:
        problems = []
        p, s = (primary or "").strip(), (spoke or "").strip()
        if p and not (ROLE_NAME.match(p) or ROLE_ARN.match(p)):
            problems.append(f"--kentik-role {p!r} is neither a role name nor a role ARN")
        if s and not ROLE_NAME.match(s):
            problems.append(
                f"--kentik-spoke-role {s!r}: give the role's name (the same in every member), not an ARN"
            )
        if problems:
            raise ValidationFailed("Invalid Kentik role:\n- " + "\n- ".join(problems))
        return cls(primary=p, spoke=s)

    def primary_arn(self, *, account: str, partition: str) -> str:
        if not self.primary or self.primary.startswith("arn:"):
            return self.primary
        return f"arn:{partition}:iam::{account}:role/{self.primary}"


class NestedSetup(BaseModel):
    """What Kentik's portal needs to register a nested (organization) setup."""

    primary_role_arn: str = Field(description="The role Kentik assumes first (hub)")
    secondary_accounts: list[str] = Field(description="Member accounts whose spoke role Kentik assumes")
    secondary_role_suffix: str = Field(description="The spoke role's name, the same in every member")
    regions: list[str] = Field(description="Regions the log buckets are in")
    blocked_accounts: list[str] = Field(default_factory=list, description="Accounts left out")

    def lines(self) -> list[str]:
        return [
            f"Primary role ARN: {self.primary_role_arn or '(not given: Kentik primary role)'}",
            f"Secondary account ids: {', '.join(self.secondary_accounts) or '-'}",
            f"Secondary role name (suffix): {self.secondary_role_suffix or '(not given: the spoke role name)'}",
            f"Regions: {', '.join(self.regions) or '-'}",
            *([f"Left out: {', '.join(self.blocked_accounts)}"] if self.blocked_accounts else []),
        ]


def nested_setup(
    roles: KentikRoles,
    *,
    caller_account: str,
    partition: str,
    members: Iterable[str],
    locations: Iterable[ReadLocation],
    excluded: Sequence[str] = (),
) -> NestedSetup:
    return NestedSetup(
        primary_role_arn=roles.primary_arn(account=caller_account, partition=partition),
        secondary_accounts=sorted(set(members)),
        secondary_role_suffix=roles.spoke,
        regions=sorted({loc.region for loc in locations if loc.region}),
        blocked_accounts=sorted(excluded),
    )


def _per_account(change: Change, account: str) -> Change:
    suffix = f"@{account}"
    return change.model_copy(
        update={
            "id": change.id if change.id.endswith(suffix) else change.id + suffix,
            "account": account,
            "depends_on": [d if d.endswith(suffix) else d + suffix for d in change.depends_on],
        }
    )


def spoke_policy_changes(
    session_for: Callable[[str], AwsSession | None],
    locations: Sequence[ReadLocation],
    kms_keys: Sequence[str],
    *,
    spoke_role: str,
    default_account: str,
    partition: str,
    allow_delete: bool = False,
    allow_delete_objects: bool = False,
) -> tuple[list[Change], list[str]]:
    """The spoke policy Changes of every account that owns a bucket of `locations` (its own KMS keys
    with it), and a warning per account whose spoke policy could not be planned (not reached, no such
    role, a merged policy too large). A location without a known owner belongs to `default_account`."""
    by_account: dict[str, list[ReadLocation]] = {}
    for loc in locations:
        by_account.setdefault(loc.account or default_account, []).append(loc)
    changes: list[Change] = []
    warnings: list[str] = []
    for account, locs in sorted(by_account.items()):
        session = session_for(account)
        if session is None:
            warnings.append(
                f"Account {account} owns {', '.join(sorted({loc.bucket for loc in locs}))} but was not "
                f"reached: its spoke role {spoke_role}'s policy is not in this plan."
            )
            continue
        need = Requirements(
            buckets=tuple(loc.bucket for loc in locs if loc.kentik),
            existing=tuple((loc.bucket, loc.prefix) for loc in locs if not loc.kentik),
            kms_keys=tuple(k for k in kms_keys if account_in(k) == account),
            allow_delete=allow_delete,
            allow_delete_objects=allow_delete_objects,
            partition=partition,
        )
        try:
            found = policy_changes(session, need, role_name=spoke_role)
        except FlowlogsError as err:
            warnings.append(f"Account {account}: spoke role {spoke_role}'s policy not planned: {err.message}")
            continue
        changes.extend(_per_account(c, account) for c in found)
    return changes, warnings
