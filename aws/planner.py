"""Builds one Plan from the discovered inventory and the user's choices.

The same function serves `flowlogs plan` and the TUI's steps: the bucket part (issue 4), the flow log and
firewall part (issue 5) and, when a Kentik role or policy is named, the IAM part (issue 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from aws.assess import flow_log_problems
from aws.buckets import BucketChoice, BucketSetup, RegionResources, bucket_targets, plan_buckets
from aws.discovery import flow_log_from_api
from aws.errors import ValidationFailed
from aws.firewall import FirewallOptions, FirewallTarget, firewall_changes
from aws.flowlogs import FlowLogOptions, FlowLogTarget, flowlog_changes
from aws.inventory import FlowLog, Inventory, Verdict, Vpc
from aws.plan import Change, Plan
from aws.session import AwsSession

ResourceKind = Literal["vpc", "subnet", "eni", "tgw"]
LogType = Literal["FLOW", "ALERT", "TLS"]
DEFAULT_FIREWALL_LOGS: tuple[LogType, ...] = ("FLOW", "ALERT")
RESOURCE_TYPE = {"vpc": "VPC", "subnet": "Subnet", "eni": "NetworkInterface", "tgw": "TransitGateway"}
RESOURCE_NOUN = {"vpc": "VPC", "subnet": "subnet", "eni": "network interface", "tgw": "transit gateway"}
TGW_AGGREGATION_NOTE = (
    "Transit gateway flow logs always use a 60 s aggregation interval (AWS requires it); "
    "the 600 s choice applies to VPCs, subnets and network interfaces only."
)
_GONE_TGW_STATES = ("deleting", "deleted")
_FILTER_CHUNK = 100  # values per EC2 filter


class LogChoices(BaseModel):
    """Flow log and firewall choices (the checklist step / `flowlogs plan` flags)."""

    resources: ResourceKind = "vpc"
    include: list[str] = Field(
        default_factory=list,
        description="Only these ids (empty: all): VPC ids, or for subnets/ENIs their own or their VPC's "
        "ids, or transit gateway ids",
    )
    exclude: list[str] = Field(default_factory=list, description="Never these ids (same forms as include)")
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


class ResourceTarget(BaseModel):
    """A flow log target with where it sits, for display: its VPC (subnets, ENIs) and its name."""

    target: FlowLogTarget
    vpc_id: str = ""
    name: str = Field(default="", description="Name tag (subnets, transit gateways) or description (ENIs)")


def _picked(choices: LogChoices, *ids: str) -> bool:
    """Whether a resource is in the choice: include/exclude may name it or (subnets, ENIs) its VPC."""
    present = [i for i in ids if i]
    if choices.include and not any(i in choices.include for i in present):
        return False
    return not any(i in choices.exclude for i in present)


def _target_from_logs(rid: str, kind: ResourceKind, region: str, logs: list[FlowLog]) -> FlowLogTarget:
    compliant = any(not fl.problems for fl in logs)
    verdict = "compliant" if compliant else ("needs-change" if logs else "missing")
    return FlowLogTarget(
        resource_id=rid,
        resource_type=RESOURCE_TYPE[kind],  # type: ignore[arg-type]
        region=region,
        verdict=verdict,  # type: ignore[arg-type]
        reasons=tuple(p.message for fl in logs for p in fl.problems),
        existing_flow_log_ids=tuple(fl.flow_log_id for fl in logs if fl.problems) if not compliant else (),
    )


def _name(tags: list[dict[str, str]] | None) -> str:
    return next((t.get("Value", "") for t in tags or [] if t.get("Key") == "Name"), "")


def _sub_resource_targets(
    session: AwsSession, region: str, vpcs: list[Vpc], kind: ResourceKind, choices: LogChoices
) -> list[ResourceTarget]:
    """Subnets or ENIs of the region's VPCs, with their own flow logs' verdicts."""
    if not vpcs:
        return []
    ec2 = session.client("ec2", region)
    ids = [v.vpc_id for v in vpcs]
    existing: dict[str, list[FlowLog]] = {}
    for vpc in vpcs:
        for fl in vpc.partial_flow_logs:
            existing.setdefault(fl.resource_id, []).append(fl)
    found: list[tuple[str, str, str]] = []  # (resource id, vpc id, name)
    for start in range(0, len(ids), _FILTER_CHUNK):  # EC2 caps the values of one filter
        filters = [{"Name": "vpc-id", "Values": ids[start : start + _FILTER_CHUNK]}]
        if kind == "subnet":
            pages = ec2.get_paginator("describe_subnets").paginate(Filters=filters)
            found += [
                (s["SubnetId"], s.get("VpcId", ""), _name(s.get("Tags"))) for p in pages for s in p["Subnets"]
            ]
        else:
            pages = ec2.get_paginator("describe_network_interfaces").paginate(Filters=filters)
            found += [
                (n["NetworkInterfaceId"], n.get("VpcId", ""), n.get("Description", ""))
                for p in pages
                for n in p["NetworkInterfaces"]
            ]
    return [
        ResourceTarget(
            target=_target_from_logs(rid, kind, region, existing.get(rid, [])), vpc_id=vpc_id, name=name
        )
        for rid, vpc_id, name in sorted(found)
        if _picked(choices, rid, vpc_id)
    ]


def _tgw_targets(session: AwsSession, region: str, choices: LogChoices) -> list[ResourceTarget]:
    """The region's transit gateways (owned by this account), with their flow logs' verdicts."""
    ec2 = session.client("ec2", region)
    pages = ec2.get_paginator("describe_transit_gateways").paginate()
    gateways = {
        t["TransitGatewayId"]: _name(t.get("Tags"))
        for page in pages
        for t in page["TransitGateways"]
        if t.get("State") not in _GONE_TGW_STATES and _picked(choices, t["TransitGatewayId"])
    }
    ids = sorted(gateways)
    existing: dict[str, list[FlowLog]] = {}
    for start in range(0, len(ids), _FILTER_CHUNK):
        chunk = ids[start : start + _FILTER_CHUNK]
        flow_pages = ec2.get_paginator("describe_flow_logs").paginate(
            Filter=[{"Name": "resource-id", "Values": chunk}]
        )
        for page in flow_pages:
            for item in page["FlowLogs"]:
                fl = flow_log_from_api(item)
                fl.problems = flow_log_problems(fl)
                existing.setdefault(fl.resource_id, []).append(fl)
    return [
        ResourceTarget(
            target=_target_from_logs(rid, "tgw", region, existing.get(rid, [])), name=gateways[rid]
        )
        for rid in ids
    ]


def resource_targets(
    session: AwsSession, inventory: Inventory, choices: LogChoices, regions: Iterable[str]
) -> list[ResourceTarget]:
    """The chosen kind of resource in the chosen regions, with verdicts. VPCs come from the inventory
    (no AWS call); subnets, ENIs and transit gateways are listed with read calls."""
    wanted = set(regions)
    out: list[ResourceTarget] = []
    for region in inventory.scanned_regions:
        if region.name not in wanted:
            continue
        if choices.resources == "tgw":
            out.extend(_tgw_targets(session, region.name, choices))
        elif choices.resources == "vpc":
            out.extend(
                ResourceTarget(target=_vpc_flow_target(region.name, v), vpc_id=v.vpc_id, name=v.name)
                for v in region.vpcs
                if _picked(choices, v.vpc_id)
            )
        else:
            out.extend(_sub_resource_targets(session, region.name, region.vpcs, choices.resources, choices))
    return out


def flow_targets(
    session: AwsSession, inventory: Inventory, choices: LogChoices, regions: Iterable[str]
) -> list[FlowLogTarget]:
    return [r.target for r in resource_targets(session, inventory, choices, regions)]


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
        build.notes.append(f"{len(targets)} resource(s) checked; {compliant} already compliant.")
        if logs.resources == "tgw" and logs.aggregation != 60:
            build.notes.append(TGW_AGGREGATION_NOTE)
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
        buckets = bucket_targets(bucket, account)
        names = sorted({t.name for t in buckets})
        keys = [t.kms_key_arn for t in buckets if t.kms_key_arn]
        plan.extend(policy_changes(names, keys))
    return build
