"""`merge_policy()`: the minimal, idempotent change that makes a policy document grant `Requirements`.

Nothing is added that the document already grants (wildcards included, via `aws.iam.eval`); flowlogs'
own Sid'd statements are updated in place (a user's own `KMSAccess` statement is extended, never
narrowed); every other statement is left exactly as it was. Explicit Denies and duplicate Sids are
reported as `Problem`s (blocking when the change would not give Kentik access), conditional grants as
notes. The result (`MergeResult`) carries the current and proposed documents, one `StatementChange` per
statement added/changed/removed with a sentence saying what it lets Kentik do, and the `SizeReport`.

Pure: no AWS calls; `current` is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aws.iam.eval import Access, Decision, Policy, Statement, duplicate_sids, evaluate_all, parse_policy
from aws.iam.requirements import (
    DELETE_RISK,
    DELETE_SID,
    KMS_ACTIONS,
    KMS_FALLBACK_SID,
    KMS_NOTE,
    KMS_SID,
    READ_ACTIONS,
    READ_EXISTING_SID,
    READ_SID,
    Requirements,
    SizeReport,
    policy_size,
)


@dataclass(frozen=True)
class StatementChange:
    action: Literal["add", "change", "remove"]
    sid: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    explanation: str


@dataclass(frozen=True)
class Problem:
    message: str
    blocking: bool = False


@dataclass
class MergeResult:
    current: dict[str, Any]
    proposed: dict[str, Any]
    changes: list[StatementChange]
    problems: list[Problem]
    notes: list[str]
    size: SizeReport
    decisions: list[Decision] = field(default_factory=list)  # required accesses vs the current document

    @property
    def noop(self) -> bool:
        return not self.changes

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    def summary(self) -> str:
        if self.noop:
            return "No change needed: the policy already grants everything required."
        n = self.count

        def plural(k: int) -> str:
            return "statement" if k == 1 else "statements"

        return f"adds {n('add')} {plural(n('add'))}, changes {n('change')}, removes {n('remove')}"

    def explanations(self) -> list[str]:
        return [f"{c.sid}: {c.explanation}" for c in self.changes]


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _is_spec_kms(st: Statement) -> bool:
    """A `KMSAccess` statement of the spec's shape (ours to update) rather than someone else's."""
    return (
        st.effect == "Allow"
        and not st.not_action
        and not st.not_resource
        and not st.conditional
        and {a.lower() for a in st.actions} <= {a.lower() for a in KMS_ACTIONS}
        and all(r.startswith("arn:") and ":kms:" in r for r in st.resources)
    )


def _kms_sid(policy: Policy) -> str:
    taken = [st for st in policy.statements if st.sid == KMS_SID]
    if taken and not all(_is_spec_kms(st) for st in taken):
        return KMS_FALLBACK_SID
    return KMS_SID


def _names(items: list[str]) -> str:
    return ", ".join(items) if len(items) <= 3 else f"{', '.join(items[:3])} and {len(items) - 3} more"


def _explain(sid: str, stmt: dict[str, Any], need: Requirements) -> str:
    resources = _as_list(stmt.get("Resource", []))
    if sid == READ_EXISTING_SID:
        places = sorted({r.split(":::", 1)[1].removesuffix("*") for r in resources if "/" in r})
        return (
            f"lets Kentik read the logs that already go to {_names(places)} (s3:Get*, s3:List*; objects "
            "below AWSLogs/ only, no deletion)"
        )
    if sid == READ_SID:
        buckets = sorted({r.split(":::", 1)[1].split("/", 1)[0] for r in resources})
        return (
            f"lets Kentik read the flow/firewall logs in {_names(buckets)} (s3:Get*, s3:List*), "
            "the spec's 'Update IAM Permissions for S3' statement"
        )
    if sid in (KMS_SID, KMS_FALLBACK_SID):
        return (
            f"lets Kentik decrypt SSE-KMS log objects with {_names(resources)} (kms:Decrypt, "
            "kms:DescribeKey), the spec's 'KMSAccess' statement"
        )
    if _as_list(stmt.get("Action", [])) == ["s3:*"]:
        return f"lets Kentik delete old logs (the spec's deletion option, s3:*). Risk: {DELETE_RISK}"
    return "lets Kentik delete old log objects only (s3:DeleteObject), a least-privilege deletion option"


def _desired(
    sid: str,
    actions: list[str],
    wanted: list[str],
    existing: list[Statement],
    keep: bool,
) -> dict[str, Any] | None:
    """Our statement `sid` as it should be: the resources still missing elsewhere (plus, with `keep`,
    those it already lists). An existing statement that already says exactly that is kept verbatim."""
    resources: list[str] = []
    if keep:
        for st in existing:
            if not st.not_resource:
                resources.extend(st.resources)
    resources.extend(wanted)
    resources = list(dict.fromkeys(resources))
    if not resources:
        return None
    if existing:
        first = existing[0]
        if (
            first.effect == "Allow"
            and not first.not_action
            and not first.not_resource
            and not first.conditional
            and set(first.resources) == set(resources)
            and {a.lower() for a in first.actions} == {a.lower() for a in actions}
        ):
            return first.raw
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions if len(actions) > 1 else actions[0],
        "Resource": resources if len(resources) > 1 else resources[0],
    }


def merge_policy(
    current: Any,
    need: Requirements,
    *,
    kind: Literal["managed", "inline"] = "managed",
    other_inline_chars: int = 0,
) -> MergeResult:
    """The minimal document granting `need`, built from `current` (which is never modified).

    Raises `PolicyError` (a `ValidationFailed`) when `current` is not an IAM identity policy. Size is
    reported in `result.size` (callers refuse with `size.require_ok()`), Denies in `result.problems`."""
    policy = parse_policy(current)
    kms_sid = _kms_sid(policy)
    ours = {READ_SID, READ_EXISTING_SID, DELETE_SID, kms_sid}
    others_skip = tuple(ours)
    problems: list[Problem] = []
    notes: list[str] = []

    for sid in duplicate_sids(policy):
        problems.append(
            Problem(
                f"Sid {sid!r} is used by more than one statement; IAM rejects duplicate Sids when the "
                "policy is saved, so fix that first.",
                blocking=sid in ours,
            )
        )
    if policy.version is None or policy.version == "2008-10-17":
        notes.append(
            f"The policy's Version is {policy.version or 'absent (2008-10-17)'}; kept as is (policy "
            "variables would need 2012-10-17, none are used here)."
        )

    decisions = evaluate_all(policy, need.accesses())
    others = evaluate_all(policy, need.accesses(), skip_sids=others_skip)
    by_access = dict(zip(need.accesses(), others, strict=True))

    for d in decisions:
        for st in d.denied_by:
            problems.append(
                Problem(
                    f"{st.label} explicitly denies {d.access}. An Allow cannot override an explicit "
                    "Deny: Kentik stays refused until that Deny is changed.",
                    blocking=True,
                )
            )
        for st in d.conditional_denies:
            problems.append(
                Problem(f"{st.label} denies {d.access} under a condition (not evaluated): check it.")
            )
        for st in d.conditional_allows:
            notes.append(
                f"{st.label} grants {d.access} only under a condition (not evaluated); an "
                "unconditional grant is added."
            )
    # One message per Deny statement and access is enough; keep order.
    problems = list(dict.fromkeys(problems))
    notes = list(dict.fromkeys(notes))

    def missing(accesses: list[Access]) -> list[str]:
        """Resources (in order) for which some required action is not granted by other statements."""
        return list(dict.fromkeys(a.resource for a in accesses if not by_access[a].allowed))

    existing = {sid: [st for st in policy.statements if st.sid == sid] for sid in ours}
    wanted: dict[str, dict[str, Any] | None] = {
        READ_SID: _desired(
            READ_SID,
            list(READ_ACTIONS),
            missing(need.read_accesses()),
            existing[READ_SID],
            need.keep_existing,
        ),
        READ_EXISTING_SID: _desired(
            READ_EXISTING_SID,
            list(READ_ACTIONS),
            missing(need.existing_accesses()),
            existing[READ_EXISTING_SID],
            need.keep_existing,
        ),
    }
    # A "KMSAccess" statement may be the user's own copy of the spec's block: it is extended, never
    # narrowed or dropped. Only our fallback Sid is replaced outright when keep_existing is off.
    keep_kms = need.keep_existing or kms_sid == KMS_SID
    if need.kms_keys:
        wanted[kms_sid] = _desired(
            kms_sid, list(KMS_ACTIONS), missing(need.kms_accesses()), existing[kms_sid], keep_kms
        )
    elif keep_kms:  # no key requested: an existing KMS statement stays exactly as it is
        wanted[kms_sid] = existing[kms_sid][0].raw if existing[kms_sid] else None
    else:
        wanted[kms_sid] = None
    if need.allow_delete or need.allow_delete_objects:
        delete_actions = ["s3:*"] if need.allow_delete else ["s3:DeleteObject"]
        prior = [st for st in existing[DELETE_SID] if list(st.actions) == delete_actions]
        wanted[DELETE_SID] = _desired(
            DELETE_SID, delete_actions, missing(need.delete_accesses()), prior, need.keep_existing
        )
    elif need.keep_existing:
        wanted[DELETE_SID] = existing[DELETE_SID][0].raw if existing[DELETE_SID] else None
    else:
        wanted[DELETE_SID] = None
    if need.allow_delete:
        notes.append(f"Deletion with s3:* was requested. {DELETE_RISK}")
    if need.kms_keys:
        notes.append(KMS_NOTE)

    changes: list[StatementChange] = []
    new_statements: list[dict[str, Any]] = []
    placed: set[str] = set()
    for st in policy.statements:
        if st.sid in ours:
            sid = st.sid
            if sid in placed:  # a duplicate of our Sid: left alone (reported above)
                new_statements.append(st.raw)
                continue
            placed.add(sid)
            after = wanted[sid]
            if after is None:
                changes.append(StatementChange("remove", sid, st.raw, None, "no longer requested"))
                continue
            new_statements.append(after)
            if after != st.raw:
                changes.append(StatementChange("change", sid, st.raw, after, _explain(sid, after, need)))
        else:
            new_statements.append(st.raw)
    for sid in (READ_SID, READ_EXISTING_SID, kms_sid, DELETE_SID):
        after = wanted.get(sid)
        if after is not None and sid not in placed:
            new_statements.append(after)
            changes.append(StatementChange("add", sid, None, after, _explain(sid, after, need)))

    if changes:
        proposed = {k: v for k, v in policy.raw.items()}
        proposed["Statement"] = (
            new_statements if (policy.statement_is_list or len(new_statements) != 1) else new_statements[0]
        )
    else:
        proposed = policy.raw
    size = SizeReport(policy_size(proposed), kind, other_inline_chars if kind == "inline" else 0)
    return MergeResult(
        current=policy.raw,
        proposed=proposed,
        changes=changes,
        problems=problems,
        notes=notes,
        size=size,
        decisions=decisions,
    )
