"""The one change to the customer's security boundary: the Kentik role's policy.

* `Requirements` + `merge_policy()`: the statements the spec asks for (read the log buckets, the
  `KMSAccess` statement, optional deletion), merged minimally and idempotently into the current document:
  nothing is added that the document already grants (wildcards included, explicit Denies reported),
  our own Sid'd statements are updated in place, every other statement is left exactly as it was.
* `policy_size()` / `SizeReport`: size as AWS counts it (no whitespace outside strings) against the
  managed (6,144) or the role's total inline (10,240) limit.
* `find_policy()` / `nested_targets()`: where the policy lives (standard and
  nested configurations).
* `policy_diff()` / `side_by_side()` / `unified_text()`: the diff the viewer and the CLI show.
* Changes + Executors: CreatePolicyVersion (rotating the oldest non-default version at 5, as a separate
  destructive Change), PutRolePolicy, and their rollbacks; each re-reads the policy right before applying
  and refuses when it changed since the diff was computed (no lost update).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from aws.errors import FlowlogsError, ValidationFailed, error_code, explain
from aws.iam_eval import (
    Access,
    Decision,
    Policy,
    Statement,
    action_granted,
    duplicate_sids,
    evaluate_all,
    parse_policy,
)
from aws.names import parse_kms_key_arn, validate_bucket_name
from aws.permissions import declare
from aws.plan import ApplyReport, Change, Executor, Params, Plan, StaleChange, apply_plan
from aws.session import AwsSession, partition_of

PERMISSIONS = declare(
    __name__,
    read=[
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
    ],
    apply=[
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:PutRolePolicy",
    ],
    notes="iam:DeletePolicyVersion only when a managed policy already has 5 versions and you confirm.",
)

READ_SID = "KentikFlowLogsRead"
READ_EXISTING_SID = "KentikFlowLogsReadExisting"  # existing log buckets: read only, below prefix/AWSLogs/
KMS_SID = "KMSAccess"  # the spec's Sid
KMS_FALLBACK_SID = "KentikFlowLogsKMS"  # used when a different statement already has Sid KMSAccess
DELETE_SID = "KentikFlowLogsDelete"
OUR_SIDS = (READ_SID, READ_EXISTING_SID, KMS_SID, KMS_FALLBACK_SID, DELETE_SID)

MANAGED_POLICY_LIMIT = 6144
INLINE_ROLE_TOTAL_LIMIT = 10240
MAX_POLICY_VERSIONS = 5

READ_ACTIONS = ("s3:Get*", "s3:List*")
KMS_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
# What the metadata policy grants (Kentik's metadata configuration): used to pick the right policy.
METADATA_ACTIONS = (
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "network-firewall:Describe*",
    "network-firewall:List*",
    "directconnect:Describe*",
    "cloudwatch:GetMetricData",
)

STALE = "policy changed since the diff was shown; refresh"
KMS_NOTE = (
    "The spec's prose also names kms:GenerateDataKey; Kentik only reads, so kms:Decrypt and "
    "kms:DescribeKey are enough. The log writer's key permissions belong in the key policy."
)
DELETE_RISK = (
    "s3:* also lets Kentik's role delete the bucket and change its policy, encryption and lifecycle; "
    "prefer --allow-delete-objects (s3:DeleteObject on the objects only)."
)


# -- requirements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    """What Kentik's role needs. `keep_existing`: buckets/keys already in our own statements stay (a
    re-run with other buckets adds them); False makes our statements exactly this set."""

    buckets: tuple[str, ...]
    kms_keys: tuple[str, ...] = ()
    allow_delete: bool = False
    allow_delete_objects: bool = False
    partition: str = "aws"
    keep_existing: bool = True
    existing: tuple[tuple[str, str], ...] = ()  # (bucket, prefix) of existing log buckets: read-only

    def __post_init__(self) -> None:
        object.__setattr__(self, "buckets", tuple(dict.fromkeys(self.buckets)))
        object.__setattr__(self, "kms_keys", tuple(dict.fromkeys(self.kms_keys)))
        existing = tuple((b, p.strip("/")) for b, p in self.existing if b not in self.buckets)
        object.__setattr__(self, "existing", tuple(dict.fromkeys(existing)))
        if not self.buckets and not self.existing:
            raise ValidationFailed("Name at least one log bucket.")
        for bucket in [*self.buckets, *(b for b, _ in self.existing)]:
            if validate_bucket_name(bucket):
                raise ValidationFailed(f"{bucket!r} is not a valid S3 bucket name.")
        for key in self.kms_keys:
            if parse_kms_key_arn(key) is None:
                raise ValidationFailed(
                    f"{key!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; an alias "
                    "ARN does not authorize use of the key)."
                )
        if self.allow_delete and self.allow_delete_objects:
            raise ValidationFailed("Choose either allow_delete (s3:*) or allow_delete_objects, not both.")

    def bucket_arns(self, bucket: str) -> tuple[str, str]:
        return (f"arn:{self.partition}:s3:::{bucket}", f"arn:{self.partition}:s3:::{bucket}/*")

    def existing_arns(self, bucket: str, prefix: str) -> tuple[str, str]:
        """The bucket, and its log objects only: `prefix/AWSLogs/*` (`AWSLogs/*` without a prefix)."""
        logs = f"{prefix}/AWSLogs/*" if prefix else "AWSLogs/*"
        return (f"arn:{self.partition}:s3:::{bucket}", f"arn:{self.partition}:s3:::{bucket}/{logs}")

    def read_accesses(self) -> list[Access]:
        return [Access(a, r) for b in self.buckets for r in self.bucket_arns(b) for a in READ_ACTIONS]

    def existing_accesses(self) -> list[Access]:
        return [
            Access(a, r) for b, p in self.existing for r in self.existing_arns(b, p) for a in READ_ACTIONS
        ]

    def kms_accesses(self) -> list[Access]:
        return [Access(a, k) for k in self.kms_keys for a in KMS_ACTIONS]

    def delete_accesses(self) -> list[Access]:
        if self.allow_delete:
            return [Access("s3:*", r) for b in self.buckets for r in self.bucket_arns(b)]
        if self.allow_delete_objects:
            return [Access("s3:DeleteObject", self.bucket_arns(b)[1]) for b in self.buckets]
        return []

    def accesses(self) -> list[Access]:
        return self.read_accesses() + self.existing_accesses() + self.kms_accesses() + self.delete_accesses()


# -- size ------------------------------------------------------------------------------------------


def compact_json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def policy_size(doc: Any) -> int:
    """Characters as IAM counts them against its limits: no whitespace outside strings."""
    return len(compact_json(doc))


def document_sha256(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class SizeReport:
    chars: int
    kind: Literal["managed", "inline"] = "managed"
    other_inline_chars: int = 0  # the role's other inline policies (inline only)

    @property
    def limit(self) -> int:
        return MANAGED_POLICY_LIMIT if self.kind == "managed" else INLINE_ROLE_TOTAL_LIMIT

    @property
    def total(self) -> int:
        return self.chars + (self.other_inline_chars if self.kind == "inline" else 0)

    @property
    def ok(self) -> bool:
        return self.total <= self.limit

    def describe(self) -> str:
        if self.kind == "managed":
            what = "managed policy"
        else:
            what = f"role's inline policies in total (this one {self.chars:,})"
        return f"{self.total:,} of {self.limit:,} characters ({what}, whitespace excluded)"

    def require_ok(self) -> None:
        if not self.ok:
            raise ValidationFailed(
                f"The proposed policy is too large: {self.describe()}. Nothing was changed.",
                hint="Remove unneeded statements or move some into another managed policy.",
            )


# -- merge -----------------------------------------------------------------------------------------


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


# -- diff ------------------------------------------------------------------------------------------


def pretty_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class DiffLine:
    marker: Literal[" ", "+", "-"]
    text: str
    old_no: int | None  # 1-based line number in the current document
    new_no: int | None  # 1-based line number in the proposed document

    @property
    def kind(self) -> Literal["same", "add", "remove"]:
        return {" ": "same", "+": "add", "-": "remove"}[self.marker]  # type: ignore[return-value]


def policy_diff(current: Any, proposed: Any) -> list[DiffLine]:
    """Full-context line diff of the pretty-printed documents (every line, marked)."""
    old = pretty_json(current).splitlines()
    new = pretty_json(proposed).splitlines()
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(DiffLine(" ", old[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2))
            continue
        out.extend(DiffLine("-", old[i], i + 1, None) for i in range(i1, i2))
        out.extend(DiffLine("+", new[j], None, j + 1) for j in range(j1, j2))
    return out


def side_by_side(lines: Sequence[DiffLine]) -> list[tuple[DiffLine | None, DiffLine | None]]:
    """Rows (left=current, right=proposed): equal lines side by side, a run of removals paired with
    the run of additions that follows it, the shorter side padded with None."""
    rows: list[tuple[DiffLine | None, DiffLine | None]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.marker == " ":
            rows.append((line, line))
            i += 1
            continue
        removed: list[DiffLine] = []
        added: list[DiffLine] = []
        while i < len(lines) and lines[i].marker == "-":
            removed.append(lines[i])
            i += 1
        while i < len(lines) and lines[i].marker == "+":
            added.append(lines[i])
            i += 1
        for k in range(max(len(removed), len(added))):
            rows.append((removed[k] if k < len(removed) else None, added[k] if k < len(added) else None))
    return rows


def unified_text(
    lines: Sequence[DiffLine], *, context: int = 3, fromfile: str = "current", tofile: str = "proposed"
) -> str:
    """Classic unified diff text with hunks (empty when nothing changed)."""
    if all(line.marker == " " for line in lines):
        return ""
    changed = [i for i, line in enumerate(lines) if line.marker != " "]
    hunks: list[tuple[int, int]] = []
    for i in changed:
        lo, hi = max(0, i - context), min(len(lines), i + context + 1)
        if hunks and lo <= hunks[-1][1]:
            hunks[-1] = (hunks[-1][0], max(hi, hunks[-1][1]))
        else:
            hunks.append((lo, hi))
    out = [f"--- {fromfile}", f"+++ {tofile}"]
    for lo, hi in hunks:
        part = lines[lo:hi]
        old = [ln for ln in part if ln.marker != "+"]
        new = [ln for ln in part if ln.marker != "-"]
        old_start = next((ln.old_no for ln in old), None) or _before(lines, lo, "old")
        new_start = next((ln.new_no for ln in new), None) or _before(lines, lo, "new")
        out.append(f"@@ -{old_start},{len(old)} +{new_start},{len(new)} @@")
        out.extend(f"{ln.marker}{ln.text}" for ln in part)
    return "\n".join(out)


def _before(lines: Sequence[DiffLine], index: int, side: str) -> int:
    for ln in reversed(lines[:index]):
        no = ln.old_no if side == "old" else ln.new_no
        if no is not None:
            return no
    return 0


# -- finding the policy ----------------------------------------------------------------------------


def _decode_document(value: Any) -> dict[str, Any]:
    """IAM returns documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, str):
        value = json.loads(urllib.parse.unquote(value))
    if not isinstance(value, dict):
        raise FlowlogsError("IAM returned a policy document that is not a JSON object.")
    return value


def _iam(session: AwsSession) -> Any:
    return session.client("iam")


def _aws(call: Any, **params: Any) -> Any:
    try:
        return call(**params)
    except ClientError as err:
        raise explain(err, service="iam") from err


@dataclass(frozen=True)
class PolicyVersionInfo:
    version_id: str
    is_default: bool
    created: datetime | None


@dataclass
class PolicyTarget:
    """One policy to change, with the document the diff is computed from."""

    kind: Literal["managed", "inline"]
    policy_name: str
    document: dict[str, Any]
    role_name: str | None = None
    policy_arn: str | None = None  # managed only
    version_id: str | None = None  # managed: the default version the document came from
    versions: list[PolicyVersionInfo] = field(default_factory=list)
    other_inline_chars: int = 0  # inline: the role's other inline policies
    account: str = ""
    score: int = 0

    @property
    def sha256(self) -> str:
        return document_sha256(self.document)

    @property
    def key(self) -> str:
        return self.policy_arn or f"role/{self.role_name}/inline/{self.policy_name}"

    @property
    def label(self) -> str:
        if self.kind == "managed":
            return f"managed policy {self.policy_arn} (default version {self.version_id})"
        return f"inline policy {self.policy_name} of role {self.role_name}"


class PolicyChoiceNeeded(ValidationFailed):
    """The role holds several plausible policies (or none): the user has to choose."""

    def __init__(self, message: str, candidates: list[PolicyTarget], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.candidates = candidates


def _versions(iam: Any, arn: str) -> list[PolicyVersionInfo]:
    out = []
    for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn):
        for v in page["Versions"]:
            out.append(PolicyVersionInfo(v["VersionId"], bool(v["IsDefaultVersion"]), v.get("CreateDate")))
    return out


def load_managed(session: AwsSession, policy_arn: str, *, role_name: str | None = None) -> PolicyTarget:
    iam = _iam(session)
    meta = _aws(iam.get_policy, PolicyArn=policy_arn)["Policy"]
    version_id = meta["DefaultVersionId"]
    doc = _aws(iam.get_policy_version, PolicyArn=policy_arn, VersionId=version_id)["PolicyVersion"]
    return PolicyTarget(
        kind="managed",
        policy_name=meta["PolicyName"],
        document=_decode_document(doc["Document"]),
        role_name=role_name,
        policy_arn=policy_arn,
        version_id=version_id,
        versions=_versions(iam, policy_arn),
        account=policy_arn.split(":")[4],
    )


def _inline_docs(session: AwsSession, role_name: str) -> dict[str, dict[str, Any]]:
    iam = _iam(session)
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        names.extend(page["PolicyNames"])
    return {
        n: _decode_document(_aws(iam.get_role_policy, RoleName=role_name, PolicyName=n)["PolicyDocument"])
        for n in names
    }


def load_inline(session: AwsSession, role_name: str, policy_name: str) -> PolicyTarget:
    docs = _inline_docs(session, role_name)
    if policy_name not in docs:
        raise ValidationFailed(f"Role {role_name} has no inline policy named {policy_name!r}.")
    return _inline_target(session, role_name, policy_name, docs)


def _inline_target(
    session: AwsSession, role_name: str, policy_name: str, docs: dict[str, dict[str, Any]]
) -> PolicyTarget:
    role = _aws(_iam(session).get_role, RoleName=role_name)["Role"]
    return PolicyTarget(
        kind="inline",
        policy_name=policy_name,
        document=docs[policy_name],
        role_name=role_name,
        other_inline_chars=sum(policy_size(d) for n, d in docs.items() if n != policy_name),
        account=role["Arn"].split(":")[4],
    )


def _score(doc: dict[str, Any]) -> int:
    """How much a document looks like the Kentik metadata policy (our Sids win outright)."""
    try:
        policy = parse_policy(doc)
    except ValidationFailed:
        return 0
    if any(st.sid in (READ_SID, READ_EXISTING_SID, DELETE_SID, KMS_FALLBACK_SID) for st in policy.statements):
        return 100
    return sum(1 for pattern in METADATA_ACTIONS if action_granted(policy, pattern))


def role_policies(session: AwsSession, role_name: str) -> list[PolicyTarget]:
    """The role's customer-managed and inline policies, each scored (`score`) as the metadata policy."""
    iam = _iam(session)
    out: list[PolicyTarget] = []
    attached: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        attached.extend(p["PolicyArn"] for p in page["AttachedPolicies"])
    for arn in attached:
        if arn.split(":")[4] == "aws":  # AWS-managed: can't be edited
            continue
        target = load_managed(session, arn, role_name=role_name)
        target.score = _score(target.document)
        out.append(target)
    docs = _inline_docs(session, role_name)
    for name in docs:
        target = _inline_target(session, role_name, name, docs)
        target.score = _score(target.document)
        out.append(target)
    return out


def find_policy(
    session: AwsSession,
    *,
    role_name: str | None = None,
    policy_arn: str | None = None,
    policy_name: str | None = None,
) -> PolicyTarget:
    """The policy to change: the managed policy `policy_arn`, the inline `policy_name` of `role_name`,
    or the one policy of `role_name` holding the metadata permissions. Raises `PolicyChoiceNeeded`
    (with `.candidates`) when that is ambiguous or the role has no policy we could edit."""
    try:
        if policy_arn:
            return load_managed(session, policy_arn, role_name=role_name)
        if not role_name:
            raise ValidationFailed("Name the role (--role) or the policy (--policy-arn).")
        if policy_name:
            return load_inline(session, role_name, policy_name)
        candidates = role_policies(session, role_name)
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            what = f"Policy {policy_arn}" if policy_arn else f"Role {role_name}"
            raise ValidationFailed(f"{what} was not found in this account.") from err
        raise explain(err, service="iam") from err
    except FlowlogsError as err:
        cause = err.__cause__
        if isinstance(cause, ClientError) and error_code(cause) == "NoSuchEntity":
            what = f"Policy {policy_arn}" if policy_arn else f"Role {role_name}"
            raise ValidationFailed(f"{what} was not found in this account.") from err
        raise
    if not candidates:
        raise PolicyChoiceNeeded(
            f"Role {role_name} has no customer-managed or inline policy to add the S3 permissions to.",
            [],
            hint="Attach the metadata policy first (Kentik's Metadata Configuration), or pass --policy-arn.",
        )
    if len(candidates) == 1:
        return candidates[0]
    best = max(c.score for c in candidates)
    top = [c for c in candidates if c.score == best]
    if best > 0 and len(top) == 1:
        return top[0]
    listing = "; ".join(c.policy_arn or f"inline {c.policy_name}" for c in candidates)
    raise PolicyChoiceNeeded(
        f"Role {role_name} has several policies and none stands out as the metadata policy: {listing}.",
        candidates,
        hint="Choose one with --policy-arn ARN or --policy-name INLINE-NAME.",
    )


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
    for account in accounts:
        role_arn = f"arn:{session.partition}:iam::{account}:role/{assume_role_name}"
        item = NestedTarget(account=account, role_arn=role_arn)
        try:
            item.session = session.assume_role(role_arn, external_id=external_id)
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


# -- proposal and changes --------------------------------------------------------------------------


@dataclass
class PolicyProposal:
    """Everything the viewer shows for one policy: target, merge, diff, and the Changes to apply."""

    target: PolicyTarget
    merge: MergeResult
    changes: list[Change]

    @property
    def diff(self) -> list[DiffLine]:
        return policy_diff(self.merge.current, self.merge.proposed)

    @property
    def rotation(self) -> Change | None:
        return next((c for c in self.changes if c.kind == DeletePolicyVersionExecutor.kind), None)


def _version_order(v: PolicyVersionInfo) -> tuple[datetime, int]:
    created = v.created or datetime.min.replace(tzinfo=timezone.utc)
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    digits = re.sub(r"\D", "", v.version_id)
    return created, int(digits) if digits else 0


def oldest_non_default(versions: Sequence[PolicyVersionInfo]) -> PolicyVersionInfo | None:
    candidates = sorted((v for v in versions if not v.is_default), key=_version_order)
    return candidates[0] if candidates else None


def requirements_basis(need: Requirements) -> dict[str, Any]:
    """The basis of a policy change: the requirements its document is derived from."""
    return RequirementsBasis(
        buckets=list(need.buckets),
        kms_keys=list(need.kms_keys),
        allow_delete=need.allow_delete,
        allow_delete_objects=need.allow_delete_objects,
        partition=need.partition,
        keep_existing=need.keep_existing,
        existing=[ExistingBasis(bucket=b, prefix=p) for b, p in need.existing],
    ).model_dump()


def changes_for(
    target: PolicyTarget, merge: MergeResult, need: Requirements, *, region: str, partition: str | None = None
) -> list[Change]:
    """The Changes that turn `target` into `merge.proposed` (none for a no-op). Refuses when too large.
    `partition`: of the ARNs built here (default: the region's)."""
    if merge.noop:
        return []
    partition = partition or partition_of(region)
    merge.size.require_ok()
    document = pretty_json(merge.proposed)
    basis = requirements_basis(need)
    reason = "Spec 'Update IAM Permissions for S3': " + merge.summary()
    if target.kind == "inline":
        assert target.role_name
        return [
            Change(
                id=f"iam.put-role-policy:{target.role_name}/{target.policy_name}",
                kind=PutRolePolicyExecutor.kind,
                title=f"Update inline policy {target.policy_name} of role {target.role_name}",
                reason=reason,
                target=f"arn:{partition}:iam::{target.account}:role/{target.role_name}",
                service="iam",
                region=region,
                operation="PutRolePolicy",
                params={
                    "RoleName": target.role_name,
                    "PolicyName": target.policy_name,
                    "PolicyDocument": document,
                    "Precondition": {"DocumentSha256": target.sha256},
                },
                basis=basis,
                group="iam",
            )
        ]
    assert target.policy_arn and target.version_id
    out: list[Change] = []
    depends: list[str] = []
    if len(target.versions) >= MAX_POLICY_VERSIONS:
        oldest = oldest_non_default(target.versions)
        if oldest is None:
            raise ValidationFailed(
                f"{target.policy_arn} has {len(target.versions)} versions, none deletable."
            )
        created = f", created {oldest.created:%Y-%m-%d %H:%M}" if oldest.created else ""
        rotate = Change(
            id=f"iam.delete-policy-version:{target.policy_arn}:{oldest.version_id}",
            kind=DeletePolicyVersionExecutor.kind,
            title=f"Delete version {oldest.version_id} (oldest non-default{created}) of {target.policy_name}",
            reason=f"A managed policy keeps at most {MAX_POLICY_VERSIONS} versions; the new version needs a free slot.",
            target=target.policy_arn,
            service="iam",
            region=region,
            operation="DeletePolicyVersion",
            params={
                "PolicyArn": target.policy_arn,
                "VersionId": oldest.version_id,
                "Precondition": {
                    "DefaultVersionId": target.version_id,
                    "DocumentSha256": target.sha256,
                    # no slot is needed when a version with the new document already exists (reused)
                    "WantedDocumentSha256": document_sha256(merge.proposed),
                },
            },
            group="iam",
        )
        out.append(rotate)
        depends.append(rotate.id)
    out.append(
        Change(
            id=f"iam.create-policy-version:{target.policy_arn}",
            kind=CreatePolicyVersionExecutor.kind,
            title=f"New default version of {target.policy_name} (replacing {target.version_id})",
            reason=reason,
            target=target.policy_arn,
            service="iam",
            region=region,
            operation="CreatePolicyVersion",
            params={
                "PolicyArn": target.policy_arn,
                "PolicyDocument": document,
                "SetAsDefault": True,
                "Precondition": {"DefaultVersionId": target.version_id, "DocumentSha256": target.sha256},
            },
            basis=basis,
            depends_on=depends,
            group="iam",
        )
    )
    return out


def propose(session: AwsSession, target: PolicyTarget, need: Requirements) -> PolicyProposal:
    merge = merge_policy(
        target.document, need, kind=target.kind, other_inline_chars=target.other_inline_chars
    )
    changes = changes_for(target, merge, need, region=session.home_region, partition=session.partition)
    return PolicyProposal(target, merge, changes)


def prepare(
    session: AwsSession,
    need: Requirements,
    *,
    role_name: str | None = None,
    policy_arn: str | None = None,
    policy_name: str | None = None,
) -> PolicyProposal:
    """Find the policy and compute its proposal (merge, diff, Changes)."""
    return propose(
        session,
        find_policy(session, role_name=role_name, policy_arn=policy_arn, policy_name=policy_name),
        need,
    )


def policy_changes(
    session: AwsSession,
    need: Requirements,
    *,
    role_name: str | None = None,
    policy_arn: str | None = None,
    policy_name: str | None = None,
) -> list[Change]:
    """The policy Changes for `flowlogs plan --role/--policy-arn` (empty when nothing is needed)."""
    return prepare(session, need, role_name=role_name, policy_arn=policy_arn, policy_name=policy_name).changes


# -- executors -------------------------------------------------------------------------------------


_POLICY_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):policy/[\w+=,.@/-]{1,512}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_VERSION_ID = re.compile(r"^v[1-9]\d{0,5}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ExistingBasis(Params):
    bucket: str
    prefix: str = ""


class RequirementsBasis(Params):
    """What Kentik's role needs (`Requirements`), as a plan file holds it."""

    buckets: list[str]
    kms_keys: list[str] = Field(default_factory=list)
    allow_delete: bool = False
    allow_delete_objects: bool = False
    partition: str = "aws"
    keep_existing: bool = True
    existing: list[ExistingBasis] = Field(default_factory=list)

    def requirements(self) -> Requirements:
        return Requirements(
            buckets=tuple(self.buckets),
            kms_keys=tuple(self.kms_keys),
            allow_delete=self.allow_delete,
            allow_delete_objects=self.allow_delete_objects,
            partition=self.partition,
            keep_existing=self.keep_existing,
            existing=tuple((e.bucket, e.prefix) for e in self.existing),
        )


class _ManagedPrecondition(Params):
    DefaultVersionId: str
    DocumentSha256: str


class _RotationPrecondition(_ManagedPrecondition):
    WantedDocumentSha256: str


class _InlinePrecondition(Params):
    DocumentSha256: str | None


class CreatePolicyVersionParams(Params):
    PolicyArn: str
    PolicyDocument: str
    SetAsDefault: Literal[True]
    Precondition: _ManagedPrecondition


class DeletePolicyVersionParams(Params):
    PolicyArn: str
    VersionId: str
    Precondition: _RotationPrecondition


class SetDefaultPolicyVersionParams(Params):
    PolicyArn: str
    VersionId: str
    Precondition: dict[str, str]


class PutRolePolicyParams(Params):
    RoleName: str
    PolicyName: str
    PolicyDocument: str
    Precondition: _InlinePrecondition


def _need(change: Change) -> Requirements:
    return RequirementsBasis.model_validate(change.basis).requirements()


def _policy_details(change: Change) -> list[str]:
    basis = RequirementsBasis.model_validate(change.basis)
    existing = [
        f"{e.bucket}/{e.prefix}/AWSLogs/" if e.prefix else f"{e.bucket}/AWSLogs/" for e in basis.existing
    ]
    lines = [f"Kentik's role may read {', '.join(basis.buckets) or 'no bucket'} (whole bucket)"]
    if existing:
        lines.append(f"and, read only, {', '.join(existing)}")
    if basis.kms_keys:
        lines.append(f"and decrypt with {len(basis.kms_keys)} KMS key(s)")
    if basis.allow_delete:
        lines.append(
            "and do anything (s3:*) to those buckets, deleting them and changing their policy included"
        )
    elif basis.allow_delete_objects:
        lines.append("and delete objects (s3:DeleteObject) in those buckets")
    if not basis.keep_existing:
        lines.append("and no other bucket: buckets and keys in its earlier flowlogs statements are dropped")
    return lines


def _managed_problems(change: Change, plan: Plan) -> list[str]:
    arn = str(change.params["PolicyArn"])
    problems = [] if change.target == arn else [f"its target {change.target!r} is not the policy it changes"]
    match = _POLICY_ARN.match(arn)
    if not match:
        return [*problems, f"{arn!r} is not a customer-managed IAM policy ARN"]
    if match.groups() != (plan.partition, plan.account_of(change)):
        problems.append(f"the policy {arn} is not in the change's partition and account")
    pre = change.params["Precondition"]
    if not _VERSION_ID.match(str(pre.get("DefaultVersionId", ""))):
        problems.append("its Precondition names no default version")
    problems += [
        f"its Precondition {k} is not a SHA-256"
        for k, v in pre.items()
        if k.endswith("Sha256") and not _SHA256.match(str(v))
    ]
    return problems


def _document_problems(change: Change, limit: int) -> list[str]:
    try:
        doc = json.loads(change.params["PolicyDocument"])
    except ValueError:
        return ["its PolicyDocument is not JSON"]
    if not isinstance(doc, dict):
        return ["its PolicyDocument is not a JSON object"]
    size = policy_size(doc)
    problems = [f"its PolicyDocument is {size} characters, over IAM's {limit}"] if size > limit else []
    try:
        need = _need(change)
    except ValidationFailed as err:
        return [*problems, f"basis: {err.message}"]
    if need.partition != partition_of(change.region):
        problems.append(f"its requirements are for partition {need.partition}, not the change's")
    return problems


def _sent(change: Change) -> dict[str, Any]:
    """The API parameters, without our Precondition."""
    return {k: v for k, v in change.params.items() if k != "Precondition"}


def _default(session: AwsSession, arn: str) -> tuple[str, dict[str, Any]]:
    iam = _iam(session)
    version_id = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]["Document"]
    return version_id, _decode_document(doc)


def _check_managed(change: Change, version_id: str, doc: dict[str, Any]) -> None:
    pre = change.params.get("Precondition") or {}
    if "DefaultVersionId" in pre and pre["DefaultVersionId"] != version_id:
        raise StaleChange(
            f"{change.params['PolicyArn']}: {STALE} (default version is now {version_id}, "
            f"the diff was computed from {pre['DefaultVersionId']}). Nothing was changed."
        )
    if "DocumentSha256" in pre and pre["DocumentSha256"] != document_sha256(doc):
        raise StaleChange(f"{change.params['PolicyArn']}: {STALE}. Nothing was changed.")


CREATE_ATTEMPTS = 3  # CreatePolicyVersion sends, each after looking for a version a lost one made


class _LostResponse(Exception):
    """A CreatePolicyVersion request got no response (connection dropped, timeout): it may have been
    applied. Raised instead of botocore's blind retry, which would create a second version."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def _no_blind_retry(caught_exception: Exception | None = None, **_: Any) -> None:
    if caught_exception is not None:
        raise _LostResponse(caught_exception)


def _guard_create(iam: Any) -> Any:
    """The IAM client, with botocore's retry of a CreatePolicyVersion without a response turned into
    `_LostResponse` (retries after an error response, such as throttling, are kept: nothing was made)."""
    iam.meta.events.register_first(
        "needs-retry.iam.CreatePolicyVersion", _no_blind_retry, unique_id="flowlogs-no-blind-retry"
    )
    return iam


def version_with_document(session: AwsSession, arn: str, wanted: dict[str, Any]) -> PolicyVersionInfo | None:
    """The version of `arn` whose document equals `wanted` (compared as parsed JSON), default first."""
    iam = _iam(session)
    versions = sorted(_versions(iam, arn), key=lambda v: (not v.is_default, _version_order(v)))
    for version in versions:
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=version.version_id)["PolicyVersion"]["Document"]
        if _decode_document(doc) == wanted:
            return version
    return None


def _make_default(session: AwsSession, arn: str, version: PolicyVersionInfo) -> None:
    if not version.is_default:
        _iam(session).set_default_policy_version(PolicyArn=arn, VersionId=version.version_id)


class CreatePolicyVersionExecutor(Executor):
    """Makes a version with the wanted document the default: an existing identical version is reused
    (made default) instead of creating another, before sending and again after any error or lost
    response, so a retry, a concurrent apply or a re-apply after a rollback leaves one such version."""

    kind = "iam.create-policy-version"
    service, operation = "iam", "CreatePolicyVersion"
    Params, Basis = CreatePolicyVersionParams, RequirementsBasis

    def details(self, change: Change) -> list[str]:
        return _policy_details(change)

    def check(self, change: Change, plan: Plan) -> list[str]:
        return _managed_problems(change, plan) + _document_problems(change, MANAGED_POLICY_LIMIT)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        _, doc = _default(session, change.params["PolicyArn"])
        return doc == json.loads(change.params["PolicyDocument"])

    def checked(self, session: AwsSession, change: Change) -> tuple[str, dict[str, Any]]:
        """The default version and its document, refused (StaleChange) when the policy moved on since the
        plan or the planned document is not the one derived from it."""
        arn = change.params["PolicyArn"]
        wanted = json.loads(change.params["PolicyDocument"])
        version_id, doc = _default(session, arn)
        if doc != wanted:
            _check_managed(change, version_id, doc)
            self.expect(change, f"policy {arn}", merge_policy(doc, _need(change)).proposed, wanted)
        return version_id, doc

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn = change.params["PolicyArn"]
        wanted = json.loads(change.params["PolicyDocument"])
        version_id, doc = self.checked(session, change)
        if doc == wanted:
            return {"PolicyArn": arn, "VersionId": version_id}
        out = {
            "PolicyArn": arn,
            "PreviousDefaultVersionId": version_id,
            "PreviousDocumentSha256": document_sha256(doc),
        }
        existing = version_with_document(session, arn, wanted)
        if existing is not None:
            _make_default(session, arn, existing)
            return {**out, "VersionId": existing.version_id, "Reused": True}
        return {**out, "VersionId": self._create(session, change, wanted)}

    def _create(self, session: AwsSession, change: Change, wanted: dict[str, Any]) -> str:
        arn = change.params["PolicyArn"]
        iam = _guard_create(_iam(session))
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                sent = {**_sent(change), "PolicyDocument": pretty_json(wanted)}  # the checked document
                return str(iam.create_policy_version(**sent)["PolicyVersion"]["VersionId"])
            except (ClientError, _LostResponse) as err:
                made = version_with_document(session, arn, wanted)  # by a lost attempt, or concurrently
                if made is not None:
                    _make_default(session, arn, made)
                    return made.version_id
                if isinstance(err, _LostResponse):
                    if attempt < CREATE_ATTEMPTS:
                        continue  # it was not applied: send again
                    raise err.original from err
                if error_code(err) == "LimitExceeded":
                    raise FlowlogsError(
                        f"{arn} already has {MAX_POLICY_VERSIONS} versions.",
                        hint="Refresh the diff: the oldest non-default version must be deleted first (confirm it).",
                    ) from err
                raise
        raise AssertionError("unreachable")  # pragma: no cover


class DeletePolicyVersionExecutor(Executor):
    """Rotation: frees a slot for the new version. Unneeded (satisfied) when there is a free slot, the
    version is gone, or a version with the wanted document already exists (it is reused)."""

    kind = "iam.delete-policy-version"
    service, operation = "iam", "DeletePolicyVersion"
    destructive = True
    Params = DeletePolicyVersionParams

    def details(self, change: Change) -> list[str]:
        return [f"deletes version {change.params['VersionId']} (not the default) to free a slot"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _managed_problems(change, plan)
        if not _VERSION_ID.match(change.params["VersionId"]):
            problems.append(f"{change.params['VersionId']!r} is not a policy version id")
        elif change.params["VersionId"] == change.params["Precondition"]["DefaultVersionId"]:
            problems.append("it deletes the default version")
        creates = [
            c
            for c in plan.changes
            if c.kind == CreatePolicyVersionExecutor.kind and change.id in c.depends_on
        ]
        if not any(c.params.get("PolicyArn") == change.params["PolicyArn"] for c in creates):
            problems.append("no new version of the policy needs the slot it frees")
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        arn = change.params["PolicyArn"]
        versions = _versions(_iam(session), arn)
        gone = all(v.version_id != change.params["VersionId"] for v in versions)
        if gone or len(versions) < MAX_POLICY_VERSIONS:
            return True
        wanted = str((change.params.get("Precondition") or {}).get("WantedDocumentSha256") or "")
        return bool(wanted) and self._has_document(session, arn, versions, wanted)

    @staticmethod
    def _has_document(session: AwsSession, arn: str, versions: list[PolicyVersionInfo], sha: str) -> bool:
        iam = _iam(session)
        for version in versions:
            doc = iam.get_policy_version(PolicyArn=arn, VersionId=version.version_id)["PolicyVersion"]
            if document_sha256(_decode_document(doc["Document"])) == sha:
                return True
        return False

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn, victim = change.params["PolicyArn"], change.params["VersionId"]
        version_id, doc = _default(session, arn)
        _check_managed(change, version_id, doc)
        if victim == version_id:
            raise ValidationFailed(f"{arn}: version {victim} is the default version and can't be deleted.")
        iam = _iam(session)
        try:
            deleted = iam.get_policy_version(PolicyArn=arn, VersionId=victim)["PolicyVersion"]["Document"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return {"DeletedVersionId": victim}
            raise
        iam.delete_policy_version(**_sent(change))
        return {"DeletedVersionId": victim, "DeletedDocument": compact_json(_decode_document(deleted))}


class SetDefaultPolicyVersionExecutor(Executor):
    """Rollback of a managed policy: make the previous default version the default again."""

    kind = "iam.set-default-policy-version"
    service, operation = "iam", "SetDefaultPolicyVersion"
    in_plan_files = False  # rollbacks are built from the saved record, never read from a plan file
    Params = SetDefaultPolicyVersionParams

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        version_id, _ = _default(session, change.params["PolicyArn"])
        return bool(version_id == change.params["VersionId"])

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn = change.params["PolicyArn"]
        version_id, doc = _default(session, arn)
        if version_id == change.params["VersionId"]:
            return {"PolicyArn": arn, "VersionId": version_id}
        _check_managed(change, version_id, doc)
        _iam(session).set_default_policy_version(**_sent(change))
        return {
            "PolicyArn": arn,
            "VersionId": change.params["VersionId"],
            "PreviousDefaultVersionId": version_id,
        }


class PutRolePolicyExecutor(Executor):
    """Inline policy: put the proposed document (or, for a rollback, the previous one)."""

    kind = "iam.put-role-policy"
    service, operation = "iam", "PutRolePolicy"
    Params = PutRolePolicyParams
    Basis: ClassVar[type[BaseModel] | None] = RequirementsBasis

    def details(self, change: Change) -> list[str]:
        return _policy_details(change)

    def check(self, change: Change, plan: Plan) -> list[str]:
        role = str(change.params["RoleName"])
        problems = [] if _ROLE_NAME.match(role) else [f"{role!r} is not a role name"]
        arn = f"arn:{plan.partition}:iam::{plan.account_of(change)}:role/{role}"
        if change.target != arn:
            problems.append(f"its target {change.target!r} is not the role it changes ({arn})")
        if not _ROLE_NAME.match(str(change.params["PolicyName"])):
            problems.append("its PolicyName is not a policy name")
        sha = change.params["Precondition"].get("DocumentSha256")
        if sha is not None and not _SHA256.match(sha):
            problems.append("its Precondition DocumentSha256 is not a SHA-256")
        return problems + _document_problems(change, INLINE_ROLE_TOTAL_LIMIT)

    def derived(self, current: dict[str, Any] | None, change: Change) -> dict[str, Any]:
        return merge_policy(
            current or {"Version": "2012-10-17", "Statement": []}, _need(change), kind="inline"
        ).proposed

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        try:
            doc = _iam(session).get_role_policy(
                RoleName=change.params["RoleName"], PolicyName=change.params["PolicyName"]
            )["PolicyDocument"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return None
            raise
        return _decode_document(doc)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return self._current(session, change) == json.loads(change.params["PolicyDocument"])

    def checked(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        """The current document, refused (StaleChange) when it changed since the plan or the planned one
        is not derived from it."""
        role, name = change.params["RoleName"], change.params["PolicyName"]
        wanted = json.loads(change.params["PolicyDocument"])
        current = self._current(session, change)
        if current != wanted:
            pre = change.params.get("Precondition") or {}
            actual = document_sha256(current) if current is not None else "absent"
            if "DocumentSha256" in pre and pre["DocumentSha256"] != actual:
                raise StaleChange(f"Inline policy {name} of role {role}: {STALE}. Nothing was changed.")
            self.expect(change, f"inline policy {name} of role {role}", self.derived(current, change), wanted)
        return current

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        role, name = change.params["RoleName"], change.params["PolicyName"]
        wanted = json.loads(change.params["PolicyDocument"])
        current = self.checked(session, change)
        if current != wanted:
            docs = _inline_docs(session, role)
            size = SizeReport(
                policy_size(wanted), "inline", sum(policy_size(d) for n, d in docs.items() if n != name)
            )
            size.require_ok()
            _iam(session).put_role_policy(**{**_sent(change), "PolicyDocument": pretty_json(wanted)})
        return {
            "RoleName": role,
            "PolicyName": name,
            "PreviousDocument": compact_json(current) if current is not None else None,
            "DocumentSha256": document_sha256(wanted),
        }


class RestoreRolePolicyExecutor(PutRolePolicyExecutor):
    """Rollback of an inline policy: put its previous document back (destructive; built from the saved
    rollback record, never read from a plan file)."""

    kind = "iam.restore-role-policy"
    destructive = True
    in_plan_files = False
    Basis = None

    def derived(self, current: dict[str, Any] | None, change: Change) -> dict[str, Any]:
        return dict(json.loads(change.params["PolicyDocument"]))  # the saved previous document


# -- applying and rolling back ---------------------------------------------------------------------


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


def apply_proposal(
    session: AwsSession, proposal: PolicyProposal, *, confirm_destructive: bool = False
) -> tuple[ApplyReport, RollbackRecord | None]:
    """Apply the proposal's Changes (re-checking for concurrent edits) and return the rollback record."""
    plan = Plan(account=proposal.target.account, changes=list(proposal.changes))
    report = apply_plan(plan, session, confirm_destructive=confirm_destructive)
    return report, record_from_report(proposal.target, report)


def infer_rollback(session: AwsSession, target: PolicyTarget) -> RollbackRecord:
    """Without a saved record (managed policies only): the version created just before the current
    default, which is the previous default when each version was made default on creation (as
    CreatePolicyVersion with SetAsDefault does)."""
    if target.kind != "managed" or not target.policy_arn:
        raise ValidationFailed(
            f"No rollback record for {target.label}; an inline policy can only be rolled back from the "
            "record saved when flowlogs applied it."
        )
    ordered = sorted(target.versions, key=_version_order)
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


def rollback(
    session: AwsSession, record: RollbackRecord, *, confirm_destructive: bool = False
) -> ApplyReport:
    """Undo an applied change (SetDefaultPolicyVersion, or PutRolePolicy of the previous document)."""
    plan = Plan(account=record.account, changes=rollback_changes(session, record))
    return apply_plan(plan, session, confirm_destructive=confirm_destructive)


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
