"""VPC flow logs to S3: the required configuration and the plan (no AWS call; see flowlog_executors).

A `FlowLogConfig` is the exact flow log a resource should have under the user's `FlowLogOptions`
(`flow_log_config`): S3 destination, every v2-v5 field (the transit gateway field set for transit
gateway types), aggregation, partitioning; `matches` says whether an existing flow log is exactly it.

Planning turns each resource's discovery verdict (`FlowLogTarget`) into batched `Change`s: compliant
resources get nothing; missing or non-compliant ones get a compliant flow log created *beside* whatever
exists (never deleting by default). One `CreateFlowLogs` call carries up to 300 resource ids (25 for
transit gateway types) of one region, resource type and configuration. Replacing old flow logs is a
separate, destructive `DeleteFlowLogs` change placed after every create.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aws.errors import ValidationFailed
from aws.logs.format import EXTRA_FIELDS, log_format, parse_log_format
from aws.logs.tgw_format import tgw_log_format
from aws.names import flowlog_prefix, s3_arn
from aws.plans.change import Change

ResourceType = Literal["VPC", "Subnet", "NetworkInterface", "TransitGateway", "TransitGatewayAttachment"]
Verdict = Literal["compliant", "needs-change", "missing"]
Action = Literal["none", "create", "add-beside", "replace"]

RESOURCE_TYPES: tuple[str, ...] = (
    "VPC",
    "Subnet",
    "NetworkInterface",
    "TransitGateway",
    "TransitGatewayAttachment",
)
TRANSIT_GATEWAY_TYPES = frozenset({"TransitGateway", "TransitGatewayAttachment"})
MAX_IDS_PER_CALL = 300  # CreateFlowLogs ResourceIds limit for VPC, Subnet, NetworkInterface
MAX_IDS_PER_CALL_TGW = 25  # ... and for transit gateway resource types
MAX_DELETE_IDS = 1000  # DeleteFlowLogs FlowLogIds limit

CREATE_KIND = "ec2.create-flow-logs"
DELETE_KIND = "ec2.delete-flow-logs"

_NOUN = {
    "VPC": "VPC",
    "Subnet": "subnet",
    "NetworkInterface": "network interface",
    "TransitGateway": "transit gateway",
    "TransitGatewayAttachment": "transit gateway attachment",
}

AGGREGATION_HELP = (
    "600 s (default): AWS aggregates each flow for up to 10 minutes, fewer records and lower cost. "
    "60 s: records within about a minute, finer timing, more records (transit gateways always use 60 s)."
)


class FlowLogTarget(BaseModel):
    """One resource the checklist may give a flow log, with discovery's verdict on its flow logs."""

    model_config = ConfigDict(frozen=True)

    resource_id: str
    resource_type: ResourceType = "VPC"
    region: str
    verdict: Verdict
    reasons: tuple[str, ...] = Field(default=(), description="Why it is not compliant, for display")
    existing_flow_log_ids: tuple[str, ...] = Field(
        default=(), description="Its non-compliant flow logs (deleted only with replace_existing)"
    )


class FlowLogOptions(BaseModel):
    """The user's choices for the flow logs to create."""

    model_config = ConfigDict(frozen=True)

    buckets: Mapping[str, str] = Field(description="S3 bucket name per region")
    prefix: str = Field(default="", description="Optional S3 prefix (folder), e.g. 'vpc/'")
    extra_fields: tuple[str, ...] = Field(default=(), description="Opt-in fields after the v2-v5 ones")
    aggregation: Literal[60, 600] = 600
    hive: bool = Field(default=False, description="HiveCompatiblePartitions")
    per_hour: bool = Field(default=False, description="PerHourPartition")
    replace_existing: bool = Field(default=False, description="Also delete the old non-compliant flow logs")


class FlowLogConfig(BaseModel):
    """The exact flow log a resource should have (what CreateFlowLogs is sent)."""

    model_config = ConfigDict(frozen=True)

    resource_type: ResourceType
    log_destination: str
    log_format: str
    aggregation: int
    hive: bool = False
    per_hour: bool = False

    @property
    def is_transit_gateway(self) -> bool:
        return self.resource_type in TRANSIT_GATEWAY_TYPES

    def create_params(self, resource_ids: Sequence[str]) -> dict[str, Any]:
        params: dict[str, Any] = {"ResourceType": self.resource_type, "ResourceIds": list(resource_ids)}
        if not self.is_transit_gateway:
            params["TrafficType"] = "ALL"
        params.update(
            LogDestinationType="s3",
            LogDestination=self.log_destination,
            LogFormat=self.log_format,
            MaxAggregationInterval=self.aggregation,
            DestinationOptions={
                "FileFormat": "plain-text",
                "HiveCompatiblePartitions": self.hive,
                "PerHourPartition": self.per_hour,
            },
        )
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FlowLogConfig:
        options = params.get("DestinationOptions") or {}
        return cls(
            resource_type=params["ResourceType"],
            log_destination=params["LogDestination"],
            log_format=params["LogFormat"],
            aggregation=int(params.get("MaxAggregationInterval", 600)),
            hive=bool(options.get("HiveCompatiblePartitions", False)),
            per_hour=bool(options.get("PerHourPartition", False)),
        )

    def matches(self, flow_log: Mapping[str, Any]) -> bool:
        """Whether an existing flow log (a DescribeFlowLogs entry) is exactly this configuration.

        A response without DestinationOptions counts as AWS's defaults (plain-text, no partitions).
        """
        if flow_log.get("LogDestinationType") != "s3":
            return False
        if norm_destination(flow_log.get("LogDestination", "")) != norm_destination(self.log_destination):
            return False
        if parse_log_format(flow_log.get("LogFormat")) != parse_log_format(self.log_format):
            return False
        if not self.is_transit_gateway and flow_log.get("TrafficType") != "ALL":
            return False
        if int(flow_log.get("MaxAggregationInterval") or 600) != self.aggregation:
            return False
        options = flow_log.get("DestinationOptions") or {}
        return (
            options.get("FileFormat", "plain-text") == "plain-text"
            and bool(options.get("HiveCompatiblePartitions", False)) == self.hive
            and bool(options.get("PerHourPartition", False)) == self.per_hour
        )

    def key(self) -> str:
        """Short stable fingerprint, used in change ids."""
        text = "|".join(
            [
                self.resource_type,
                self.log_destination,
                self.log_format,
                str(self.aggregation),
                str(self.hive),
                str(self.per_hour),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def norm_destination(value: str) -> str:
    return value.rstrip("/")


# -- configuration ----------------------------------------------------------------------------------


def destination_arn(bucket: str, prefix: str = "", partition: str = "aws") -> str:
    """`arn:{partition}:s3:::bucket` or `arn:{partition}:s3:::bucket/prefix/`."""
    if not bucket or "/" in bucket or ":" in bucket:
        raise ValidationFailed(f"Not an S3 bucket name: {bucket!r}.")
    return s3_arn(bucket, flowlog_prefix(prefix), partition=partition)


def flow_log_config(
    resource_type: str, region: str, options: FlowLogOptions, partition: str = "aws"
) -> FlowLogConfig:
    """The configuration a resource of this type in this region should have under `options`."""
    if resource_type not in RESOURCE_TYPES:
        raise ValidationFailed(f"Unsupported flow log resource type {resource_type!r}.")
    bucket = options.buckets.get(region)
    if not bucket:
        raise ValidationFailed(
            f"No S3 bucket chosen for region {region}.",
            hint="Pick a bucket strategy that covers every region.",
        )
    unknown = [f for f in options.extra_fields if f not in EXTRA_FIELDS]
    if unknown:
        raise ValidationFailed(
            f"Unknown extra flow log field(s): {', '.join(unknown)}.",
            hint=f"Known: {', '.join(EXTRA_FIELDS)}.",
        )
    if options.aggregation not in (60, 600):
        raise ValidationFailed("The aggregation interval must be 60 or 600 seconds.")
    tgw = resource_type in TRANSIT_GATEWAY_TYPES
    # Transit gateways have their own field set (the VPC fields are refused); the extras are VPC fields.
    return FlowLogConfig(
        resource_type=resource_type,  # type: ignore[arg-type]
        log_destination=destination_arn(bucket, options.prefix, partition),
        log_format=tgw_log_format() if tgw else log_format(tuple(options.extra_fields)),
        aggregation=60 if tgw else options.aggregation,
        hive=options.hive,
        per_hour=options.per_hour,
    )


def batch_limit(resource_type: str) -> int:
    return MAX_IDS_PER_CALL_TGW if resource_type in TRANSIT_GATEWAY_TYPES else MAX_IDS_PER_CALL


def flowlog_action(target: FlowLogTarget, options: FlowLogOptions) -> Action:
    """What the plan does for one resource: nothing, create, add a compliant one beside, or replace."""
    if target.verdict == "compliant":
        return "none"
    if target.verdict == "missing" or not target.existing_flow_log_ids:
        return "create"
    return "replace" if options.replace_existing else "add-beside"


ACTION_TEXT: dict[str, str] = {
    "none": "nothing: already compliant",
    "create": "create a compliant flow log",
    "add-beside": "add a compliant flow log beside the existing one",
    "replace": "add a compliant flow log, then delete the old one",
}


# -- planning -----------------------------------------------------------------------------------------


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def flowlog_changes(
    targets: Iterable[FlowLogTarget],
    options: FlowLogOptions,
    account: str,
    partition: str = "aws",
    *,
    batch_size: int | None = None,
) -> list[Change]:
    """The Changes that give every target a compliant flow log.

    One CreateFlowLogs Change per (region, resource type, configuration) and batch of up to 300
    resource ids (25 for transit gateway types; `batch_size` lowers the cap, for tests). With
    `options.replace_existing`, destructive DeleteFlowLogs Changes for the old flow logs of the
    non-compliant resources follow, after every create, each depending on the create of its resources.
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    groups: dict[tuple[str, str, FlowLogConfig], list[FlowLogTarget]] = {}
    for target in targets:
        if flowlog_action(target, options) == "none":
            continue
        config = flow_log_config(target.resource_type, target.region, options, partition)
        groups.setdefault((target.region, target.resource_type, config), []).append(target)

    creates: list[Change] = []
    deletes: list[Change] = []
    for (region, resource_type, config), members in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2].key())
    ):
        members = sorted({t.resource_id: t for t in members}.values(), key=lambda t: t.resource_id)
        limit = min(batch_size or batch_limit(resource_type), batch_limit(resource_type))
        by_id = {t.resource_id: t for t in members}
        for index, ids in enumerate(chunks([t.resource_id for t in members], limit), start=1):
            create = _create_change(region, resource_type, config, ids, index, account, partition)
            creates.append(create)
            if options.replace_existing:
                old = sorted({fl for rid in ids for fl in by_id[rid].existing_flow_log_ids})
                replaced = [rid for rid in ids if by_id[rid].existing_flow_log_ids]
                for part, fl_ids in enumerate(chunks(old, MAX_DELETE_IDS), start=1):
                    deletes.append(_delete_change(create, region, fl_ids, part, account, partition, replaced))
    return creates + deletes


def _create_change(
    region: str,
    resource_type: str,
    config: FlowLogConfig,
    ids: list[str],
    index: int,
    account: str,
    partition: str,
) -> Change:
    noun = _NOUN[resource_type]
    count = f"{len(ids)} {noun}{'s' if len(ids) != 1 else ''}"
    which = ids[0] if len(ids) == 1 else f"{ids[0]} … {ids[-1]}"
    traffic = "" if config.is_transit_gateway else "all traffic, "
    return Change(
        id=f"{CREATE_KIND}:{region}:{resource_type}:{config.key()}:{index}",
        kind=CREATE_KIND,
        title=f"Create flow logs for {count} in {region} ({which}) to {config.log_destination}",
        reason=(
            f"The spec wants flow logs to S3 with every v2-v5 field ({traffic}custom format, plain-text, "
            f"{config.aggregation} s aggregation) so Kentik can read them."
        ),
        target=f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*",
        service="ec2",
        region=region,
        operation="CreateFlowLogs",
        params=config.create_params(ids),
        group="flowlogs",
    )


def _delete_change(
    create: Change,
    region: str,
    flow_log_ids: list[str],
    part: int,
    account: str,
    partition: str,
    replaced: list[str],
) -> Change:
    count = f"{len(flow_log_ids)} old flow log{'s' if len(flow_log_ids) != 1 else ''}"
    return Change(
        id=f"{DELETE_KIND}:{create.id.split(':', 1)[1]}:{part}",
        kind=DELETE_KIND,
        title=f"Delete {count} in {region} replaced by the new ones ({', '.join(flow_log_ids[:3])}"
        + (", …)" if len(flow_log_ids) > 3 else ")"),
        reason="You chose to replace non-compliant flow logs once the compliant ones exist.",
        target=f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/{flow_log_ids[0]}",
        service="ec2",
        region=region,
        operation="DeleteFlowLogs",
        params={"FlowLogIds": flow_log_ids},
        basis={"resource_ids": replaced},
        depends_on=[create.id],
        group="flowlogs",
    )
