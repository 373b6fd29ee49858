"""AWS Network Firewall logging to S3: assess each firewall's logging and plan the steps (no AWS call).

AWS lets one `UpdateLoggingConfiguration` call add one destination config, remove one, or change one's
destination, and a firewall has at most one destination per log type (FLOW, ALERT, TLS). So each Change
planned here is exactly one such step, carrying the whole configuration as it is after the step
(`firewall_changes`, chained per firewall); `firewall_executors` applies them.

Existing CloudWatch Logs / Firehose destinations of log types we don't need are never touched. A needed
log type that already goes elsewhere is reported (`assess_firewall`), and only changed (destructively)
when the user asks: `repoint_existing` for another S3 bucket/prefix, `replace_non_s3` for CloudWatch
Logs / Firehose (which takes two calls: remove, then add, since a destination's type can't be changed in
place). The helpers reading a LoggingConfiguration (`destination_configs`, `config_for_type`,
`same_s3`, `describe_destination`) are shared with the executors.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aws.errors import ValidationFailed
from aws.names import firewall_prefix, log_folder
from aws.plans.change import Change

LogType = Literal["FLOW", "ALERT", "TLS"]
LOG_TYPES: tuple[str, ...] = ("FLOW", "ALERT", "TLS")
DEFAULT_LOG_TYPES: tuple[LogType, ...] = ("FLOW", "ALERT")

S3_KIND = "network-firewall.s3-log-destination"
REPOINT_KIND = "network-firewall.repoint-log-destination"
REMOVE_KIND = "network-firewall.remove-log-destination"

Status = Literal["ok", "missing", "other-s3", "non-s3"]


class FirewallTarget(BaseModel):
    """One firewall and its logging configuration as DescribeLoggingConfiguration returned it."""

    model_config = ConfigDict(frozen=True)

    name: str
    arn: str
    region: str
    logging: Mapping[str, Any] | None = Field(
        default=None, description="The response's LoggingConfiguration ({'LogDestinationConfigs': [...]})"
    )

    @property
    def destinations(self) -> list[dict[str, Any]]:
        return destination_configs(self.logging)


class FirewallOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    buckets: Mapping[str, str] = Field(description="S3 bucket name per region")
    prefix: str = Field(default="", description="Optional S3 prefix, e.g. 'firewall-logs/'")
    log_types: tuple[LogType, ...] = DEFAULT_LOG_TYPES
    repoint_existing: bool = Field(
        default=False, description="Point a needed log type that goes to another S3 location at ours"
    )
    replace_non_s3: bool = Field(
        default=False, description="Move a needed log type from CloudWatch Logs/Firehose to S3"
    )
    readable: tuple[tuple[str, str], ...] = Field(
        default=(),
        description="(bucket, prefix) locations Kentik reads: a log type already going there is done "
        "('' prefix = the whole bucket)",
    )

    def reads(self, config: Mapping[str, Any]) -> bool:
        """Whether an S3 destination config lies in one of the `readable` locations."""
        if config.get("LogDestinationType") != "S3":
            return False
        dest = config.get("LogDestination") or {}
        bucket, prefix = dest.get("bucketName"), log_folder(str(dest.get("prefix", "")))
        return any(
            bucket == b and (not p or prefix == p or prefix.startswith(p + "/")) for b, p in self.readable
        )

    @field_validator("log_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("choose at least one firewall log type")
        return tuple(t for t in LOG_TYPES if t in value)  # AWS's order, no duplicates


class LogTypeStatus(BaseModel):
    """How one wanted log type of one firewall stands against the options."""

    log_type: LogType
    status: Status
    current: dict[str, Any] | None = Field(default=None, description="Its current LogDestinationConfig")
    note: str = ""


class FirewallAssessment(BaseModel):
    target: FirewallTarget
    bucket: str
    prefix: str
    types: list[LogTypeStatus]

    @property
    def compliant(self) -> bool:
        return all(t.status == "ok" for t in self.types)

    @property
    def conflicts(self) -> list[LogTypeStatus]:
        return [t for t in self.types if t.status in ("other-s3", "non-s3")]


# -- helpers --------------------------------------------------------------------------------------------


def destination_configs(logging: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not logging:
        return []
    return [dict(c) for c in logging.get("LogDestinationConfigs") or []]


def s3_destination(bucket: str, prefix: str) -> dict[str, str]:
    destination = {"bucketName": bucket}
    if prefix:
        destination["prefix"] = prefix
    return destination


def same_s3(config: Mapping[str, Any], bucket: str, prefix: str) -> bool:
    if config.get("LogDestinationType") != "S3":
        return False
    dest = config.get("LogDestination") or {}
    return bool(
        dest.get("bucketName") == bucket and log_folder(str(dest.get("prefix", ""))) == log_folder(prefix)
    )


def describe_destination(config: Mapping[str, Any]) -> str:
    dest = config.get("LogDestination") or {}
    kind = config.get("LogDestinationType", "?")
    if kind == "S3":
        prefix = dest.get("prefix", "")
        return f"S3 bucket {dest.get('bucketName', '?')}" + (f" (prefix {prefix})" if prefix else "")
    if kind == "CloudWatchLogs":
        return f"CloudWatch Logs group {dest.get('logGroup', '?')}"
    if kind == "KinesisDataFirehose":
        return f"Firehose stream {dest.get('deliveryStream', '?')}"
    return f"{kind} {dest}"


def config_for_type(configs: list[dict[str, Any]], log_type: str) -> dict[str, Any] | None:
    return next((c for c in configs if c.get("LogType") == log_type), None)


# -- assessment & planning ------------------------------------------------------------------------------


def assess_firewall(target: FirewallTarget, options: FirewallOptions) -> FirewallAssessment:
    """Where each wanted log type of `target` stands (ok, missing, other S3 location, not S3)."""
    bucket = options.buckets.get(target.region)
    if not bucket:
        raise ValidationFailed(
            f"No S3 bucket chosen for region {target.region} (firewall {target.name}).",
            hint="Pick a bucket strategy that covers every region.",
        )
    prefix = firewall_prefix(options.prefix)
    configs = target.destinations
    types: list[LogTypeStatus] = []
    for log_type in options.log_types:
        current = config_for_type(configs, log_type)
        if current is None:
            types.append(LogTypeStatus(log_type=log_type, status="missing", note=f"{log_type} logs are off"))
        elif same_s3(current, bucket, prefix):
            types.append(LogTypeStatus(log_type=log_type, status="ok", current=current, note="as required"))
        elif options.reads(current):
            note = f"{log_type} logs go to {describe_destination(current)}, which Kentik reads"
            types.append(LogTypeStatus(log_type=log_type, status="ok", current=current, note=note))
        elif current.get("LogDestinationType") == "S3":
            types.append(
                LogTypeStatus(
                    log_type=log_type,
                    status="other-s3",
                    current=current,
                    note=f"{log_type} logs go to {describe_destination(current)}; kept unless you choose "
                    "to repoint them",
                )
            )
        else:
            types.append(
                LogTypeStatus(
                    log_type=log_type,
                    status="non-s3",
                    current=current,
                    note=f"{log_type} logs go to {describe_destination(current)}; AWS allows one destination "
                    "per log type, so sending them to S3 replaces it (your choice)",
                )
            )
    return FirewallAssessment(target=target, bucket=bucket, prefix=prefix, types=types)


def firewall_changes(
    targets: Iterable[FirewallTarget], options: FirewallOptions, account: str = ""
) -> list[Change]:
    """One Change per UpdateLoggingConfiguration step, chained per firewall in the order they run.

    Missing log types are added; types going to another S3 location are repointed only with
    `repoint_existing`, types going to CloudWatch Logs/Firehose are removed then added only with
    `replace_non_s3` (both destructive). Every other destination is carried over untouched.
    `account` is not needed (the ARN names it) and is accepted for symmetry with flowlog_changes.
    """
    del account
    changes: list[Change] = []
    for target in sorted(targets, key=lambda t: (t.region, t.name, t.arn)):
        assessment = assess_firewall(target, options)
        configs = target.destinations  # the configuration as it will be after each planned step
        previous: str | None = None
        for item in assessment.types:
            new_config = {
                "LogType": item.log_type,
                "LogDestinationType": "S3",
                "LogDestination": s3_destination(assessment.bucket, assessment.prefix),
            }
            steps: list[Change] = []
            if item.status == "missing":
                configs = [*configs, new_config]
                steps.append(_s3_change(target, item.log_type, configs, "add"))
            elif item.status == "other-s3" and options.repoint_existing:
                configs = [new_config if c.get("LogType") == item.log_type else c for c in configs]
                steps.append(_s3_change(target, item.log_type, configs, "repoint", item=item))
            elif item.status == "non-s3" and options.replace_non_s3:
                configs = [c for c in configs if c.get("LogType") != item.log_type]
                steps.append(_remove_change(target, item, configs))
                configs = [*configs, new_config]
                steps.append(_s3_change(target, item.log_type, configs, "add"))
            for step in steps:
                if previous:
                    step.depends_on = [previous]
                previous = step.id
                changes.append(step)
    return changes


def _update_params(target: FirewallTarget, configs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "FirewallArn": target.arn,
        "LoggingConfiguration": {"LogDestinationConfigs": copy.deepcopy(configs)},
    }


def _s3_change(
    target: FirewallTarget,
    log_type: str,
    configs: list[dict[str, Any]],
    how: Literal["add", "repoint"],
    *,
    item: LogTypeStatus | None = None,
) -> Change:
    new = config_for_type(configs, log_type) or {}
    where = describe_destination(new)
    if how == "add":
        title = f"Send {log_type} logs of firewall {target.name} ({target.region}) to {where}"
        reason = f"The spec asks for Network Firewall {log_type.lower()} logs in the S3 bucket Kentik reads."
    else:
        old = describe_destination(item.current or {}) if item else "another S3 location"
        title = f"Repoint {log_type} logs of firewall {target.name} ({target.region}) from {old} to {where}"
        reason = (
            "You chose to move this log type to the Kentik bucket; it overwrites the current destination."
        )
    kind = S3_KIND if how == "add" else REPOINT_KIND
    return Change(
        id=f"{kind}:{target.arn}:{log_type}",
        kind=kind,
        title=title,
        reason=reason,
        target=target.arn,
        service="network-firewall",
        region=target.region,
        operation="UpdateLoggingConfiguration",
        params=_update_params(target, configs),
        group="firewall",
    )


def _remove_change(target: FirewallTarget, item: LogTypeStatus, configs: list[dict[str, Any]]) -> Change:
    old = describe_destination(item.current or {})
    return Change(
        id=f"{REMOVE_KIND}:{target.arn}:{item.log_type}",
        kind=REMOVE_KIND,
        title=f"Stop sending {item.log_type} logs of firewall {target.name} ({target.region}) to {old}",
        reason=(
            f"You chose S3 for {item.log_type} logs; AWS allows one destination per log type and can't change "
            "a destination's type in place, so the current one is removed first."
        ),
        target=target.arn,
        service="network-firewall",
        region=target.region,
        operation="UpdateLoggingConfiguration",
        params=_update_params(target, configs),
        group="firewall",
    )
