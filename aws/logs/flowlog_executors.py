"""The executors that apply flow log changes, and the DescribeFlowLogs reads they rely on.

`CreateFlowLogsExecutor` (kind `ec2.create-flow-logs`) re-reads `DescribeFlowLogs` first and only sends
the resources still lacking a matching flow log; `Unsuccessful[]` entries are handled per resource, and
`FlowLogAlreadyExists` for a matching configuration counts as done. Failures of single resources are
reported together after the others succeeded (`FlowLogsPartialFailure`, carrying the outputs), so a
rerun converges. New flow logs are read back with bounded backoff (EC2 is eventually consistent).
A plan's flow logs are tagged on create (`TagSpecifications`, aws.tags: exactly flowlogs' tags for the
plan's id, checked statically); tags are not part of `satisfied`, so a compliant flow log counts whoever
made it, and an existing flow log is never tagged. `DeleteFlowLogsExecutor` (kind `ec2.delete-flow-logs`,
destructive) deletes only old flow logs of the resources its basis names, after the create it depends on.
Both check a plan's parameters statically (`check`) before anything is sent; `log_destination_problems`
is that check for any log destination.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from aws.errors import FlowlogsError, ValidationFailed, error_code
from aws.logs.flowlogs import (
    CREATE_KIND,
    DELETE_KIND,
    MAX_DELETE_IDS,
    MAX_IDS_PER_CALL,
    TRANSIT_GATEWAY_TYPES,
    FlowLogConfig,
    ResourceType,
    batch_limit,
    chunks,
    norm_destination,
)
from aws.logs.format import REQUIRED_FIELDS, log_format, parse_log_format
from aws.logs.tgw_format import TGW_REQUIRED_FIELDS, tgw_log_format
from aws.names import check_log_prefix, parse_s3_arn, validate_bucket_name
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.s3.state import require_owned
from aws.session import AwsSession
from aws.tags import MAX_TAGS, flow_log_tag_specifications, planned_tag_problems

PERMISSIONS = declare(
    __name__,
    read=["ec2:DescribeFlowLogs"],
    apply=["ec2:CreateFlowLogs", "ec2:DeleteFlowLogs"],
    implied={
        "logs:CreateLogDelivery": "CreateFlowLogs to S3: AWS creates the log delivery as the caller",
        "logs:DeleteLogDelivery": "DeleteFlowLogs of a flow log to S3: AWS deletes its log delivery as the caller",
        "s3:GetBucketPolicy": "CreateFlowLogs to S3: AWS reads the bucket policy as the caller",
        "s3:PutBucketPolicy": "CreateFlowLogs to S3: AWS may add the log-delivery statements as the caller",
        "ec2:CreateTags": "CreateFlowLogs with TagSpecifications: AWS authorizes tagging on create as "
        "ec2:CreateTags (flowlogs tags the flow logs it creates)",
    },
    notes="ec2:DeleteFlowLogs (and logs:DeleteLogDelivery) only when you ask to replace old flow logs.",
)

_FILTER_CHUNK = 100  # values per DescribeFlowLogs filter, kept well under EC2's filter limits


# -- reading state ------------------------------------------------------------------------------------


def describe_flow_logs(
    session: AwsSession, region: str, *, resource_ids: Sequence[str] = (), flow_log_ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every flow log of the given resources (or with the given ids), following pagination."""
    client = session.client("ec2", region)
    paginator = client.get_paginator("describe_flow_logs")
    found: list[dict[str, Any]] = []
    name, values = ("resource-id", resource_ids) if resource_ids else ("flow-log-id", flow_log_ids)
    for chunk in chunks(sorted(set(values)), _FILTER_CHUNK):
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
    parts = [change.id, ",".join(sorted(set(resource_ids))), config.key()]
    if change.params.get("TagSpecifications"):  # other tags (another plan's id): another request
        parts.append(json.dumps(change.params["TagSpecifications"], sort_keys=True))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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


class _Tag(Params):
    Key: str
    Value: str


class _TagSpecification(Params):
    ResourceType: Literal["vpc-flow-log"]
    Tags: list[_Tag] = Field(min_length=1, max_length=MAX_TAGS)


class CreateFlowLogsParams(Params):
    ResourceType: ResourceType
    ResourceIds: list[str] = Field(min_length=1, max_length=MAX_IDS_PER_CALL)
    TrafficType: Literal["ALL"] | None = None
    LogDestinationType: Literal["s3"]
    LogDestination: str
    LogFormat: str
    MaxAggregationInterval: Literal[60, 600]
    DestinationOptions: _DestinationOptions
    TagSpecifications: list[_TagSpecification] | None = Field(default=None, min_length=1, max_length=1)


class DeleteFlowLogsParams(Params):
    FlowLogIds: list[str] = Field(min_length=1, max_length=MAX_DELETE_IDS)


class DestinationBasis(Params):
    bucket_owner: str = Field(
        default="", description="The account of the destination bucket, when not the change's own"
    )


def destination_owner_problems(change: Change, plan: Plan) -> list[str]:
    """A destination bucket of another account must be one of the plan's accounts (plans across accounts)."""
    from aws.plans.org_settings import plan_accounts

    owner = DestinationBasis.model_validate(change.basis).bucket_owner
    if owner and owner not in plan_accounts(plan):
        return [f"its destination bucket's account {owner!r} is not one of the plan's accounts"]
    return []


def owned_destination(session: AwsSession, change: Change, bucket: str) -> None:
    """Before logs are pointed at `bucket`: it is the change's account's (HeadBucket), unless the plan
    aims them at another account's bucket, which `aws.plans.sessions.check_destinations` verified in
    that account before the first change (a member may not read another account's bucket)."""
    account = change.account or session.identity().account
    owner = DestinationBasis.model_validate(change.basis).bucket_owner or account
    if owner == account:
        require_owned(session, bucket, account)


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
    Params, Basis = CreateFlowLogsParams, DestinationBasis

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        return {}  # format 1 sent logs only to the plan's own account's buckets

    def details(self, change: Change) -> list[str]:
        p = change.params
        ids = p["ResourceIds"]
        shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
        tags = [f"{t['Key']}={t['Value']}" for spec in p.get("TagSpecifications") or [] for t in spec["Tags"]]
        return [
            f"{p['ResourceType']} {shown}",
            f"to {p['LogDestination']}: {len(parse_log_format(p['LogFormat']))} fields, "
            f"{p['MaxAggregationInterval']} s, {p.get('TrafficType', 'all')} traffic",
            *([f"tagged {', '.join(tags)}"] if tags else []),
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
        problems += destination_owner_problems(change, plan)
        specs = params.get("TagSpecifications")
        if specs is not None and specs != flow_log_tag_specifications(plan.id):
            problems += planned_tag_problems(specs[0]["Tags"], plan) or [
                "its TagSpecifications are not the ones flowlogs writes"
            ]
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
            owned_destination(session, change, bucket)
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
                    if norm_destination(fl.get("LogDestination", ""))
                    == norm_destination(config.log_destination)
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
    where = parse_s3_arn(destination) if destination.startswith(f"arn:{plan.partition}:s3:::") else None
    if where is None:
        return [f"its LogDestination {destination!r} is not an S3 bucket ARN of partition {plan.partition}"]
    bucket, prefix = where
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
