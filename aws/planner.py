"""Builds one Plan from the discovered inventory and the user's choices.

The same function serves `flowlogs plan` and the TUI's steps: the bucket part (issue 4), the flow log and
firewall part (issue 5) and, when a Kentik role or policy is named, the IAM part (issue 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from aws.buckets import BucketChoice, BucketSetup, RegionResources, bucket_targets, plan_buckets
from aws.errors import ValidationFailed
from aws.firewall import FirewallOptions, FirewallTarget, firewall_changes
from aws.flowlogs import FlowLogOptions, FlowLogTarget, flowlog_changes
from aws.inventory import FlowLog, Inventory, Verdict, Vpc
from aws.plan import Change, Plan
from aws.session import AwsSession

ResourceKind = Literal["vpc", "subnet", "eni"]
LogType = Literal["FLOW", "ALERT", "TLS"]
DEFAULT_FIREWALL_LOGS: tuple[LogType, ...] = ("FLOW", "ALERT")
RESOURCE_TYPE = {"vpc": "VPC", "subnet": "Subnet", "eni": "NetworkInterface"}


class LogChoices(BaseModel):
    """Flow log and firewall choices (the checklist step / `flowlogs plan` flags)."""

    resources: ResourceKind = "vpc"
    include: list[str] = Field(default_factory=list, description="Only these VPC ids (empty: all)")
    exclude: list[str] = Field(default_factory=list, description="Never these VPC ids")
    prefix: str = Field(default="", description="Flow log S3 prefix")
    extra_fields: list[str] = Field(default_factory=list)
    aggregation: Literal[60, 600] = 600
    replace_existing: bool = False
    firewalls: bool = True
    firewall_include: list[str] = Field(default_factory=list, description="Only these firewall names")
    firewall_prefix: str = ""
    firewall_logs: list[LogType] = Field(default_factory=lambda: list(DEFAULT_FIREWALL_LOGS))
    repoint_existing: bool = False
    replace_non_s3: bool = Field(
        default=False,
        description="Move FLOW/ALERT logs that go to CloudWatch Logs/Firehose to S3 (destructive)",
    )


class PlanBuild(BaseModel):
    plan: Plan
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    buckets: dict[str, str] = Field(default_factory=dict, description="source region -> bucket")


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


def _vpc_flow_target(region: str, vpc: Vpc) -> FlowLogTarget:
    verdict = vpc.verdict.value if vpc.verdict is not Verdict.UNKNOWN else "missing"
    non_compliant = tuple(fl.flow_log_id for fl in vpc.flow_logs if fl.problems)
    return FlowLogTarget(
        resource_id=vpc.vpc_id,
        resource_type="VPC",
        region=region,
        verdict=verdict,  # type: ignore[arg-type]
        reasons=tuple(r.message for r in vpc.reasons),
        existing_flow_log_ids=non_compliant if verdict != "compliant" else (),
    )


def _sub_resource_targets(
    session: AwsSession, region: str, vpcs: list[Vpc], kind: ResourceKind
) -> list[FlowLogTarget]:
    """Subnets or ENIs of the chosen VPCs, with their own flow logs' verdicts."""
    if not vpcs:
        return []
    ec2 = session.client("ec2", region)
    ids = [v.vpc_id for v in vpcs]
    existing: dict[str, list[FlowLog]] = {}
    for vpc in vpcs:
        for fl in vpc.partial_flow_logs:
            existing.setdefault(fl.resource_id, []).append(fl)
    if kind == "subnet":
        pages = ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "vpc-id", "Values": ids}])
        resource_ids = [s["SubnetId"] for page in pages for s in page["Subnets"]]
    else:
        pages = ec2.get_paginator("describe_network_interfaces").paginate(
            Filters=[{"Name": "vpc-id", "Values": ids}]
        )
        resource_ids = [n["NetworkInterfaceId"] for page in pages for n in page["NetworkInterfaces"]]
    targets = []
    for rid in sorted(resource_ids):
        logs = existing.get(rid, [])
        compliant = any(not fl.problems for fl in logs)
        verdict = "compliant" if compliant else ("needs-change" if logs else "missing")
        targets.append(
            FlowLogTarget(
                resource_id=rid,
                resource_type=RESOURCE_TYPE[kind],  # type: ignore[arg-type]
                region=region,
                verdict=verdict,  # type: ignore[arg-type]
                reasons=tuple(p.message for fl in logs for p in fl.problems),
                existing_flow_log_ids=tuple(fl.flow_log_id for fl in logs if fl.problems)
                if not compliant
                else (),
            )
        )
    return targets


def flow_targets(
    session: AwsSession, inventory: Inventory, choices: LogChoices, regions: Iterable[str]
) -> list[FlowLogTarget]:
    wanted = set(regions)
    targets: list[FlowLogTarget] = []
    for region in inventory.scanned_regions:
        if region.name not in wanted:
            continue
        vpcs = [
            v
            for v in region.vpcs
            if (not choices.include or v.vpc_id in choices.include) and v.vpc_id not in choices.exclude
        ]
        if choices.resources == "vpc":
            targets.extend(_vpc_flow_target(region.name, v) for v in vpcs)
        else:
            targets.extend(_sub_resource_targets(session, region.name, vpcs, choices.resources))
    return targets


def firewall_targets(
    inventory: Inventory, choices: LogChoices, regions: Iterable[str]
) -> list[FirewallTarget]:
    wanted = set(regions)
    out = []
    for region in inventory.scanned_regions:
        if region.name not in wanted:
            continue
        for fw in region.firewalls:
            if choices.firewall_include and fw.name not in choices.firewall_include:
                continue
            logging: dict[str, Any] = {
                "LogDestinationConfigs": [
                    {"LogType": d.log_type, "LogDestinationType": d.destination_type, "LogDestination": d.raw}
                    for d in fw.destinations
                ]
            }
            out.append(FirewallTarget(name=fw.name, arn=fw.arn, region=region.name, logging=logging))
    return out


def build_plan(
    session: AwsSession,
    inventory: Inventory,
    bucket: BucketChoice,
    logs: LogChoices | None = None,
    *,
    policy_changes: Callable[[list[str], list[str]], list[Change]] | None = None,
) -> PlanBuild:
    """The whole plan. Read calls only. Raises ValidationFailed for choices that cannot be planned.

    `policy_changes(buckets, kms_key_arns)` adds the IAM part when the caller has named a role/policy.
    """
    account = inventory.identity.account
    plan = Plan(account=account, partition=inventory.identity.partition)
    setup: BucketSetup = plan_buckets(session, bucket, account)
    plan.extend(setup.changes)
    mapping = bucket_for_region(bucket, account)
    build = PlanBuild(plan=plan, warnings=list(setup.warnings), notes=list(setup.notes), buckets=mapping)
    plan.settings["bucket"] = bucket.model_dump()
    if logs is not None:
        plan.settings["logs"] = logs.model_dump()
        regions = sorted(mapping)
        targets = flow_targets(session, inventory, logs, regions)
        if not targets and logs.include:
            raise ValidationFailed(
                f"None of the VPCs given with --include were found: {', '.join(logs.include)}"
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
        build.notes.append(f"{len(targets)} resource(s) checked; {compliant} already compliant.")
        if logs.firewalls:
            fw_opts = FirewallOptions(
                buckets=mapping,
                prefix=logs.firewall_prefix,
                log_types=tuple(logs.firewall_logs),
                repoint_existing=logs.repoint_existing,
                replace_non_s3=logs.replace_non_s3,
            )
            plan.extend(firewall_changes(firewall_targets(inventory, logs, regions), fw_opts, account))
    if policy_changes is not None:
        names = sorted({t.name for t in bucket_targets(bucket, account)})
        keys = [t.kms_key_arn for t in bucket_targets(bucket, account) if t.kms_key_arn]
        plan.extend(policy_changes(names, keys))
    return build
