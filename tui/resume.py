"""The wizard's saved state, so a dropped SSH session (SIGHUP) loses nothing.

After each step and each applied change the app writes one JSON file under the state directory, keyed
by account, endpoint and profile: the inventory with its time, the choices, the applied plans with their
reports, and the apply in flight (its plan, the results so far, the change running and where the audit
log stood when it began). Nothing in it is a credential: sessions are never saved, only what the steps
handed to each other. On the next start against the same account the app offers to resume.

A file that does not validate is treated as absent (and named in the warning the app shows), never
trusted in part.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from aws.audit import AuditLog
from aws.coverage import ReadSet
from aws.inventory import Inventory
from aws.org_scan import OrgInventory
from aws.plans.change import ApplyReport, Change, ChangeResult, Plan
from aws.plans.choices import LogChoices
from aws.s3.strategy import BucketChoice
from tui.state import AppliedPlan, WizardState

RESUME_FORMAT = 1
DEMO_ENDPOINT = "demo"  # the demo's endpoint changes every run (a free port): its state is keyed by this


class SavedApply(BaseModel):
    step: str
    plan: Plan
    report: ApplyReport
    running: str = Field(default="", description="the change in flight when this was saved ('' none)")
    audit_offset: int = Field(default=0, description="the audit log's size when the apply began")


class SavedWizard(BaseModel):
    format: int = RESUME_FORMAT
    account: str
    endpoint: str
    profile: str
    saved_at: AwareDatetime  # with its time zone (a naive one is refused: ages are computed in UTC)
    step: str
    inventory: Inventory | None = None
    org_inventory: OrgInventory | None = None  # --org / --accounts: every account's scan (files before: none)
    target_account: str = ""  # which of them `inventory` is
    bucket_choice: BucketChoice | None = None
    buckets: dict[str, str] = Field(default_factory=dict)
    log_choices: LogChoices = Field(default_factory=LogChoices)
    read_set: ReadSet = Field(default_factory=ReadSet)
    kms_keys: list[str] = Field(default_factory=list)
    kentik_role_arn: str = ""
    external_id: str = ""
    spoke_role: str = ""
    nested_accounts: list[str] = Field(default_factory=list)
    deletion_granted: str = ""
    applied: list[SavedApply] = Field(default_factory=list)
    applying: SavedApply | None = None

    def inventory_age_s(self, now: datetime | None = None) -> float | None:
        """Seconds since the inventory was scanned (None: no inventory)."""
        if self.inventory is None:
            return None
        taken = self.inventory.finished_at or self.inventory.started_at
        if taken.tzinfo is None:
            taken = taken.replace(tzinfo=timezone.utc)
        return ((now or datetime.now(timezone.utc)) - taken).total_seconds()

    def wizard_state(self) -> WizardState:
        """The state the steps hand each other, as saved (an apply in flight is not among `applied`)."""
        return WizardState(
            inventory=self.inventory,
            org_inventory=self.org_inventory,
            target_account=self.target_account,
            bucket_choice=self.bucket_choice,
            buckets=dict(self.buckets),
            log_choices=self.log_choices,
            read_set=self.read_set,
            kms_keys=list(self.kms_keys),
            kentik_role_arn=self.kentik_role_arn,
            external_id=self.external_id,
            spoke_role=self.spoke_role,
            nested_accounts=list(self.nested_accounts),
            deletion_granted=self.deletion_granted,
            applied=[AppliedPlan(step=a.step, plan=a.plan, report=a.report) for a in self.applied],
        )


def snapshot(
    state: WizardState,
    *,
    account: str,
    endpoint: str,
    profile: str,
    step: str,
    applying: SavedApply | None = None,
) -> SavedWizard:
    return SavedWizard(
        account=account,
        endpoint=endpoint,
        profile=profile,
        saved_at=datetime.now(timezone.utc),
        step=step,
        inventory=state.inventory,
        org_inventory=state.org_inventory,
        target_account=state.target_account,
        bucket_choice=state.bucket_choice,
        buckets=dict(state.buckets),
        log_choices=state.log_choices,
        read_set=state.read_set,
        kms_keys=list(state.kms_keys),
        kentik_role_arn=state.kentik_role_arn,
        external_id=state.external_id,
        spoke_role=state.spoke_role,
        nested_accounts=list(state.nested_accounts),
        deletion_granted=state.deletion_granted,
        applied=[SavedApply(step=a.step, plan=a.plan, report=a.report) for a in state.applied],
        applying=applying,
    )


class ResumeStore:
    """Saved wizard states, one file per (account, endpoint, profile) under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, account: str, endpoint: str, profile: str) -> Path:
        key = json.dumps([account, endpoint, profile]).encode()
        return self.root / f"wizard-{hashlib.sha256(key).hexdigest()[:24]}.json"

    def save(self, saved: SavedWizard) -> Path:
        """Write atomically (a crash leaves the previous file whole), readable by the user only."""
        path = self.path(saved.account, saved.endpoint, saved.profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(saved.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def load(self, account: str, endpoint: str, profile: str) -> SavedWizard | None:
        """The saved state for this key; None when there is none. Raises UnreadableState for a file that
        is not a whole, valid saved state (or is another key's)."""
        path = self.path(account, endpoint, profile)
        if not path.exists():
            return None
        try:
            saved = SavedWizard.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError) as err:
            raise UnreadableState(path, str(err).splitlines()[0]) from err
        if saved.format != RESUME_FORMAT or (saved.account, saved.endpoint, saved.profile) != (
            account,
            endpoint,
            profile,
        ):
            raise UnreadableState(path, "it was saved for another account, endpoint or profile")
        return saved

    def any_for(self, endpoint: str, profile: str) -> bool:
        """Whether some account has a saved state for this endpoint and profile (read before the account
        is known: the app then waits for the identity before showing a step)."""
        if not self.root.is_dir():
            return False
        for path in self.root.glob("wizard-*.json"):
            try:
                head = json.loads(path.read_bytes())
            except (OSError, ValueError):
                return True  # unreadable: let load() name it once the account is known
            if isinstance(head, dict) and (head.get("endpoint"), head.get("profile")) == (endpoint, profile):
                return True
        return False

    def discard(self, account: str, endpoint: str, profile: str) -> None:
        self.path(account, endpoint, profile).unlink(missing_ok=True)


class UnreadableState(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"The saved wizard state {path} is unreadable ({reason}); starting fresh.")
        self.path = path


def interrupted_report(applying: SavedApply, audit: AuditLog | None) -> tuple[ApplyReport, str]:
    """The report of an apply the session dropped in the middle of, and a summary for the user: what
    ran (the results saved), the change in flight (failed, with the AWS calls the audit log has for it
    since the apply began: answered, or sent without an answer recorded: outcome unknown), and what
    did not run. Applying the plan again converges: finished changes are satisfied."""
    report = applying.report.model_copy(deep=True)
    running = next((c for c in applying.plan.changes if c.id == applying.running), None)
    calls = [
        c
        for c in (audit.records(since=applying.audit_offset) if audit is not None else [])
        if running is not None and _is_call_of(c, running, applying.plan.account)
    ]
    unanswered = [c.get("operation", "?") for c in calls if c.get("phase") == "intent"]
    answered = [c.get("operation", "?") for c in calls if c.get("phase") == "result"]
    for result in report.results:
        if result.change_id == applying.running:
            _interrupt(result, answered, unanswered)
    report.finished = report.finished or datetime.now(timezone.utc).isoformat(timespec="seconds")
    counts = report.counts()
    done = counts.get("applied", 0) + counts.get("satisfied", 0)
    parts = [f"{done} done", f"{counts.get('not-run', 0)} not run"]
    if applying.running:
        parts.insert(1, f"1 interrupted ({applying.running})")
    if unanswered:
        parts.append(f"AWS calls sent without an answer recorded: {', '.join(unanswered)}")
    summary = (
        f"The last apply ({applying.step}) was interrupted: {'; '.join(parts)}. "
        "Apply the plan again to finish it: changes already in place are skipped."
    )
    return report, summary


def _is_call_of(call: dict[str, object], change: Change, account: str) -> bool:
    """Whether an audit record can be a call of this change: the log is shared by every account,
    profile and flowlogs process on the machine, so only calls to the change's service and region in the
    plan's account are its."""
    from aws.plans.change import executor_class

    service = getattr(executor_class(change.kind), "service", None)
    return (
        call.get("region") in (change.region, None, "")
        and (service is None or call.get("service") == service)
        and (not account or call.get("account") in (account, None, ""))
    )


def _interrupt(result: ChangeResult, answered: list[str], unanswered: list[str]) -> None:
    calls = [f"{op} (answered)" for op in answered] + [f"{op} (outcome unknown)" for op in unanswered]
    result.status = "failed"
    result.error_kind = "interrupted"
    result.detail = "interrupted: the session dropped while this change ran" + (
        f"; AWS calls: {', '.join(calls)}" if calls else "; no AWS call was logged for it"
    )
