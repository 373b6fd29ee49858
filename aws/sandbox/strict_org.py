"""The strict sandbox's rules for logs of one account delivered into another account's bucket (AWS
Organizations, a central log bucket), and for the bucket policy's size. moto (5.2.x) enforces neither.

`apply_org_fixes()` is called by `aws.sandbox.strict.apply_strict_fixes()`; it is idempotent.

* Cross-account destinations. moto looks a bucket up across accounts and lets CreateFlowLogs (and
  Network Firewall's UpdateLoggingConfiguration) point any account's logs at it. AWS: "If the user
  creating the flow log owns the bucket and has PutBucketPolicy and GetBucketPolicy permissions ... we
  automatically attach the policy. Otherwise, the bucket owner must add this policy to the bucket,
  specifying the AWS account ID of the flow log creator, or flow log creation fails."
  https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html
  `cross_account_refusal()` is that check: the bucket policy must let `delivery.logs.amazonaws.com`
  s3:PutObject below `AWSLogs/{creator}/` and s3:GetBucketAcl on the bucket, with its conditions
  (aws:SourceAccount, aws:SourceArn) evaluated for the creator's account (`delivery_allowed`); an
  explicit Deny wins. Refused: CreateFlowLogs reports the resource in `Unsuccessful[]` with AWS's message
  "Access Denied for LogDestination: BUCKET. Please check LogDestination permission." (as AWS users
  report it; the error code there, "400", is unverified); UpdateLoggingConfiguration fails with
  `LogDestinationPermissionException` (Network Firewall's documented error for this). The delivery
  simulator (aws/sandbox/delivery.py) judges every cross-account write the same way, so a member whose
  account the policy stops listing fails delivery ("Access error").
* Bucket policy size. S3 caps a bucket policy at 20 KB ("The maximum size of a policy is 20 KB",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html); moto stores any size.
  PutBucketPolicy of a document over 20,480 bytes (counted as compact JSON: AWS normalises whitespace
  before counting) is refused with `PolicyTooLarge` (HTTP 400; S3's error list documents no code for
  this case, so the code is unverified: flowlogs never sends such a policy, it refuses at plan time).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from aws.iam.deny import DELIVERY_SERVICE, condition_met, delivery_context, delivery_denied_by
from aws.regions import partition_of

BUCKET_POLICY_LIMIT = 20_480
ACCESS_DENIED = "Access Denied for LogDestination: {bucket}. Please check LogDestination permission."

_lock = threading.Lock()
_applied = False


def apply_org_fixes() -> None:
    """Patch moto once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        _fix_bucket_policy_size()
        _applied = True


# -- delivery for another account --------------------------------------------------------------------


def _load(policy: str | bytes | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        return policy
    try:
        doc = json.loads(policy)
    except ValueError:
        return None
    return doc if isinstance(doc, Mapping) else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


def _allows(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    from aws.sandbox.moto_fixes import _statement_applies

    if statement.get("Effect") != "Allow" or not _statement_applies(dict(statement), action, resource):
        return False
    return condition_met(statement.get("Condition"), context)


def delivery_allowed(
    policy: str | bytes | Mapping[str, Any] | None,
    action: str,
    resource: str,
    account: str,
    region: str,
    *,
    bucket: str | None = None,
) -> bool:
    """Does the resource policy let log delivery do `action` on `resource` for `account`'s logs, with
    every condition of the Allow evaluated for that account (and no explicit Deny)?"""
    doc = _load(policy)
    if not doc:
        return False
    partition = partition_of(region)
    context = delivery_context(account, region, action=action, bucket=bucket, partition=partition)
    if delivery_denied_by(doc, action, resource, context) is not None:
        return False
    found = doc.get("Statement")
    return any(_allows(s, action, resource, context) for s in _as_list(found) if isinstance(s, Mapping))


def cross_account_refusal(bucket: Any, base: str, account: str, region: str) -> str | None:
    """Why AWS refuses to create a log delivery for `account` into a moto `bucket` another account owns
    (None: it is the account's own bucket, or its policy lets delivery write for the account). `base`:
    what precedes `AWSLogs/` in the delivered keys."""
    if bucket.account_id == account:
        return None
    partition = partition_of(region)
    probe = f"arn:{partition}:s3:::{bucket.name}/{base}AWSLogs/{account}/probe.log.gz"
    bucket_arn = f"arn:{partition}:s3:::{bucket.name}"
    if delivery_allowed(bucket.policy, "s3:PutObject", probe, account, region) and delivery_allowed(
        bucket.policy, "s3:GetBucketAcl", bucket_arn, account, region
    ):
        return None
    return ACCESS_DENIED.format(bucket=bucket.name)


# -- bucket policy size -------------------------------------------------------------------------------


def policy_bytes(policy: bytes | str) -> int:
    """A policy's size as S3 counts it (approximately): compact JSON, whitespace outside strings dropped."""
    text = policy.decode() if isinstance(policy, bytes) else policy
    try:
        return len(json.dumps(json.loads(text), separators=(",", ":")).encode())
    except ValueError:
        return len(text.encode())


def _fix_bucket_policy_size() -> None:
    from moto.s3 import models as s3_models
    from moto.s3.exceptions import S3ClientError

    original = s3_models.S3Backend.put_bucket_policy

    def put_bucket_policy(self: Any, bucket_name: str, policy: bytes) -> None:
        size = policy_bytes(policy)
        if size > BUCKET_POLICY_LIMIT:
            raise S3ClientError(
                "PolicyTooLarge",
                f"The bucket policy is {size} bytes; the maximum size of a bucket policy is 20 KB "
                f"({BUCKET_POLICY_LIMIT} bytes).",
            )
        original(self, bucket_name, policy)

    s3_models.S3Backend.put_bucket_policy = put_bucket_policy  # type: ignore[method-assign]


__all__ = ["DELIVERY_SERVICE", "apply_org_fixes", "cross_account_refusal", "delivery_allowed"]
