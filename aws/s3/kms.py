"""Customer-managed KMS keys for SSE-KMS buckets (KMS read calls only).

* `list_customer_managed_keys`: the keys of a region a bucket there could use (enabled, symmetric,
  customer-managed; AWS-managed keys such as aws/s3 left out). A key whose DescribeKey is refused is
  listed after the usable ones with `KmsKey.problem` saying why, instead of failing the list.
* `check_kms_key`: the key named by ARN when the bucket in that region of that account can use it for log
  delivery; ValidationFailed saying why not otherwise (format problems via `key_arn_problem`, then a
  missing, AWS-managed, disabled or asymmetric key).
* `resolve_key`: the ARN of a key named by id, alias or ARN; '' when KMS does not resolve it.

Errors of the calls are explained (`aws.errors.explain`), except where a function says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aws.errors import ValidationFailed, error_code, explain
from aws.permissions import declare
from aws.s3.strategy import key_arn_problem
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=["kms:ListKeys", "kms:ListAliases", "kms:DescribeKey"],
)


@dataclass(frozen=True)
class KmsKey:
    key_id: str
    arn: str
    region: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    state: str = ""
    manager: str = ""
    problem: str = ""  # why the key cannot be used; '' = usable

    @property
    def usable(self) -> bool:
        return not self.problem

    @property
    def label(self) -> str:
        return f"{', '.join(self.aliases) or self.key_id} ({self.arn})"


# DescribeKey refused by the key policy (or an IAM policy): the key is listed as unusable, not fatal.
_KEY_REFUSED = ("AccessDeniedException", "AccessDenied")


def _is_aws_managed(manager: str, aliases: Iterable[str]) -> bool:
    return manager == "AWS" or any(a.startswith("alias/aws/") for a in aliases)


def _aliases_by_key(session: AwsSession, region: str, key_id: str | None = None) -> dict[str, list[str]]:
    kms = session.client("kms", region)
    out: dict[str, list[str]] = {}
    kwargs = {"KeyId": key_id} if key_id else {}
    for page in kms.get_paginator("list_aliases").paginate(**kwargs):
        for alias in page.get("Aliases", []):
            if alias.get("TargetKeyId"):
                out.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    return out


def _kms_key(meta: Mapping[str, Any], region: str, aliases: Iterable[str]) -> KmsKey:
    return KmsKey(
        key_id=meta["KeyId"],
        arn=meta["Arn"],
        region=region,
        aliases=tuple(sorted(aliases)),
        description=meta.get("Description", ""),
        state=meta.get("KeyState", ""),
        manager=meta.get("KeyManager", ""),
    )


def _usable(meta: Mapping[str, Any]) -> bool:
    return (
        meta.get("KeyState") == "Enabled"
        and meta.get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
        and meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT")) == "SYMMETRIC_DEFAULT"
    )


def list_customer_managed_keys(session: AwsSession, region: str) -> list[KmsKey]:
    """Enabled symmetric customer-managed keys in `region` (AWS-managed keys such as aws/s3 left out).

    A key whose DescribeKey is refused (its key policy does not let this identity read it) cannot be
    checked: it is listed after the usable keys with `problem` saying why, instead of failing the list.
    """
    try:
        kms = session.client("kms", region)
        listed = [k for page in kms.get_paginator("list_keys").paginate() for k in page.get("Keys", [])]
        aliases = _aliases_by_key(session, region)

        def describe(key_id: str) -> dict[str, Any] | ClientError:
            try:
                meta: dict[str, Any] = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            except ClientError as err:
                if error_code(err) in _KEY_REFUSED:
                    return err
                raise
            return meta

        with ThreadPoolExecutor(max_workers=8) as pool:
            metas = list(pool.map(describe, [k["KeyId"] for k in listed]))
    except ClientError as err:
        raise explain(err, service="kms") from err
    keys: list[KmsKey] = []
    for entry, meta in zip(listed, metas, strict=True):
        names = aliases.get(entry["KeyId"], [])
        if isinstance(meta, ClientError):
            if not _is_aws_managed("", names):
                keys.append(_refused_key(entry, region, names, meta))
        elif not _is_aws_managed(meta.get("KeyManager", ""), names) and _usable(meta):
            keys.append(_kms_key(meta, region, names))
    return sorted(keys, key=lambda k: (not k.usable, k.aliases[:1] or ("~",), k.key_id))


def _refused_key(entry: Mapping[str, Any], region: str, aliases: Iterable[str], err: ClientError) -> KmsKey:
    key_id = str(entry["KeyId"])
    return KmsKey(
        key_id=key_id,
        arn=str(entry.get("KeyArn") or key_id),
        region=region,
        aliases=tuple(sorted(aliases)),
        problem=f"DescribeKey was refused ({error_code(err)}): the key policy does not let this identity "
        "read the key, so it cannot be checked or used here.",
    )


def check_kms_key(session: AwsSession, key_arn: str, region: str, account: str) -> KmsKey:
    """The key, if the bucket in `region` can use it for log delivery; else ValidationFailed saying why."""
    problem = key_arn_problem(key_arn, region=region, account=account)
    if problem:
        raise ValidationFailed(problem)
    try:
        meta = session.client("kms", region).describe_key(KeyId=key_arn)["KeyMetadata"]
    except ClientError as err:
        if error_code(err) in ("NotFoundException", "InvalidArnException"):
            raise ValidationFailed(f"There is no KMS key {key_arn} in {region}.") from err
        raise explain(err, service="kms") from err
    try:
        aliases = _aliases_by_key(session, region, meta["KeyId"]).get(meta["KeyId"], [])
    except ClientError as err:
        raise explain(err, service="kms") from err
    if _is_aws_managed(meta.get("KeyManager", ""), aliases):
        raise ValidationFailed(
            f"The KMS key {key_arn} ({', '.join(aliases) or 'AWS-managed'}) is managed by AWS: its key policy "
            "cannot be changed to let log delivery use it. Choose a customer-managed key."
        )
    if meta.get("KeyState") != "Enabled":
        raise ValidationFailed(f"The KMS key {key_arn} is {meta.get('KeyState')}, not Enabled.")
    if not _usable(meta):
        raise ValidationFailed(f"The KMS key {key_arn} is not a symmetric encryption key, which S3 needs.")
    return _kms_key(meta, region, aliases)


def resolve_key(session: AwsSession, key: str, region: str) -> str:
    try:
        return str(session.client("kms", region).describe_key(KeyId=key)["KeyMetadata"]["Arn"])
    except ClientError:
        return ""


def list_keys_by_region(session: AwsSession, regions: Sequence[str]) -> dict[str, list[KmsKey]]:
    """`list_customer_managed_keys` for several regions at once (KMS is regional; up to 8 at a time)."""
    if not regions:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(regions)), thread_name_prefix="kms-keys") as pool:
        found = list(pool.map(lambda region: list_customer_managed_keys(session, region), regions))
    return dict(zip(regions, found, strict=True))
