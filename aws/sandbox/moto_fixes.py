"""Make moto (5.2.x) follow AWS's rules where it is lenient or wrong, so the demo and the tests cannot lie.

`apply_moto_fixes()` patches moto's backend and response classes in-process. It is idempotent and
works for `mock_aws` and for a `ThreadedMotoServer` running in the same process (both use the same
global backends). What it changes (see ../shared/aws-facts.md, "Where moto is lenient"):

* ec2 CreateFlowLogs: S3 destinations with a prefix (`arn:aws:s3:::bucket/prefix/`) are accepted when
  the bucket exists; the prefix may not be `AWSLogs`; `MaxAggregationInterval` is 60 or 600 (transit
  gateway types: 60, no TrafficType); `DestinationOptions` are validated, stored and returned by
  DescribeFlowLogs; like AWS, the log delivery statements are added to the bucket policy of a bucket
  the caller owns. DescribeFlowLogs' `deliver-log-status` filter uses the real status.
* network-firewall UpdateLoggingConfiguration: ONE change per call (add one destination config,
  remove one, or change one's destination), LogDestinationType can't change in place, at most one
  config per LogType, destinations must carry the key their type needs.
* s3 CreateBucket: AWS's bucket naming rules; the account-regional namespace (aws/sandbox/s3_namespace.py).
* Logs into another account's bucket: refused unless its bucket policy admits the account
  (aws/sandbox/strict_org.py).
* ec2 DescribeRegions: only the caller's partition; without AllRegions only enabled regions are
  listed; AWS's opt-in regions are `not-opted-in`.
"""

from __future__ import annotations

import copy
import fnmatch
import ipaddress
import json
import re
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    FlowLogAlreadyExists,
    InvalidAggregationIntervalParameterError,
    InvalidDependantParameterError,
    InvalidDependantParameterTypeError,
)
from moto.ec2.models import flow_logs as ec2_flow_logs
from moto.ec2.models import validate_resource_ids
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.responses import availability_zones_and_regions as ec2_region_responses
from moto.ec2.responses import flow_logs as ec2_flow_log_responses
from moto.ec2.utils import random_flow_log_id
from moto.networkfirewall import models as nfw_models
from moto.s3 import models as s3_models
from moto.s3.exceptions import InvalidBucketName

from aws.logs.keys import firewall_base
from aws.names import parse_s3_arn
from aws.regions import partition_of
from aws.sandbox import idempotency, s3_namespace, strict, strict_org

DEFAULT_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)
TRANSIT_GATEWAY_TYPES = ("TransitGateway", "TransitGatewayAttachment")
FILE_FORMATS = ("plain-text", "parquet")
DELIVERY_SERVICE = "delivery.logs.amazonaws.com"

# Regions AWS lists as opt-in (disabled until the account enables them). moto already treats every region
# outside its own short list as not-opted-in; these three it wrongly calls opt-in-not-required.
OPT_IN_REGIONS = frozenset({"af-south-1", "ap-southeast-3", "eu-south-1"})

NFW_MULTIPLE_CHANGES = (
    "Given logging configuration attempts to create/modify multiple log destination configs"
)
NFW_LOG_TYPES = ("ALERT", "FLOW", "TLS")
NFW_DESTINATION_KEYS = {
    "S3": "bucketName",
    "CloudWatchLogs": "logGroup",
    "KinesisDataFirehose": "deliveryStream",
}

_lock = threading.Lock()
_applied = False


def apply_moto_fixes() -> None:
    """Patch moto's classes once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        _fix_flow_logs()
        _fix_network_firewall()
        _fix_bucket_names()
        _fix_regions()
        s3_namespace.apply()
        strict.apply_strict_fixes()  # shared VPCs, DescribeFlowLogs lag, tgw fields (after _fix_flow_logs)
        idempotency.apply()  # CreateFlowLogs ClientToken (after _fix_flow_logs)
        _applied = True


# -- shared helpers --------------------------------------------------------------------------------------


class InvalidParameter(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameter", message)


class MissingParameter(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("MissingParameter", message)


class NfwInvalidRequest(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestException", message)


def split_s3_arn(arn: str) -> tuple[str, str]:
    """`arn:aws:s3:::bucket/prefix/` -> ("bucket", "prefix/"); not an S3 ARN -> InvalidParameter."""
    where = parse_s3_arn(arn)
    if where is None:
        raise InvalidParameter(f"LogDestination: {arn} is not a valid S3 ARN.")
    return where


def _prefix_is_awslogs(prefix: str) -> bool:
    return prefix.strip("/").split("/", 1)[0] == "AWSLogs"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


def _principal_is_delivery(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        if "*" in _as_list(principal.get("AWS")):
            return True
        return DELIVERY_SERVICE in _as_list(principal.get("Service"))
    return False


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def _statement_applies(stmt: dict[str, Any], action: str, resource: str) -> bool:
    if "NotPrincipal" in stmt:
        if _principal_is_delivery(stmt["NotPrincipal"]):
            return False
    elif not _principal_is_delivery(stmt.get("Principal")):
        return False
    if "NotAction" in stmt:
        if _matches(stmt["NotAction"], action):
            return False
    elif not _matches(stmt.get("Action"), action):
        return False
    if "NotResource" in stmt:
        return not _matches(stmt["NotResource"], resource)
    return _matches(stmt.get("Resource", "*"), resource)


def policy_allows_delivery(policy_text: str | bytes | None, action: str, resource: str) -> bool:
    """Does a resource policy allow `delivery.logs.amazonaws.com` to do `action` on `resource`?

    Explicit unconditional denies win; Allow conditions (aws:SourceAccount/SourceArn) are taken as met,
    since the sandbox's delivery always acts for the owning account. Conditional denies are ignored.
    """
    if not policy_text:
        return False
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return False
    statements = [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]
    applicable = [s for s in statements if _statement_applies(s, action, resource)]
    if any(s.get("Effect") == "Deny" and not s.get("Condition") for s in applicable):
        return False
    return any(s.get("Effect") == "Allow" for s in applicable)


def add_log_delivery_policy(
    bucket: Any, base: str, account_id: str, region: str, *, hive: bool = False
) -> None:
    """What AWS does when the owner of `bucket` creates a log delivery to it: add (or extend) the
    AWSLogDeliveryWrite and AWSLogDeliveryAclCheck statements of the bucket policy. `base` is what
    precedes `AWSLogs/` in the delivered keys (see aws.logs.keys)."""
    partition = partition_of(region)
    account_folder = f"aws-account-id={account_id}" if hive else account_id
    object_arn = f"arn:{partition}:s3:::{bucket.name}/{base}AWSLogs/{account_folder}/*"
    bucket_arn = f"arn:{partition}:s3:::{bucket.name}"
    source_arn = f"arn:{partition}:logs:{region}:{account_id}:*"
    probe = f"arn:{partition}:s3:::{bucket.name}/{base}AWSLogs/{account_folder}/probe.log.gz"
    if policy_allows_delivery(bucket.policy, "s3:PutObject", probe) and policy_allows_delivery(
        bucket.policy, "s3:GetBucketAcl", bucket_arn
    ):
        return  # the policy already lets log delivery write there: AWS leaves it alone
    try:
        policy = json.loads(bucket.policy.decode()) if bucket.policy else {}
    except ValueError:
        return  # not ours to repair; AWS would fail to merge too
    statements: list[dict[str, Any]] = policy.setdefault("Statement", [])
    policy.setdefault("Version", "2012-10-17")
    by_sid = {s.get("Sid"): s for s in statements if isinstance(s, dict)}

    def condition() -> dict[str, Any]:
        return {"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}}

    def merge(sid: str, action: Any, resource: str) -> None:
        stmt = by_sid.get(sid)
        if stmt is None:
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": DELIVERY_SERVICE},
                    "Action": action,
                    "Resource": resource,
                    "Condition": condition(),
                }
            )
            return
        resources = stmt.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else list(resources)
        if resource not in resources:
            resources.append(resource)
        stmt["Resource"] = resources[0] if len(resources) == 1 else resources
        arn_like = stmt.setdefault("Condition", {}).setdefault("ArnLike", {})
        sources = arn_like.get("aws:SourceArn", [])
        sources = [sources] if isinstance(sources, str) else list(sources)
        if source_arn not in sources:
            sources.append(source_arn)
        arn_like["aws:SourceArn"] = sources[0] if len(sources) == 1 else sources

    merge("AWSLogDeliveryWrite", "s3:PutObject", object_arn)
    merge("AWSLogDeliveryAclCheck", ["s3:GetBucketAcl", "s3:ListBucket"], bucket_arn)
    bucket.policy = json.dumps(policy).encode()


def _s3_backend(account_id: str) -> Any:
    return s3_models.s3_backends[account_id]["aws"]


# -- ec2 flow logs ---------------------------------------------------------------------------------------


def _create_flow_logs(
    self: Any,
    resource_type: str,
    resource_ids: list[str],
    traffic_type: str | None,
    deliver_logs_permission_arn: str | None,
    log_destination_type: str | None,
    log_destination: str | None,
    log_group_name: str | None,
    log_format: str | None,
    max_aggregation_interval: int | None,
    destination_options: dict[str, Any] | None = None,
) -> tuple[list[Any], list[Any]]:
    """moto's create_flow_logs with AWS's rules (replaces FlowLogsBackend.create_flow_logs)."""
    tgw = resource_type in TRANSIT_GATEWAY_TYPES
    if tgw:
        if traffic_type:
            raise InvalidParameter("TrafficType is not supported for transit gateway resource types.")
        if max_aggregation_interval is None:
            max_aggregation_interval = 60
        elif max_aggregation_interval != 60:
            raise InvalidParameter("MaxAggregationInterval must be 60 for transit gateway resource types.")
    elif not traffic_type:
        raise MissingParameter("The request must contain the parameter TrafficType")
    if max_aggregation_interval is None:
        max_aggregation_interval = 600
    if max_aggregation_interval not in (60, 600):
        raise InvalidAggregationIntervalParameterError("Flow Log Max Aggregation Interval")
    log_destination_type = log_destination_type or "cloud-watch-logs"
    log_format = log_format or DEFAULT_FORMAT

    if log_group_name is None and log_destination is None:
        raise InvalidDependantParameterError("LogDestination", "LogGroupName", "not provided")
    bucket_name = prefix = ""
    if log_destination_type == "s3":
        if log_group_name is not None:
            raise InvalidDependantParameterTypeError("LogDestination", "cloud-watch-logs", "LogGroupName")
        if not log_destination or not log_destination.startswith("arn:aws:s3:::"):
            raise InvalidParameter(f"LogDestination: {log_destination} is not a valid S3 bucket ARN.")
        bucket_name, prefix = split_s3_arn(log_destination)
        if prefix and _prefix_is_awslogs(prefix):
            raise InvalidParameter("LogDestination: the prefix (subfolder) may not be AWSLogs.")
        options = {"FileFormat": "plain-text", "HiveCompatiblePartitions": False, "PerHourPartition": False}
        for key, value in (destination_options or {}).items():
            if key not in options:
                raise InvalidParameter(f"DestinationOptions: unknown option {key}.")
            options[key] = value
        if options["FileFormat"] not in FILE_FORMATS:
            raise InvalidParameter(f"DestinationOptions.FileFormat: {options['FileFormat']} is not valid.")
    elif log_destination_type == "cloud-watch-logs":
        if deliver_logs_permission_arn is None:
            raise InvalidDependantParameterError(
                "DeliverLogsPermissionArn", "LogDestinationType", "cloud-watch-logs"
            )
        if destination_options:
            raise InvalidParameter("DestinationOptions are only supported for the s3 destination type.")
        options = None
    else:
        options = None

    flow_log_cls: Any = ec2_flow_logs.FlowLogs  # moto's class is abstract to mypy
    created: list[Any] = []
    unsuccessful: list[Any] = []
    for resource_id in resource_ids:
        status, message = "SUCCESS", None
        if resource_type == "VPC":
            self.get_vpc(resource_id)
        elif resource_type == "Subnet":
            self.get_subnet(resource_id)
        elif resource_type == "NetworkInterface":
            self.get_network_interface(resource_id)
        if log_destination_type == "s3":
            from moto.s3.exceptions import MissingBucket

            try:
                bucket = _s3_backend(self.account_id).get_bucket(bucket_name)
            except MissingBucket:
                unsuccessful.append((resource_id, "400", f"LogDestination: {bucket_name} does not exist."))
                continue
            refusal = strict_org.cross_account_refusal(bucket, prefix, self.account_id, self.region_name)
            if refusal:  # another account's bucket whose policy does not admit this account: AWS refuses
                unsuccessful.append((resource_id, "400", refusal))
                continue
            if bucket.account_id == self.account_id:
                add_log_delivery_policy(
                    bucket,
                    prefix,
                    self.account_id,
                    self.region_name,
                    hive=bool(options and options["HiveCompatiblePartitions"]),
                )
        elif log_destination_type == "cloud-watch-logs":
            from moto.logs.exceptions import ResourceNotFoundException
            from moto.logs.models import logs_backends

            try:
                logs_backends[self.account_id][self.region_name].list_tags_log_group(log_group_name or "")
            except ResourceNotFoundException:
                status, message = "FAILED", "Access error"
        if any(
            (fl.resource_id, fl.log_group_name, fl.log_destination)
            == (resource_id, log_group_name, log_destination)
            for fl in self.flow_logs.values()
        ):
            raise FlowLogAlreadyExists()
        flow_log = flow_log_cls(
            self,
            random_flow_log_id(),
            resource_id,
            traffic_type,
            log_destination,
            log_group_name,
            deliver_logs_permission_arn,
            max_aggregation_interval,
            log_destination_type,
            log_format,
            status,
            message,
        )
        flow_log.destination_options = copy.deepcopy(options)
        self.flow_logs[flow_log.id] = flow_log
        created.append(flow_log)
    return created, unsuccessful


def _create_flow_logs_response(self: Any) -> ActionResult:
    resource_ids = self._get_param("ResourceIds", [])
    validate_resource_ids(resource_ids)
    tags = self._parse_tag_specification().get("vpc-flow-log", {})
    self.error_on_dryrun()
    flow_logs, errors = self.ec2_backend.create_flow_logs(
        resource_type=self._get_param("ResourceType"),
        resource_ids=resource_ids,
        traffic_type=self._get_param("TrafficType"),
        deliver_logs_permission_arn=self._get_param("DeliverLogsPermissionArn"),
        log_destination_type=self._get_param("LogDestinationType"),
        log_destination=self._get_param("LogDestination"),
        log_group_name=self._get_param("LogGroupName"),
        log_format=self._get_param("LogFormat"),
        max_aggregation_interval=self._get_int_param("MaxAggregationInterval"),
        destination_options=self._get_param("DestinationOptions"),
    )
    for fl in flow_logs:
        fl.add_tags(tags)
    unsuccessful = [{"ResourceId": rid, "Error": {"Code": code, "Message": msg}} for rid, code, msg in errors]
    return ActionResult({"FlowLogIds": [fl.id for fl in flow_logs], "Unsuccessful": unsuccessful})


def _fix_flow_logs() -> None:
    ec2_flow_logs.FlowLogsBackend.create_flow_logs = _create_flow_logs  # type: ignore[method-assign]
    ec2_flow_log_responses.FlowLogs.create_flow_logs = _create_flow_logs_response  # type: ignore[method-assign]
    ec2_flow_logs.FlowLogs.destination_options = None  # type: ignore[attr-defined]
    original = ec2_flow_logs.FlowLogs.get_filter_value

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "deliver-log-status":
            return self.deliver_logs_status
        return original(self, filter_name, method_name)

    ec2_flow_logs.FlowLogs.get_filter_value = get_filter_value  # type: ignore[method-assign]


# -- network firewall --------------------------------------------------------------------------------------


def _validate_destination_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise NfwInvalidRequest("LogDestinationConfig must be an object")
    log_type = config.get("LogType")
    dest_type = config.get("LogDestinationType")
    destination = config.get("LogDestination")
    if log_type not in NFW_LOG_TYPES:
        raise NfwInvalidRequest(f"Invalid LogType: {log_type}")
    if dest_type not in NFW_DESTINATION_KEYS:
        raise NfwInvalidRequest(f"Invalid LogDestinationType: {dest_type}")
    key = NFW_DESTINATION_KEYS[dest_type]
    if not isinstance(destination, dict) or not destination.get(key):
        raise NfwInvalidRequest(f"LogDestination for {dest_type} must contain {key}")


def check_logging_update(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Raise AWS's InvalidRequestException unless `new` differs from `old` by at most one change."""
    for config in new:
        _validate_destination_config(config)
    new_by_type = {c["LogType"]: c for c in new}
    if len(new_by_type) != len(new):
        raise NfwInvalidRequest("Only one log destination config is allowed per LogType")
    old_by_type = {c.get("LogType"): c for c in old}
    added = new_by_type.keys() - old_by_type.keys()
    removed = old_by_type.keys() - new_by_type.keys()
    changed = [t for t in new_by_type.keys() & old_by_type.keys() if new_by_type[t] != old_by_type[t]]
    if len(added) + len(removed) + len(changed) > 1:
        raise NfwInvalidRequest(NFW_MULTIPLE_CHANGES)
    for log_type in changed:
        if new_by_type[log_type].get("LogDestinationType") != old_by_type[log_type].get("LogDestinationType"):
            raise NfwInvalidRequest(
                "The LogDestinationType of an existing log destination config can't be changed; remove the "
                "config and add a new one in two separate calls"
            )


def _update_logging_configuration(
    self: Any,
    firewall_arn: str,
    firewall_name: str,
    logging_configuration: dict[str, list[dict[str, Any]]] | None,
) -> Any:
    firewall = self._get_firewall(firewall_arn, firewall_name)
    new = list((logging_configuration or {}).get("LogDestinationConfigs") or [])
    old = list((firewall.logging_configs or {}).get("LogDestinationConfigs") or [])
    check_logging_update(old, new)
    for config in new:
        if config["LogDestinationType"] == "S3" and config not in old:
            from moto.s3.exceptions import MissingBucket

            dest = config["LogDestination"]
            try:
                bucket = _s3_backend(self.account_id).get_bucket(dest["bucketName"])
            except MissingBucket as err:
                raise JsonRESTError(
                    "LogDestinationPermissionException",
                    f"Unable to deliver logs to bucket {dest['bucketName']}: it does not exist",
                ) from err
            refusal = strict_org.cross_account_refusal(
                bucket, firewall_base(dest.get("prefix") or ""), self.account_id, self.region_name
            )
            if refusal:
                raise JsonRESTError("LogDestinationPermissionException", refusal)
            if bucket.account_id == self.account_id:
                add_log_delivery_policy(
                    bucket, firewall_base(dest.get("prefix") or ""), self.account_id, self.region_name
                )
    firewall.logging_configs = {"LogDestinationConfigs": copy.deepcopy(new)}
    return firewall


def _fix_network_firewall() -> None:
    nfw_models.NetworkFirewallBackend.update_logging_configuration = _update_logging_configuration  # type: ignore[method-assign]


# -- s3 bucket names ---------------------------------------------------------------------------------------

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_error(name: str) -> str | None:
    """Why AWS would refuse `name` as a general purpose bucket name (None if it is valid)."""
    if not 3 <= len(name) <= 63:
        return "must be 3-63 characters long"
    if not _BUCKET_CHARS.match(name):
        return "may only contain lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
    if ".." in name:
        return "may not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "may not be formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_BAD_PREFIXES):
        return "may not start with a reserved prefix"
    if name.endswith(_BAD_SUFFIXES):
        return "may not end with a reserved suffix"
    return None


def _fix_bucket_names() -> None:
    original = s3_models.S3Backend.create_bucket

    def create_bucket(self: Any, bucket_name: str, region_name: str, *args: Any, **kwargs: Any) -> Any:
        if bucket_name_error(bucket_name):
            raise InvalidBucketName()
        return original(self, bucket_name, region_name, *args, **kwargs)

    s3_models.S3Backend.create_bucket = create_bucket  # type: ignore[method-assign]


# -- regions -----------------------------------------------------------------------------------------------


def _describe_regions_response(self: Any) -> ActionResult:
    self.error_on_dryrun()
    region_names = self._get_param("RegionNames", [])
    all_regions = bool(self._get_bool_param("AllRegions", False))
    partition = _partition(self.region)
    regions = [r for r in self.ec2_backend.describe_regions(region_names) if _partition(r.name) == partition]
    if not all_regions and not region_names:
        regions = [r for r in regions if r.opt_in_status != "not-opted-in"]
    return ActionResult({"Regions": regions})


def _partition(region: str) -> str:
    return partition_of(region)


def _fix_regions() -> None:
    for region in RegionsAndZonesBackend.regions:
        if region.name in OPT_IN_REGIONS:
            region.opt_in_status = "not-opted-in"
    ec2_region_responses.AvailabilityZonesAndRegions.describe_regions = _describe_regions_response  # type: ignore[method-assign]
