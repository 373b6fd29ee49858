"""What the choices point at, judged: the flow log targets (VPCs from the inventory; subnets, ENIs and transit
gateways listed with read calls) and the firewall targets, each judged by coverage (`CoverageJudge`)
against Kentik's read set, and the firewall part of a plan."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from aws.assess import flow_log_problems
from aws.coverage import (
    ExistingDestinations,
    ReadSet,
    SourceCoverage,
    judge_existing,
)
from aws.discovery_api import flow_log_from_api
from aws.inventory import FlowLog, Inventory, Vpc
from aws.logs.firewall import FirewallOptions, FirewallTarget, firewall_changes
from aws.logs.flowlogs import FlowLogTarget
from aws.names import log_folder
from aws.permissions import declare
from aws.plans.change import Change
from aws.plans.choices import RESOURCE_NOUN, RESOURCE_TYPE, LogChoices, ResourceKind
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=[
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeTransitGateways",
        "ec2:DescribeFlowLogs",
    ],
)

_GONE_TGW_STATES = ("deleting", "deleted")
_FILTER_CHUNK = 100  # values per EC2 filter


@dataclass
class CoverageJudge:
    """Judges each source against Kentik's read set (see `aws.coverage`), collecting the decisions and
    the existing locations that join the read set."""

    read_set: ReadSet
    owned: set[str] | None
    mode: ExistingDestinations
    account: str
    decisions: list[SourceCoverage] = field(default_factory=list)

    def owned_elsewhere(self, rid: str, region: str, owner: str, noun: str) -> bool:
        """Record (and return True for) a resource another account owns (a shared VPC, a transit
        gateway shared through RAM): only its owner can create its flow logs."""
        if not owner or owner == self.account:
            return False
        self.decisions.append(
            SourceCoverage(
                source=rid,
                region=region,
                decision="not-owned",
                reason=f"{noun} {rid} is owned by account {owner}: enable flow logs from that account",
            )
        )
        return True

    def flow_target(
        self,
        rid: str,
        resource_type: str,
        region: str,
        logs: list[FlowLog],
        reasons: tuple[str, ...] | None = None,
    ) -> FlowLogTarget:
        """The target for one resource given its own flow logs (problems assessed)."""
        complete = [fl for fl in logs if not fl.problems]
        to_s3 = [fl for fl in complete if fl.bucket]
        chosen = next((fl for fl in to_s3 if self.read_set.find(fl.bucket, fl.prefix)), None)
        if chosen is None:
            chosen = next((fl for fl in to_s3 if self.owned and fl.bucket in self.owned), None)
        chosen = chosen or (to_s3[0] if to_s3 else None)
        target = dict(resource_id=rid, resource_type=resource_type, region=region)
        if chosen is None:
            broken = tuple(fl.flow_log_id for fl in logs if fl.problems)
            shown = reasons if reasons is not None else tuple(p.message for fl in logs for p in fl.problems)
            self.decisions.append(
                SourceCoverage(
                    source=rid,
                    region=region,
                    decision="new",
                    reason="; ".join(shown) if shown else "no flow log",
                )
            )
            return FlowLogTarget(
                **target,  # type: ignore[arg-type]
                verdict="needs-change" if logs else "missing",
                reasons=shown,
                existing_flow_log_ids=broken,
            )
        decision, why, location = judge_existing(
            str(chosen.bucket),
            chosen.prefix,
            read_set=self.read_set,
            owned=self.owned,
            mode=self.mode,
            account=self.account,
            what=f"flow log {chosen.flow_log_id}",
        )
        if location is not None:
            self.read_set.add(location)
        self.decisions.append(
            SourceCoverage(
                source=rid,
                region=region,
                decision=decision,
                bucket=str(chosen.bucket),
                prefix=log_folder(chosen.prefix),
                flow_log_id=chosen.flow_log_id,
                reason=why,
            )
        )
        if decision in ("covered", "read"):
            return FlowLogTarget(**target, verdict="compliant", reasons=(why,))  # type: ignore[arg-type]
        # duplicate: a new flow log beside the complete one, which is never deleted
        return FlowLogTarget(**target, verdict="needs-change", reasons=(why,))  # type: ignore[arg-type]


class ResourceTarget(BaseModel):
    """A flow log target with where it sits, for display: its VPC (subnets, ENIs) and its name."""

    target: FlowLogTarget
    vpc_id: str = ""
    name: str = Field(default="", description="Name tag (subnets, transit gateways) or description (ENIs)")


def _picked(choices: LogChoices, *ids: str) -> bool:
    """Whether a resource is in the choice: include/exclude may name it or (subnets, ENIs) its VPC."""
    present = [i for i in ids if i]
    if choices.include is not None and not any(i in choices.include for i in present):
        return False
    return not any(i in choices.exclude for i in present)


def _name(tags: list[dict[str, str]] | None) -> str:
    return next((t.get("Value", "") for t in tags or [] if t.get("Key") == "Name"), "")


def _sub_resource_targets(
    session: AwsSession,
    region: str,
    vpcs: list[Vpc],
    kind: ResourceKind,
    choices: LogChoices,
    judge: CoverageJudge,
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
    found: list[tuple[str, str, str, str]] = []  # (resource id, vpc id, name, owner)
    for start in range(0, len(ids), _FILTER_CHUNK):  # EC2 caps the values of one filter
        filters = [{"Name": "vpc-id", "Values": ids[start : start + _FILTER_CHUNK]}]
        if kind == "subnet":
            pages = ec2.get_paginator("describe_subnets").paginate(Filters=filters)
            found += [
                (s["SubnetId"], s.get("VpcId", ""), _name(s.get("Tags")), s.get("OwnerId", ""))
                for p in pages
                for s in p["Subnets"]
            ]
        else:
            pages = ec2.get_paginator("describe_network_interfaces").paginate(Filters=filters)
            found += [
                (n["NetworkInterfaceId"], n.get("VpcId", ""), n.get("Description", ""), n.get("OwnerId", ""))
                for p in pages
                for n in p["NetworkInterfaces"]
            ]
    out: list[ResourceTarget] = []
    for rid, vpc_id, name, owner in sorted(found):
        if not _picked(choices, rid, vpc_id) or judge.owned_elsewhere(
            rid, region, owner, RESOURCE_NOUN[kind]
        ):
            continue
        target = judge.flow_target(rid, RESOURCE_TYPE[kind], region, existing.get(rid, []))
        out.append(ResourceTarget(target=target, vpc_id=vpc_id, name=name))
    return out


def _tgw_targets(
    session: AwsSession, region: str, choices: LogChoices, judge: CoverageJudge
) -> list[ResourceTarget]:
    """The region's transit gateways owned by this account, with their flow logs' verdicts (one shared
    from another account through RAM is recorded as not owned)."""
    ec2 = session.client("ec2", region)
    pages = ec2.get_paginator("describe_transit_gateways").paginate()
    gateways = {
        t["TransitGatewayId"]: _name(t.get("Tags"))
        for page in pages
        for t in page["TransitGateways"]
        if t.get("State") not in _GONE_TGW_STATES
        and _picked(choices, t["TransitGatewayId"])
        and not judge.owned_elsewhere(t["TransitGatewayId"], region, t.get("OwnerId", ""), "transit gateway")
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
            target=judge.flow_target(rid, "TransitGateway", region, existing.get(rid, [])), name=gateways[rid]
        )
        for rid in ids
    ]


def default_judge(inventory: Inventory, read_set: ReadSet, choices: LogChoices) -> CoverageJudge:
    """A judge for `read_set` using the inventory's list of the account's own buckets."""
    owned = set(inventory.buckets) if inventory.buckets is not None else None
    return CoverageJudge(read_set, owned, choices.existing_destinations, inventory.identity.account)


def resource_targets(
    session: AwsSession,
    inventory: Inventory,
    choices: LogChoices,
    regions: Iterable[str],
    judge: CoverageJudge | None = None,
) -> list[ResourceTarget]:
    """The chosen kind of resource in the chosen regions, with verdicts judged by `judge` (default: an
    empty read set, so only the format counts). VPCs come from the inventory (no AWS call); subnets,
    ENIs and transit gateways are listed with read calls. Resources another account owns are left out
    (and recorded on the judge)."""
    judge = judge or default_judge(inventory, ReadSet(), choices)
    wanted = set(regions)
    out: list[ResourceTarget] = []
    for region in inventory.scanned_regions:
        if region.name not in wanted:
            continue
        if choices.resources == "tgw":
            out.extend(_tgw_targets(session, region.name, choices, judge))
        elif choices.resources == "vpc":
            for v in region.vpcs:
                if not _picked(choices, v.vpc_id) or judge.owned_elsewhere(
                    v.vpc_id, region.name, v.owner_id, "VPC"
                ):
                    continue
                reasons = tuple(r.message for r in v.reasons)
                target = judge.flow_target(v.vpc_id, "VPC", region.name, v.flow_logs, reasons)
                out.append(ResourceTarget(target=target, vpc_id=v.vpc_id, name=v.name))
        else:
            out.extend(
                _sub_resource_targets(session, region.name, region.vpcs, choices.resources, choices, judge)
            )
    return out


def flow_targets(
    session: AwsSession,
    inventory: Inventory,
    choices: LogChoices,
    regions: Iterable[str],
    judge: CoverageJudge | None = None,
) -> list[FlowLogTarget]:
    return [r.target for r in resource_targets(session, inventory, choices, regions, judge)]


def firewall_targets(
    inventory: Inventory, choices: LogChoices, regions: Iterable[str]
) -> list[FirewallTarget]:
    wanted = set(regions)
    out = []
    for region in inventory.scanned_regions:
        if region.name not in wanted:
            continue
        for fw in region.firewalls:
            if choices.firewall_include is not None and fw.name not in choices.firewall_include:
                continue
            logging: dict[str, Any] = {
                "LogDestinationConfigs": [
                    {"LogType": d.log_type, "LogDestinationType": d.destination_type, "LogDestination": d.raw}
                    for d in fw.destinations
                ]
            }
            out.append(FirewallTarget(name=fw.name, arn=fw.arn, region=region.name, logging=logging))
    return out


def firewall_coverage(judge: CoverageJudge, targets: list[FirewallTarget], logs: LogChoices) -> None:
    """Judge each wanted log type of each firewall that already goes to S3. Locations that join the read
    set are added to it (the firewall options then treat them as done). With `repoint_existing` every
    other S3 destination is repointed to Kentik's bucket instead (the user's explicit choice)."""
    for target in targets:
        for log_type in logs.firewall_logs:
            config = next((c for c in target.destinations if c.get("LogType") == log_type), None)
            if config is None or config.get("LogDestinationType") != "S3":
                continue  # missing or not S3: the firewall part plans it (or reports it)
            dest = config.get("LogDestination") or {}
            bucket, prefix = str(dest.get("bucketName", "")), log_folder(str(dest.get("prefix", "")))
            what = f"{log_type} logs of firewall {target.name}"
            where = f"s3://{bucket}/{prefix + '/' if prefix else ''}"
            if logs.repoint_existing:
                decision, why, location = "new", f"{what} go to {where}: repointed as you chose", None
            else:
                decision, why, location = judge_existing(
                    bucket,
                    prefix,
                    read_set=judge.read_set,
                    owned=judge.owned,
                    mode=judge.mode,
                    account=judge.account,
                    what=what,
                )
            if decision == "duplicate":
                # One destination per log type: the only way into Kentik's bucket is repointing.
                if judge.mode == "duplicate":
                    cause = "you chose not to add existing destinations to Kentik's read set"
                elif judge.owned is None:
                    cause = "this account's buckets could not be listed, so it may be another account's"
                else:
                    cause = "that bucket belongs to another account"
                decision = "kept"
                why = (
                    f"{what} go to {where}; {cause}. AWS allows one destination per log type, so they are "
                    "kept: repoint them with --repoint-firewall-logs (replaces the destination)"
                )
            if location is not None:
                judge.read_set.add(location)
            judge.decisions.append(
                SourceCoverage(
                    source=f"firewall {target.name} {log_type}",
                    kind="firewall",
                    region=target.region,
                    decision=decision,  # type: ignore[arg-type]
                    bucket=bucket,
                    prefix=prefix,
                    reason=why,
                )
            )


def firewall_plan(
    judge: CoverageJudge,
    targets: list[FirewallTarget],
    logs: LogChoices,
    buckets: dict[str, str],
    pick: Iterable[tuple[str, str]] | None = None,
) -> list[Change]:
    """The firewall part: every target is judged first (existing S3 destinations may join the read set),
    then the UpdateLoggingConfiguration steps for what Kentik still cannot read, for the `pick`ed
    (region, name) pairs only when given."""
    firewall_coverage(judge, targets, logs)
    if pick is not None:
        chosen = set(pick)
        targets = [t for t in targets if (t.region, t.name) in chosen]
    options = firewall_options(judge.read_set, logs, buckets, logs.replace_non_s3)
    return firewall_changes(targets, options, judge.account)


def firewall_options(
    read_set: ReadSet, logs: LogChoices, buckets: dict[str, str], replace_non_s3: bool
) -> FirewallOptions:
    """The firewall options for these choices; destinations in `read_set` count as done."""
    return FirewallOptions(
        buckets=buckets,
        prefix=logs.firewall_prefix,
        log_types=tuple(logs.firewall_logs),
        repoint_existing=logs.repoint_existing,
        replace_non_s3=replace_non_s3,
        readable=()
        if logs.repoint_existing
        else tuple((loc.bucket, loc.prefix) for loc in read_set.locations),
    )
