"""Resource-policy statements for log delivery, and merging them into existing policies.

The bucket policy must let `delivery.logs.amazonaws.com` write under `AWSLogs/` and check the bucket ACL;
with SSE-KMS the key policy must let it use the key. Both are merged into whatever policy already exists:
every existing statement is kept exactly (same content, same order), a statement that already grants
what we need is recognised (so nothing is added twice), and merging twice gives the same document.

* Statements: `bucket_log_delivery_statements`, `key_log_delivery_statement` (Sids start `SID_PREFIX`).
* Reading: `parse_policy` (ValidationFailed for a document that is not a JSON object), `statements`,
  `dump_policy`, `policy_size` and `check_size` against `BUCKET_POLICY_LIMIT` / `KEY_POLICY_LIMIT`.
* Comparing and merging: `covers`, `equivalent`, `merge_statements` (a `MergeResult`), `ours`, `missing`.
* Known silent failures: `requires_sse_c`, `bucket_policy_warnings`, and the explicit Denies that block
  delivery (`delivery_denials`, `key_delivery_denial`).

No AWS call: the callers read and write the policies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from aws.errors import ValidationFailed
from aws.iam.deny import delivery_context, delivery_denied_by
from aws.names import delivery_folder, s3_arn

POLICY_VERSION = "2012-10-17"
LOG_DELIVERY_SERVICE = "delivery.logs.amazonaws.com"

BUCKET_POLICY_LIMIT = 20_480  # bytes: S3's 20 KB bucket-policy cap
KEY_POLICY_LIMIT = 32_768  # bytes: KMS's 32 KB key-policy cap

# Sids of the statements this tool adds. A statement is "ours" when its Sid starts with SID_PREFIX.
SID_PREFIX = "FlowlogsTui"
SID_WRITE = f"{SID_PREFIX}LogDeliveryWrite"
SID_ACL_CHECK = f"{SID_PREFIX}LogDeliveryAclCheck"
SID_KEY_USE = f"{SID_PREFIX}LogDeliveryUseKey"

KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")

Policy = dict[str, Any]
Statement = dict[str, Any]


def _source_conditions(account: str, partition: str) -> dict[str, Any]:
    return {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:{partition}:logs:*:{account}:*"},
    }


def bucket_log_delivery_statements(
    bucket: str, account: str, *, prefixes: Iterable[str] = (), partition: str = "aws"
) -> list[Statement]:
    """AWSLogDeliveryWrite and AWSLogDeliveryAclCheck for `bucket`, scoped to `account`.

    The write statement covers the bucket-wide `AWSLogs/*` (and `PREFIX/AWSLogs/*` for each prefix) rather
    than one resource per account and prefix, so the policy does not grow towards the 20 KB cap.
    """
    bucket_arn = s3_arn(bucket, partition=partition)
    resources = [f"{bucket_arn}/AWSLogs/*"]
    for prefix in prefixes:
        cleaned = delivery_folder(prefix)
        arn = f"{bucket_arn}/{cleaned}/AWSLogs/*" if cleaned else f"{bucket_arn}/AWSLogs/*"
        if arn not in resources:
            resources.append(arn)
    principal = {"Service": LOG_DELIVERY_SERVICE}
    write: Statement = {
        "Sid": SID_WRITE,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:PutObject",
        "Resource": resources[0] if len(resources) == 1 else resources,
        "Condition": _source_conditions(account, partition),
    }
    acl_check: Statement = {
        "Sid": SID_ACL_CHECK,
        "Effect": "Allow",
        "Principal": dict(principal),
        "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
        "Resource": bucket_arn,
        "Condition": _source_conditions(account, partition),
    }
    return [write, acl_check]


def key_log_delivery_statement(account: str, *, partition: str = "aws") -> Statement:
    """The key-policy statement letting log delivery encrypt with the key, scoped to `account`."""
    return {
        "Sid": SID_KEY_USE,
        "Effect": "Allow",
        "Principal": {"Service": LOG_DELIVERY_SERVICE},
        "Action": list(KEY_ACTIONS),
        "Resource": "*",
        "Condition": _source_conditions(account, partition),
    }


# -- reading policies ------------------------------------------------------------------------------


def parse_policy(text: str | None) -> Policy | None:
    """The policy document, or None for no policy. Refuses a document that is not a JSON object."""
    if text is None or not text.strip():
        return None
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise ValidationFailed(f"The existing policy is not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ValidationFailed("The existing policy is not a JSON object.")
    return doc


def statements(policy: Mapping[str, Any] | None) -> list[Statement]:
    if not policy:
        return []
    found = policy.get("Statement", [])
    if isinstance(found, dict):
        return [found]
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def dump_policy(policy: Mapping[str, Any]) -> str:
    """The policy as sent: compact JSON (its length is what counts against the size caps)."""
    return json.dumps(policy, separators=(",", ":"))


def policy_size(policy: Mapping[str, Any]) -> int:
    return len(dump_policy(policy).encode("utf-8"))


def check_size(policy: Mapping[str, Any], limit: int, what: str) -> None:
    size = policy_size(policy)
    if size > limit:
        raise ValidationFailed(
            f"The merged {what} would be {size:,} bytes; AWS allows at most {limit:,} bytes "
            f"({limit // 1024} KB). Nothing was changed.",
            hint=f"Remove unused statements from the {what} (or consolidate them) and plan again.",
        )


# -- comparing statements --------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _principals(value: Any) -> dict[str, set[str]] | str:
    if value == "*":
        return "*"
    if not isinstance(value, Mapping):
        return {}
    found = {str(k): {str(v) for v in _as_list(vals)} for k, vals in value.items()}
    return "*" if "*" in found.get("AWS", set()) else found  # {"AWS": "*"} means everyone, as "*" does


def _conditions(value: Any) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    if not isinstance(value, Mapping):
        return out
    for operator, block in value.items():
        if not isinstance(block, Mapping):
            continue
        for key, vals in block.items():
            # Condition keys are case-insensitive; values and operators are not.
            out[(str(operator), str(key).lower())] = {str(v) for v in _as_list(vals)}
    return out


def canonical(statement: Mapping[str, Any]) -> dict[str, Any]:
    """A statement reduced to what it means (Sid, list order, value-vs-list and key case ignored)."""
    principal = _principals(statement.get("Principal"))
    return {
        "Effect": statement.get("Effect"),
        "Principal": principal
        if isinstance(principal, str)
        else {k: sorted(v) for k, v in sorted(principal.items())},
        "NotPrincipal": statement.get("NotPrincipal"),
        "Action": sorted(str(a).lower() for a in _as_list(statement.get("Action"))),
        "NotAction": sorted(str(a).lower() for a in _as_list(statement.get("NotAction"))),
        "Resource": sorted(str(r) for r in _as_list(statement.get("Resource"))),
        "NotResource": sorted(str(r) for r in _as_list(statement.get("NotResource"))),
        "Condition": sorted(
            (op, key, sorted(vals)) for (op, key), vals in _conditions(statement.get("Condition")).items()
        ),
    }


def equivalent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return canonical(a) == canonical(b)


def _pattern_covers(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """True when the IAM wildcard `pattern` matches every string the wildcard `value` matches."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    # A `*` in value is matched by a `*` in pattern as a literal character: a sound approximation.
    return pattern == value or fnmatchcase(value, pattern.replace("[", "[[]"))


def covers(existing: Mapping[str, Any], required: Mapping[str, Any]) -> bool:
    """True when the Allow statement `existing` already grants everything `required` grants.

    It must name the same principal (or `*`), cover every action and resource, and carry no condition
    that `required` lacks or that is narrower than `required`'s.
    """
    if existing.get("Effect") != "Allow" or required.get("Effect") != "Allow":
        return False
    if any(k in existing for k in ("NotPrincipal", "NotAction", "NotResource")):
        return False
    have_p, want_p = _principals(existing.get("Principal")), _principals(required.get("Principal"))
    if not isinstance(have_p, str):
        if isinstance(want_p, str):
            return False
        for kind, names in want_p.items():
            if not names <= have_p.get(kind, set()) and "*" not in have_p.get(kind, set()):
                return False
    have_a = [str(a) for a in _as_list(existing.get("Action"))]
    for action in _as_list(required.get("Action")):
        if not any(_pattern_covers(p, str(action), case_sensitive=False) for p in have_a):
            return False
    have_r = [str(r) for r in _as_list(existing.get("Resource"))]
    for resource in _as_list(required.get("Resource")):
        if not any(_pattern_covers(p, str(resource)) for p in have_r):
            return False
    want_c = _conditions(required.get("Condition"))
    for (operator, key), values in _conditions(existing.get("Condition")).items():
        wanted = want_c.get((operator, key))
        if wanted is None:
            return False  # an extra condition may deny what we need
        like = "Like" in operator
        for value in wanted:
            if not any(v == value or (like and _pattern_covers(v, value)) for v in values):
                return False
    return True


# -- merging ---------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    """The merged document and what the merge did."""

    policy: Policy
    added: list[Statement] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # required Sids an existing statement grants

    @property
    def changed(self) -> bool:
        return bool(self.added)

    @property
    def text(self) -> str:
        return dump_policy(self.policy)


def _unique_sid(sid: str, taken: set[str]) -> str:
    if sid not in taken:
        return sid
    n = 2
    while f"{sid}{n}" in taken:
        n += 1
    return f"{sid}{n}"


def merge_statements(policy: Mapping[str, Any] | None, required: Sequence[Mapping[str, Any]]) -> MergeResult:
    """Add each required statement that no existing statement already grants.

    Existing statements are copied unchanged and keep their order; new ones go at the end, with a Sid made
    unique if an unrelated statement already uses ours. `Version`, `Id` and other top-level keys are kept.
    """
    merged: Policy = copy.deepcopy(dict(policy)) if policy else {"Version": POLICY_VERSION}
    merged.setdefault("Version", POLICY_VERSION)
    current = [copy.deepcopy(s) for s in statements(policy)]
    result = MergeResult(policy=merged)
    taken = {str(s["Sid"]) for s in current if "Sid" in s}
    for want in required:
        if any(equivalent(have, want) or covers(have, want) for have in current):
            result.already.append(str(want.get("Sid", "")))
            continue
        new = copy.deepcopy(dict(want))
        if "Sid" in new:
            new["Sid"] = _unique_sid(str(new["Sid"]), taken)
            taken.add(new["Sid"])
        current.append(new)
        result.added.append(new)
    merged["Statement"] = current
    if not result.added and policy:
        merged["Statement"] = copy.deepcopy(policy.get("Statement", []))  # untouched, even its shape
    return result


def ours(policy: Mapping[str, Any] | None) -> list[Statement]:
    """The statements of a planned policy that this tool adds (by Sid)."""
    return [s for s in statements(policy) if str(s.get("Sid", "")).startswith(SID_PREFIX)]


def missing(
    policy: Mapping[str, Any] | None, required: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Required statements that `policy` does not grant yet."""
    have = statements(policy)
    return [w for w in required if not any(equivalent(h, w) or covers(h, w) for h in have)]


# -- known silent failures -------------------------------------------------------------------------

_SSE_KEY = "s3:x-amz-server-side-encryption"
_SSE_C_KEY = "s3:x-amz-server-side-encryption-customer-algorithm"


def _mentions_put_object(statement: Mapping[str, Any]) -> bool:
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    if "NotAction" in statement:
        return not any(
            _pattern_covers(a, "s3:PutObject", case_sensitive=False) for a in _as_list(statement["NotAction"])
        )
    return any(_pattern_covers(a, "s3:PutObject", case_sensitive=False) for a in actions)


def _label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"statement {sid!r}" if sid else f"statement #{index + 1}"


def requires_sse_c(policy: Mapping[str, Any] | None) -> bool:
    """True when a Deny statement refuses uploads that are not encrypted with SSE-C."""
    for statement in statements(policy):
        if statement.get("Effect") != "Deny" or not _mentions_put_object(statement):
            continue
        for (operator, key), values in _conditions(statement.get("Condition")).items():
            if key == _SSE_C_KEY and operator == "Null" and "true" in {v.lower() for v in values}:
                return True
    return False


def bucket_policy_warnings(policy: Mapping[str, Any] | None, *, object_ownership: str | None) -> list[str]:
    """Known ways an existing bucket policy makes log delivery fail without an error at set-up time."""
    warnings: list[str] = []
    for i, statement in enumerate(statements(policy)):
        label = _label(statement, i)
        for key in ("NotAction", "NotPrincipal"):
            if key in statement:
                warnings.append(
                    f"The bucket policy's {label} uses {key}: AWS's automatic log-delivery set-up fails on "
                    f"such a policy, and it may deny {LOG_DELIVERY_SERVICE} without an error. Check it does "
                    "not exclude log delivery."
                )
        # An s3:x-amz-acl = bucket-owner-full-control condition is fine even with BucketOwnerEnforced:
        # log delivery sends that header and AWS's own auto-created statement carries the condition.
        conditions = _conditions(statement.get("Condition"))
        if statement.get("Effect") == "Deny" and _mentions_put_object(statement):
            for (operator, key), _values in conditions.items():
                if key == _SSE_KEY and operator in ("Null", "StringNotEquals", "StringNotEqualsIfExists"):
                    warnings.append(
                        f"The bucket policy's {label} denies uploads without a specific encryption header; "
                        "log delivery relies on the bucket's default encryption and may be denied. Check the "
                        "statement against the chosen encryption."
                    )
                    break
    return warnings


def delivery_denials(
    policy: Mapping[str, Any] | None,
    bucket: str,
    account: str,
    regions: Iterable[str],
    *,
    prefixes: Iterable[str] = (),
    partition: str = "aws",
) -> list[str]:
    """Why log delivery's writes into `bucket` would be refused by an explicit Deny of its bucket policy
    (one line per statement, naming its Sid), checked for each source region and log prefix. The same
    evaluator decides the sandbox's delivery (`aws.iam.deny`)."""
    found: dict[str, str] = {}
    for region in sorted(set(regions)):
        context = delivery_context(account, region, partition=partition)
        for prefix in ["", *prefixes]:
            folder = f"{delivery_folder(prefix)}/" if delivery_folder(prefix) else ""
            resource = s3_arn(bucket, f"{folder}AWSLogs/{account}/*", partition=partition)
            deny = delivery_denied_by(policy, "s3:PutObject", resource, context)
            if deny is not None and deny.label not in found:
                found[deny.label] = (
                    f"delivery to {bucket} will fail: "
                    + deny.describe("s3:PutObject", resource, policy="bucket policy")
                    + f" for {LOG_DELIVERY_SERVICE}; change that statement before applying"
                )
    return list(found.values())


def key_delivery_denial(
    key_policy: str | Mapping[str, Any] | None,
    key_arn: str,
    bucket: str,
    account: str,
    region: str,
    partition: str,
) -> str | None:
    """Why the bucket's KMS key policy would refuse log delivery (an explicit Deny), or None."""
    context = delivery_context(
        account, region, action="kms:GenerateDataKey", bucket=bucket, partition=partition
    )
    deny = delivery_denied_by(key_policy, "kms:GenerateDataKey", key_arn, context)
    if deny is None:
        return None
    return (
        f"delivery to {bucket} will fail: "
        + deny.describe("kms:GenerateDataKey", key_arn, policy="key policy")
        + f" for {LOG_DELIVERY_SERVICE}; change that statement before applying"
    )
