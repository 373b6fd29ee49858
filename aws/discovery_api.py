"""What discovery reads from AWS, turned into inventory models (pure: no AWS call of its own).

`scan_error` turns an AWS or network error into the inventory's `ScanError`; `paginate` collects a
paginated listing; `flow_log_from_api` / `firewall_destinations_from_api` turn DescribeFlowLogs and
DescribeLoggingConfiguration entries into models; `validate_region_names` checks --regions / --skip.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from aws.errors import (
    AccessDeniedError,
    EndpointError,
    FlowlogsError,
    ThrottledError,
    error_code,
    explain,
)
from aws.inventory import (
    FirewallLogDestination,
    FlowLog,
    ScanError,
)
from aws.logs.format import parse_log_format
from aws.names import parse_s3_arn
from aws.regions import validate_regions

_DISABLED_REGION_CODES = {
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
}


# -- helpers ---------------------------------------------------------------------------------------
def validate_region_names(
    names: Iterable[str],
    *,
    what: str = "",
    partition: str | None = None,
    available: Iterable[str] | None = None,
    enabled: Iterable[str] | None = None,
) -> list[str]:
    """Strip and de-duplicate region names and check each is a region: of botocore's partition data (or of
    the account's `available` list), of `partition` and `enabled` when given (see aws.regions).

    Raises `UnknownRegion` (naming the closest valid region) or `RegionNotEnabled`; both are
    `ValidationFailed` (usage errors)."""
    return validate_regions(names, partition=partition, enabled=enabled, available=available, what=what)


def scan_error(err: BaseException, *, service: str, operation: str = "", region: str = "") -> ScanError:
    """A recorded failure with a fix hint a person can act on."""
    code = error_code(err)
    operation = operation or str(getattr(err, "operation_name", "") or "")
    explained = explain(err, service=service)
    action = explained.action if isinstance(explained, AccessDeniedError) else ""
    if code in _DISABLED_REGION_CODES and region:
        hint = (
            f"region {region} is not enabled for this account (or the credentials are not valid there): "
            f"enable it under Account > AWS Regions, or skip it with --skip {region}"
        )
    elif action:
        hint = f"grant {action}"
    elif isinstance(explained, ThrottledError):
        hint = (
            "AWS kept throttling after the retries: scan again later, or with fewer regions at once "
            "(--workers N, or fewer --regions)"
        )
    elif isinstance(explained, EndpointError):
        hint = explained.hint + (f" Or leave the region out: --skip {region}." if region else "")
    else:
        hint = explained.hint
    message = explained.message
    if isinstance(err, ClientError) and type(explained) is FlowlogsError:
        # explain()'s generic "Op failed (Code): message": the operation and code have their own fields.
        message = str(err.response.get("Error", {}).get("Message") or code)
    return ScanError(
        service=service,
        operation=operation,
        code=code or type(err).__name__,
        message=message,
        hint=hint,
        action=action,
        kind=explained.kind,
    )


def paginate(client: Any, method: str, key: str, *, page_size: int | None = None, **params: Any) -> list[Any]:
    paginator = client.get_paginator(method)
    config = {"PageSize": page_size} if page_size else {}
    items: list[Any] = []
    for page in paginator.paginate(**params, PaginationConfig=config):
        items.extend(page.get(key, []))
    return items


def name_tag(tags: list[dict[str, str]] | None) -> str:
    return next((t.get("Value", "") for t in tags or [] if t.get("Key") == "Name"), "")


def resource_type(resource_id: str) -> str:
    if resource_id.startswith("vpc-"):
        return "VPC"
    if resource_id.startswith("subnet-"):
        return "Subnet"
    if resource_id.startswith("eni-"):
        return "NetworkInterface"
    if resource_id.startswith("tgw-attach-"):
        return "TransitGatewayAttachment"
    if resource_id.startswith("tgw-"):
        return "TransitGateway"
    return "Other"


def flow_log_from_api(item: dict[str, Any], vpc_id: str | None = None) -> FlowLog:
    """A `FlowLog` from one DescribeFlowLogs entry (problems not yet assessed)."""
    resource_id = item.get("ResourceId", "")
    dest_type = item.get("LogDestinationType") or ("cloud-watch-logs" if item.get("LogGroupName") else "")
    destination = item.get("LogDestination")
    options = item.get("DestinationOptions") or {}
    where = parse_s3_arn(destination) if dest_type == "s3" and destination else None
    bucket, prefix = where if where else (None, "")
    log_format = item.get("LogFormat") or None
    kind = resource_type(resource_id)
    return FlowLog(
        flow_log_id=item.get("FlowLogId", ""),
        resource_id=resource_id,
        resource_type=kind,
        vpc_id=resource_id if kind == "VPC" else vpc_id,
        status=item.get("FlowLogStatus", ""),
        deliver_status=item.get("DeliverLogsStatus"),
        deliver_error=item.get("DeliverLogsErrorMessage"),
        traffic_type=item.get("TrafficType"),
        destination_type=dest_type,
        destination=destination,
        bucket=bucket,
        prefix=prefix,
        log_group=item.get("LogGroupName"),
        file_format=options.get("FileFormat"),
        hive_partitions=bool(options.get("HiveCompatiblePartitions")),
        per_hour_partition=bool(options.get("PerHourPartition")),
        log_format=log_format,
        fields=parse_log_format(log_format),
        max_aggregation_interval=item.get("MaxAggregationInterval"),
        created=item.get("CreationTime"),
    )


def firewall_destinations_from_api(config: dict[str, Any] | None) -> list[FirewallLogDestination]:
    """Destinations of a DescribeLoggingConfiguration `LoggingConfiguration`."""
    out: list[FirewallLogDestination] = []
    for entry in (config or {}).get("LogDestinationConfigs", []) or []:
        dest = {str(k): str(v) for k, v in (entry.get("LogDestination") or {}).items()}
        out.append(
            FirewallLogDestination(
                log_type=entry.get("LogType", ""),
                destination_type=entry.get("LogDestinationType", ""),
                bucket=dest.get("bucketName"),
                prefix=dest.get("prefix", ""),
                log_group=dest.get("logGroup"),
                delivery_stream=dest.get("deliveryStream"),
                raw=dest,
            )
        )
    return out
