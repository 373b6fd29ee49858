"""AWS partitions and region names, from botocore's own partition data (never a hand-kept list).

botocore ships `partitions.json`: every partition (aws, aws-cn, aws-us-gov, aws-eusc, aws-iso, aws-iso-b,
aws-iso-e, aws-iso-f, ...) with the regex its region names match and the regions it knows. This module
answers, from that data alone and without any AWS call:

* `partition_of(region)`: the partition a region name belongs to ('aws' when none matches);
* `known_regions(partition)`: the real regions of a partition (pseudo regions such as `aws-global` left out);
* `closest_region(name, candidates)`: the best guess at what a mistyped name meant;
* `validate_region(name, ...)` / `validate_regions(names, ...)`: a usage error (`UnknownRegion`,
  `RegionNotEnabled`, both exit 2 in the CLI) naming the closest valid region, or the clean name(s).

Membership is checked against botocore's list unless the caller has the account's own list
(`available`, from DescribeRegions AllRegions=True); the enabled check needs that list (`enabled`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import botocore
from botocore.loaders import create_loader

from aws.errors import FlowlogsError, RegionNotEnabled, UnknownRegion, ValidationFailed

DEFAULT_PARTITION = "aws"
_TRAILING_NUMBER = re.compile(r"-\d+$")


@dataclass(frozen=True)
class Partition:
    id: str
    region_regex: re.Pattern[str]
    regions: tuple[str, ...]  # real regions, sorted; pseudo regions (aws-global, ...) left out


@functools.cache
def partitions() -> tuple[Partition, ...]:
    """Every partition botocore knows, 'aws' last (its regex is the broadest)."""
    data = create_loader().load_data("partitions")
    found: list[Partition] = []
    for part in data.get("partitions", []):
        regex = re.compile(part.get("regionRegex") or r"^$")
        regions = tuple(sorted(name for name in part.get("regions", {}) if regex.match(name)))
        found.append(Partition(id=part["id"], region_regex=regex, regions=regions))
    found.sort(key=lambda p: p.id == DEFAULT_PARTITION)
    return tuple(found)


def partition_ids() -> tuple[str, ...]:
    return tuple(p.id for p in partitions())


def partition_of(region: str) -> str:
    """The partition of a region name: a listed region first, else the partition whose regionRegex
    matches it; 'aws' when none does."""
    for part in partitions():
        if region in part.regions:
            return part.id
    for part in partitions():
        if part.region_regex.match(region):
            return part.id
    return DEFAULT_PARTITION


@functools.cache
def known_regions(partition: str | None = None) -> tuple[str, ...]:
    """The regions botocore knows in `partition` (every partition when None), sorted."""
    return tuple(sorted(r for p in partitions() if partition is None or p.id == partition for r in p.regions))


def looks_like_region(name: str) -> bool:
    """Whether `name` has the shape of some partition's region names (a region botocore may not know yet)."""
    return any(p.region_regex.match(name) for p in partitions())


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def closest_region(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` most likely meant, or None when nothing is close.

    Case, spaces and underscores are forgiven ('US EAST 1' -> us-east-1); a wrong number keeps the stem
    ('us-east-7' -> us-east-1, the lowest); otherwise the most similar name (difflib, ties by name)."""
    cands = sorted(set(candidates))
    if not cands:
        return None
    norm = _normalise(name)
    if norm in cands:
        return norm
    stem = _TRAILING_NUMBER.sub("", norm)
    same_stem = [c for c in cands if _TRAILING_NUMBER.sub("", c) == stem]
    if same_stem:
        return min(same_stem, key=lambda c: (len(c), c))
    squashed = norm.replace("-", "")
    scored = [
        (max(difflib.SequenceMatcher(None, norm, c).ratio(), _squashed_ratio(squashed, c)), c) for c in cands
    ]
    best = max(score for score, _ in scored)
    if best < 0.6:
        return None
    return next(c for score, c in scored if score == best)


def _squashed_ratio(squashed: str, candidate: str) -> float:
    return difflib.SequenceMatcher(None, squashed, candidate.replace("-", "")).ratio()


def _known_list(partition: str | None) -> str:
    regions = known_regions(partition or DEFAULT_PARTITION)
    others = [p for p in partition_ids() if p != (partition or DEFAULT_PARTITION)]
    text = f"Regions of {partition or DEFAULT_PARTITION}: {', '.join(regions)}."
    if partition is None and others:
        text += f" Other partitions: {', '.join(others)}."
    return text


def enable_hint(region: str) -> str:
    return (
        f"Enable it in the AWS console (Account > AWS Regions) or with "
        f"`aws account enable-region --region-name {region}`, wait until it shows Enabled, and run again; "
        "or leave it out."
    )


def _unknown(
    region: str, where: str, ours: set[str], partition: str | None, account_list: bool
) -> UnknownRegion:
    """The error for a name that is not in `ours` (the regions it may be)."""
    botocore_known = set(known_regions())
    other = partition_of(region)
    if region in botocore_known and partition is not None and other != partition:
        return UnknownRegion(
            f"Region {region}{where} is in the {other} partition, but these credentials are for {partition}.",
            region=region,
            hint=f"Use credentials for the {other} partition, or a region of {partition}.",
        )
    # Without a partition, the likeliest one is that of the name's shape ('aws' for most typos).
    likely = {r for r in ours if partition_of(r) == other}
    suggestion = closest_region(region, likely) or closest_region(region, ours)
    guess = f" Did you mean {suggestion}?" if suggestion else ""
    if account_list and region in botocore_known:
        return UnknownRegion(
            f"Region {region}{where} is not offered to this account.{guess}",
            region=region,
            suggestion=suggestion,
            hint="`aws ec2 describe-regions --all-regions` lists the regions this account can use.",
        )
    hint = "Region names look like us-east-1 or eu-central-2."
    if not suggestion:
        hint += " " + _known_list(partition)
    if looks_like_region(region) and region not in botocore_known:
        hint += (
            f" If {region} is a new AWS region, upgrade botocore (botocore {botocore.__version__} "
            "does not know it)."
        )
    return UnknownRegion(
        f"Unknown region {region!r}{where}.{guess}", region=region, suggestion=suggestion, hint=hint
    )


def validate_region(
    name: str,
    *,
    partition: str | None = None,
    enabled: Iterable[str] | None = None,
    available: Iterable[str] | None = None,
    what: str = "--region",
) -> str:
    """`name` stripped, if it is a region to use; else `UnknownRegion` / `RegionNotEnabled` (kind usage).

    * `partition`: the account's partition; a region of another partition is refused (None: any).
    * `available`: the account's own region list (DescribeRegions AllRegions=True); None: botocore's list.
    * `enabled`: the regions the account has enabled; None: not checked.
    * `what`: where the name came from (`--regions`, `--bucket-region`, ...), quoted in the message.
    """
    region = name.strip()
    where = f" ({what})" if what else ""
    if not region:
        raise UnknownRegion(f"Empty region name{where}.", region="", hint="Region names look like us-east-1.")
    botocore_known = set(known_regions())
    candidates = set(available) if available is not None else botocore_known
    ours = {r for r in candidates if partition is None or partition_of(r) == partition}
    if region not in ours:
        raise _unknown(region, where, ours or set(known_regions(partition)), partition, available is not None)
    if enabled is not None and region not in set(enabled):
        raise RegionNotEnabled(
            f"Region {region}{where} is not enabled for this account.",
            region=region,
            hint=enable_hint(region),
        )
    return region


def validate_regions(
    names: Iterable[str],
    *,
    partition: str | None = None,
    enabled: Iterable[str] | None = None,
    available: Iterable[str] | None = None,
    what: str = "--regions",
) -> list[str]:
    """Every name checked with `validate_region`, stripped and de-duplicated (blank ones dropped).

    All bad names are reported at once: one of them raises its own error; several raise one error
    (`RegionNotEnabled` when none is unknown, else `UnknownRegion`) whose message lists each."""
    enabled_l = None if enabled is None else list(enabled)
    available_l = None if available is None else list(available)
    clean: list[str] = []
    errors: list[FlowlogsError] = []
    for raw in names:
        if not raw.strip():
            continue
        try:
            region = validate_region(
                raw, partition=partition, enabled=enabled_l, available=available_l, what=what
            )
        except ValidationFailed as err:
            errors.append(err)
            continue
        if region not in clean:
            clean.append(region)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        hints = list(dict.fromkeys(e.hint for e in errors if e.hint))
        message = " ".join(e.message for e in errors)
        if all(isinstance(e, RegionNotEnabled) for e in errors):
            regions = [e.region for e in errors if isinstance(e, RegionNotEnabled)]
            raise RegionNotEnabled(message, region=", ".join(regions), hint="\n".join(hints))
        raise UnknownRegion(
            message,
            region=", ".join(e.region for e in errors if isinstance(e, (UnknownRegion, RegionNotEnabled))),
            hint="\n".join(hints),
        )
    return clean


def region_of_location(constraint: str | None) -> str:
    """The region a GetBucketLocation LocationConstraint names: none (or '') is us-east-1, the legacy
    'EU' is eu-west-1."""
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint
