"""Bucket strategy and the user's bucket choice: which buckets the set-up makes. No AWS call.

* Strategy: `compare_strategies` turns per-region VPC/firewall counts (`RegionResources`) into the spec's
  central-vs-regional table for this account (`StrategyComparison`), with a recommendation and its
  reasons; the user decides.
* Choice: `BucketChoice` is what the user chose on the bucket screen (or with `flowlogs plan`).
  `validate_choice` lists every problem that can be found without AWS ([] = it can be planned);
  `key_arn_problem` says why a string cannot name a bucket's KMS key (format, region and account checks
  only); `bucket_targets` gives the buckets (`BucketTarget`) a valid choice makes, and raises
  ValidationFailed listing every problem otherwise.

The naming rules themselves (bucket names, `{region}` templates, the account-regional form, KMS ARNs) are
`aws.names`'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from aws.errors import ValidationFailed
from aws.limits import MAX_LIFECYCLE_DAYS
from aws.names import (
    account_regional_suffix,
    account_regional_template,
    check_log_prefix,
    expand_template,
    is_template,
    parse_kms_key_arn,
    s3_arn,
    validate_template,
)
from aws.regions import looks_like_region
from aws.session import partition_of

Strategy = Literal["central", "regional"]
EncryptionMode = Literal["SSE-S3", "SSE-KMS"]

# "Hundreds of VPCs" into one bucket is where Kentik advises regional buckets (one bucket = one device).
MANY_VPCS = 100


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
    lifecycle_days: int | None = Field(
        default=None, ge=1, le=MAX_LIFECYCLE_DAYS, description="Expire AWSLogs/ after N days"
    )

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
    elif choice.bucket_regions and all(choice.bucket_regions):
        # One validator for both strategies: regional buckets also need one name per region.
        per_region = choice.strategy == "regional"
        problems.extend(
            validate_template(name, choice.bucket_regions, account=account, per_region=per_region)
        )
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
