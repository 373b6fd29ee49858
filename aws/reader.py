"""Can Kentik's role read a delivered log file? The reader check, evaluated locally from IAM and KMS.

`RoleReaderCheck(session, role)` is the Watcher's `reader_check`: for a source's file it evaluates the
role's identity policies (attached managed, default version, and inline: read once) for s3:GetObject on
the object and s3:ListBucket on the bucket, and for an SSE-KMS bucket kms:Decrypt on its key. The key
policy decides whether that IAM grant counts at all: a key policy that neither delegates to IAM (an
Allow for the account's root principal) nor names the role makes the IAM grant useless, and the check
says so. Each bucket's KMS key and each key's policy are read once.

Used by the verify panel, `flowlogs verify --role`, and the coverage of every bucket in the read set.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, computed_field

from aws.coverage import bucket_kms_key
from aws.errors import ValidationFailed
from aws.iam.documents import load_inline, load_managed
from aws.iam.eval import Access, Decision, Statement, action_matches, evaluate
from aws.names import s3_arn
from aws.permissions import declare
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=[
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "kms:GetKeyPolicy",
        "s3:GetBucketLocation",
        "s3:GetBucketEncryption",
    ],
)


class ReaderVerdict(BaseModel):
    """Whether Kentik's role can read a delivered file (filled in by the evaluator)."""

    ok: bool
    reasons: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed(self) -> bool:
        """Kentik's role may read the file (the same as `ok`; named for `verify --json`)."""
        return self.ok


def role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def resolve_role(session: AwsSession, role: str) -> str:
    """A role ARN from a name or an ARN (GetRole checks that it exists)."""
    name = role_name(role.strip())
    if not name:
        raise ValidationFailed("Name the Kentik role (a role name or ARN).")
    try:
        return str(session.client("iam").get_role(RoleName=name)["Role"]["Arn"])
    except ClientError as err:
        if "NoSuchEntity" in str(err):
            raise ValidationFailed(f"There is no IAM role named {name!r} in this account.") from err
        raise


def _describe(decision: Decision, origin: list[str]) -> str:
    """Which statements decided, named by their policy (`origin[i]` labels merged statement i)."""

    def names(statements: list[Statement]) -> str:
        return ", ".join(origin[st.index] if st.index < len(origin) else st.label for st in statements)

    if decision.denied_by:
        return "denied by " + names(decision.denied_by)
    if decision.allowed_by:
        return "allowed by " + names(decision.allowed_by)
    if decision.conditional_allows:
        return "only allowed under a condition (" + names(decision.conditional_allows) + ")"
    return "no statement allows it"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _principal_names(statement: dict[str, Any], principal: str) -> bool:
    value = statement.get("Principal")
    if value == "*":
        return True
    aws = _as_list(value.get("AWS")) if isinstance(value, dict) else []
    return any(str(p) == "*" or str(p) == principal for p in aws)


def _allows_decrypt(statement: dict[str, Any]) -> bool:
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    return statement.get("Effect") == "Allow" and any(action_matches(a, "kms:Decrypt") for a in actions)


def key_policy_problem(key_policy: dict[str, Any], role_arn: str) -> str | None:
    """Why the IAM grant on a key cannot work under this key policy (None when it can).

    IAM policies grant use of a KMS key only when the key policy delegates to IAM: an Allow of
    kms:Decrypt (e.g. `kms:*`) for the account's root principal. A key policy that names the role itself
    also works (then no IAM grant is needed)."""
    parts = role_arn.split(":")
    if len(parts) < 5:
        return None
    partition, account = parts[1], parts[4]
    root = {f"arn:{partition}:iam::{account}:root", account}
    statements = [st for st in _as_list(key_policy.get("Statement")) if isinstance(st, dict)]
    for st in statements:
        if st.get("Condition") or not _allows_decrypt(st):
            continue
        if any(_principal_names(st, p) for p in (*root, role_arn)):
            return None
    return (
        f"the key policy neither delegates to IAM (no Allow of kms:Decrypt for arn:{partition}:iam::"
        f"{account}:root) nor names {role_name(role_arn)}, so an IAM grant of kms:Decrypt has no effect: "
        "add the role (or the account root) to the key policy"
    )


class RoleReaderCheck:
    """`reader_check` for the Watcher (see the module docstring). `kms_keys` (bucket -> key ARN) may be
    given when known; other buckets' keys are looked up (GetBucketEncryption) once each."""

    def __init__(self, session: AwsSession, role_arn: str, kms_keys: dict[str, str] | None = None) -> None:
        self.session = session
        self.role_arn = role_arn
        self.partition = role_arn.split(":")[1] if role_arn.count(":") >= 5 else session.partition
        self._kms_keys: dict[str, str] = dict(kms_keys or {})
        self._key_problems: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self.origin: list[str] = []  # merged statement index -> "policy NAME statement N (Sid S)"

    def document(self) -> dict[str, Any]:
        """Every statement of the role's policies as one document (an Allow anywhere grants, a Deny
        anywhere wins: the same outcome as evaluating the policies together)."""
        with self._lock:
            if self._document is None:
                role = role_name(self.role_arn)
                iam = self.session.client("iam")
                statements: list[Any] = []
                origin: list[str] = []
                arns = [
                    p["PolicyArn"]
                    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
                    for p in page["AttachedPolicies"]
                ]
                inline = [
                    n
                    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
                    for n in page["PolicyNames"]
                ]
                targets = [load_managed(self.session, arn, role_name=role) for arn in arns]
                targets += [load_inline(self.session, role, name) for name in inline]
                for target in targets:
                    body = target.document.get("Statement", [])
                    items = body if isinstance(body, list) else [body]
                    for n, st in enumerate(items, 1):
                        sid = st.get("Sid") if isinstance(st, dict) else None
                        origin.append(
                            f"policy {target.policy_name} statement {n}" + (f" (Sid {sid})" if sid else "")
                        )
                    statements += items
                self._document = {"Version": "2012-10-17", "Statement": statements}
                self.origin = origin
            return self._document

    def kms_key(self, bucket: str, region: str, account: str) -> str:
        """The bucket's SSE-KMS key ARN ('' for none), looked up once."""
        with self._lock:
            if bucket not in self._kms_keys:
                try:
                    self._kms_keys[bucket] = bucket_kms_key(
                        self.session, bucket, region, account, self.partition
                    )
                except (ClientError, BotoCoreError):
                    self._kms_keys[bucket] = ""  # encryption not readable: the object read shows it
            return self._kms_keys[bucket]

    def key_problem(self, key_arn: str) -> str | None:
        """Why the key policy makes an IAM grant useless (None when fine or not readable)."""
        with self._lock:
            if key_arn not in self._key_problems:
                region = key_arn.split(":")[3] if key_arn.count(":") >= 5 else None
                try:
                    text = self.session.client("kms", region).get_key_policy(
                        KeyId=key_arn, PolicyName="default"
                    )
                    policy = json.loads(text["Policy"])
                    self._key_problems[key_arn] = key_policy_problem(policy, self.role_arn)
                except (ClientError, BotoCoreError, ValueError):
                    self._key_problems[key_arn] = None  # not readable here: IAM's answer stands
            return self._key_problems[key_arn]

    def check(self, bucket: str, key: str, *, region: str = "", account: str = "") -> ReaderVerdict:
        """May the role read object `key` of `bucket`?"""
        doc = self.document()
        if not doc["Statement"]:
            return ReaderVerdict(ok=False, reasons=[f"role {role_name(self.role_arn)} has no policy"])
        accesses = [
            Access("s3:GetObject", s3_arn(bucket, key, partition=self.partition)),
            Access("s3:ListBucket", s3_arn(bucket, partition=self.partition)),
        ]
        kms_key = self.kms_key(bucket, region or self.session.home_region, account)
        if kms_key:
            accesses.append(Access("kms:Decrypt", kms_key))
        decisions = [evaluate(doc, a) for a in accesses]
        failed = [d for d in decisions if not d.allowed]
        reasons = [
            f"{d.access.action} on {d.access.resource}: {_describe(d, self.origin)}"
            for d in (failed or decisions)
        ]
        problem = self.key_problem(kms_key) if kms_key else None
        if problem:
            reasons.append(f"kms:Decrypt on {kms_key}: {problem}")
        return ReaderVerdict(ok=not failed and problem is None, reasons=reasons)

    def __call__(self, source: Any, key: str) -> ReaderVerdict:
        """The Watcher's hook: `source` is an `aws.logs.sources.LogSource`."""
        return self.check(source.bucket, key, region=source.bucket_region, account=source.account)
