"""The executors that apply Network Firewall logging steps, one UpdateLoggingConfiguration each.

Each executor re-reads `DescribeLoggingConfiguration` right before sending the current configuration
plus its one step (the API has no update token for logging), and refuses (`StaleChange`) when the
result is not the configuration the plan previewed. `S3LogDestinationExecutor` adds an S3 destination
for a log type that has none; `RepointLogDestinationExecutor` (destructive) moves one from another S3
location; `RemoveLogDestinationExecutor` (destructive) removes a CloudWatch Logs / Firehose destination
so S3 can be added. Other log types keep their destinations. `check` validates a planned change
statically (firewall ARN, account, one destination per log type, the S3 destination's bucket and prefix).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from aws.errors import FlowlogsError, ValidationFailed
from aws.logs.firewall import (
    LOG_TYPES,
    REMOVE_KIND,
    REPOINT_KIND,
    S3_KIND,
    config_for_type,
    describe_destination,
    destination_configs,
    same_s3,
)
from aws.logs.flowlog_executors import (
    DestinationBasis,
    destination_owner_problems,
    log_destination_problems,
    owned_destination,
)
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan
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
    Params, Basis = LoggingParams, DestinationBasis

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        return {}  # format 1 sent logs only to the plan's own account's buckets

    def details(self, change: Change) -> list[str]:
        log_type = change.id.rsplit(":", 1)[-1]
        config = config_for_type(destination_configs(change.params["LoggingConfiguration"]), log_type)
        where = describe_destination(config) if config else "no destination"
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
        problems += destination_owner_problems(change, plan)
        return problems + self.check_step(config_for_type(list(configs), log_type), plan)

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
        configs = destination_configs(response.get("LoggingConfiguration"))
        after = self.step(change, configs, config_for_type(configs, log_type))
        if after is not None:
            planned = change.params["LoggingConfiguration"]["LogDestinationConfigs"]
            self.expect(change, f"{log_type} logging of {change.target}", _by_type(after), _by_type(planned))
        return response, configs, after

    def run_step(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        response, configs, after = self.checked(session, change)
        if after is None:
            return None
        wanted = config_for_type(after, _log_type_of(change)) or {}
        if wanted.get("LogDestinationType") == "S3":
            bucket = str((wanted.get("LogDestination") or {}).get("bucketName", ""))
            owned_destination(session, change, bucket)
        _send(session, change, response, after)
        return config_for_type(configs, _log_type_of(change))


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
    wanted = config_for_type(destination_configs(change.params.get("LoggingConfiguration")), log_type)
    if not wanted or wanted.get("LogDestinationType") != "S3":
        raise ValidationFailed(f"Change {change.id} has no S3 destination for {log_type}.")
    return wanted


def _at_wanted(session: AwsSession, change: Change) -> bool:
    wanted = _wanted(change)
    logging = read_logging(session, change.region, change.params["FirewallArn"]).get("LoggingConfiguration")
    current = config_for_type(destination_configs(logging), wanted["LogType"])
    dest = wanted["LogDestination"]
    return current is not None and same_s3(current, dest["bucketName"], dest.get("prefix", ""))


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
        if current is not None and same_s3(current, dest["bucketName"], dest.get("prefix", "")):
            return None
        if current is None:
            return [*configs, copy.deepcopy(wanted)]
        if current.get("LogDestinationType") != "S3":
            raise FlowlogsError(
                f"{wanted['LogType']} logs of {change.target} now go to {describe_destination(current)}; "
                "switching them to S3 needs removing that destination first.",
                hint="Plan again and choose to replace the non-S3 destination.",
            )
        raise FlowlogsError(
            f"{wanted['LogType']} logs of {change.target} now go to {describe_destination(current)}, "
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
        if same_s3(current, dest["bucketName"], dest.get("prefix", "")):
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
        configs = destination_configs(
            read_logging(session, change.region, change.params["FirewallArn"]).get("LoggingConfiguration")
        )
        current = config_for_type(configs, log_type)
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
