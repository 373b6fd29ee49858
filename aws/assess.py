"""Assessment rules: how far each VPC and Network Firewall is from what the Kentik spec wants.

A VPC is `compliant` when it has a VPC-level flow log that is ACTIVE, delivers to S3, captures ALL
traffic, writes plain text (not parquet), carries every v2-v5 field and whose delivery has not FAILED.
It `needs-change` when it has VPC-level flow logs but none meets all of that (the reasons say what is
wrong with each), and it is `missing` when it has no VPC-level flow log. Subnet- and ENI-level flow logs
cover only part of a VPC: they never make it compliant, and are reported as partial coverage.

A firewall is `compliant` when both its FLOW and ALERT logs go to S3, `missing` when it has no logging
at all, `needs-change` otherwise, and `unknown` when its logging configuration could not be read.

Pure functions over `aws.inventory` models: no AWS calls.
"""

from __future__ import annotations

from aws.inventory import (
    Firewall,
    FirewallLogStatus,
    FlowLog,
    Reason,
    ReasonCode,
    Verdict,
    Vpc,
)
from aws.logs.format import REQUIRED_FIELDS, V2_FIELDS, missing_fields
from aws.logs.tgw_format import TGW_REQUIRED_FIELDS, tgw_missing_fields

_DESTINATION_NAMES = {
    "cloud-watch-logs": "CloudWatch Logs",
    "kinesis-data-firehose": "Kinesis Data Firehose",
}
_RESOURCE_NAMES = {"Subnet": "subnet", "NetworkInterface": "ENI"}


def flow_log_problems(fl: FlowLog) -> list[Reason]:
    """Why one flow log does not meet the spec (empty when it does), in a stable order."""
    problems: list[Reason] = []
    fid = fl.flow_log_id

    def add(code: ReasonCode, text: str, **extra: list[str]) -> None:
        problems.append(Reason(code=code, message=f"{fid}: {text}", flow_log_id=fid, **extra))

    if fl.status and fl.status != "ACTIVE":
        add(ReasonCode.INACTIVE, f"flow log status is {fl.status}, not ACTIVE")
    if fl.destination_type != "s3":
        name = _DESTINATION_NAMES.get(fl.destination_type, fl.destination_type or "an unknown destination")
        where = fl.log_group or fl.destination or ""
        add(ReasonCode.NOT_S3, f"delivers to {name}{f' ({where})' if where else ''}; Kentik reads S3")
    tgw = fl.resource_type in ("TransitGateway", "TransitGatewayAttachment")
    if not tgw and (fl.traffic_type or "ALL") != "ALL":
        add(ReasonCode.TRAFFIC_TYPE, f"captures {fl.traffic_type} traffic only; the spec wants ALL")
    if (fl.file_format or "plain-text") != "plain-text":
        add(ReasonCode.PARQUET, f"writes {fl.file_format} files; Kentik reads plain-text .log.gz")
    if tgw:  # transit gateways: their own field set; an omitted LogFormat means all of it
        absent = tgw_missing_fields(fl.fields) if fl.log_format else []
        if absent:
            add(
                ReasonCode.MISSING_FIELDS,
                f"custom format: missing {len(absent)} of {len(TGW_REQUIRED_FIELDS)} transit gateway fields: "
                + ", ".join(absent),
                missing_fields=absent,
            )
        absent = []
    else:
        fields = fl.fields if fl.log_format else list(V2_FIELDS)
        absent = missing_fields(fields)
    if absent:
        default = not fl.log_format or fields == list(V2_FIELDS)
        what = "default format (v2 fields only)" if default else "custom format"
        add(
            ReasonCode.MISSING_FIELDS,
            f"{what}: missing {len(absent)} of {len(REQUIRED_FIELDS)} v2-v5 fields: {', '.join(absent)}",
            missing_fields=absent,
        )
    if fl.deliver_status == "FAILED":
        add(ReasonCode.DELIVERY_FAILED, f"delivery FAILED: {fl.deliver_error or 'no error message'}")
    return problems


def _partial_coverage(vpc: Vpc) -> Reason | None:
    if not vpc.partial_flow_logs:
        return None
    parts = [
        f"{_RESOURCE_NAMES.get(fl.resource_type, fl.resource_type)} {fl.resource_id} ({fl.flow_log_id})"
        for fl in vpc.partial_flow_logs
    ]
    return Reason(
        code=ReasonCode.PARTIAL_COVERAGE,
        message="partial coverage only: flow logs on " + ", ".join(parts) + " cover part of this VPC",
    )


def assess_vpc(vpc: Vpc) -> Vpc:
    """Set `verdict`, `reasons` and `compliant_flow_log_id` on `vpc` (and `problems` on its flow logs)."""
    for fl in [*vpc.flow_logs, *vpc.partial_flow_logs]:
        fl.problems = flow_log_problems(fl)
    good = next((fl for fl in vpc.flow_logs if not fl.problems), None)
    partial = _partial_coverage(vpc)
    vpc.compliant_flow_log_id = good.flow_log_id if good else None
    if good is not None:
        vpc.verdict, vpc.reasons = Verdict.COMPLIANT, []
    elif vpc.flow_logs:
        vpc.verdict = Verdict.NEEDS_CHANGE
        vpc.reasons = [p for fl in vpc.flow_logs for p in fl.problems]
        if partial:
            vpc.reasons.append(partial)
    else:
        vpc.verdict = Verdict.MISSING
        vpc.reasons = [Reason(code=ReasonCode.NO_FLOW_LOG, message="no VPC-level flow log")]
        if partial:
            vpc.reasons.append(partial)
    return vpc


def _log_status(fw: Firewall, log_type: str) -> FirewallLogStatus:
    status = FirewallLogStatus(log_type=log_type)
    for dest in fw.destinations:
        if dest.log_type != log_type:
            continue
        if dest.destination_type == "S3" and not status.to_s3:
            status.to_s3, status.bucket, status.prefix = True, dest.bucket, dest.prefix
            status.bucket_account = dest.bucket_account
        elif dest.destination_type != "S3":
            status.other.append(dest.describe())
    return status


def assess_firewall(fw: Firewall) -> Firewall:
    """Set `flow`, `alert`, `verdict` and `reasons` on `fw` from its logging destinations."""
    fw.flow, fw.alert = _log_status(fw, "FLOW"), _log_status(fw, "ALERT")
    if fw.error is not None:
        fw.verdict = Verdict.UNKNOWN
        fw.reasons = [Reason(code=ReasonCode.UNREADABLE, message=f"logging not readable: {fw.error}")]
        return fw
    reasons: list[Reason] = []
    for status, code in ((fw.flow, ReasonCode.FIREWALL_FLOW), (fw.alert, ReasonCode.FIREWALL_ALERT)):
        if status.to_s3:
            continue
        if status.other:
            text = f"{status.log_type} logs go to {', '.join(status.other)}, not S3"
        else:
            text = f"{status.log_type} logs are not enabled"
        reasons.append(Reason(code=code, message=text))
    fw.reasons = reasons
    if not reasons:
        fw.verdict = Verdict.COMPLIANT
    elif not fw.destinations:
        fw.verdict = Verdict.MISSING
    else:
        fw.verdict = Verdict.NEEDS_CHANGE
    return fw
