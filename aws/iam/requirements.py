"""What Kentik's role needs, and how big a policy document is: the inputs every other IAM module works from.

* The Sids of flowlogs' own statements (`READ_SID`, `KMS_SID`, ...), the actions they grant, IAM's size
  limits, and the notes shown next to a KMS key or the s3:* deletion option.
* `Requirements`: the log buckets (read), existing log buckets (read below `AWSLogs/` only), KMS keys
  (decrypt) and the deletion option; validated on construction (`ValidationFailed`), each expanded to
  the `Access`es (action, resource) the policy must grant.
* `RequirementsBasis`: `Requirements` as a plan file holds it (the basis of a policy Change).
* `policy_size()` / `SizeReport`: size as AWS counts it (no whitespace outside strings) against the
  managed (6,144) or the role's total inline (10,240) limit; `document_sha256()` fingerprints a document.

Pure: no AWS calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from aws.errors import ValidationFailed
from aws.iam.eval import Access
from aws.names import existing_bucket_name_problem, folder_problem, log_folder, parse_kms_key_arn, s3_arn
from aws.plans.change import Params

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

KMS_NOTE = (
    "The spec's prose also names kms:GenerateDataKey; Kentik only reads, so kms:Decrypt and "
    "kms:DescribeKey are enough. The log writer's key permissions belong in the key policy."
)
DELETE_RISK = (
    "s3:* also lets Kentik's role delete the bucket and change its policy, encryption and lifecycle; "
    "prefer --allow-delete-objects (s3:DeleteObject on the objects only)."
)

NEAR_LIMIT = 0.8  # of a policy size limit: from here on the size is shown as a warning


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
        existing = tuple((b, log_folder(p)) for b, p in self.existing if b not in self.buckets)
        object.__setattr__(self, "existing", tuple(dict.fromkeys(existing)))
        if not self.buckets and not self.existing:
            raise ValidationFailed("Name at least one log bucket.")
        for bucket in [*self.buckets, *(b for b, _ in self.existing)]:
            problem = existing_bucket_name_problem(bucket)  # read only: names made before today's rules pass
            if problem:
                raise ValidationFailed(problem)
        for key in self.kms_keys:
            if parse_kms_key_arn(key) is None:
                raise ValidationFailed(
                    f"{key!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; an alias "
                    "ARN does not authorize use of the key)."
                )
        if self.allow_delete and self.allow_delete_objects:
            raise ValidationFailed("Choose either allow_delete (s3:*) or allow_delete_objects, not both.")

    def bucket_arns(self, bucket: str) -> tuple[str, str]:
        return (s3_arn(bucket, partition=self.partition), s3_arn(bucket, "*", partition=self.partition))

    def existing_arns(self, bucket: str, prefix: str) -> tuple[str, str]:
        """The bucket, and its log objects only: `prefix/AWSLogs/*` (`AWSLogs/*` without a prefix)."""
        logs = f"{prefix}/AWSLogs/*" if prefix else "AWSLogs/*"
        return (s3_arn(bucket, partition=self.partition), s3_arn(bucket, logs, partition=self.partition))

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


class ExistingBasis(Params):
    bucket: str
    prefix: str = ""

    @field_validator("prefix")
    @classmethod
    def _folder(cls, prefix: str) -> str:
        problem = folder_problem(prefix) or ("it has a '/' at an end" if log_folder(prefix) != prefix else "")
        if problem:
            raise ValueError(f"prefix {prefix!r}: {problem}")
        return prefix


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

    @property
    def near_limit(self) -> bool:
        """Within the limit but at 80 % of it or more: worth a warning (the next statement may not fit)."""
        return self.ok and self.total >= NEAR_LIMIT * self.limit

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
