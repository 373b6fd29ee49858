"""VPC flow logs to S3: the required configuration, the plan, and the executors that apply it.

Planning turns each resource's discovery verdict into batched `Change`s: compliant resources get
nothing; missing or non-compliant ones get a compliant flow log created *beside* whatever exists (never
deleting by default). One `CreateFlowLogs` call carries up to 300 resource ids (25 for transit gateway
types) of one region, resource type and configuration. Replacing old flow logs is a separate,
destructive `DeleteFlowLogs` change placed after every create.

Applying re-reads `DescribeFlowLogs` first and only sends the resources still lacking a matching flow
log; `Unsuccessful[]` entries are handled per resource, and `FlowLogAlreadyExists` for a matching
configuration counts as done. Failures of single resources are reported together after the others
succeeded (`FlowLogsPartialFailure`, carrying the outputs), so a rerun converges.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from aws.buckets import require_owned
from aws.errors import FlowlogsError, ValidationFailed, error_code
from aws.flowlog_format import EXTRA_FIELDS, REQUIRED_FIELDS, log_format, parse_log_format
from aws.names import check_log_prefix, flowlog_prefix, s3_arn, validate_bucket_name
from aws.permissions import declare
from aws.plan import Change, Executor, Params, Plan, StaleChange
from aws.session import AwsSession
from aws.tgw_format import TGW_REQUIRED_FIELDS, tgw_log_format

PERMISSIONS = declare(
    __name__,
    read=["ec2:DescribeFlowLogs"],
    apply=["ec2:CreateFlowLogs", "ec2:DeleteFlowLogs"],
    implied={
        "logs:CreateLogDelivery": "CreateFlowLogs to S3: AWS creates the log delivery as the caller",
        "logs:DeleteLogDelivery": "DeleteFlowLogs of a flow log to S3: AWS deletes its log delivery as the caller",
        "s3:GetBucketPolicy": "CreateFlowLogs to S3: AWS reads the bucket policy as the caller",
        "s3:PutBucketPolicy": "CreateFlowLogs to S3: AWS may add the log-delivery statements as the caller",
    },
    notes="ec2:DeleteFlowLogs (and logs:DeleteLogDelivery) only when you ask to replace old flow logs.",
)

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
_FILTER_CHUNK = 100  # values per DescribeFlowLogs filter, kept well under EC2's filter limits

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
        if _norm_destination(flow_log.get("LogDestination", "")) != _norm_destination(self.log_destination):
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


def _norm_destination(value: str) -> str:
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


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
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
        for index, ids in enumerate(_chunks([t.resource_id for t in members], limit), start=1):
            create = _create_change(region, resource_type, config, ids, index, account, partition)
            creates.append(create)
            if options.replace_existing:
                old = sorted({fl for rid in ids for fl in by_id[rid].existing_flow_log_ids})
                replaced = [rid for rid in ids if by_id[rid].existing_flow_log_ids]
                for part, fl_ids in enumerate(_chunks(old, MAX_DELETE_IDS), start=1):
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


# -- reading state ------------------------------------------------------------------------------------


def describe_flow_logs(
    session: AwsSession, region: str, *, resource_ids: Sequence[str] = (), flow_log_ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every flow log of the given resources (or with the given ids), following pagination."""
    client = session.client("ec2", region)
    paginator = client.get_paginator("describe_flow_logs")
    found: list[dict[str, Any]] = []
    name, values = ("resource-id", resource_ids) if resource_ids else ("flow-log-id", flow_log_ids)
    for chunk in _chunks(sorted(set(values)), _FILTER_CHUNK):
        for page in paginator.paginate(
            Filters=[{"Name": name, "Values": chunk}], PaginationConfig={"PageSize": 1000}
        ):
            found.extend(page.get("FlowLogs", []))
    return found


def matching_flow_logs(
    session: AwsSession, region: str, config: FlowLogConfig, resource_ids: Sequence[str]
) -> dict[str, str]:
    """{resource id: id of a flow log exactly matching `config`} for the resources that have one."""
    out: dict[str, str] = {}
    wanted = set(resource_ids)
    for flow_log in describe_flow_logs(session, region, resource_ids=resource_ids):
        rid = flow_log.get("ResourceId", "")
        if rid in wanted and rid not in out and config.matches(flow_log):
            out[rid] = flow_log["FlowLogId"]
    return out


def current_flow_log_ids(session: AwsSession, change: Change) -> dict[str, str]:
    """For a create change: the ids of the matching flow logs per resource (for showing results of a
    change that was already satisfied). Read calls only."""
    config = FlowLogConfig.from_params(change.params)
    return matching_flow_logs(session, change.region, config, change.params["ResourceIds"])


# EC2 is eventually consistent: a flow log just created may not show in DescribeFlowLogs for seconds.
# After CreateFlowLogs the new ids are re-read with these pauses (about 15 s at most) before concluding.
READ_BACK_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
sleep: Callable[[float], None] = time.sleep  # injectable for tests


def read_back(session: AwsSession, region: str, flow_log_ids: Sequence[str]) -> list[dict[str, Any]]:
    """DescribeFlowLogs for ids CreateFlowLogs just returned, retried with backoff (bounded by
    `READ_BACK_DELAYS`) until all of them show."""
    wanted = set(flow_log_ids)
    found = describe_flow_logs(session, region, flow_log_ids=sorted(wanted))
    for delay in READ_BACK_DELAYS:
        if wanted <= {f.get("FlowLogId") for f in found}:
            break
        sleep(delay)
        found = describe_flow_logs(session, region, flow_log_ids=sorted(wanted))
    return found


# -- executors ----------------------------------------------------------------------------------------


class FlowLogsPartialFailure(FlowlogsError):
    """Some resources of a CreateFlowLogs batch failed; the others got their flow log.

    `outputs` holds {"flow_log_ids": {resource: id}, "errors": {resource: message}}: the successes are
    real and a rerun only retries the failed resources.
    """

    def __init__(self, message: str, *, outputs: dict[str, Any], hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.outputs = outputs


def client_token(change: Change, resource_ids: Sequence[str]) -> str:
    """CreateFlowLogs' idempotency token (64 hex chars, EC2's limit): derived from the change and the
    resources of this request, so a request repeated after a lost response (botocore's retry, or the
    same apply run again) is not applied twice, while a request for another subset of resources, which
    AWS would refuse with IdempotentParameterMismatch under the same token, gets its own."""
    config = FlowLogConfig.from_params(change.params)
    text = "\n".join([change.id, ",".join(sorted(set(resource_ids))), config.key()])
    return hashlib.sha256(text.encode()).hexdigest()


_RESOURCE_ID = {
    "VPC": re.compile(r"^vpc-[0-9a-f]{8,17}$"),
    "Subnet": re.compile(r"^subnet-[0-9a-f]{8,17}$"),
    "NetworkInterface": re.compile(r"^eni-[0-9a-f]{8,17}$"),
    "TransitGateway": re.compile(r"^tgw-[0-9a-f]{8,17}$"),
    "TransitGatewayAttachment": re.compile(r"^tgw-attach-[0-9a-f]{8,17}$"),
}
_FLOW_LOG_ID = re.compile(r"^fl-[0-9a-f]{8,17}$")


class _DestinationOptions(Params):
    FileFormat: Literal["plain-text"]
    HiveCompatiblePartitions: bool
    PerHourPartition: bool


class CreateFlowLogsParams(Params):
    ResourceType: ResourceType
    ResourceIds: list[str] = Field(min_length=1, max_length=MAX_IDS_PER_CALL)
    TrafficType: Literal["ALL"] | None = None
    LogDestinationType: Literal["s3"]
    LogDestination: str
    LogFormat: str
    MaxAggregationInterval: Literal[60, 600]
    DestinationOptions: _DestinationOptions


class DeleteFlowLogsParams(Params):
    FlowLogIds: list[str] = Field(min_length=1, max_length=MAX_DELETE_IDS)


class ReplacedBasis(Params):
    resource_ids: list[str] = Field(min_length=1, description="Resources whose old flow logs are deleted")


def engine_log_format(resource_type: str, log_format_text: str) -> bool:
    """Whether `log_format_text` is a format the engine writes for `resource_type`: every required field
    in order, then known extras in their order (nothing dropped, nothing invented)."""
    fields = parse_log_format(log_format_text)
    tgw = resource_type in TRANSIT_GATEWAY_TYPES
    required = TGW_REQUIRED_FIELDS if tgw else REQUIRED_FIELDS
    try:
        wanted = (tgw_log_format if tgw else log_format)(tuple(fields[len(required) :]))
    except ValueError:
        return False
    return wanted == log_format_text


class CreateFlowLogsExecutor(Executor):
    kind = CREATE_KIND
    service, operation = "ec2", "CreateFlowLogs"
    Params = CreateFlowLogsParams

    def details(self, change: Change) -> list[str]:
        p = change.params
        ids = p["ResourceIds"]
        shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
        return [
            f"{p['ResourceType']} {shown}",
            f"to {p['LogDestination']}: {len(parse_log_format(p['LogFormat']))} fields, "
            f"{p['MaxAggregationInterval']} s, {p.get('TrafficType', 'all')} traffic",
        ]

    def check(self, change: Change, plan: Plan) -> list[str]:
        params = change.params
        kind, ids = params["ResourceType"], params["ResourceIds"]
        account = plan.account_of(change)
        problems = []
        if change.target != f"arn:{plan.partition}:ec2:{change.region}:{account}:vpc-flow-log/*":
            problems.append(f"its target {change.target!r} is not the flow logs of its region and account")
        bad = [rid for rid in ids if not _RESOURCE_ID[kind].match(rid)]
        if bad:
            problems.append(f"{', '.join(bad[:5])} {'is' if len(bad) == 1 else 'are'} not {kind} id(s)")
        if len(ids) > batch_limit(kind):
            problems.append(f"CreateFlowLogs takes at most {batch_limit(kind)} {kind} ids per call")
        tgw = kind in TRANSIT_GATEWAY_TYPES
        if tgw != ("TrafficType" not in params):
            problems.append(
                "TrafficType ALL goes with VPC, subnet and interface flow logs, and only with them"
            )
        if tgw and params["MaxAggregationInterval"] != 60:
            problems.append("transit gateway flow logs aggregate over 60 s")
        if not engine_log_format(kind, params["LogFormat"]):
            problems.append(
                "its LogFormat is not the engine's (every required field, in order, then known extras)"
            )
        problems += _destination_problems(params["LogDestination"], plan)
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        ids: list[str] = change.params["ResourceIds"]
        config = FlowLogConfig.from_params(change.params)
        return len(matching_flow_logs(session, change.region, config, ids)) == len(set(ids))

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        config = FlowLogConfig.from_params(change.params)
        ids: list[str] = list(dict.fromkeys(change.params["ResourceIds"]))
        done = matching_flow_logs(session, change.region, config, ids)
        errors: dict[str, str] = {}
        pending = [rid for rid in ids if rid not in done]
        if pending:
            bucket = config.log_destination.split(":::", 1)[-1].split("/", 1)[0]
            require_owned(session, bucket, change.account or session.identity().account)
        client = session.client("ec2", change.region)
        while pending:
            params = {**change.params, "ResourceIds": pending, "ClientToken": client_token(change, pending)}
            try:
                response = client.create_flow_logs(**params)
            except ClientError as err:
                if error_code(err) != "FlowLogAlreadyExists":
                    raise
                # Raised for the whole call: find out which resources are done and which conflict.
                progress = self._sort_out(session, change.region, config, pending, done, errors)
                pending = [rid for rid in pending if rid not in done and rid not in errors]
                if not progress:
                    for rid in pending:
                        errors[rid] = (
                            f"FlowLogAlreadyExists: {err.response.get('Error', {}).get('Message', '')}"
                        )
                    break
                continue
            created = list(response.get("FlowLogIds", []))
            unseen: list[str] = []
            if created:
                sent = set(pending)
                found = read_back(session, change.region, created)
                for flow_log in found:
                    rid = flow_log.get("ResourceId", "")
                    if rid in sent:
                        done[rid] = flow_log["FlowLogId"]
                unseen = sorted(set(created) - {f["FlowLogId"] for f in found})
            duplicates: list[str] = []
            for item in response.get("Unsuccessful", []):
                rid = item.get("ResourceId", "")
                error = item.get("Error", {})
                if error.get("Code") == "FlowLogAlreadyExists":
                    duplicates.append(rid)
                else:
                    errors[rid] = f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
            if duplicates:
                self._sort_out(session, change.region, config, duplicates, done, errors)
                for rid in duplicates:
                    if rid not in done and rid not in errors:
                        errors[rid] = (
                            "FlowLogAlreadyExists: a flow log with another configuration already exists"
                        )
            # Resources AWS neither created nor reported: look them up once more.
            missing = [rid for rid in pending if rid not in done and rid not in errors]
            if missing:
                done.update(matching_flow_logs(session, change.region, config, missing))
                for rid in missing:
                    if rid in done:
                        continue
                    if unseen:  # created, but EC2 does not show it yet: never a reason to create again
                        errors[rid] = (
                            f"created ({', '.join(unseen)}) but not visible in DescribeFlowLogs yet (EC2 is "
                            "eventually consistent): apply again in a minute to confirm"
                        )
                    else:
                        errors[rid] = "AWS reported no flow log and no error for this resource"
            pending = []
        outputs: dict[str, Any] = {
            "flow_log_ids": {rid: done[rid] for rid in ids if rid in done},
            "errors": {rid: errors[rid] for rid in ids if rid in errors},
        }
        if errors:
            shown = "; ".join(f"{rid}: {msg}" for rid, msg in list(outputs["errors"].items())[:10])
            more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
            raise FlowLogsPartialFailure(
                f"{len(done)} of {len(ids)} resources in {change.region} have their flow log; "
                f"{len(errors)} failed: {shown}{more}",
                outputs=outputs,
                hint="Fix the cause and apply again: only the failed resources are retried.",
            )
        return outputs

    @staticmethod
    def _sort_out(
        session: AwsSession,
        region: str,
        config: FlowLogConfig,
        resource_ids: Sequence[str],
        done: dict[str, str],
        errors: dict[str, str],
    ) -> bool:
        """After FlowLogAlreadyExists: record resources that have a matching flow log as done and those
        whose flow log to the same destination differs as errors. True if any resource was sorted out."""
        progress = False
        by_resource: dict[str, list[dict[str, Any]]] = {}
        for flow_log in describe_flow_logs(session, region, resource_ids=resource_ids):
            by_resource.setdefault(flow_log.get("ResourceId", ""), []).append(flow_log)
        for rid in resource_ids:
            logs = by_resource.get(rid, [])
            match = next((fl for fl in logs if config.matches(fl)), None)
            if match is not None:
                done[rid] = match["FlowLogId"]
                progress = True
                continue
            clash = next(
                (
                    fl
                    for fl in logs
                    if _norm_destination(fl.get("LogDestination", ""))
                    == _norm_destination(config.log_destination)
                ),
                None,
            )
            if clash is not None:
                errors[rid] = (
                    f"FlowLogAlreadyExists: flow log {clash.get('FlowLogId')} already sends to "
                    f"{config.log_destination} with another configuration; choose another prefix or "
                    "delete that flow log first"
                )
                progress = True
        return progress


def _destination_problems(destination: str, plan: Plan) -> list[str]:
    head = f"arn:{plan.partition}:s3:::"
    if not destination.startswith(head):
        return [f"its LogDestination {destination!r} is not an S3 bucket ARN of partition {plan.partition}"]
    bucket, _, prefix = destination.removeprefix(head).partition("/")
    return log_destination_problems(bucket, prefix, plan, example="vpc-flow-logs")


def log_destination_problems(bucket: str, prefix: str, plan: Plan, *, example: str) -> list[str]:
    """Why a planned log destination (flow logs or firewall logs) is not one the engine would plan:
    an invalid bucket name or prefix, or a bucket outside the plan's read set."""
    problems = validate_bucket_name(bucket) if bucket else ["its S3 destination names no bucket"]
    try:
        check_log_prefix(prefix, what="Its prefix", example=example)
    except ValidationFailed as err:
        problems.append(err.message)
    if plan.read_set and not any(loc.bucket == bucket for loc in plan.read_set):
        problems.append(f"it sends logs to {bucket}, which is not a bucket this plan has Kentik read")
    return problems


class DeleteFlowLogsExecutor(Executor):
    """Deletes old flow logs once their resources have the new ones (the create it depends on). Only
    flow logs of the resources named in its basis are deleted; any other is refused."""

    kind = DELETE_KIND
    service, operation = "ec2", "DeleteFlowLogs"
    destructive = True
    Params, Basis = DeleteFlowLogsParams, ReplacedBasis

    def details(self, change: Change) -> list[str]:
        ids = change.params["FlowLogIds"]
        return [f"deletes {len(ids)} flow log(s): {', '.join(ids[:6])}" + (" …" if len(ids) > 6 else "")]

    def check(self, change: Change, plan: Plan) -> list[str]:
        ids = change.params["FlowLogIds"]
        problems = [f"{i!r} is not a flow log id" for i in ids if not _FLOW_LOG_ID.match(i)]
        account = plan.account_of(change)
        if change.target != f"arn:{plan.partition}:ec2:{change.region}:{account}:vpc-flow-log/{ids[0]}":
            problems.append(f"its target {change.target!r} is not the first flow log it deletes")
        creates = [
            c
            for c in plan.changes
            if c.id in change.depends_on and c.kind == CREATE_KIND and c.region == change.region
        ]
        covered = {rid for c in creates for rid in c.params.get("ResourceIds", [])}
        if not creates:
            problems.append("it does not depend on the create of the flow logs that replace them")
        elif set(ReplacedBasis.model_validate(change.basis).resource_ids) - covered:
            problems.append("it deletes flow logs of resources that the create it depends on does not cover")
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        ids: list[str] = change.params["FlowLogIds"]
        return not describe_flow_logs(session, change.region, flow_log_ids=ids)

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        ids: list[str] = change.params["FlowLogIds"]
        found = describe_flow_logs(session, change.region, flow_log_ids=ids)
        allowed = set(ReplacedBasis.model_validate(change.basis).resource_ids)
        foreign = sorted(str(fl["FlowLogId"]) for fl in found if fl.get("ResourceId") not in allowed)
        if foreign:
            raise StaleChange(
                f"{', '.join(foreign)} belong(s) to resources this change does not replace; nothing was deleted.",
                hint="Make the plan again.",
            )
        existing = [i for i in ids if i in {fl["FlowLogId"] for fl in found}]
        if not existing:
            return {"deleted": []}
        response = session.client("ec2", change.region).delete_flow_logs(FlowLogIds=existing)
        failed = {
            item.get("ResourceId", ""): f"{item.get('Error', {}).get('Code', 'Error')}: "
            f"{item.get('Error', {}).get('Message', '')}"
            for item in response.get("Unsuccessful", [])
            if not str(item.get("Error", {}).get("Code", "")).startswith("InvalidFlowLogId.NotFound")
        }
        deleted = [i for i in existing if i not in failed]
        outputs: dict[str, Any] = {"deleted": deleted, "errors": failed}
        if failed:
            raise FlowLogsPartialFailure(
                f"Deleted {len(deleted)} of {len(existing)} flow logs in {change.region}; "
                + "; ".join(f"{k}: {v}" for k, v in failed.items()),
                outputs=outputs,
            )
        return outputs
