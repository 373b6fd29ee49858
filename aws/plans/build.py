"""Builds one Plan from the discovered inventory and the user's choices: the one planner of `flowlogs plan`
and the TUI's steps (bucket part, flow log and firewall part, and the IAM part when a Kentik role or
policy is named). A plan built here gets its id and tags what it creates (`aws.tags.tag_plan`)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from aws.coverage import (
    DEVICE_NOTE,
    ReadSet,
    SourceCoverage,
    inspect_location,
)
from aws.discovery import list_own_buckets
from aws.errors import ValidationFailed
from aws.inventory import Inventory
from aws.logs.flowlogs import FlowLogOptions, flowlog_changes
from aws.plans.change import Change, Plan, link_to_buckets
from aws.plans.choices import RESOURCE_NOUN, TGW_AGGREGATION_NOTE, LogChoices
from aws.plans.targets import CoverageJudge, firewall_plan, firewall_targets, flow_targets
from aws.s3.setup import BucketSetup, plan_buckets
from aws.s3.strategy import BucketChoice, RegionResources, bucket_targets
from aws.session import AwsSession
from aws.tags import tag_plan


class PlanBuild(BaseModel):
    plan: Plan
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    buckets: dict[str, str] = Field(default_factory=dict, description="source region -> bucket")
    read_set: ReadSet = Field(default_factory=ReadSet, description="Every location Kentik must read")
    coverage: list[SourceCoverage] = Field(default_factory=list, description="What happens to each source")
    kms_keys: list[str] = Field(default_factory=list, description="KMS keys of the buckets Kentik reads")
    delivery_blocked: list[str] = Field(
        default_factory=list,
        description="Explicit Denies that make log delivery fail: the plan cannot deliver until they change",
    )


def resources_by_region(inventory: Inventory) -> dict[str, RegionResources]:
    return {
        r.name: RegionResources(vpcs=len(r.vpcs), firewalls=len(r.firewalls))
        for r in inventory.scanned_regions
        if r.vpcs or r.firewalls
    }


def bucket_for_region(choice: BucketChoice, account: str) -> dict[str, str]:
    """Which bucket each source region's logs go to."""
    out: dict[str, str] = {}
    for target in bucket_targets(choice, account):
        for region in target.sources:
            out[region] = target.name
    return out


def kentik_read_set(bucket: BucketChoice, account: str) -> ReadSet:
    """Kentik's own buckets from the bucket choice, read whole."""
    targets = bucket_targets(bucket, account)
    return ReadSet.of_buckets(
        [t.name for t in targets], account=account, regions={t.name: t.region for t in targets}
    )


def build_bucket_plan(
    session: AwsSession, choice: BucketChoice, *, account: str, partition: str
) -> tuple[BucketSetup, Plan]:
    """The bucket step's plan on its own (read calls only): the step previews and applies it before the
    checklist plans the logs. Raises ValidationFailed for a choice that cannot be planned."""
    setup = plan_buckets(session, choice, account)
    plan = Plan(
        account=account,
        partition=partition,
        changes=setup.changes,
        notes=setup.notes,
        settings={"bucket": choice.model_dump()},
    )
    tag_plan(plan)  # setup.changes are the plan's changes: they carry the plan's tags too
    return setup, plan


PolicyPart = Callable[[ReadSet, list[str]], list[Change]]


def build_plan(
    session: AwsSession,
    inventory: Inventory,
    bucket: BucketChoice,
    logs: LogChoices | None = None,
    *,
    policy_changes: PolicyPart | None = None,
) -> PlanBuild:
    """The whole plan. Read calls only. Raises ValidationFailed for choices that cannot be planned.

    Every source is judged by coverage (see `aws.coverage`): complete logs to another bucket of this
    account join Kentik's read set (or, with `existing_destinations="duplicate"`, get a log to Kentik's
    bucket). `policy_changes(read_set, kms_key_arns)` adds the IAM part when the caller has named a
    role/policy; it is given every location Kentik must read. `logs.selected` / `logs.firewall_selected`
    limit the changes to those sources (the checklist's selection; `flowlogs plan` plans all in scope);
    every source in scope is still judged, so the read set is whole. The CLI and the checklist both
    plan through here.
    """
    account = inventory.identity.account
    if logs is not None:  # the delivery policy and lifecycle cover the log prefixes too
        wanted = [*bucket.prefixes, *(p for p in (logs.prefix, logs.firewall_prefix) if p)]
        bucket = bucket.model_copy(update={"prefixes": list(dict.fromkeys(wanted))})
    plan = Plan(account=account, partition=inventory.identity.partition)
    setup: BucketSetup = plan_buckets(session, bucket, account)
    plan.extend(setup.changes)
    mapping = bucket_for_region(bucket, account)
    build = PlanBuild(
        plan=plan,
        warnings=[*setup.delivery_blocked, *setup.warnings],
        notes=list(setup.notes),
        buckets=mapping,
        delivery_blocked=list(setup.delivery_blocked),
    )
    plan.notes.extend(setup.delivery_blocked)
    plan.settings["bucket"] = bucket.model_dump()
    targets_b = bucket_targets(bucket, account)
    read_set = kentik_read_set(bucket, account)
    keys = [t.kms_key_arn for t in targets_b if t.kms_key_arn]
    if logs is not None:
        plan.settings["logs"] = logs.model_dump()
        names = inventory.buckets if inventory.buckets is not None else list_own_buckets(session)[0]
        owned = set(names) if names is not None else None
        judge = CoverageJudge(read_set, owned, logs.existing_destinations, account)
        regions = sorted(mapping)
        targets = flow_targets(session, inventory, logs, regions, judge)
        if logs.selected is not None:  # every source is judged (its bucket may join the read set); only
            picked = set(logs.selected)  # the selected ones get changes
            build.warnings.extend(
                _unplanned(picked - {t.resource_id for t in targets}, inventory, logs, mapping)
            )
            targets = [t for t in targets if t.resource_id in picked]
        if not targets and logs.include and not judge.decisions:
            raise ValidationFailed(
                f"None of the {RESOURCE_NOUN[logs.resources]}s given with --include were found "
                f"in the planned regions: {', '.join(logs.include)}"
            )
        flow_opts = FlowLogOptions(
            buckets=mapping,
            prefix=logs.prefix,
            extra_fields=tuple(logs.extra_fields),
            aggregation=logs.aggregation,
            replace_existing=logs.replace_existing,
        )
        plan.extend(flowlog_changes(targets, flow_opts, account, inventory.identity.partition))
        compliant = sum(t.verdict == "compliant" for t in targets)
        build.notes.append(f"{len(targets)} resource(s) checked; {compliant} already readable by Kentik.")
        if logs.resources == "tgw" and logs.aggregation != 60:
            build.notes.append(TGW_AGGREGATION_NOTE)
        if logs.firewalls:
            fw_targets = firewall_targets(inventory, logs, regions)
            pick: set[tuple[str, str]] | None = None
            if logs.firewall_selected is not None:
                pick = {(f.partition("/")[0], f.partition("/")[2]) for f in logs.firewall_selected}
                outside = sorted(f"{name} ({region})" for region, name in pick if region not in mapping)
                if outside:
                    build.warnings.append(NOT_PLANNED + ", ".join(outside))
            plan.extend(firewall_plan(judge, fw_targets, logs, mapping, pick))
        build.coverage = judge.decisions
        _note_coverage(build, judge)
    for location in read_set.existing:
        checked, key, warnings = inspect_location(session, location, partition=inventory.identity.partition)
        read_set.locations = [checked if loc == location else loc for loc in read_set.locations]
        if key:
            keys.append(key)
        build.warnings.extend(warnings)
    build.read_set = read_set
    build.kms_keys = list(dict.fromkeys(keys))
    plan.read_set = read_set.locations
    plan.coverage = build.coverage
    if policy_changes is not None:
        plan.extend(policy_changes(read_set, build.kms_keys))
    link_to_buckets(plan, {t.name: t.kms_key_arn for t in targets_b})  # logs wait for their bucket
    tag_plan(plan)  # last: the plan's id is the digest of its changes
    return build


NOT_PLANNED = "Not in this plan, their region has no bucket in the chosen strategy: "


def _unplanned(ids: set[str], inventory: Inventory, logs: LogChoices, buckets: dict[str, str]) -> list[str]:
    """The warnings for selected resources that are not targets: their region has no bucket (VPCs, whose
    region the inventory knows) or they were not found in the bucket regions (subnets, ENIs, gateways).
    A VPC in a bucket region that is not a target is owned by another account: the coverage says so."""
    region_of = {v.vpc_id: r for r, v in inventory.vpcs()}
    outside = sorted(i for i in ids if i in region_of and region_of[i] not in buckets)
    missing = sorted(i for i in ids if i not in region_of)
    out = [NOT_PLANNED + ", ".join(outside)] if outside else []
    if missing:
        noun = RESOURCE_NOUN[logs.resources]
        out.append(
            f"Not in this plan, no {noun} with these ids in the regions the chosen strategy has a bucket "
            f"for: {', '.join(missing)}"
        )
    return out


def _note_coverage(build: PlanBuild, judge: CoverageJudge) -> None:
    counts: dict[str, int] = {}
    for d in judge.decisions:
        counts[d.decision] = counts.get(d.decision, 0) + 1
    if judge.read_set.existing:
        paths = ", ".join(loc.shown for loc in judge.read_set.existing)
        build.notes.append(
            f"{counts.get('read', 0)} source(s) already deliver complete logs to other buckets of this account; "
            f"Kentik's read set gains {paths} (read only). {DEVICE_NOTE}"
        )
    if counts.get("duplicate"):
        build.notes.append(
            f"{counts['duplicate']} source(s) deliver complete logs to a bucket Kentik does not read: a flow "
            "log to Kentik's bucket is added beside each (the old one is kept)."
        )
    not_owned = [d for d in judge.decisions if d.decision == "not-owned"]
    if not_owned:
        build.warnings.extend(d.reason for d in not_owned)
    kept = [d for d in judge.decisions if d.decision == "kept"]
    if kept:
        build.warnings.extend(f"{d.source} ({d.region}): {d.reason}" for d in kept)
