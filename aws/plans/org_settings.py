"""What a plan across accounts records about them (`plan.settings["org"]`): the member accounts it may
touch, the role assumed in each (its name: never credentials) and the account of the central bucket(s).

A one-account plan has no such entry. `org_problems` is the static check `validate_plan` runs (no AWS
call): a malformed entry, an invalid role name, a bucket account that is not one of the plan's.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aws.org import ROLE_NAME

ORG_KEY = "org"
_ACCOUNT = re.compile(r"^\d{12}$")


class OrgSettings(BaseModel):
    """The accounts of a plan across accounts, besides the plan's own (the caller's)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    members: list[str] = Field(description="Every other account the plan's changes run in")
    role: str = Field(description="The role assumed in each member account (its name)")
    bucket_account: str = Field(description="The account of the central (or regional) bucket(s)")


def org_settings(plan: Any) -> OrgSettings | None:
    """The plan's org entry, or None (a one-account plan, or an entry that does not validate)."""
    raw = (getattr(plan, "settings", None) or {}).get(ORG_KEY)
    if raw is None:
        return None
    try:
        return OrgSettings.model_validate(raw)
    except ValidationError:
        return None


def org_problems(plan: Any) -> list[str]:
    """Why the plan's org entry cannot be used (plain sentences; [] when there is none or it is fine)."""
    raw = (plan.settings or {}).get(ORG_KEY)
    if raw is None:
        return []
    try:
        org = OrgSettings.model_validate(raw)
    except ValidationError as err:
        return [f"its accounts entry (settings.org) is not valid: {e.get('msg', '')}" for e in err.errors()]
    problems = []
    bad = [a for a in org.members if not _ACCOUNT.match(a)]
    if bad:
        problems.append(f"its member accounts are not account ids: {', '.join(bad)}")
    if plan.account in org.members:
        problems.append(f"it lists its own account {plan.account} as a member")
    if ":" in org.role or "/" in org.role or not ROLE_NAME.match(org.role):
        problems.append(
            f"the role it assumes in member accounts, {org.role!r}, is not a role name (1-64 letters, digits "
            "and +=,.@_-)"
        )
    if org.bucket_account not in (plan.account, *org.members):
        problems.append(
            f"its bucket account {org.bucket_account!r} is neither the plan's account nor one of its members"
        )
    return problems


def plan_accounts(plan: Any) -> set[str]:
    """Every account the plan's changes may run in."""
    org = org_settings(plan)
    return {plan.account, *(org.members if org else [])}
