"""The bucket settings flowlogs wants, and how they combine with what a bucket has. No AWS call.

* Encryption: `encryption_rule` is the default-encryption rule (SSE-S3, or SSE-KMS by key ARN with an S3
  Bucket Key), keeping the settings of an existing rule this tool does not choose; `encryption_matches`
  says whether a bucket's rule already gives the wanted one, `describe_encryption` names a rule for people.
* Public access: `PUBLIC_ACCESS_BLOCK`, every block on.
* Lifecycle: `lifecycle_rules` expire log files under `AWSLogs/` (and `PREFIX/AWSLogs/`) after N days,
  with IDs starting `LIFECYCLE_ID_PREFIX`; `merge_lifecycle_rules` keeps every existing rule (same order,
  same content), adds the wanted rules no enabled rule grants yet, and replaces an earlier rule of ours
  with other settings in place (reported in `LifecycleMerge.replaced`). Merging twice changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws.names import delivery_folder

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
LIFECYCLE_ID_PREFIX = "flowlogs-tui-expire-"


def encryption_rule(key_arn: str = "", existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The default-encryption rule: SSE-S3, or SSE-KMS with the key ARN (and an S3 Bucket Key).

    Settings of an existing rule this tool does not choose (such as blocked encryption types) are kept.
    """
    rule: dict[str, Any] = {
        "ApplyServerSideEncryptionByDefault": (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn} if key_arn else {"SSEAlgorithm": "AES256"}
        )
    }
    if key_arn:
        rule["BucketKeyEnabled"] = True
    if existing and "BlockedEncryptionTypes" in existing:
        rule["BlockedEncryptionTypes"] = copy.deepcopy(existing["BlockedEncryptionTypes"])
    return rule


def encryption_matches(rule: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    if not rule:
        return False
    have = rule.get("ApplyServerSideEncryptionByDefault", {})
    want = wanted.get("ApplyServerSideEncryptionByDefault", {})
    if have.get("SSEAlgorithm") != want.get("SSEAlgorithm"):
        return False
    return want.get("SSEAlgorithm") != "aws:kms" or have.get("KMSMasterKeyID") == want.get("KMSMasterKeyID")


def describe_encryption(rule: Mapping[str, Any] | None) -> str:
    if not rule:
        return "no default encryption"
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    algo = default.get("SSEAlgorithm", "?")
    names = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}
    text = names.get(algo, algo)
    if algo.startswith("aws:kms"):
        text += f" with key {default.get('KMSMasterKeyID') or 'aws/s3 (AWS-managed)'}"
    return text


def lifecycle_rules(days: int, prefixes: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Expire log files under `AWSLogs/` (and `PREFIX/AWSLogs/`) after `days` days."""
    rules = []
    for prefix in ["", *prefixes]:
        cleaned = delivery_folder(prefix)
        key_prefix = f"{cleaned}/AWSLogs/" if cleaned else "AWSLogs/"
        rule = {
            "ID": f"{LIFECYCLE_ID_PREFIX}{key_prefix}"[:255],
            "Filter": {"Prefix": key_prefix},
            "Status": "Enabled",
            "Expiration": {"Days": days},
        }
        if rule not in rules:
            rules.append(rule)
    return rules


def rule_prefix(rule: Mapping[str, Any]) -> str | None:
    flt = rule.get("Filter")
    if isinstance(flt, Mapping):
        if set(flt) - {"Prefix"}:
            return None  # tag or size filters: not the same rule
        return str(flt.get("Prefix", ""))
    return str(rule.get("Prefix", "")) if "Prefix" in rule else None


def rule_grants(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return (
        existing.get("Status") == "Enabled"
        and rule_prefix(existing) == rule_prefix(wanted)
        and existing.get("Expiration", {}).get("Days") == wanted["Expiration"]["Days"]
    )


@dataclass
class LifecycleMerge:
    rules: list[dict[str, Any]]
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # IDs of our earlier rules whose settings change

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


def merge_lifecycle_rules(
    existing: Sequence[Mapping[str, Any]] | None, wanted: Sequence[Mapping[str, Any]]
) -> LifecycleMerge:
    """Existing rules kept (same order, same content) plus the wanted ones that are not there yet.

    A wanted rule already granted by an enabled rule with the same prefix and days is not added again; an
    earlier rule of ours (same ID) with other settings is replaced in place (reported in `replaced`).
    """
    rules = [copy.deepcopy(dict(r)) for r in existing or []]
    merge = LifecycleMerge(rules=rules)
    for want in wanted:
        if any(rule_grants(r, want) for r in rules):
            continue
        same_id = next((i for i, r in enumerate(rules) if r.get("ID") == want["ID"]), None)
        if same_id is not None:
            rules[same_id] = copy.deepcopy(dict(want))
            merge.replaced.append(str(want["ID"]))
        else:
            rules.append(copy.deepcopy(dict(want)))
            merge.added.append(str(want["ID"]))
    return merge
