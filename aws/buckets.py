"""Bucket strategy and bucket set-up: naming, strategy comparison, and the bucket Changes.

* Naming: `validate_bucket_name` checks every general-purpose naming rule, the account-regional
  namespace's `{prefix}-{account}-{region}-an` form included; `expand_template` and `validate_template`
  handle `{region}` (and `{account}`) templates for regional buckets.
* Strategy: `compare_strategies` turns per-region VPC/firewall counts into the spec's central-vs-regional
  table for this account, with a recommendation and its reasons (the user decides).
* Set-up: `plan_buckets` inspects the current state with read calls only and returns the Changes that
  make each bucket receive logs (create, encryption, public-access block, log-delivery bucket policy,
  KMS key policy, optional lifecycle), plus warnings about known silent failures. The executors below
  check (read-only) and apply (idempotently) each kind of Change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from aws import bucket_policy as bp
from aws.errors import ValidationFailed, error_code, explain
from aws.names import (
    ACCOUNT_REGIONAL,
    REGION_PLACEHOLDER,
    account_regional_parts,
    account_regional_suffix,
    account_regional_template,
    check_log_prefix,
    expand_template,
    is_account_regional,
    is_template,
    log_folder,
    parse_kms_key_arn,
    s3_arn,
    validate_bucket_name,
    validate_template,
)
from aws.permissions import declare
from aws.plan import Change, Executor, Params, Plan, StaleChange
from aws.regions import looks_like_region
from aws.session import AwsSession, partition_of

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
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
    ],
    apply=[
        "s3:CreateBucket",
        "s3:PutBucketEncryption",
        "s3:PutPublicAccessBlock",
        "s3:PutBucketPolicy",
        "s3:PutBucketLifecycleConfiguration",
        "kms:PutKeyPolicy",
    ],
)

Strategy = Literal["central", "regional"]
EncryptionMode = Literal["SSE-S3", "SSE-KMS"]

# "Hundreds of VPCs" into one bucket is where Kentik advises regional buckets (one bucket = one device).
MANY_VPCS = 100
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
LIFECYCLE_ID_PREFIX = "flowlogs-tui-expire-"
GROUP = "bucket"


# -- strategy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionResources:
    """What sends logs from one region: VPCs (flow logs) and Network Firewalls."""

    vpcs: int = 0
    firewalls: int = 0

    @property
    def any(self) -> bool:
        return self.vpcs > 0 or self.firewalls > 0


class BucketLayout(BaseModel):
    """One bucket a strategy would have, and what would write to it."""

    region: str
    name: str = Field(default="", description="'' when no name or template was given")
    sources: list[str] = Field(description="Regions whose logs go to this bucket")
    vpcs: int = 0
    firewalls: int = 0


class StrategyOption(BaseModel):
    strategy: Strategy
    buckets: list[BucketLayout]
    cross_region: list[str] = Field(description="Regions whose logs leave their region (billed transfer)")
    cost: str
    residency: str
    rate_limit: str

    @property
    def devices(self) -> int:
        """Kentik counts each bucket as one device."""
        return len(self.buckets)

    @property
    def max_vpcs_per_bucket(self) -> int:
        return max((b.vpcs for b in self.buckets), default=0)


class StrategyComparison(BaseModel):
    central: StrategyOption
    regional: StrategyOption
    recommended: Strategy
    reasons: list[str]

    def option(self, strategy: Strategy) -> StrategyOption:
        return self.central if strategy == "central" else self.regional


def regions_with_resources(resources: Mapping[str, RegionResources]) -> list[str]:
    return sorted(r for r, res in resources.items() if res.any)


def _geo(region: str) -> str:
    return region.split("-", 1)[0]


def _names(template: str, regions: Sequence[str], account: str) -> dict[str, str]:
    if not template:
        return {}
    try:
        return expand_template(template, regions, account=account)
    except ValidationFailed:
        return {}


def compare_strategies(
    resources: Mapping[str, RegionResources],
    central_region: str,
    *,
    bucket: str = "",
    account: str = "",
) -> StrategyComparison:
    """The central and regional strategies for this inventory, and which one to recommend and why.

    `bucket` (a name or a `{region}` template), when given, fills in the bucket names.
    """
    active = regions_with_resources(resources)
    total_vpcs = sum(resources[r].vpcs for r in active)
    total_fw = sum(resources[r].firewalls for r in active)
    names = _names(bucket, [*active, central_region], account)

    crossing = [r for r in active if r != central_region]
    central_bucket = BucketLayout(
        region=central_region,
        name=names.get(central_region, ""),
        sources=active,
        vpcs=total_vpcs,
        firewalls=total_fw,
    )
    far = [r for r in crossing if _geo(r) != _geo(central_region)]
    if crossing:
        central_cost = (
            f"Logs from {len(crossing)} region(s) ({', '.join(crossing)}) cross into {central_region}: "
            "AWS bills cross-region data transfer for them."
        )
        residency = f"Logs from {', '.join(crossing)} are stored in {central_region}." + (
            f" {', '.join(far)} {'is' if len(far) == 1 else 'are'} in another geography: check data-residency "
            "rules (e.g. GDPR) before choosing this."
            if far
            else ""
        )
    else:
        central_cost = "No cross-region transfer: every resource is in the bucket's region."
        residency = f"All logs stay in {central_region}."
    central = StrategyOption(
        strategy="central",
        buckets=[central_bucket],
        cross_region=crossing,
        cost=central_cost,
        residency=residency,
        rate_limit=(
            f"One bucket = one Kentik device receiving {total_vpcs} VPC(s) and {total_fw} firewall(s)."
            + (
                " That is in the hundreds: Kentik recommends regional buckets."
                if total_vpcs >= MANY_VPCS
                else ""
            )
        ),
    )
    regional_buckets = [
        BucketLayout(
            region=r,
            name=names.get(r, ""),
            sources=[r],
            vpcs=resources[r].vpcs,
            firewalls=resources[r].firewalls,
        )
        for r in active
    ]
    busiest = max(regional_buckets, key=lambda b: b.vpcs, default=None)
    regional = StrategyOption(
        strategy="regional",
        buckets=regional_buckets,
        cross_region=[],
        cost="No cross-region transfer: each region's logs stay in that region's bucket.",
        residency="Logs stay in the region they come from.",
        rate_limit=(
            f"{len(regional_buckets)} bucket(s) = {len(regional_buckets)} Kentik device(s)"
            + (f"; the busiest ({busiest.region}) receives {busiest.vpcs} VPC(s)." if busiest else ".")
            + (
                f" {busiest.region} alone has hundreds of VPCs: expect Kentik's per-device limits to matter there."
                if busiest and busiest.vpcs >= MANY_VPCS
                else ""
            )
        ),
    )
    recommended, reasons = _recommend(active, total_vpcs, central_region, crossing)
    return StrategyComparison(central=central, regional=regional, recommended=recommended, reasons=reasons)


def _recommend(
    active: list[str], total_vpcs: int, central_region: str, crossing: list[str]
) -> tuple[Strategy, list[str]]:
    if not active:
        return "central", [
            "No VPCs or firewalls were found, so there is nothing to split by region yet.",
            "One central bucket is the simplest start; revisit the choice when resources appear.",
        ]
    if len(active) == 1:
        only = active[0]
        same = (
            f"A central bucket in {only} would be the same single bucket."
            if central_region == only
            else f"A central bucket in {central_region} would move {only}'s logs across regions (billed)."
        )
        return "regional", [f"All resources are in {only}: one bucket there keeps logs in-region.", same]
    if total_vpcs >= MANY_VPCS:
        return "regional", [
            f"{total_vpcs} VPCs would write to one bucket, and Kentik treats each bucket as one device: "
            "Kentik recommends regional buckets at this scale to avoid S3 throttling and ingestion limits.",
            f"Regional buckets also avoid billed cross-region transfer from {len(crossing)} region(s) and keep "
            "logs in their region.",
        ]
    return "central", [
        f"{total_vpcs} VPC(s) in {len(active)} regions is well below the hundreds where Kentik advises "
        "splitting: one bucket and one Kentik device is simplest to manage.",
        f"Trade-off: logs from {', '.join(crossing)} cross into {central_region}, and AWS bills that transfer.",
        "Choose regional instead if logs must stay in their region (data residency) or traffic is heavy.",
    ]


# -- the user's choice -----------------------------------------------------------------------------


class BucketChoice(BaseModel):
    """What the user chose on the bucket screen (or with `flowlogs plan`)."""

    strategy: Strategy
    bucket: str = Field(
        description="Bucket name, or a template with {region} (and {account}); with account_regional, "
        "the name prefix"
    )
    account_regional: bool = Field(
        default=False,
        description="New buckets go in the account-regional namespace: each is named "
        "{bucket}-{account}-{region}-an after its region, and no other account can take the name",
    )
    regions: list[str] = Field(description="Regions with resources: where logs come from")
    central_region: str = Field(default="", description="The central bucket's region (central only)")
    encryption: EncryptionMode = "SSE-S3"
    kms_key_arns: list[str] = Field(
        default_factory=list, description="SSE-KMS: one customer-managed key ARN per bucket region"
    )
    prefixes: list[str] = Field(default_factory=list, description="Log prefixes the destinations will use")
    lifecycle_days: int | None = Field(default=None, ge=1, description="Expire AWSLogs/ after N days")

    @property
    def template(self) -> str:
        """The name or template the bucket names expand from (the prefix plus the account-regional suffix)."""
        name = self.bucket.strip()
        return account_regional_template(name) if self.account_regional and name else name

    @property
    def bucket_regions(self) -> list[str]:
        if self.strategy == "central":
            return [self.central_region]
        return sorted(set(self.regions))


class BucketTarget(BaseModel):
    """One bucket the set-up makes ready."""

    name: str
    region: str
    sources: list[str]
    kms_key_arn: str = ""

    @property
    def arn(self) -> str:
        return s3_arn(self.name, partition=partition_of(self.region))


def key_arn_problem(key: str, *, region: str = "", account: str = "") -> str | None:
    """Why `key` cannot name the bucket's KMS key (format checks only), or None."""
    text = key.strip()
    if text in ("alias/aws/s3", "aws/s3") or text.endswith(":alias/aws/s3"):
        return (
            "The AWS-managed key aws/s3 cannot be used: its key policy cannot be changed, so log delivery "
            "cannot be allowed to use it. Choose a customer-managed key."
        )
    parts = parse_kms_key_arn(text)
    if not parts:
        what = "an alias" if "alias/" in text else "a key id" if "arn:" not in text else "not a key ARN"
        return (
            f"{text!r} is {what}: name the KMS key by its full key ARN "
            "(arn:aws:kms:REGION:ACCOUNT:key/ID). S3 resolves a key id or alias in the writer's context, "
            "so log delivery fails silently with anything but the ARN."
        )
    _, key_region, key_account, _ = parts
    if region and key_region != region:
        return f"The KMS key {text} is in {key_region}, but the bucket is in {region}: use a key in {region}."
    if account and key_account != account:
        return (
            f"The KMS key {text} belongs to account {key_account}, not {account}: its key policy has to be "
            "changed in its own account. Use a key of this account."
        )
    return None


def validate_choice(choice: BucketChoice, *, account: str = "") -> list[str]:
    """Every problem with the choice that can be found without AWS; [] = can be planned."""
    problems: list[str] = []
    sources = sorted(set(choice.regions))
    for region in [*sources, *([choice.central_region] if choice.central_region else [])]:
        if not looks_like_region(region):
            problems.append(f"{region!r} is not an AWS region name (like us-east-1).")
    if choice.strategy == "central" and not choice.central_region:
        problems.append("The central strategy needs a region for the bucket.")
    if choice.strategy == "regional" and not sources:
        problems.append("No region has resources, so there is no region to put a regional bucket in.")
    partitions = {partition_of(r) for r in [*sources, *choice.bucket_regions] if r}
    if len(partitions) > 1:
        problems.append(
            f"Regions from different AWS partitions ({', '.join(sorted(partitions))}) cannot share buckets."
        )
    name = choice.template
    if not name:
        problems.append(
            f"Enter a bucket name prefix ({account_regional_suffix('ACCOUNT', 'REGION')} is added to it)."
            if choice.account_regional
            else "Enter a bucket name."
        )
    elif choice.account_regional and is_template(choice.bucket):
        problems.append(
            "In the account-regional namespace the bucket name is a prefix: leave out {region} and "
            f"{{account}}, {account_regional_suffix('{account}', '{region}')} is added to it."
        )
    elif choice.strategy == "regional" and len(sources) > 1 and REGION_PLACEHOLDER not in name:
        problems.append(
            f"Regional buckets need one name per region: put {REGION_PLACEHOLDER} in the name "
            f"(e.g. {name}-{REGION_PLACEHOLDER})."
        )
    elif choice.bucket_regions and all(choice.bucket_regions):
        problems.extend(validate_template(name, choice.bucket_regions, account=account))
    for prefix in choice.prefixes:
        try:
            check_log_prefix(prefix, what="Log prefix", example="vpc-flow-logs/")
        except ValidationFailed as err:
            problems.append(err.message)
    if choice.encryption == "SSE-KMS":
        problems.extend(_key_problems(choice, account))
    elif choice.kms_key_arns:
        problems.append("KMS keys were given, but the encryption is SSE-S3: choose SSE-KMS to use them.")
    return problems


def _key_problems(choice: BucketChoice, account: str) -> list[str]:
    if not choice.kms_key_arns:
        return ["SSE-KMS needs a customer-managed KMS key ARN for each bucket region."]
    problems = [p for k in choice.kms_key_arns if (p := key_arn_problem(k, account=account))]
    if problems:
        return problems
    for region in choice.bucket_regions:
        found = [k for k in choice.kms_key_arns if key_arn_problem(k, region=region) is None]
        if not found:
            problems.append(
                f"No KMS key ARN in {region} was given for the bucket there (KMS keys are regional)."
            )
        elif len(found) > 1:
            problems.append(f"More than one KMS key was given for {region}: give one per bucket region.")
    used = set(choice.bucket_regions)
    for key in choice.kms_key_arns:
        parts = parse_kms_key_arn(key)
        if parts and parts[1] not in used:
            problems.append(f"The KMS key {key} is in {parts[1]}, where no bucket is planned.")
    return problems


def bucket_targets(choice: BucketChoice, account: str) -> list[BucketTarget]:
    """The buckets the choice makes. Raises ValidationFailed listing every problem."""
    problems = validate_choice(choice, account=account)
    if problems:
        raise ValidationFailed("The bucket set-up cannot be planned:\n- " + "\n- ".join(problems))
    regions = choice.bucket_regions
    names = expand_template(choice.template, regions, account=account)
    keys = {
        r: next((k.strip() for k in choice.kms_key_arns if key_arn_problem(k, region=r) is None), "")
        for r in regions
    }
    sources = sorted(set(choice.regions))
    return [
        BucketTarget(
            name=names[r],
            region=r,
            sources=sources if choice.strategy == "central" else [r],
            kms_key_arn=keys[r] if choice.encryption == "SSE-KMS" else "",
        )
        for r in regions
    ]


# -- KMS -------------------------------------------------------------------------------------------


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


# -- current state ---------------------------------------------------------------------------------


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


def _read(
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


def _region_of_location(location: str | None) -> str:
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else location


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
            if _in_own_namespace(name, account):
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
    actual = _region_of_location(location)
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


def _in_own_namespace(name: str, account: str) -> bool:
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
        enc = _read(s3.get_bucket_encryption, ["ServerSideEncryptionConfigurationNotFoundError"], **own)
        rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        state.encryption = rules[0] if rules else None
        pab = _read(s3.get_public_access_block, ["NoSuchPublicAccessBlockConfiguration"], **own)
        state.public_access_block = (pab or {}).get("PublicAccessBlockConfiguration")
        pol = _read(s3.get_bucket_policy, ["NoSuchBucketPolicy"], **own)
        state.policy = bp.parse_policy((pol or {}).get("Policy"))
        if state.policy:
            status = _read(s3.get_bucket_policy_status, ["NoSuchBucketPolicy"], **own)
            state.policy_is_public = bool((status or {}).get("PolicyStatus", {}).get("IsPublic"))
        own_ctl = _read(s3.get_bucket_ownership_controls, ["OwnershipControlsNotFoundError"], **own)
        ctl_rules = (own_ctl or {}).get("OwnershipControls", {}).get("Rules", [])
        state.object_ownership = ctl_rules[0].get("ObjectOwnership") if ctl_rules else None
        life = _read(s3.get_bucket_lifecycle_configuration, ["NoSuchLifecycleConfiguration"], **own)
        state.lifecycle_rules = (life or {}).get("Rules")
        state.lifecycle_extra = {k: v for k, v in (life or {}).items() if k != "Rules"}
    except ClientError as err:
        raise explain(err, service="s3") from err
    return state


# -- desired settings ------------------------------------------------------------------------------


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


def _encryption_matches(rule: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    if not rule:
        return False
    have = rule.get("ApplyServerSideEncryptionByDefault", {})
    want = wanted.get("ApplyServerSideEncryptionByDefault", {})
    if have.get("SSEAlgorithm") != want.get("SSEAlgorithm"):
        return False
    return want.get("SSEAlgorithm") != "aws:kms" or have.get("KMSMasterKeyID") == want.get("KMSMasterKeyID")


def _describe_encryption(rule: Mapping[str, Any] | None) -> str:
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
        cleaned = log_folder(prefix)
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


def _rule_prefix(rule: Mapping[str, Any]) -> str | None:
    flt = rule.get("Filter")
    if isinstance(flt, Mapping):
        if set(flt) - {"Prefix"}:
            return None  # tag or size filters: not the same rule
        return str(flt.get("Prefix", ""))
    return str(rule.get("Prefix", "")) if "Prefix" in rule else None


def _rule_grants(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return (
        existing.get("Status") == "Enabled"
        and _rule_prefix(existing) == _rule_prefix(wanted)
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
        if any(_rule_grants(r, want) for r in rules):
            continue
        same_id = next((i for i, r in enumerate(rules) if r.get("ID") == want["ID"]), None)
        if same_id is not None:
            rules[same_id] = copy.deepcopy(dict(want))
            merge.replaced.append(str(want["ID"]))
        else:
            rules.append(copy.deepcopy(dict(want)))
            merge.added.append(str(want["ID"]))
    return merge


# -- planning --------------------------------------------------------------------------------------


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


def plan_buckets(session: AwsSession, choice: BucketChoice, account: str) -> BucketSetup:
    """Read the current state of every bucket the choice makes and return the Changes it needs.

    Read calls only. Raises ValidationFailed for input that cannot work: invalid names, someone else's
    bucket, a bucket in the wrong region, an unusable KMS key, a bucket requiring SSE-C, a merged policy
    over its size limit.
    """
    targets = bucket_targets(choice, account)
    for target in targets:
        if target.kms_key_arn:
            check_kms_key(session, target.kms_key_arn, target.region, account)
    prefixes = [log_folder(p) for p in choice.prefixes]

    def one(target: BucketTarget) -> BucketSetup:
        state = inspect_bucket(session, target.name, target.region, account)
        return _bucket_changes(session, target, state, account, prefixes, choice.lifecycle_days)

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
) -> BucketSetup:
    out = BucketSetup(buckets=[target])
    name, region = target.name, target.region
    partition = partition_of(region)
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
        kc = _key_policy_change(session, target, account, out)
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

    required = bp.bucket_log_delivery_statements(name, account, prefixes=prefixes, partition=partition)
    merged = bp.merge_statements(state.policy, required)
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

    if lifecycle_days:
        lc = _lifecycle_change(target, state, own, lifecycle_days, prefixes, after_create)
        if lc:
            out.changes.append(lc)
        else:
            out.notes.append(f"{name} already expires log files after {lifecycle_days} days.")
    return out


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
    merged = bp.merge_statements(bp.parse_policy(text), required)
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
    label = _describe_encryption(wanted)
    if state.exists and _encryption_matches(state.encryption, wanted):
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
            same_key = _resolve_key(session, existing_key, target.region) == target.kms_key_arn
        if same_key:
            reason = f"Same key, named by its ARN instead of {existing_key!r}, so log delivery resolves it."
        else:
            destructive = True
            reason = (
                f"Replaces the bucket's current default encryption ({_describe_encryption(current)}) with "
                f"{label}. New objects are encrypted differently; existing objects are unchanged."
            )
            if algo.startswith("aws:kms") and not target.kms_key_arn:
                out.warnings.append(
                    f"{name} uses {_describe_encryption(current)}. To keep it, choose SSE-KMS with that key's "
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


def _resolve_key(session: AwsSession, key: str, region: str) -> str:
    try:
        return str(session.client("kms", region).describe_key(KeyId=key)["KeyMetadata"]["Arn"])
    except ClientError:
        return ""


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


# -- executors -------------------------------------------------------------------------------------


def _account(session: AwsSession, change: Change) -> str:
    return str(change.params.get("ExpectedBucketOwner") or change.account or session.identity().account)


class _LocationConfig(Params):
    LocationConstraint: str


class CreateBucketParams(Params):
    Bucket: str
    CreateBucketConfiguration: _LocationConfig | None = None
    BucketNamespace: Literal["account-regional"] | None = None


class _OwnedBucket(Params):
    Bucket: str
    ExpectedBucketOwner: str


class BucketPolicyParams(_OwnedBucket):
    Policy: str


class PrefixesBasis(Params):
    prefixes: list[str] = Field(default_factory=list, description="Log prefixes (folders) of the bucket")


class LifecycleBasis(PrefixesBasis):
    days: int = Field(ge=1, le=36500)


class _EncryptionDefault(Params):
    SSEAlgorithm: Literal["AES256", "aws:kms"]
    KMSMasterKeyID: str | None = None


class _EncryptionRule(Params):
    ApplyServerSideEncryptionByDefault: _EncryptionDefault
    BucketKeyEnabled: bool | None = None
    BlockedEncryptionTypes: dict[str, Any] | None = None


class _EncryptionConfig(Params):
    Rules: list[_EncryptionRule] = Field(min_length=1, max_length=1)


class EncryptionParams(_OwnedBucket):
    ServerSideEncryptionConfiguration: _EncryptionConfig


class _AllBlocked(Params):
    BlockPublicAcls: Literal[True]
    IgnorePublicAcls: Literal[True]
    BlockPublicPolicy: Literal[True]
    RestrictPublicBuckets: Literal[True]


class PublicAccessBlockParams(_OwnedBucket):
    PublicAccessBlockConfiguration: _AllBlocked


class _LifecycleConfig(Params):
    Rules: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class LifecycleParams(_OwnedBucket):
    LifecycleConfiguration: _LifecycleConfig
    TransitionDefaultMinimumObjectSize: (
        Literal["varies_by_storage_class", "all_storage_classes_128K"] | None
    ) = None


class KeyPolicyParams(Params):
    KeyId: str
    PolicyName: Literal["default"]
    Policy: str


def _bucket_problems(change: Change, plan: Plan, *, owned: bool = True) -> list[str]:
    """The bucket is a valid name, the change's target is its ARN, and it is the change's account's."""
    name = str(change.params["Bucket"])
    account = plan.account_of(change)
    problems = validate_bucket_name(name, account=account, region=change.region)
    arn = s3_arn(name, partition=plan.partition)
    if change.target != arn:
        problems.append(f"its target {change.target!r} is not the bucket it changes ({arn})")
    if owned and change.params.get("ExpectedBucketOwner") != account:
        problems.append(
            f"ExpectedBucketOwner {change.params.get('ExpectedBucketOwner')!r} is not the change's account {account}"
        )
    return problems


def _created_here(change: Change, plan: Plan) -> bool:
    """Whether an earlier change of the plan creates the change's bucket (so it starts out empty)."""
    for other in plan.changes:
        if other is change:
            return False
        if other.kind == CreateBucketExecutor.kind and other.params.get("Bucket") == change.params["Bucket"]:
            return True
    return False


def _document(text: str, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        doc = json.loads(text)
    except ValueError:
        return None, [f"its {what} is not JSON"]
    if not isinstance(doc, dict):
        return None, [f"its {what} is not a JSON object"]
    return doc, []


def _not_engine_statements(
    doc: Mapping[str, Any], template: Sequence[Mapping[str, Any]], what: str
) -> list[str]:
    """Our statements (by Sid) in a planned policy must be the engine's, and the engine's must be granted."""
    problems = [
        f"its {what} has a statement {st.get('Sid')!r} that is not one flowlogs writes"
        for st in bp.ours(doc)
        if not any(bp.equivalent({**st, "Sid": t.get("Sid")}, t) for t in template)
    ]
    problems += [
        f"its {what} lacks the statement {w.get('Sid')!r} that the change exists to add"
        for w in bp.missing(doc, template)
    ]
    return problems


class CreateBucketExecutor(Executor):
    kind = "s3.create-bucket"
    service, operation = "s3", "CreateBucket"
    Params = CreateBucketParams

    def details(self, change: Change) -> list[str]:
        namespace = " (account-regional namespace)" if change.params.get("BucketNamespace") else ""
        return [f"creates bucket {change.params['Bucket']}{namespace}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _bucket_problems(change, plan, owned=False)
        name, config = change.params["Bucket"], change.params.get("CreateBucketConfiguration")
        location = (config or {}).get("LocationConstraint")
        if change.region == "us-east-1" and location:
            problems.append("a bucket in us-east-1 is created without a LocationConstraint")
        elif change.region != "us-east-1" and location != change.region:
            problems.append(f"its LocationConstraint {location!r} is not the change's region {change.region}")
        if bool(change.params.get("BucketNamespace")) != is_account_regional(name):
            problems.append(
                "BucketNamespace account-regional goes with a name ending -ACCOUNT-REGION-an, and only then"
            )
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return bucket_exists(session, change.params["Bucket"], change.region, _account(session, change))

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        name = change.params["Bucket"]
        try:
            response = self.call(session, change)
        except ClientError as err:
            code = error_code(err)
            account = _account(session, change)
            if code == "BucketAlreadyOwnedByYou":
                bucket_exists(session, name, change.region, account)  # checks the region
                return {"bucket": name, "reused": True}
            if code == "BucketAlreadyExists" and _in_own_namespace(name, account):
                # Nobody else can take a name in this account's namespace: the bucket is ours.
                if bucket_exists(session, name, change.region, account):
                    return {"bucket": name, "reused": True}
                raise
            if code == "BucketAlreadyExists":
                raise ValidationFailed(
                    f"The bucket name {name!r} is already used by another AWS account (bucket names are global). "
                    "Nothing was created; plan again with another name."
                ) from err
            raise
        return {"bucket": name, "location": response.get("Location", "")}


def _get_policy(session: AwsSession, change: Change) -> dict[str, Any] | None:
    s3 = session.client("s3", change.region)
    got = _read(
        s3.get_bucket_policy,
        ["NoSuchBucketPolicy"],
        Bucket=change.params["Bucket"],
        ExpectedBucketOwner=_account(session, change),
    )
    return bp.parse_policy((got or {}).get("Policy"))


def _delivery_template(change: Change, account: str) -> list[bp.Statement]:
    return bp.bucket_log_delivery_statements(
        change.params["Bucket"],
        account,
        prefixes=PrefixesBasis.model_validate(change.basis).prefixes,
        partition=partition_of(change.region),
    )


class PutBucketPolicyExecutor(Executor):
    """Derives the policy at apply time (the current policy plus the delivery statements of the basis'
    prefixes) and sends it only when it is the previewed one (a concurrent edit makes it stale)."""

    kind = "s3.put-bucket-policy"
    service, operation = "s3", "PutBucketPolicy"
    Params, Basis = BucketPolicyParams, PrefixesBasis

    def details(self, change: Change) -> list[str]:
        prefixes = PrefixesBasis.model_validate(change.basis).prefixes
        where = ", ".join(f"{p}/AWSLogs/" for p in prefixes) or "AWSLogs/"
        return [
            f"lets {bp.LOG_DELIVERY_SERVICE} (account {change.params['ExpectedBucketOwner']} only) write "
            f"below {where}; the bucket's other statements are kept as they are now"
        ]

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        doc = bp.parse_policy(str(params.get("Policy", "")))
        write = next((s for s in bp.ours(doc) if s.get("Action") == "s3:PutObject"), None)
        if write is None:
            raise ValidationFailed("its bucket policy has no log delivery statement of flowlogs")
        resources = write.get("Resource")
        prefixes = []
        for resource in resources if isinstance(resources, list) else [resources]:
            key = str(resource).split(":::", 1)[-1].split("/", 1)[-1]  # bucket/PREFIX/AWSLogs/* -> PREFIX/...
            prefix = key.removesuffix("AWSLogs/*").strip("/")
            if prefix:
                prefixes.append(prefix)
        return {"prefixes": prefixes}

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _bucket_problems(change, plan)
        try:
            template = _delivery_template(change, plan.account_of(change))
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        doc, bad = _document(change.params["Policy"], "bucket policy")
        if doc is None:
            return problems + bad
        if bp.policy_size(doc) > bp.BUCKET_POLICY_LIMIT:
            problems.append(f"its bucket policy is over AWS's {bp.BUCKET_POLICY_LIMIT} byte limit")
        if _created_here(change, plan) and doc != bp.merge_statements(None, template).policy:
            problems.append(
                "the bucket is created by this plan, so its policy can only be the delivery statements"
            )
        return problems + _not_engine_statements(doc, template, "bucket policy")

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not bp.missing(
            _get_policy(session, change), _delivery_template(change, _account(session, change))
        )

    def checked(self, session: AwsSession, change: Change) -> bp.MergeResult:
        merged = bp.merge_statements(
            _get_policy(session, change), _delivery_template(change, _account(session, change))
        )
        if merged.changed:
            what = f"bucket policy of {change.params['Bucket']}"
            self.expect(change, what, merged.policy, json.loads(change.params["Policy"]))
        return merged

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merged = self.checked(session, change)
        if not merged.changed:
            return {"added": []}
        bp.check_size(merged.policy, bp.BUCKET_POLICY_LIMIT, f"bucket policy of {change.params['Bucket']}")
        self.call(session, change.model_copy(update={"params": {**change.params, "Policy": merged.text}}))
        return {"added": [s.get("Sid", "") for s in merged.added], "bytes": bp.policy_size(merged.policy)}


class PutKeyPolicyExecutor(Executor):
    kind = "kms.put-key-policy"
    service, operation = "kms", "PutKeyPolicy"
    Params = KeyPolicyParams

    def details(self, change: Change) -> list[str]:
        return [f"lets {bp.LOG_DELIVERY_SERVICE} encrypt with the key; the key's other statements are kept"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        key = change.params["KeyId"]
        problems = [] if change.target == key else [f"its target {change.target!r} is not the key it changes"]
        wrong = key_arn_problem(key, region=change.region, account=plan.account_of(change))
        if wrong:
            return [*problems, wrong]
        doc, bad = _document(change.params["Policy"], "key policy")
        if doc is None:
            return problems + bad
        if bp.policy_size(doc) > bp.KEY_POLICY_LIMIT:
            problems.append(f"its key policy is over AWS's {bp.KEY_POLICY_LIMIT} byte limit")
        return problems + _not_engine_statements(
            doc, self._template(change, plan.account_of(change)), "key policy"
        )

    @staticmethod
    def _template(change: Change, account: str) -> list[bp.Statement]:
        return [bp.key_log_delivery_statement(account, partition=partition_of(change.region))]

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        kms = session.client("kms", change.region)
        text = kms.get_key_policy(KeyId=change.params["KeyId"], PolicyName=change.params["PolicyName"])[
            "Policy"
        ]
        return bp.parse_policy(text)

    def _account(self, session: AwsSession, change: Change) -> str:
        return change.account or session.identity().account

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not bp.missing(
            self._current(session, change), self._template(change, self._account(session, change))
        )

    def checked(self, session: AwsSession, change: Change) -> bp.MergeResult:
        merged = bp.merge_statements(
            self._current(session, change), self._template(change, self._account(session, change))
        )
        if merged.changed:
            what = f"key policy of {change.params['KeyId']}"
            self.expect(change, what, merged.policy, json.loads(change.params["Policy"]))
        return merged

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merged = self.checked(session, change)
        if not merged.changed:
            return {"added": []}
        bp.check_size(merged.policy, bp.KEY_POLICY_LIMIT, f"key policy of {change.params['KeyId']}")
        self.call(session, change.model_copy(update={"params": {**change.params, "Policy": merged.text}}))
        return {"added": [s.get("Sid", "") for s in merged.added]}


def _current_encryption(session: AwsSession, change: Change) -> dict[str, Any] | None:
    s3 = session.client("s3", change.region)
    got = _read(
        s3.get_bucket_encryption,
        ["ServerSideEncryptionConfigurationNotFoundError"],
        Bucket=change.params["Bucket"],
        ExpectedBucketOwner=_account(session, change),
    )
    rules = (got or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    return dict(rules[0]) if rules else None


class PutEncryptionExecutor(Executor):
    """Default encryption where the bucket has none of its own (new buckets). The rule is derived again
    from the key and the current rule (settings it does not choose are kept) before it is sent."""

    kind = "s3.put-encryption"
    service, operation = "s3", "PutBucketEncryption"
    Params = EncryptionParams

    def details(self, change: Change) -> list[str]:
        rule = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        return [f"default encryption of {change.params['Bucket']}: {_describe_encryption(rule)}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _bucket_problems(change, plan)
        rule = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule["ApplyServerSideEncryptionByDefault"]
        key = default.get("KMSMasterKeyID") or ""
        if default["SSEAlgorithm"] == "aws:kms":
            wrong = key_arn_problem(key, region=change.region, account=plan.account_of(change))
            if wrong:
                problems.append(wrong)
        elif key:
            problems.append("SSE-S3 (AES256) takes no KMS key")
        if rule != encryption_rule(key, rule):
            problems.append(
                "its encryption rule is not one flowlogs writes (SSE-S3, or SSE-KMS by key ARN with a Bucket Key)"
            )
        return problems

    @staticmethod
    def _wanted(change: Change, current: Mapping[str, Any] | None) -> dict[str, Any]:
        key = change.params["ServerSideEncryptionConfiguration"]["Rules"][0][
            "ApplyServerSideEncryptionByDefault"
        ]
        return encryption_rule(str(key.get("KMSMasterKeyID") or ""), current)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        current = _current_encryption(session, change)
        return _encryption_matches(current, self._wanted(change, current))

    def checked(self, session: AwsSession, change: Change) -> None:
        current = _current_encryption(session, change)
        wanted = self._wanted(change, current)
        planned = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.expect(change, f"default encryption of {change.params['Bucket']}", wanted, planned)
        if type(self).destructive or not current or _encryption_matches(current, wanted):
            return
        default = current.get("ApplyServerSideEncryptionByDefault", {})
        key = str(wanted["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID") or "")
        if default == {"SSEAlgorithm": "AES256"} and not current.get("BucketKeyEnabled"):
            return  # S3's own default (every new bucket has it), not a choice of the bucket's owner
        existing = str(default.get("KMSMasterKeyID") or "")
        if key and existing and _resolve_key(session, existing, change.region) == key:
            return  # the same key, named by its ARN now
        raise StaleChange(
            f"Setting the default encryption of {change.params['Bucket']} would now replace its own "
            f"({_describe_encryption(current)}): that is destructive, and this change is not. Nothing was sent.",
            hint="Make the plan again and confirm the replacement if you want it.",
        )

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.checked(session, change)
        self.call(session, change)
        return {}


class ReplaceEncryptionExecutor(PutEncryptionExecutor):
    """The same call over a bucket's own default encryption (destructive: confirmed by the user)."""

    kind = "s3.replace-encryption"
    destructive = True


class PutPublicAccessBlockExecutor(Executor):
    kind = "s3.put-public-access-block"
    service, operation = "s3", "PutPublicAccessBlock"
    Params = PublicAccessBlockParams

    def details(self, change: Change) -> list[str]:
        return [f"blocks every kind of public access to {change.params['Bucket']}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        return _bucket_problems(change, plan)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        s3 = session.client("s3", change.region)
        got = _read(
            s3.get_public_access_block,
            ["NoSuchPublicAccessBlockConfiguration"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=_account(session, change),
        )
        current = (got or {}).get("PublicAccessBlockConfiguration", {})
        wanted = change.params["PublicAccessBlockConfiguration"]
        return all(current.get(k) == v for k, v in wanted.items())

    def checked(self, session: AwsSession, change: Change) -> None:
        if type(self).destructive:
            return
        got = _read(
            session.client("s3", change.region).get_public_access_block,
            ["NoSuchPublicAccessBlockConfiguration"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=_account(session, change),
        )
        off = [k for k, v in (got or {}).get("PublicAccessBlockConfiguration", {}).items() if v is False]
        if off:
            raise StaleChange(
                f"Blocking public access to {change.params['Bucket']} would now turn on {', '.join(off)}, "
                "which the bucket's owner turned off: that is destructive, and this change is not. Nothing was sent.",
                hint="Make the plan again and confirm the replacement if you want it.",
            )

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.checked(session, change)
        self.call(session, change)
        return {}


class ReplacePublicAccessBlockExecutor(PutPublicAccessBlockExecutor):
    """Turns on blocks that are off now, or stops public access a bucket policy grants (destructive)."""

    kind = "s3.replace-public-access-block"
    destructive = True


def _ours_in(rules: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rules if str(r.get("ID", "")).startswith(LIFECYCLE_ID_PREFIX)]


class PutLifecycleExecutor(Executor):
    """Derives the lifecycle configuration at apply time (the current rules plus the expiry rules of the
    basis) and sends it only when it is the previewed one."""

    kind = "s3.put-lifecycle"
    service, operation = "s3", "PutBucketLifecycleConfiguration"
    Params, Basis = LifecycleParams, LifecycleBasis

    def details(self, change: Change) -> list[str]:
        basis = LifecycleBasis.model_validate(change.basis)
        where = ", ".join(f"{p}/AWSLogs/" for p in basis.prefixes) or "AWSLogs/"
        return [f"deletes log files below {where} {basis.days} days after delivery; other rules are kept"]

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        ours = _ours_in((params.get("LifecycleConfiguration") or {}).get("Rules") or [])
        if not ours:
            raise ValidationFailed("its lifecycle configuration has no expiry rule of flowlogs")
        prefixes = [str(_rule_prefix(r) or "").removesuffix("AWSLogs/").strip("/") for r in ours]
        return {"days": ours[0].get("Expiration", {}).get("Days", 0), "prefixes": [p for p in prefixes if p]}

    @staticmethod
    def _template(change: Change) -> list[dict[str, Any]]:
        basis = LifecycleBasis.model_validate(change.basis)
        return lifecycle_rules(basis.days, basis.prefixes)

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _bucket_problems(change, plan)
        try:
            template = self._template(change)
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        rules = change.params["LifecycleConfiguration"]["Rules"]
        if _created_here(change, plan) and rules != merge_lifecycle_rules(None, template).rules:
            problems.append(
                "the bucket is created by this plan, so its lifecycle can only be the expiry rules"
            )
        problems += [
            f"its lifecycle rule {r.get('ID')!r} is not one flowlogs writes"
            for r in _ours_in(rules)
            if r not in template
        ]
        problems += [
            f"its lifecycle configuration lacks the rule {w['ID']!r} the change exists to add"
            for w in template
            if not any(_rule_grants(r, w) for r in rules)
        ]
        return problems

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any]:
        s3 = session.client("s3", change.region)
        got = _read(
            s3.get_bucket_lifecycle_configuration,
            ["NoSuchLifecycleConfiguration"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=_account(session, change),
        )
        return got or {}

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not merge_lifecycle_rules(
            self._current(session, change).get("Rules"), self._template(change)
        ).changed

    def checked(self, session: AwsSession, change: Change) -> LifecycleMerge:
        current = self._current(session, change)
        merge = merge_lifecycle_rules(current.get("Rules"), self._template(change))
        if merge.changed:
            params = {**change.params, "LifecycleConfiguration": {"Rules": merge.rules}}
            params.update({k: v for k, v in current.items() if k != "Rules"})
            self.expect(
                change, f"lifecycle configuration of {change.params['Bucket']}", params, change.params
            )
        if merge.replaced and not type(self).destructive:
            raise StaleChange(
                f"The lifecycle change of {change.params['Bucket']} would now replace the settings of rule(s) "
                f"{', '.join(merge.replaced)}: that is destructive, and this change is not. Nothing was sent.",
                hint="Make the plan again and confirm the replacement if you want it.",
            )
        return merge

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merge = self.checked(session, change)
        if not merge.changed:
            return {"added": []}
        self.call(session, change)
        return {"added": merge.added, "replaced": merge.replaced}


class ReplaceLifecycleExecutor(PutLifecycleExecutor):
    """The same call when it changes the settings of an earlier expiry rule of ours (destructive)."""

    kind = "s3.replace-lifecycle"
    destructive = True


def describe_setup(setup: BucketSetup) -> str:
    """Plain-text summary of a bucket set-up (for the CLI and logs)."""
    lines = [f"Bucket(s): {', '.join(f'{b.name} ({b.region})' for b in setup.buckets)}"]
    lines += [f"  note: {n}" for n in setup.notes]
    lines += [f"  WARNING: {w}" for w in setup.warnings]
    lines += [f"  - {c.describe()}" for c in setup.changes]
    if not setup.changes:
        lines.append("  Nothing to change.")
    return "\n".join(lines)


__all__ = [
    "MANY_VPCS",
    "BucketChoice",
    "BucketLayout",
    "BucketSetup",
    "BucketState",
    "BucketTarget",
    "KmsKey",
    "RegionResources",
    "StrategyComparison",
    "StrategyOption",
    "bucket_changes",
    "bucket_exists",
    "bucket_targets",
    "check_kms_key",
    "compare_strategies",
    "describe_setup",
    "inspect_bucket",
    "key_arn_problem",
    "lifecycle_rules",
    "list_customer_managed_keys",
    "merge_lifecycle_rules",
    "plan_buckets",
    "regions_with_resources",
    "validate_choice",
]
