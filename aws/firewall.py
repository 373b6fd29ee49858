"""AWS Network Firewall logging to S3: assess, plan, apply one destination change per call.

AWS lets one `UpdateLoggingConfiguration` call add one destination config, remove one, or change one's
destination, and a firewall has at most one destination per log type (FLOW, ALERT, TLS). So each Change
here is exactly one such step, and its executor re-reads `DescribeLoggingConfiguration` right before
sending the current configuration plus that one step (the API has no update token for logging).

Existing CloudWatch Logs / Firehose destinations of log types we don't need are never touched. A needed
log type that already goes elsewhere is reported, and only changed (destructively) when the user asks:
`repoint_existing` for another S3 bucket/prefix, `replace_non_s3` for CloudWatch Logs / Firehose (which
takes two calls: remove, then add, since a destination's type can't be changed in place).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aws.buckets import require_owned
from aws.errors import FlowlogsError, ValidationFailed
from aws.flowlogs import log_destination_problems
from aws.names import firewall_prefix
from aws.permissions import declare
from aws.plan import Change, Executor, Params, Plan
from aws.session import AwsSession

_S3_LOGGING = "UpdateLoggingConfiguration to S3: "
PERMISSIONS = declare(
    __name__,
    read=["network-firewall:DescribeLoggingConfiguration"],
    apply=["network-firewall:UpdateLoggingConfiguration"],
    implied={
        "logs:CreateLogDelivery": _S3_LOGGING + "AWS creates the log delivery as the caller",
        "logs:GetLogDelivery": _S3_LOGGING + "AWS reads the log delivery as the caller",
        "logs:UpdateLogDelivery": _S3_LOGGING + "AWS changes the log delivery as the caller",
        "logs:DeleteLogDelivery": _S3_LOGGING + "AWS deletes a removed log delivery as the caller",
        "logs:ListLogDeliveries": _S3_LOGGING + "AWS lists the log deliveries as the caller",
        "s3:GetBucketPolicy": _S3_LOGGING + "AWS reads the bucket policy as the caller",
        "s3:PutBucketPolicy": _S3_LOGGING + "AWS may add the log-delivery statements as the caller",
    },
)

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
        return _configs(self.logging)


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
        bucket, prefix = dest.get("bucketName"), str(dest.get("prefix", "")).strip("/")
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


def _configs(logging: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not logging:
        return []
    return [dict(c) for c in logging.get("LogDestinationConfigs") or []]


def s3_destination(bucket: str, prefix: str) -> dict[str, str]:
    destination = {"bucketName": bucket}
    if prefix:
        destination["prefix"] = prefix
    return destination


def _same_s3(config: Mapping[str, Any], bucket: str, prefix: str) -> bool:
    if config.get("LogDestinationType") != "S3":
        return False
    dest = config.get("LogDestination") or {}
    return bool(
        dest.get("bucketName") == bucket and str(dest.get("prefix", "")).strip("/") == prefix.strip("/")
    )


def _describe_destination(config: Mapping[str, Any]) -> str:
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


def _for_type(configs: list[dict[str, Any]], log_type: str) -> dict[str, Any] | None:
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
        current = _for_type(configs, log_type)
        if current is None:
            types.append(LogTypeStatus(log_type=log_type, status="missing", note=f"{log_type} logs are off"))
        elif _same_s3(current, bucket, prefix):
            types.append(LogTypeStatus(log_type=log_type, status="ok", current=current, note="as required"))
        elif options.reads(current):
            note = f"{log_type} logs go to {_describe_destination(current)}, which Kentik reads"
            types.append(LogTypeStatus(log_type=log_type, status="ok", current=current, note=note))
        elif current.get("LogDestinationType") == "S3":
            types.append(
                LogTypeStatus(
                    log_type=log_type,
                    status="other-s3",
                    current=current,
                    note=f"{log_type} logs go to {_describe_destination(current)}; kept unless you choose "
                    "to repoint them",
                )
            )
        else:
            types.append(
                LogTypeStatus(
                    log_type=log_type,
                    status="non-s3",
                    current=current,
                    note=f"{log_type} logs go to {_describe_destination(current)}; AWS allows one destination "
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
    new = _for_type(configs, log_type) or {}
    where = _describe_destination(new)
    if how == "add":
        title = f"Send {log_type} logs of firewall {target.name} ({target.region}) to {where}"
        reason = f"The spec asks for Network Firewall {log_type.lower()} logs in the S3 bucket Kentik reads."
    else:
        old = _describe_destination(item.current or {}) if item else "another S3 location"
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
    old = _describe_destination(item.current or {})
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


# -- executors ------------------------------------------------------------------------------------------

_FIREWALL_ARN = re.compile(
    r"^arn:(aws[a-z-]*):network-firewall:([a-z0-9-]+):(\d{12}):firewall/[A-Za-z0-9-]{1,128}$"
)


class _DestinationConfig(Params):
    LogType: Literal["FLOW", "ALERT", "TLS"]
    LogDestinationType: Literal["S3", "CloudWatchLogs", "KinesisDataFirehose"]
    LogDestination: dict[str, str]


class _LoggingConfiguration(Params):
    LogDestinationConfigs: list[_DestinationConfig] = Field(max_length=3)


class LoggingParams(Params):
    FirewallArn: str
    LoggingConfiguration: _LoggingConfiguration


def _log_type_of(change: Change) -> str:
    log_type = change.id.rsplit(":", 1)[-1]
    if log_type not in LOG_TYPES:
        raise ValidationFailed(f"Change {change.id} does not name a firewall log type.")
    return log_type


def read_logging(session: AwsSession, region: str, firewall_arn: str) -> dict[str, Any]:
    """The DescribeLoggingConfiguration response (without ResponseMetadata)."""
    response: dict[str, Any] = session.client("network-firewall", region).describe_logging_configuration(
        FirewallArn=firewall_arn
    )
    response.pop("ResponseMetadata", None)
    return response


def _by_type(configs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(c.get("LogType")): dict(c) for c in configs}


class _LoggingStep(Executor):
    """One UpdateLoggingConfiguration step on one log type. The configuration sent is derived again from
    the current one (DescribeLoggingConfiguration, right before) and must be the one the plan previewed."""

    service, operation = "network-firewall", "UpdateLoggingConfiguration"
    Params = LoggingParams

    def details(self, change: Change) -> list[str]:
        log_type = change.id.rsplit(":", 1)[-1]
        config = _for_type(_configs(change.params["LoggingConfiguration"]), log_type)
        where = _describe_destination(config) if config else "no destination"
        return [f"{log_type} logs go to {where}; other log types keep their destinations"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        arn = change.params["FirewallArn"]
        problems = (
            [] if change.target == arn else [f"its target {change.target!r} is not the firewall it changes"]
        )
        match = _FIREWALL_ARN.match(arn)
        if not match:
            return [*problems, f"{arn!r} is not a Network Firewall ARN"]
        partition, region, account = match.groups()
        if (partition, region, account) != (plan.partition, change.region, plan.account_of(change)):
            problems.append(f"the firewall {arn} is not in the change's partition, region and account")
        log_type = change.id.rsplit(":", 1)[-1]
        configs = change.params["LoggingConfiguration"]["LogDestinationConfigs"]
        if log_type not in LOG_TYPES:
            return [*problems, "its id does not end with the log type (FLOW, ALERT or TLS) it changes"]
        if len(_by_type(configs)) != len(configs):
            problems.append("its logging configuration has two destinations for one log type")
        return problems + self.check_step(_for_type(list(configs), log_type), plan)

    def check_step(self, config: Mapping[str, Any] | None, plan: Plan) -> list[str]:
        if config is None or config.get("LogDestinationType") != "S3":
            return ["it sends the log type to no S3 destination"]
        dest = config.get("LogDestination") or {}
        bucket, prefix = dest.get("bucketName", ""), dest.get("prefix", "")
        problems = log_destination_problems(bucket, prefix, plan, example="network-firewall")
        if set(dest) - {"bucketName", "prefix"}:
            problems.append("its S3 destination has keys other than bucketName and prefix")
        return problems

    def step(
        self, change: Change, configs: list[dict[str, Any]], current: dict[str, Any] | None
    ) -> list[dict[str, Any]] | None:
        """The configuration after this step applied to `configs` (None: nothing to do)."""
        raise NotImplementedError

    def checked(
        self, session: AwsSession, change: Change
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]] | None]:
        """The current response and configuration, and the configuration after the step (None: nothing
        to do), refused (StaleChange) when it is not the planned one."""
        log_type = _log_type_of(change)
        response = read_logging(session, change.region, change.params["FirewallArn"])
        configs = _configs(response.get("LoggingConfiguration"))
        after = self.step(change, configs, _for_type(configs, log_type))
        if after is not None:
            planned = change.params["LoggingConfiguration"]["LogDestinationConfigs"]
            self.expect(change, f"{log_type} logging of {change.target}", _by_type(after), _by_type(planned))
        return response, configs, after

    def run_step(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        response, configs, after = self.checked(session, change)
        if after is None:
            return None
        wanted = _for_type(after, _log_type_of(change)) or {}
        if wanted.get("LogDestinationType") == "S3":
            bucket = str((wanted.get("LogDestination") or {}).get("bucketName", ""))
            require_owned(session, bucket, change.account or session.identity().account)
        _send(session, change, response, after)
        return _for_type(configs, _log_type_of(change))


def _send(
    session: AwsSession, change: Change, current: Mapping[str, Any], configs: list[dict[str, Any]]
) -> None:
    params: dict[str, Any] = {
        "FirewallArn": change.params["FirewallArn"],
        "LoggingConfiguration": {"LogDestinationConfigs": configs},
    }
    if "EnableMonitoringDashboard" in current:
        params["EnableMonitoringDashboard"] = current["EnableMonitoringDashboard"]
    session.client("network-firewall", change.region).update_logging_configuration(**params)


def _wanted(change: Change) -> dict[str, Any]:
    log_type = _log_type_of(change)
    wanted = _for_type(_configs(change.params.get("LoggingConfiguration")), log_type)
    if not wanted or wanted.get("LogDestinationType") != "S3":
        raise ValidationFailed(f"Change {change.id} has no S3 destination for {log_type}.")
    return wanted


def _at_wanted(session: AwsSession, change: Change) -> bool:
    wanted = _wanted(change)
    logging = read_logging(session, change.region, change.params["FirewallArn"]).get("LoggingConfiguration")
    current = _for_type(_configs(logging), wanted["LogType"])
    dest = wanted["LogDestination"]
    return current is not None and _same_s3(current, dest["bucketName"], dest.get("prefix", ""))


class S3LogDestinationExecutor(_LoggingStep):
    """Add an S3 destination for one log type that has none. A log type that meanwhile got another
    destination is not overwritten (that is the repoint kind, confirmed by the user)."""

    kind = S3_KIND

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return _at_wanted(session, change)

    def step(
        self, change: Change, configs: list[dict[str, Any]], current: dict[str, Any] | None
    ) -> list[dict[str, Any]] | None:
        wanted = _wanted(change)
        dest = wanted["LogDestination"]
        if current is not None and _same_s3(current, dest["bucketName"], dest.get("prefix", "")):
            return None
        if current is None:
            return [*configs, copy.deepcopy(wanted)]
        if current.get("LogDestinationType") != "S3":
            raise FlowlogsError(
                f"{wanted['LogType']} logs of {change.target} now go to {_describe_destination(current)}; "
                "switching them to S3 needs removing that destination first.",
                hint="Plan again and choose to replace the non-S3 destination.",
            )
        raise FlowlogsError(
            f"{wanted['LogType']} logs of {change.target} now go to {_describe_destination(current)}, "
            "which this change may not overwrite.",
            hint="Plan again and choose to repoint existing destinations.",
        )

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.run_step(session, change)
        dest = _wanted(change)["LogDestination"]
        return {"firewall": change.target, "log_type": _log_type_of(change), "destination": dest}


class RepointLogDestinationExecutor(S3LogDestinationExecutor):
    """Move one log type from another S3 bucket/prefix to the change's (destructive, user's choice)."""

    kind = REPOINT_KIND
    destructive = True

    def step(
        self, change: Change, configs: list[dict[str, Any]], current: dict[str, Any] | None
    ) -> list[dict[str, Any]] | None:
        wanted = _wanted(change)
        if current is None or current.get("LogDestinationType") != "S3":
            return super().step(change, configs, current)
        dest = wanted["LogDestination"]
        if _same_s3(current, dest["bucketName"], dest.get("prefix", "")):
            return None
        return [copy.deepcopy(wanted) if c.get("LogType") == wanted["LogType"] else c for c in configs]


class RemoveLogDestinationExecutor(_LoggingStep):
    """Remove the CloudWatch Logs / Firehose destination of one log type (destructive, user's choice)."""

    kind = REMOVE_KIND
    destructive = True

    def check_step(self, config: Mapping[str, Any] | None, plan: Plan) -> list[str]:
        return [] if config is None else ["the log type it removes is still in its logging configuration"]

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        log_type = _log_type_of(change)
        configs = _configs(
            read_logging(session, change.region, change.params["FirewallArn"]).get("LoggingConfiguration")
        )
        current = _for_type(configs, log_type)
        return current is None or current.get("LogDestinationType") == "S3"

    def step(
        self, change: Change, configs: list[dict[str, Any]], current: dict[str, Any] | None
    ) -> list[dict[str, Any]] | None:
        if current is None or current.get("LogDestinationType") == "S3":
            return None
        return [c for c in configs if c is not current]

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        removed = self.run_step(session, change)
        return {"firewall": change.target, "log_type": _log_type_of(change), "removed": removed}
