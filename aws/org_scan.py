"""Scan many accounts in one run: each member through its assumed role, with bounded concurrency.

AWS throttles per account and region, so the run has two bounds: `account_workers` accounts are scanned
at once, and each scans its regions with its own `workers` (aws.discovery.scan). A member is reached
(AssumeRole) when its turn comes, so results stream in per account and per region. A member that cannot
be reached, or whose scan fails as a whole, is recorded with the reason and the others go on.

`OrgInventory` is the contract with the discovery screen and `flowlogs scan --json` (with --org or
--accounts): one `AccountScan` per account, each holding that account's `Inventory`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr, computed_field

from aws.discovery import DEFAULT_WORKERS, scan
from aws.errors import FlowlogsError, ValidationFailed
from aws.inventory import CallerIdentity, Inventory, RegionCounts, RegionResult
from aws.limits import DEFAULT_ACCOUNT_WORKERS, MAX_ACCOUNT_WORKERS
from aws.org import (
    AccountError,
    AccountSelection,
    MemberAccess,
    MemberAccount,
    account_error,
    reach_account,
    select_accounts,
)
from aws.session import AwsSession

log = logging.getLogger(__name__)

ORG_INVENTORY_FORMAT = 1

AccountStatus = Literal["pending", "scanned", "partial", "failed", "unreachable", "cancelled"]


class AccountCounts(RegionCounts):
    """An account's regions' counts added up, and how many of its regions were scanned or failed."""

    regions: int = 0
    regions_failed: int = 0

    def add(self, other: RegionCounts) -> None:
        for name in type(other).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class AccountScan(BaseModel):
    """One account of an organization scan: how it was reached and what its scan found."""

    account: str
    name: str = ""
    role_arn: str = Field(default="", description="The role assumed there; '' for the caller's account")
    status: AccountStatus = "pending"
    error: AccountError | None = Field(default=None, description="Why it was not reached or scanned")
    inventory: Inventory | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> AccountCounts:
        c = AccountCounts()
        if self.inventory is None:
            return c
        for region in self.inventory.regions:
            if region.scanned:
                c.regions += 1
            elif region.status.value == "failed":
                c.regions_failed += 1
            c.add(region.counts)
        return c


class OrgInventory(BaseModel):
    """Everything a scan of several accounts found, one entry per account in id order."""

    format: int = ORG_INVENTORY_FORMAT
    caller: CallerIdentity
    org: bool = Field(description="The accounts came from the organization (--org)")
    assume_role: str = Field(description="The role assumed in each member account")
    excluded: list[str] = Field(default_factory=list, description="Accounts left out (--exclude-accounts)")
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float = 0.0
    account_workers: int = DEFAULT_ACCOUNT_WORKERS
    workers: int = DEFAULT_WORKERS
    accounts: list[AccountScan] = Field(default_factory=list)
    # The session each reached account was scanned through (never serialised): later steps of the same
    # run (a plan, an apply, a watch) reuse it instead of assuming every role again.
    _sessions: dict[str, AwsSession] = PrivateAttr(default_factory=dict)

    def session_of(self, account_id: str) -> AwsSession | None:
        """The session `account_id` was scanned through (its assumed role's, or the caller's own)."""
        return self._sessions.get(account_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def totals(self) -> AccountCounts:
        total = AccountCounts()
        for entry in self.accounts:
            total.add(entry.counts)
        return total

    def account(self, account_id: str) -> AccountScan | None:
        return next((a for a in self.accounts if a.account == account_id), None)

    @property
    def failed(self) -> list[AccountScan]:
        """Accounts not reached or not scanned at all."""
        return [a for a in self.accounts if a.status in ("failed", "unreachable")]

    @property
    def scanned(self) -> list[AccountScan]:
        return [a for a in self.accounts if a.status in ("scanned", "partial")]


def _status(inventory: Inventory) -> AccountStatus:
    todo = [r for r in inventory.regions if r.status.value not in ("skipped", "not-enabled")]
    if todo and all(r.status.value == "failed" for r in todo):
        return "failed"
    if any(r.status.value in ("failed", "partial") for r in todo):
        return "partial"
    return "scanned"


RegionInAccount = Callable[[str, RegionResult], object]


def scan_accounts(
    session: AwsSession,
    selection: AccountSelection,
    *,
    account_workers: int = DEFAULT_ACCOUNT_WORKERS,
    workers: int = DEFAULT_WORKERS,
    include: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
    on_start: Callable[[OrgInventory], object] | None = None,
    on_account: Callable[[AccountScan], object] | None = None,
    on_region: RegionInAccount | None = None,
    cancel: threading.Event | None = None,
) -> OrgInventory:
    """Scan every account of `selection` (see the module docstring).

    * `on_start(org)`: once, from the calling thread, with every account pending.
    * `on_region(account, result)`: per region as it finishes, from a worker thread.
    * `on_account(entry)`: per account as it finishes (or fails to be reached), from a worker thread.
    Callbacks' exceptions are logged and ignored. Raises only for what stops the whole run: bad
    arguments, the caller's own credentials, or --org when the organization cannot be listed.
    """
    if not 1 <= account_workers <= MAX_ACCOUNT_WORKERS:
        raise ValidationFailed(
            f"--account-workers must be between 1 and {MAX_ACCOUNT_WORKERS}, not {account_workers}."
        )
    include_l, skip_l = list(include or []), list(skip or [])
    started_at, t0 = datetime.now(timezone.utc), time.perf_counter()
    me = session.identity()
    members = select_accounts(session, selection)
    org = OrgInventory(
        caller=CallerIdentity(account=me.account, arn=me.arn, user_id=me.user_id, partition=me.partition),
        org=selection.org,
        assume_role=selection.assume_role,
        excluded=list(selection.exclude),
        started_at=started_at,
        account_workers=account_workers,
        workers=workers,
        accounts=[AccountScan(account=m.account, name=m.name) for m in members],
    )
    _call(on_start, org.model_copy(deep=True))
    sessions_lock = threading.Lock()

    def one(member: MemberAccount) -> AccountScan:
        entry = AccountScan(account=member.account, name=member.name)
        if cancel is not None and cancel.is_set():
            entry.status = "cancelled"
            _call(on_account, entry)
            return entry
        access: MemberAccess = reach_account(session, me, member, selection)
        entry.role_arn = access.role_arn
        if access.session is None:
            entry.status, entry.error = "unreachable", access.error
            _call(on_account, entry)
            return entry
        with sessions_lock:
            org._sessions[member.account] = access.session
        try:
            entry.inventory = scan(
                access.session,
                include=include_l or None,
                skip=skip_l or None,
                workers=workers,
                on_region=(lambda r: _call(on_region, member.account, r)) if on_region else None,
                cancel=cancel,
            )
            entry.status = _status(entry.inventory)
        except FlowlogsError as err:  # its credentials or DescribeRegions: this account only
            entry.status, entry.error = "failed", account_error(err)
        except Exception as err:  # a bug, not AWS: keep the other accounts
            log.exception("account %s crashed", member.account)
            entry.status = "failed"
            entry.error = AccountError(kind="error", message=f"{type(err).__name__}: {err}")
        _call(on_account, entry)
        return entry

    with ThreadPoolExecutor(
        max_workers=min(account_workers, len(members)), thread_name_prefix="org-scan"
    ) as pool:
        org.accounts = list(pool.map(one, members))
    org.finished_at = datetime.now(timezone.utc)
    org.duration_s = round(time.perf_counter() - t0, 3)
    return org


def _call(callback: Callable[..., object] | None, *args: object) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # a broken listener must not break the scan
        log.exception("scan callback failed")
