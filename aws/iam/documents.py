"""Where the Kentik role's policy lives, read from IAM: `find_policy()` and the `PolicyTarget` it returns.

* `PolicySource`: what the user named (a role, one of its inline policies, or a managed policy ARN),
  parsed from text (`ValidationFailed` when it is neither).
* `find_policy()`: the managed policy `policy_arn`, the inline `policy_name` of `role_name`, or the one
  policy of `role_name` that looks like Kentik's metadata policy (`role_policies()` scores each);
  `PolicyChoiceNeeded` (with `.candidates`) when that is ambiguous or nothing is editable, and
  `ValidationFailed` when the role or policy does not exist.
* `PolicyTarget`: one policy with the document (and, managed, the default version and every version)
  the diff is computed from; `load_managed()` / `load_inline()` read one.
* Helpers the executors share: `iam_client()`, `iam_call()` (AWS errors explained), `decode_document()`
  (IAM returns URL-encoded JSON), `list_versions()`, `version_order()`, `inline_documents()`.

Read-only: every call here is an IAM read.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from botocore.exceptions import ClientError

from aws.errors import FlowlogsError, ValidationFailed, error_code, explain
from aws.iam.eval import action_granted, parse_policy
from aws.iam.requirements import (
    DELETE_SID,
    KMS_FALLBACK_SID,
    READ_EXISTING_SID,
    READ_SID,
    document_sha256,
    policy_size,
)
from aws.permissions import declare
from aws.session import AwsSession

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
)

# What the metadata policy grants (Kentik's metadata configuration): used to pick the right policy.
METADATA_ACTIONS = (
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "network-firewall:Describe*",
    "network-firewall:List*",
    "directconnect:Describe*",
    "cloudwatch:GetMetricData",
)

_ROLE_ARN = re.compile(r"^arn:[a-z-]+:iam::\d{12}:role/(?:.*/)?([^/]+)$")


@dataclass(frozen=True)
class PolicySource:
    """What the user named: a role (optionally one of its policies) or a managed policy ARN."""

    role_name: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None  # inline policy of role_name

    @classmethod
    def parse(cls, text: str) -> PolicySource:
        text = text.strip()
        role = _ROLE_ARN.match(text)
        if role:
            return cls(role_name=role.group(1))
        if text.startswith("arn:"):
            if ":policy/" not in text:
                raise ValidationFailed(f"{text!r} is neither a role nor a customer-managed policy ARN.")
            return cls(policy_arn=text)
        if not text:
            raise ValidationFailed("Name the role Kentik assumes (or a policy ARN) first.")
        return cls(role_name=text)


def decode_document(value: Any) -> dict[str, Any]:
    """IAM returns documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, str):
        value = json.loads(urllib.parse.unquote(value))
    if not isinstance(value, dict):
        raise FlowlogsError("IAM returned a policy document that is not a JSON object.")
    return value


def iam_client(session: AwsSession) -> Any:
    return session.client("iam")


def iam_call(call: Any, **params: Any) -> Any:
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


def list_versions(iam: Any, arn: str) -> list[PolicyVersionInfo]:
    out = []
    for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn):
        for v in page["Versions"]:
            out.append(PolicyVersionInfo(v["VersionId"], bool(v["IsDefaultVersion"]), v.get("CreateDate")))
    return out


def version_order(v: PolicyVersionInfo) -> tuple[datetime, int]:
    created = v.created or datetime.min.replace(tzinfo=timezone.utc)
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    digits = re.sub(r"\D", "", v.version_id)
    return created, int(digits) if digits else 0


def oldest_non_default(versions: Sequence[PolicyVersionInfo]) -> PolicyVersionInfo | None:
    candidates = sorted((v for v in versions if not v.is_default), key=version_order)
    return candidates[0] if candidates else None


def load_managed(session: AwsSession, policy_arn: str, *, role_name: str | None = None) -> PolicyTarget:
    iam = iam_client(session)
    meta = iam_call(iam.get_policy, PolicyArn=policy_arn)["Policy"]
    version_id = meta["DefaultVersionId"]
    doc = iam_call(iam.get_policy_version, PolicyArn=policy_arn, VersionId=version_id)["PolicyVersion"]
    return PolicyTarget(
        kind="managed",
        policy_name=meta["PolicyName"],
        document=decode_document(doc["Document"]),
        role_name=role_name,
        policy_arn=policy_arn,
        version_id=version_id,
        versions=list_versions(iam, policy_arn),
        account=policy_arn.split(":")[4],
    )


def inline_documents(session: AwsSession, role_name: str) -> dict[str, dict[str, Any]]:
    iam = iam_client(session)
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        names.extend(page["PolicyNames"])
    return {
        n: decode_document(iam_call(iam.get_role_policy, RoleName=role_name, PolicyName=n)["PolicyDocument"])
        for n in names
    }


def load_inline(session: AwsSession, role_name: str, policy_name: str) -> PolicyTarget:
    docs = inline_documents(session, role_name)
    if policy_name not in docs:
        raise ValidationFailed(f"Role {role_name} has no inline policy named {policy_name!r}.")
    return _inline_target(session, role_name, policy_name, docs)


def _inline_target(
    session: AwsSession, role_name: str, policy_name: str, docs: dict[str, dict[str, Any]]
) -> PolicyTarget:
    role = iam_call(iam_client(session).get_role, RoleName=role_name)["Role"]
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
    iam = iam_client(session)
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
    docs = inline_documents(session, role_name)
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
