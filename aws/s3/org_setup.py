"""The bucket set-up's policy Changes for a bucket that receives the logs of many accounts (plans across
accounts, `aws.s3.setup.plan_buckets(members=...)`): the bucket policy and the KMS key policy let log
delivery write for every member (`aws.s3.org_policy`), within AWS's size limits. Read calls only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aws.errors import explain
from aws.permissions import declare
from aws.plans.change import Change
from aws.s3 import bucket_policy as bp
from aws.s3 import org_policy as op
from aws.s3.state import BucketState
from aws.s3.strategy import BucketTarget
from aws.session import AwsSession, partition_of

if TYPE_CHECKING:
    from aws.s3.setup import BucketSetup

PERMISSIONS = declare(__name__, read=["kms:GetKeyPolicy"])

GROUP = "bucket"


def kept_accounts(policy: dict[str, Any] | None, members: list[str]) -> list[str]:
    """The accounts the policy's org statements already list that are not among `members`."""
    return sorted(set(op.org_accounts(policy)) - set(members))


def org_bucket_policy(
    target: BucketTarget,
    state: BucketState,
    own: dict[str, Any],
    prefixes: list[str],
    members: list[str],
    after_create: list[str],
    out: BucketSetup,
) -> None:
    """The bucket policy change letting delivery write for every member below each of `prefixes` (the
    log folders, '' = the bucket's top), or a note that it already does. Accounts the policy already
    lists that are not `members` are kept, and recorded as such in the basis (`kept`: apply never adds
    one). Raises OrgPolicyTooLarge when the policy would not fit S3's 20 KB."""
    name, region = target.name, target.region
    partition = partition_of(region)
    merged = op.bucket_merge(state.policy, name, members, prefixes=prefixes, partition=partition)
    out.warnings.extend(
        f"{name}: {w}"
        for w in bp.bucket_policy_warnings(state.policy, object_ownership=state.object_ownership)
    )
    for account in members:
        out.delivery_blocked.extend(
            bp.delivery_denials(
                state.policy,
                name,
                account,
                target.sources or [region],
                prefixes=prefixes,
                partition=partition,
            )
        )
    if not merged.changed:
        out.notes.append(
            f"The bucket policy of {name} already lets log delivery write for all {len(members)} accounts."
        )
        return
    op.check_org_size(
        merged,
        what=f"bucket policy of {name}",
        bucket=name,
        prefixes=prefixes,
        partition=partition,
        base=state.policy,
    )
    size = bp.policy_size(merged.policy)
    out.changes.append(
        Change(
            id=f"s3.put-org-bucket-policy:{name}",
            kind="s3.put-org-bucket-policy",
            title=f"Let log delivery write to {name} for {len(merged.accounts)} account(s)"
            + (
                f" ({len(merged.added)} new)"
                if merged.added and len(merged.added) != len(merged.accounts)
                else ""
            ),
            reason=f"{bp.LOG_DELIVERY_SERVICE} writes each member account's log files below "
            "AWSLogs/ACCOUNT/; the bucket policy must allow it for every member (aws:SourceAccount and "
            f"aws:SourceArn), or delivery fails. The policy is {size:,} of S3's {bp.BUCKET_POLICY_LIMIT:,} bytes.",
            target=target.arn,
            service="s3",
            region=region,
            operation="PutBucketPolicy",
            params={**own, "Policy": merged.text},
            basis={
                "accounts": merged.accounts,
                "prefixes": merged.prefixes,
                "kept": kept_accounts(state.policy, members),
            },
            depends_on=after_create,
            group=GROUP,
        )
    )


def org_key_policy_change(
    session: AwsSession, target: BucketTarget, members: list[str], out: BucketSetup
) -> Change | None:
    """The KMS key policy change letting delivery use the bucket's key for every member, or None."""
    key, region = target.kms_key_arn, target.region
    try:
        text = session.client("kms", region).get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    except ClientError as err:
        raise explain(err, service="kms") from err
    for account in members:
        denied = bp.key_delivery_denial(text, key, target.name, account, region, partition_of(region))
        if denied and denied not in out.delivery_blocked:
            out.delivery_blocked.append(denied)
    current = bp.parse_policy(text)
    merged = op.key_merge(current, members, partition=partition_of(region))
    if not merged.changed:
        return None
    op.check_org_size(merged, what=f"key policy of {key}", bucket=target.name, base=current, key=True)
    return Change(
        id=f"kms.put-org-key-policy:{key}",
        kind="kms.put-org-key-policy",
        title=f"Let log delivery use KMS key {key.rsplit('/', 1)[-1]} for {len(merged.accounts)} account(s)",
        reason="Log delivery encrypts each member's files with the bucket's key; the key policy must allow it "
        "for every member (aws:SourceAccount), or delivery fails ('Access error').",
        target=key,
        service="kms",
        region=region,
        operation="PutKeyPolicy",
        params={"KeyId": key, "PolicyName": "default", "Policy": merged.text},
        basis={"accounts": merged.accounts, "kept": kept_accounts(current, members)},
        group=GROUP,
    )
