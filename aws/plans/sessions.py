"""The session each change of a plan runs with: the caller's for the plan's own account, a member's session
(through the role the plan names) for a change in another account (plans across accounts).

`AccountSessions(plan, session, sources)` makes each member session once, when the first change of that
account needs it; a member that cannot be reached fails its own changes only. `check_destinations`
verifies, before the first change, that every central bucket a member's logs are aimed at belongs to the
account the plan says (HeadBucket with ExpectedBucketOwner, in that account): a member cannot check
another account's bucket itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from aws.errors import FlowlogsError, ValidationFailed
from aws.session import AwsSession

if TYPE_CHECKING:
    from aws.plans.change import Plan

SessionSource = Callable[[str], AwsSession] | Mapping[str, AwsSession]


class AccountSessions:
    """account -> the session changes in that account run with (made once; failures remembered)."""

    def __init__(self, plan: Plan, session: AwsSession, sources: SessionSource | None) -> None:
        self.account = plan.account
        self._session = session
        self._sources = sources
        self._made: dict[str, AwsSession] = {}
        self._failed: dict[str, FlowlogsError] = {}
        self._lock = threading.Lock()
        others = sorted({plan.account_of(c) for c in plan.changes} - {plan.account, ""})
        if others and sources is None:
            raise ValidationFailed(
                f"This plan changes other accounts than {plan.account} ({', '.join(others)}), and no way to "
                "reach them was given. Nothing was changed.",
                hint="Apply it with `flowlogs apply --plan FILE`: it assumes the role the plan names in each.",
            )

    def __call__(self, account: str) -> AwsSession:
        if not account or account == self.account:
            return self._session
        with self._lock:
            if account in self._made:
                return self._made[account]
            if account in self._failed:
                raise self._failed[account]
            try:
                made = self._make(account)
            except FlowlogsError as err:
                self._failed[account] = err
                raise
            self._made[account] = made
            return made

    def _make(self, account: str) -> AwsSession:
        sources = self._sources
        if isinstance(sources, Mapping):
            if account not in sources:
                raise ValidationFailed(f"No session for account {account} was given.")
            return sources[account]
        assert sources is not None
        return sources(account)


def check_destinations(plan: Plan, sessions: AccountSessions) -> None:
    """Every bucket in another account that a log change of the plan is aimed at is that account's (or is
    created by the plan). Raises ValidationFailed (nothing changed) when one is not."""
    from aws.logs.flowlog_executors import DestinationBasis
    from aws.plans.links import LOG_KINDS, log_destination_bucket
    from aws.s3.state import require_owned

    created: dict[tuple[str, str], str] = {}  # (bucket, account it is created in) -> the change's id
    needs: dict[str, set[str]] = {}  # change id -> every change it depends on, directly or not
    checked: set[tuple[str, str]] = set()
    for change in plan.changes:
        needs[change.id] = set(change.depends_on).union(*(needs.get(d, set()) for d in change.depends_on))
        if change.kind == "s3.create-bucket":
            created[(str(change.params.get("Bucket", "")), plan.account_of(change))] = change.id
        if change.kind not in LOG_KINDS:
            continue
        owner = DestinationBasis.model_validate(change.basis).bucket_owner
        bucket = log_destination_bucket(change)
        if not owner or owner == plan.account_of(change) or not bucket:
            continue
        # A bucket the plan creates in the owner's account is that account's once it exists, and the log
        # change waits for it (a failed creation skips it). Named as created, but not waited for, or
        # created in another account: checked like any other bucket.
        if created.get((bucket, owner)) in needs[change.id]:
            continue
        if (bucket, owner) not in checked:
            require_owned(sessions(owner), bucket, owner)
            checked.add((bucket, owner))
