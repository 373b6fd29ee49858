"""Applying a proposal and undoing it: the rollback record, where it is kept, and the rollback Changes.

* `apply_proposal()`: apply a `PolicyProposal`'s plan and return (report, `RollbackRecord`), saving the
  record with `save_rollback()` when given the records file; the viewer, whose plan review applies,
  calls `save_rollback()` itself afterwards. Records are JSON lines next to the audit log
  (`records_path`), appended (`save_record`); the newest for a policy wins (`load_record`).
* `rollback_plan()`: what undoes the last applied change: the saved record, else (managed policies
  only) the version created before the current default (`infer_rollback`); `rollback_changes()` turns
  a record into the Change (SetDefaultPolicyVersion, or a destructive RestoreRolePolicy of the previous
  inline document), which refuses at apply when the policy moved on since; `rollback()` applies it.

No AWS calls of its own: the executors (aws.iam.executors) make them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from aws.errors import ValidationFailed
from aws.iam.diff import pretty_json
from aws.iam.documents import PolicyTarget, version_order
from aws.iam.executors import RestoreRolePolicyExecutor, SetDefaultPolicyVersionExecutor
from aws.iam.proposal import PolicyProposal
from aws.plans.change import ApplyReport, Change, Plan, apply_plan
from aws.session import AwsSession


@dataclass
class RollbackRecord:
    """What undoing an applied policy change needs. Saved by the CLI/TUI after a successful apply."""

    kind: Literal["managed", "inline"]
    key: str  # PolicyTarget.key
    account: str
    applied_at: str
    policy_arn: str | None = None
    applied_version_id: str | None = None
    previous_version_id: str | None = None
    role_name: str | None = None
    policy_name: str | None = None
    applied_sha256: str | None = None
    previous_document: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RollbackRecord:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def record_from_report(target: PolicyTarget, report: ApplyReport) -> RollbackRecord | None:
    """The rollback record of an applied proposal (None when nothing was applied)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for result in report.results:
        out = result.outputs
        if result.status != "applied":
            continue
        if result.change_id.startswith("iam.create-policy-version:") and out.get("PreviousDefaultVersionId"):
            return RollbackRecord(
                kind="managed",
                key=target.key,
                account=target.account,
                applied_at=now,
                policy_arn=out["PolicyArn"],
                applied_version_id=out["VersionId"],
                previous_version_id=out["PreviousDefaultVersionId"],
            )
        if result.change_id.startswith("iam.put-role-policy:") and out.get("PreviousDocument"):
            return RollbackRecord(
                kind="inline",
                key=target.key,
                account=target.account,
                applied_at=now,
                role_name=out["RoleName"],
                policy_name=out["PolicyName"],
                applied_sha256=out["DocumentSha256"],
                previous_document=json.loads(out["PreviousDocument"]),
            )
    return None


def save_rollback(path: Path, target: PolicyTarget, report: ApplyReport) -> RollbackRecord | None:
    """After an apply of `target`'s proposal: its rollback record, appended to `path` (None, and nothing
    saved, when nothing was applied). The viewer calls it once its plan review has applied."""
    record = record_from_report(target, report)
    if record is not None:
        save_record(path, record)
    return record


def apply_proposal(
    session: AwsSession,
    proposal: PolicyProposal,
    *,
    confirm_destructive: bool = False,
    records: Path | None = None,
) -> tuple[ApplyReport, RollbackRecord | None]:
    """Apply the proposal's Changes (re-checking for concurrent edits) and return the rollback record,
    saved to `records` (`save_rollback`) when given."""
    report = apply_plan(proposal.plan(), session, confirm_destructive=confirm_destructive)
    if records is None:
        return report, record_from_report(proposal.target, report)
    return report, save_rollback(records, proposal.target, report)


def infer_rollback(session: AwsSession, target: PolicyTarget) -> RollbackRecord:
    """Without a saved record (managed policies only): the version created just before the current
    default, which is the previous default when each version was made default on creation (as
    CreatePolicyVersion with SetAsDefault does)."""
    if target.kind != "managed" or not target.policy_arn:
        raise ValidationFailed(
            f"No rollback record for {target.label}; an inline policy can only be rolled back from the "
            "record saved when flowlogs applied it."
        )
    ordered = sorted(target.versions, key=version_order)
    index = next(i for i, v in enumerate(ordered) if v.version_id == target.version_id)
    if index == 0:
        raise ValidationFailed(
            f"{target.policy_arn} has no version older than its default {target.version_id}."
        )
    return RollbackRecord(
        kind="managed",
        key=target.key,
        account=target.account,
        applied_at="",
        policy_arn=target.policy_arn,
        applied_version_id=target.version_id,
        previous_version_id=ordered[index - 1].version_id,
    )


def rollback_changes(session: AwsSession, record: RollbackRecord) -> list[Change]:
    """The Change that undoes an applied policy change; refuses (at apply) if the policy moved on since."""
    region = session.home_region
    if record.kind == "managed":
        assert record.policy_arn and record.previous_version_id and record.applied_version_id
        return [
            Change(
                id=f"iam.set-default-policy-version:{record.policy_arn}",
                kind=SetDefaultPolicyVersionExecutor.kind,
                title=f"Roll back {record.policy_arn}: make {record.previous_version_id} the default again "
                f"(instead of {record.applied_version_id})",
                reason="Undo the Kentik S3 permissions change (the newer version is kept, not deleted).",
                target=record.policy_arn,
                service="iam",
                region=region,
                operation="SetDefaultPolicyVersion",
                params={
                    "PolicyArn": record.policy_arn,
                    "VersionId": record.previous_version_id,
                    "Precondition": {"DefaultVersionId": record.applied_version_id},
                },
                group="iam",
            )
        ]
    assert record.role_name and record.policy_name and record.previous_document is not None
    return [
        Change(
            id=f"iam.restore-role-policy:{record.role_name}/{record.policy_name}",
            kind=RestoreRolePolicyExecutor.kind,
            title=f"Roll back inline policy {record.policy_name} of role {record.role_name} to its previous document",
            reason="Undo the Kentik S3 permissions change.",
            target=f"arn:{session.partition}:iam::{record.account}:role/{record.role_name}",
            service="iam",
            region=region,
            operation="PutRolePolicy",
            params={
                "RoleName": record.role_name,
                "PolicyName": record.policy_name,
                "PolicyDocument": pretty_json(record.previous_document),
                "Precondition": {"DocumentSha256": record.applied_sha256},
            },
            group="iam",
        )
    ]


def rollback_plan(
    session: AwsSession,
    target: PolicyTarget,
    records: Path,
    *,
    record: RollbackRecord | None = None,
    account: str = "",
) -> Plan:
    """The Plan undoing the last change flowlogs applied to `target`: from `record`, else the newest one
    saved in `records` for it (in `account`, default the target's), else inferred (`infer_rollback`,
    managed policies only; `ValidationFailed` otherwise)."""
    found = (
        record
        or load_record(records, target.key, account or target.account)
        or infer_rollback(session, target)
    )
    return Plan(account=found.account, changes=rollback_changes(session, found))


def rollback(
    session: AwsSession, record: RollbackRecord, *, confirm_destructive: bool = False
) -> ApplyReport:
    """Undo an applied change (SetDefaultPolicyVersion, or PutRolePolicy of the previous document)."""
    plan = Plan(account=record.account, changes=rollback_changes(session, record))
    return apply_plan(plan, session, confirm_destructive=confirm_destructive)


RECORDS_FILE = "policy-rollback.jsonl"


def records_path(audit_path: Path) -> Path:
    """Where the rollback records are kept: next to the audit log."""
    return audit_path.with_name(RECORDS_FILE)


def save_record(path: Path, record: RollbackRecord) -> None:
    """Append a rollback record (JSON lines); the newest record for a policy wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(record.to_json() + "\n")


def load_record(path: Path, key: str, account: str = "") -> RollbackRecord | None:
    if not path.exists():
        return None
    found = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = RollbackRecord.from_dict(json.loads(line))
        except (ValueError, TypeError):
            continue
        if record.key == key and (not account or record.account == account):
            found = record
    return found
