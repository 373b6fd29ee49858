"""AWS Organizations: which accounts a run covers, and a session in each of them.

* `AccountSelection` is what the user asked for (`--org`, `--accounts`, `--exclude-accounts`,
  `--assume-role`, `--external-id`), validated whole before any AWS call (`ValidationFailed`).
* `list_org_accounts()` lists the organization's ACTIVE accounts (organizations:ListAccounts, which
  answers in the management account or a delegated administrator).
* `reach_accounts()` gives one `MemberAccess` per account: a session through the role assumed there
  (its credentials are refreshed before they expire, aws.session), or why the account could not be
  reached. The caller's own account is used as it is: the management account has no
  OrganizationAccountAccessRole, and assuming a role to reach oneself is a needless hop.

A member that cannot be reached is reported with the reason and what to check; the others go on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from aws.errors import (
    AccessDeniedError,
    FlowlogsError,
    ScpDenied,
    ValidationFailed,
    error_code,
    explain,
)
from aws.limits import DEFAULT_ACCOUNT_WORKERS, MAX_ACCOUNT_WORKERS, ORG_ACCESS_ROLE
from aws.permissions import declare
from aws.session import AwsSession, Identity, account_in

PERMISSIONS = declare(
    __name__,
    read=["organizations:ListAccounts", "sts:AssumeRole"],
    notes="organizations:ListAccounts only with --org (from the management account or a delegated "
    "administrator); sts:AssumeRole on the access role (--assume-role) in each member account.",
)

_ACCOUNT = re.compile(r"^\d{12}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM's rule for role names (every check of one uses it)
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # STS's rule for ExternalId


class MemberAccount(BaseModel):
    """An account of the run: its id and, when the organization lists it, its name."""

    account: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class AccountSelection:
    """The accounts a run covers and how each is reached, validated.

    `org` lists the organization's accounts; otherwise `accounts` names them. `exclude` is taken out of
    either. `assume_role` is our own access role in each member (not Kentik's), `external_id` its
    sts:ExternalId when its trust policy requires one."""

    org: bool = False
    accounts: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    assume_role: str = ORG_ACCESS_ROLE
    external_id: str = ""

    @classmethod
    def parse(
        cls,
        *,
        org: bool = False,
        accounts: Iterable[str] = (),
        exclude: Iterable[str] = (),
        assume_role: str | None = None,
        external_id: str = "",
    ) -> AccountSelection:
        """Validate what was typed; raises `ValidationFailed` naming every bad value, before any call."""
        ids = tuple(dict.fromkeys(a.strip() for a in accounts if a.strip()))
        skip = tuple(dict.fromkeys(a.strip() for a in exclude if a.strip()))
        problems = []
        if org and ids:
            problems.append("give either --org or --accounts, not both")
        bad = [a for a in (*ids, *skip) if not _ACCOUNT.match(a)]
        if bad:
            problems.append(f"account ids are 12 digits, not: {', '.join(bad)}")
        role = (assume_role if assume_role is not None else ORG_ACCESS_ROLE).strip()
        if ":" in role or "/" in role:
            problems.append(f"--assume-role {role!r}: give the role's name, not an ARN (the account varies)")
        elif not ROLE_NAME.match(role):
            problems.append(f"--assume-role {role!r} is not a role name (1-64 letters, digits and +=,.@_-)")
        ext = external_id.strip()
        if ext and not _EXTERNAL_ID.match(ext):
            problems.append("--external-id must be 2-1224 characters of letters, digits and +=,.@:/_-")
        if not org and ids and not set(ids) - set(skip):
            problems.append("--exclude-accounts leaves no account of --accounts")
        if problems:
            raise ValidationFailed("Invalid account selection:\n- " + "\n- ".join(problems))
        return cls(org=org, accounts=ids, exclude=skip, assume_role=role, external_id=ext)

    @property
    def many(self) -> bool:
        """Whether the run covers other accounts than the caller's (False: today's one-account run)."""
        return self.org or bool(self.accounts)

    def role_arn(self, account: str, partition: str) -> str:
        return f"arn:{partition}:iam::{account}:role/{self.assume_role}"


def list_org_accounts(session: AwsSession) -> list[MemberAccount]:
    """The organization's ACTIVE accounts (suspended and closing ones are left out), by id.

    Raises `ValidationFailed` when the caller's account is in no organization, and `AccessDeniedError`
    when ListAccounts is refused: it answers only in the management account or a delegated
    administrator account."""
    try:
        pages = session.client("organizations").get_paginator("list_accounts").paginate()
        found = [a for page in pages for a in page.get("Accounts", [])]
    except Exception as err:
        code = error_code(err)
        if code == "AWSOrganizationsNotInUseException":
            raise ValidationFailed(
                "This account is not in an AWS Organization, so --org has no accounts to list.",
                hint="Name the accounts with --accounts ID,ID instead.",
            ) from err
        explained = explain(err, service="organizations")
        if isinstance(explained, AccessDeniedError) and not isinstance(explained, ScpDenied):
            raise AccessDeniedError(
                "organizations:ListAccounts was refused: --org lists the accounts from the organization's "
                "management account or a delegated administrator account.",
                action="organizations:ListAccounts",
                hint="Run from one of those accounts (or with a profile for one), or name the accounts with "
                "--accounts ID,ID.",
            ) from err
        raise explained from err
    active = [
        a for a in found if a.get("Status", "ACTIVE") == "ACTIVE" and a.get("State", "ACTIVE") == "ACTIVE"
    ]
    return sorted(
        (MemberAccount(account=a["Id"], name=a.get("Name", ""), email=a.get("Email", "")) for a in active),
        key=lambda m: m.account,
    )


def select_accounts(session: AwsSession, selection: AccountSelection) -> list[MemberAccount]:
    """The accounts of the run, in id order: the organization's (`--org`) or those named, less the
    excluded ones. One-account runs (no --org, no --accounts) get the caller's account."""
    if selection.org:
        members = list_org_accounts(session)
    elif selection.accounts:
        members = [MemberAccount(account=a) for a in sorted(selection.accounts)]
    else:
        members = [MemberAccount(account=session.identity().account)]
    out = [m for m in members if m.account not in selection.exclude]
    if not out:
        raise ValidationFailed("No account is left to work on after --exclude-accounts.")
    return out


class AccountError(BaseModel):
    """Why an account could not be reached or read, for a person and for `--json`."""

    kind: str = Field(description="access, scp, credentials, network or error")
    message: str
    hint: str = ""


@dataclass
class MemberAccess:
    """One account of the run: the session to use there, or why it could not be reached."""

    account: str
    name: str = ""
    role_arn: str = ""  # the role assumed there; '' for the caller's own account
    session: AwsSession | None = None
    error: AccountError | None = None
    failure: FlowlogsError | None = field(default=None, repr=False)

    @property
    def reached(self) -> bool:
        return self.session is not None


class RoleNotAssumable(AccessDeniedError):
    """Our access role in a member account could not be assumed (missing, or its trust refuses us)."""

    title = "Member account not reachable"


def account_error(err: FlowlogsError) -> AccountError:
    kind = "scp" if isinstance(err, ScpDenied) else err.kind
    return AccountError(kind=kind, message=err.message, hint=err.hint)


def assume_failure(err: FlowlogsError, role_arn: str, caller: str, external_id: str) -> FlowlogsError:
    """What to check when AssumeRole failed: an SCP, or the role's trust policy and our permission."""
    if isinstance(err, ScpDenied):
        target = account_in(role_arn) or "the member"
        where = (
            f"A resource control policy on account {target} denies assuming its roles"
            if err.policy == "RCP"
            else f"A service control policy on the caller's account {account_in(caller) or ''} (or its OU) "
            "denies sts:AssumeRole"
        )
        return ScpDenied(
            f"Could not assume {role_arn}: sts:AssumeRole is denied by an organization policy ({err.policy}).",
            action="sts:AssumeRole",
            policy=err.policy,
            hint=f"{where}; IAM permissions cannot lift that. Ask the AWS Organizations administrator, or "
            "leave the account out (--exclude-accounts).",
        )
    if isinstance(err, AccessDeniedError):
        ext = (
            " with the external id given (--external-id)"
            if external_id
            else " (if it requires an sts:ExternalId, pass --external-id)"
        )
        return RoleNotAssumable(
            f"Could not assume {role_arn}: access denied.",
            action="sts:AssumeRole",
            hint=f"Check that the role exists and that its trust policy lets {caller} assume it{ext}, and "
            f"that {caller} is allowed sts:AssumeRole on it, or name another role to assume (--assume-role).",
        )
    return err


def reach_account(
    session: AwsSession, me: Identity, member: MemberAccount, selection: AccountSelection
) -> MemberAccess:
    """A session in one account: the caller's own as it is, another through the role assumed there (or
    why it could not be assumed, with what to check)."""
    if member.account == me.account:
        return MemberAccess(member.account, member.name, session=session)
    arn = selection.role_arn(member.account, me.partition)
    access = MemberAccess(member.account, member.name, role_arn=arn)
    try:
        access.session = session.assume_role(arn, external_id=selection.external_id)
    except FlowlogsError as err:
        failure = assume_failure(err, arn, me.arn, selection.external_id)
        access.failure, access.error = failure, account_error(failure)
    return access


def reach_accounts(
    session: AwsSession,
    members: Sequence[MemberAccount],
    selection: AccountSelection,
    *,
    workers: int = DEFAULT_ACCOUNT_WORKERS,
    on_account: Callable[[MemberAccess], object] | None = None,
) -> list[MemberAccess]:
    """A session in each account (the caller's own as it is), in the order given. Failures are recorded
    per account; `on_account` is called from a worker thread as each is settled."""
    if not 1 <= workers <= MAX_ACCOUNT_WORKERS:
        raise ValidationFailed(
            f"--account-workers must be between 1 and {MAX_ACCOUNT_WORKERS}, not {workers}."
        )
    me = session.identity()

    def reach(member: MemberAccount) -> MemberAccess:
        access = reach_account(session, me, member, selection)
        if on_account is not None:
            on_account(access)
        return access

    with ThreadPoolExecutor(max_workers=min(workers, max(len(members), 1)), thread_name_prefix="org") as pool:
        return list(pool.map(reach, members))
