"""A bucket's current state, read with S3 read calls only (nothing here changes AWS).

* `bucket_exists`: True when the name is this account's bucket in the region, False when no such bucket
  exists; ValidationFailed when the name is someone else's (or not readable) or the bucket is ours but in
  another region.
* `require_owned`: before logs are pointed at a bucket, ValidationFailed unless it is a bucket of the
  account (HeadBucket with ExpectedBucketOwner).
* `inspect_bucket`: the bucket's `BucketState` (default encryption, public-access block, policy and
  whether it is public, object ownership, lifecycle rules); `exists` False and nothing else when there is
  no bucket.
* `read_if_exists`: a read call's response, or None when AWS says the configuration does not exist (the
  executors use it too); `in_own_namespace`: a name of the account's account-regional namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from aws.errors import ValidationFailed, error_code, explain
from aws.names import account_regional_parts
from aws.permissions import declare
from aws.regions import region_of_location
from aws.s3 import bucket_policy as bp
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=[
        "s3:HeadBucket",
        "s3:GetBucketLocation",
        "s3:GetBucketEncryption",
        "s3:GetPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketLifecycleConfiguration",
    ],
)


@dataclass
class BucketState:
    """What a bucket looks like now (read calls only). `exists` False: everything else is empty."""

    name: str
    region: str
    exists: bool = False
    encryption: dict[str, Any] | None = None  # the first default-encryption rule
    public_access_block: dict[str, bool] | None = None
    policy: dict[str, Any] | None = None
    policy_is_public: bool = False
    object_ownership: str | None = None
    lifecycle_rules: list[dict[str, Any]] | None = None
    lifecycle_extra: dict[str, Any] = field(default_factory=dict)


def read_if_exists(
    call: Callable[..., dict[str, Any]], missing: Iterable[str], **params: Any
) -> dict[str, Any] | None:
    """The response of a read call, or None when AWS says the configuration does not exist."""
    try:
        response = call(**params)
    except ClientError as err:
        if error_code(err) in set(missing):
            return None
        raise
    response.pop("ResponseMetadata", None)
    return response


def bucket_exists(session: AwsSession, name: str, region: str, account: str) -> bool:
    """True when `name` is this account's bucket in `region`; False when no such bucket exists.

    Raises ValidationFailed when the name belongs to someone else (or is not accessible) or when the
    bucket is ours but in another region.
    """
    s3 = session.client("s3", region)
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as err:
        code = error_code(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            if in_own_namespace(name, account):
                raise ValidationFailed(
                    f"The bucket {name!r} exists, but this identity may not read it (HeadBucket was "
                    f"refused). It is in account {account}'s account-regional namespace, so no other account "
                    "owns it: grant s3:ListBucket on it (and the other bucket reads) and plan again.",
                ) from err
            raise ValidationFailed(
                f"The bucket name {name!r} is taken: the bucket exists but is not accessible to account "
                f"{account} (it belongs to another AWS account, or this identity may not read it). Bucket names "
                "are global; choose another name (adding the account id helps).",
            ) from err
        raise explain(err, service="s3") from err
    try:
        location = s3.get_bucket_location(Bucket=name, ExpectedBucketOwner=account).get("LocationConstraint")
    except ClientError as err:
        raise explain(err, service="s3") from err
    actual = region_of_location(location)
    if actual != region:
        raise ValidationFailed(
            f"Your bucket {name!r} already exists in {actual}, not in {region} as planned. A bucket cannot "
            f"move: choose {actual} for it, or another name."
        )
    return True


def require_owned(session: AwsSession, name: str, account: str) -> None:
    """Before logs are pointed at `name`: it must be a bucket of `account` (HeadBucket with
    ExpectedBucketOwner). Refuses (ValidationFailed) a bucket of another account or none at all."""
    try:
        session.client("s3", "us-east-1").head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as err:
        if error_code(err) in ("403", "AccessDenied", "Forbidden", "404", "NoSuchBucket", "NotFound"):
            raise ValidationFailed(
                f"Logs would go to bucket {name!r}, which is not a bucket of account {account} (or not "
                "readable by this identity). Nothing was sent for this change.",
                hint="Make the plan again; flowlogs only sends logs to buckets of the account it plans for.",
            ) from err
        raise explain(err, service="s3") from err


def in_own_namespace(name: str, account: str) -> bool:
    """An account-regional name of `account`: nobody else can own that bucket."""
    parts = account_regional_parts(name)
    return parts is not None and parts[1] == account


def inspect_bucket(session: AwsSession, name: str, region: str, account: str) -> BucketState:
    """The bucket's current state, read-only. See `bucket_exists` for the errors."""
    state = BucketState(name=name, region=region)
    if not bucket_exists(session, name, region, account):
        return state
    state.exists = True
    s3 = session.client("s3", region)
    own = {"Bucket": name, "ExpectedBucketOwner": account}
    try:
        enc = read_if_exists(
            s3.get_bucket_encryption, ["ServerSideEncryptionConfigurationNotFoundError"], **own
        )
        rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        state.encryption = rules[0] if rules else None
        pab = read_if_exists(s3.get_public_access_block, ["NoSuchPublicAccessBlockConfiguration"], **own)
        state.public_access_block = (pab or {}).get("PublicAccessBlockConfiguration")
        pol = read_if_exists(s3.get_bucket_policy, ["NoSuchBucketPolicy"], **own)
        state.policy = bp.parse_policy((pol or {}).get("Policy"))
        if state.policy:
            status = read_if_exists(s3.get_bucket_policy_status, ["NoSuchBucketPolicy"], **own)
            state.policy_is_public = bool((status or {}).get("PolicyStatus", {}).get("IsPublic"))
        own_ctl = read_if_exists(s3.get_bucket_ownership_controls, ["OwnershipControlsNotFoundError"], **own)
        ctl_rules = (own_ctl or {}).get("OwnershipControls", {}).get("Rules", [])
        state.object_ownership = ctl_rules[0].get("ObjectOwnership") if ctl_rules else None
        life = read_if_exists(s3.get_bucket_lifecycle_configuration, ["NoSuchLifecycleConfiguration"], **own)
        state.lifecycle_rules = (life or {}).get("Rules")
        state.lifecycle_extra = {k: v for k, v in (life or {}).items() if k != "Rules"}
    except ClientError as err:
        raise explain(err, service="s3") from err
    return state
