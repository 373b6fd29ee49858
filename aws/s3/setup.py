"""Bucket set-up planning: the Changes that make each chosen bucket receive logs.

`plan_buckets` checks the choice (`aws.s3.strategy`) and its KMS keys (`aws.s3.kms`), reads each bucket's
current state (`aws.s3.state`) with read calls only, and returns a `BucketSetup`: the Changes (create,
KMS key policy, default encryption, public-access block, log-delivery bucket policy, optional lifecycle,
and last, for a bucket it creates, flowlogs' tags (`aws.tags`); every later one depending on the create,
the encryption also on the key policy), warnings about known silent failures, notes on what is reused or
already right, and the explicit Denies that would block delivery. It raises ValidationFailed for input
that cannot work (see its docstring). Nothing is changed here: the executors (`aws.s3.executors`,
`aws.s3.policy_executors`) check and apply each kind of Change. `describe_setup` is the plain-text
summary for the CLI and logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from aws.errors import ValidationFailed, explain
from aws.names import ACCOUNT_REGIONAL, delivery_folder, is_account_regional, parse_kms_key_arn
from aws.permissions import declare
from aws.plans.change import Change
from aws.s3 import bucket_policy as bp
from aws.s3 import org_policy as op
from aws.s3.kms import check_kms_key, resolve_key
from aws.s3.org_setup import org_bucket_policy, org_key_policy_change
from aws.s3.settings import (
    PUBLIC_ACCESS_BLOCK,
    describe_encryption,
    encryption_matches,
    encryption_rule,
    lifecycle_rules,
    merge_lifecycle_rules,
)
from aws.s3.state import BucketState, inspect_bucket
from aws.s3.strategy import BucketChoice, BucketTarget, bucket_targets
from aws.session import AwsSession, partition_of
from aws.tags import MANAGED_BY, MANAGED_BY_VALUE, TAG_BUCKET, our_tags

PERMISSIONS = declare(__name__, read=["kms:GetKeyPolicy"])

GROUP = "bucket"


class BucketSetup(BaseModel):
    """The bucket part of a plan: the Changes, and what the user should read before applying."""

    buckets: list[BucketTarget]
    changes: list[Change] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="Known silent failures found")
    notes: list[str] = Field(default_factory=list, description="What is reused or already right")
    delivery_blocked: list[str] = Field(
        default_factory=list,
        description="Explicit Denies in a bucket or key policy that make log delivery fail (with the Sid)",
    )


def plan_buckets(
    session: AwsSession,
    choice: BucketChoice,
    account: str,
    *,
    members: Mapping[str, Sequence[str]] | None = None,
    folders: Sequence[str] | None = None,
) -> BucketSetup:
    """Read the current state of every bucket the choice makes and return the Changes it needs.

    Read calls only. Raises ValidationFailed for input that cannot work: invalid names, someone else's
    bucket, a bucket in the wrong region, an unusable KMS key, a bucket requiring SSE-C, a merged policy
    over its size limit.

    `members` (bucket name -> accounts, for plans across accounts): the bucket and key policies let log
    delivery write for those accounts (`aws.s3.org_policy`) instead of `account` alone, below each of
    `folders` ('' = the bucket's top `AWSLogs/`; default: the top and each of the choice's prefixes).
    """
    targets = bucket_targets(choice, account)
    for target in targets:
        if target.kms_key_arn:
            check_kms_key(session, target.kms_key_arn, target.region, account)
    prefixes = [delivery_folder(p) for p in choice.prefixes]
    org_folders = list(dict.fromkeys(delivery_folder(f) for f in folders)) if folders is not None else None

    def one(target: BucketTarget) -> BucketSetup:
        state = inspect_bucket(session, target.name, target.region, account)
        accounts = list((members or {}).get(target.name, ()))
        return _bucket_changes(
            session, target, state, account, prefixes, choice.lifecycle_days, accounts, org_folders
        )

    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        parts = list(pool.map(one, targets))
    setup = BucketSetup(buckets=targets)
    for part in parts:
        setup.changes.extend(part.changes)
        setup.warnings.extend(part.warnings)
        setup.notes.extend(part.notes)
        setup.delivery_blocked.extend(part.delivery_blocked)
    return setup


def bucket_changes(session: AwsSession, choice: BucketChoice, account: str) -> list[Change]:
    """Just the Changes of `plan_buckets` (warnings and notes dropped)."""
    return plan_buckets(session, choice, account).changes


def _change(target: BucketTarget, kind: str, operation: str, **fields: Any) -> Change:
    return Change(
        id=f"{kind}:{target.name}",
        kind=kind,
        service="s3",
        region=target.region,
        operation=operation,
        target=target.arn,
        group=GROUP,
        **fields,
    )


def _bucket_changes(
    session: AwsSession,
    target: BucketTarget,
    state: BucketState,
    account: str,
    prefixes: list[str],
    lifecycle_days: int | None,
    members: list[str] | None = None,
    org_folders: list[str] | None = None,
) -> BucketSetup:
    out = BucketSetup(buckets=[target])
    name, region = target.name, target.region
    own = {"Bucket": name, "ExpectedBucketOwner": account}
    after_create: list[str] = []

    if bp.requires_sse_c(state.policy):
        raise ValidationFailed(
            f"The bucket {name!r} requires SSE-C (customer-provided keys) for uploads in its bucket policy. "
            "Kentik cannot read SSE-C objects, and log delivery cannot supply a customer key. Use another "
            "bucket, or remove that requirement and plan again."
        )

    if state.exists:
        out.notes.append(f"Bucket {name} already exists in your account in {region}: it will be reused.")
    else:
        params: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        regional_ns = is_account_regional(name)
        if regional_ns:
            params["BucketNamespace"] = ACCOUNT_REGIONAL
        create = _change(
            target,
            "s3.create-bucket",
            "CreateBucket",
            title=f"Create bucket {name} in {region}",
            reason="Flow and firewall logs are delivered to this bucket "
            + (
                f"(central bucket for {', '.join(target.sources)})."
                if len(target.sources) > 1
                else "(regional bucket)."
            )
            + (
                f" It goes in account {account}'s account-regional namespace: no other account can "
                "create or take this name."
                if regional_ns
                else ""
            ),
            params=params,
        )
        out.changes.append(create)
        after_create = [create.id]

    # SSE-KMS: the key policy first, so nothing is encrypted with a key log delivery may not use.
    key_change: list[str] = []
    if target.kms_key_arn:
        kc = (
            org_key_policy_change(session, target, members, out)
            if members
            else _key_policy_change(session, target, account, out)
        )
        if kc:
            out.changes.append(kc)
            key_change = [kc.id]
        else:
            out.notes.append(f"The key policy of {target.kms_key_arn} already lets log delivery use the key.")

    enc = _encryption_change(session, target, state, own, after_create + key_change, out)
    if enc:
        out.changes.append(enc)

    pab = _public_access_change(target, state, own, after_create)
    if pab:
        out.changes.append(pab)
    elif state.exists:
        out.notes.append(f"Bucket {name} already blocks all public access.")

    if members:
        folders = org_folders if org_folders is not None else ["", *prefixes]
        org_bucket_policy(target, state, own, folders, members, after_create, out)
    else:
        _bucket_policy(target, state, own, account, prefixes, after_create, out)
    if lifecycle_days:
        lc = _lifecycle_change(target, state, own, lifecycle_days, prefixes, after_create)
        if lc:
            out.changes.append(lc)
        else:
            out.notes.append(f"{name} already expires log files after {lifecycle_days} days.")
    if after_create:  # only a bucket this plan creates is tagged as flowlogs'
        out.changes.append(_tag_change(target, own, after_create))
    return out


def _bucket_policy(
    target: BucketTarget,
    state: BucketState,
    own: dict[str, Any],
    account: str,
    prefixes: list[str],
    after_create: list[str],
    out: BucketSetup,
) -> None:
    """The one-account log delivery statements of the bucket policy."""
    name, region = target.name, target.region
    partition = partition_of(region)
    required = bp.bucket_log_delivery_statements(name, account, prefixes=prefixes, partition=partition)
    org_form = op.bucket_grant_for(name, account, prefixes=prefixes, partition=partition)
    merged = op.merge_one_account(state.policy, required, org_form)
    out.warnings.extend(
        f"{name}: {w}"
        for w in bp.bucket_policy_warnings(state.policy, object_ownership=state.object_ownership)
    )
    out.delivery_blocked.extend(
        bp.delivery_denials(
            state.policy, name, account, target.sources or [region], prefixes=prefixes, partition=partition
        )
    )
    if merged.changed:
        bp.check_size(merged.policy, bp.BUCKET_POLICY_LIMIT, f"bucket policy of {name}")
        kept = len(bp.statements(state.policy))
        out.changes.append(
            _change(
                target,
                "s3.put-bucket-policy",
                "PutBucketPolicy",
                title=f"Let log delivery write to {name}"
                + (f" (adds {len(merged.added)} statement(s), keeps the {kept} existing)" if kept else ""),
                reason=f"{bp.LOG_DELIVERY_SERVICE} writes the log files; it needs s3:PutObject under AWSLogs/ "
                "and the ACL check, scoped to this account. Without them delivery fails while the flow log "
                "still shows ACTIVE.",
                params={**own, "Policy": merged.text},
                basis={"prefixes": prefixes},
                depends_on=after_create,
            )
        )
    else:
        out.notes.append(f"The bucket policy of {name} already lets log delivery write.")


def _tag_change(target: BucketTarget, own: dict[str, Any], after_create: list[str]) -> Change:
    """Tags a bucket this plan creates as flowlogs' (aws.tags): `managed-by` now, the plan's id once the
    plan is whole (`tag_plan`). Buckets that already exist are never tagged."""
    return _change(
        target,
        TAG_BUCKET,
        "PutBucketTagging",
        title=f"Tag bucket {target.name} as made by flowlogs ({MANAGED_BY}={MANAGED_BY_VALUE}, plan id)",
        reason="So people and audits can tell the buckets flowlogs made apart, and which plan made each; "
        "any tag the bucket has by then is kept.",
        params={**own, "Tagging": {"TagSet": our_tags()}},
        depends_on=after_create,
    )


def _key_policy_change(
    session: AwsSession, target: BucketTarget, account: str, out: BucketSetup
) -> Change | None:
    key = target.kms_key_arn
    region = target.region
    try:
        text = session.client("kms", region).get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    except ClientError as err:
        raise explain(err, service="kms") from err
    denied = bp.key_delivery_denial(text, key, target.name, account, region, partition_of(region))
    if denied:
        out.delivery_blocked.append(denied)
    required = [bp.key_log_delivery_statement(account, partition=partition_of(region))]
    org_form = op.key_grant_for(account, partition=partition_of(region))
    merged = op.merge_one_account(bp.parse_policy(text), required, org_form)
    if not merged.changed:
        return None
    bp.check_size(merged.policy, bp.KEY_POLICY_LIMIT, f"key policy of {key}")
    return Change(
        id=f"kms.put-key-policy:{key}",
        kind="kms.put-key-policy",
        title=f"Let log delivery use KMS key {key.rsplit('/', 1)[-1]} (keeps the existing key policy)",
        reason="Log delivery encrypts each file with the bucket's key; without kms:GenerateDataKey* and "
        "friends it fails ('Access error') while the flow log still shows ACTIVE.",
        target=key,
        service="kms",
        region=region,
        operation="PutKeyPolicy",
        params={"KeyId": key, "PolicyName": "default", "Policy": merged.text},
        group=GROUP,
    )


def _encryption_change(
    session: AwsSession,
    target: BucketTarget,
    state: BucketState,
    own: dict[str, Any],
    depends: list[str],
    out: BucketSetup,
) -> Change | None:
    name = target.name
    wanted = encryption_rule(target.kms_key_arn, state.encryption)
    label = describe_encryption(wanted)
    if state.exists and encryption_matches(state.encryption, wanted):
        out.notes.append(f"{name} already uses {label}.")
        return None
    destructive = False
    reason = (
        "Recommended default encryption (SSE-S3): no extra set-up for log delivery or Kentik."
        if not target.kms_key_arn
        else "SSE-KMS with your customer-managed key, named by ARN so log delivery resolves it."
    )
    current = state.encryption
    if state.exists and current:
        default = current.get("ApplyServerSideEncryptionByDefault", {})
        algo = default.get("SSEAlgorithm", "")
        existing_key = default.get("KMSMasterKeyID", "")
        same_key = False
        if algo == "aws:kms" and existing_key and target.kms_key_arn and not parse_kms_key_arn(existing_key):
            out.warnings.append(
                f"{name}: the default encryption names its KMS key as {existing_key!r} (a key id or alias, not "
                "an ARN): log delivery can fail silently with that."
            )
            same_key = resolve_key(session, existing_key, target.region) == target.kms_key_arn
        if same_key:
            reason = f"Same key, named by its ARN instead of {existing_key!r}, so log delivery resolves it."
        else:
            destructive = True
            reason = (
                f"Replaces the bucket's current default encryption ({describe_encryption(current)}) with "
                f"{label}. New objects are encrypted differently; existing objects are unchanged."
            )
            if algo.startswith("aws:kms") and not target.kms_key_arn:
                out.warnings.append(
                    f"{name} uses {describe_encryption(current)}. To keep it, choose SSE-KMS with that key's "
                    "ARN (it must be a customer-managed key) instead of SSE-S3."
                )
    return _change(
        target,
        "s3.replace-encryption" if destructive else "s3.put-encryption",
        "PutBucketEncryption",
        title=f"Set default encryption of {name} to {label}",
        reason=reason,
        params={**own, "ServerSideEncryptionConfiguration": {"Rules": [wanted]}},
        depends_on=depends,
    )


def _public_access_change(
    target: BucketTarget, state: BucketState, own: dict[str, Any], depends: list[str]
) -> Change | None:
    current = state.public_access_block
    if state.exists and current and all(current.get(k) for k in PUBLIC_ACCESS_BLOCK):
        return None
    destructive = False
    reason = "The log bucket must never be public; Kentik reads it through its IAM role."
    if state.exists:
        open_now = [k for k in PUBLIC_ACCESS_BLOCK if current and current.get(k) is False]
        if open_now or state.policy_is_public:
            destructive = True
            why = []
            if open_now:
                why.append(f"turns on {', '.join(open_now)}, which are currently off")
            if state.policy_is_public:
                why.append("the current bucket policy makes the bucket public; that access will stop")
            reason = f"Replaces the bucket's public-access settings: {'; '.join(why)}."
    return _change(
        target,
        "s3.replace-public-access-block" if destructive else "s3.put-public-access-block",
        "PutPublicAccessBlock",
        title=f"Block all public access to {target.name}",
        reason=reason,
        params={**own, "PublicAccessBlockConfiguration": dict(PUBLIC_ACCESS_BLOCK)},
        depends_on=depends,
    )


def _lifecycle_change(
    target: BucketTarget,
    state: BucketState,
    own: dict[str, Any],
    days: int,
    prefixes: list[str],
    depends: list[str],
) -> Change | None:
    merge = merge_lifecycle_rules(state.lifecycle_rules, lifecycle_rules(days, prefixes))
    if not merge.changed:
        return None
    kept = len(state.lifecycle_rules or [])
    reason = (
        f"Cost control: log files under AWSLogs/ are deleted {days} days after delivery, so storage does not "
        "grow forever. Kentik only needs recent files."
    )
    if merge.replaced:
        reason += f" Replaces the settings of the earlier rule(s) {', '.join(merge.replaced)}."
    params: dict[str, Any] = {**own, "LifecycleConfiguration": {"Rules": merge.rules}}
    params.update(state.lifecycle_extra)
    return _change(
        target,
        "s3.replace-lifecycle" if merge.replaced else "s3.put-lifecycle",
        "PutBucketLifecycleConfiguration",
        title=f"Expire log files in {target.name} after {days} days"
        + (f" (keeps the {kept} existing rule(s))" if kept else ""),
        reason=reason,
        params=params,
        basis={"days": days, "prefixes": prefixes},
        depends_on=depends,
    )


def describe_setup(setup: BucketSetup) -> str:
    """Plain-text summary of a bucket set-up (for the CLI and logs)."""
    lines = [f"Bucket(s): {', '.join(f'{b.name} ({b.region})' for b in setup.buckets)}"]
    lines += [f"  note: {n}" for n in setup.notes]
    lines += [f"  WARNING: {w}" for w in setup.warnings]
    lines += [f"  - {c.describe()}" for c in setup.changes]
    if not setup.changes:
        lines.append("  Nothing to change.")
    return "\n".join(lines)
