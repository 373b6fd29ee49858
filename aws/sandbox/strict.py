"""A strict sandbox: AWS rules moto (5.2.x) does not enforce, on top of `moto_fixes` (issue #10, section 4).

`apply_strict_fixes()` is called by `apply_moto_fixes()` (after its flow log fixes, which it wraps); it is
idempotent. What it changes (see ../shared/aws-facts.md):

* Ownership. A participant in a shared VPC (RAM) sees the owner's VPC and subnets with the owner's
  `OwnerId` but cannot create flow logs for them; a transit gateway owned by another account likewise
  (and its attachments). moto has no sharing and lets anyone create anything. `share_vpc()` /
  `share_transit_gateway()` make a resource of the caller's backend appear owned by another account
  (DescribeVpcs/DescribeSubnets/DescribeTransitGateways return that `OwnerId`, the `owner-id` filter
  sees it), and CreateFlowLogs returns such resources in `Unsuccessful[]` with `UNAUTHORIZED`.
  https://docs.aws.amazon.com/vpc/latest/userguide/vpc-share-limitations.html
  https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html
* Eventual consistency. DescribeFlowLogs omits flow logs younger than the lag (default 0: off), while
  CreateFlowLogs still refuses a duplicate (FlowLogAlreadyExists) and DeleteFlowLogs still finds it.
  Switch it on with `set_describe_lag(seconds)` / `describe_lag(seconds)` (a context manager; both
  take an injectable `clock`, e.g. `ManualClock`) or the environment variable
  `FLOWLOGS_SANDBOX_FLOWLOG_LAG` (seconds, read on every call; used when no lag was set in code).
  https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
* Transit gateway field set. CreateFlowLogs for `TransitGateway`/`TransitGatewayAttachment` refuses a
  LogFormat with fields outside `aws.logs.tgw_format.TGW_FIELDS` (`InvalidParameter`, naming them), and an
  omitted LogFormat means every transit gateway field (moto_fixes stored the VPC default format).
  https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html#flow-log-records

* Tags. CreateFlowLogs' `TagSpecifications` must name the `vpc-flow-log` resource type and follow EC2's
  tag rules, checked before anything is created: keys 1-128 characters, unique, not starting `aws:`
  (reserved), values up to 256 characters (`InvalidParameterValue`), at most 50 tags (`TagLimitExceeded`).
  moto drops a tag specification of another type, accepts `aws:` keys and any length, and creates the
  flow log before refusing a 51st tag. S3 PutBucketTagging: at most 50 tags per bucket (`BadRequest`),
  keys 1-128 and values up to 256 characters (`InvalidTag`); moto takes any number and length (it does
  refuse duplicate keys and `aws:` keys itself). Error codes: EC2's from AWS's messages as reported
  publicly; S3's count error as S3-compatible servers model it (unverified).
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/CostAllocTagging.html

* STS (aws/sandbox/strict_sts.py): AssumeRole needs an existing role whose trust policy allows the
  caller (ExternalId conditions, explicit Deny), DurationSeconds 900..43200, credentials that expire
  on a sandbox clock (`set_sts_clock()`), and simulated SCPs (`deny_by_scp()` / `clear_scps()`).

* IAM (aws/sandbox/strict_iam.py): role and policy name rules, trust policies that are not JSON, too
  large or name a role or user that does not exist (Kentik's principal counts as existing), managed and
  inline policy size limits.

(Explicit Deny in bucket and key policies is enforced by the delivery simulator through
`aws.iam.deny`: see `aws.sandbox.delivery.delivery_refusal`.)
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models import flow_logs as ec2_flow_logs
from moto.ec2.models.subnets import Subnet
from moto.ec2.models.transit_gateway import TransitGateway
from moto.ec2.models.vpcs import VPC
from moto.ec2.responses import flow_logs as ec2_flow_log_responses

from aws.logs.format import parse_log_format
from aws.logs.tgw_format import invalid_tgw_fields, tgw_log_format
from aws.sandbox.strict_iam import apply_iam_fixes
from aws.sandbox.strict_org import apply_org_fixes
from aws.sandbox.strict_organizations import apply_organizations_fixes
from aws.sandbox.strict_sts import apply_sts_fixes

LAG_ENV = "FLOWLOGS_SANDBOX_FLOWLOG_LAG"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
TRANSIT_GATEWAY_TYPES = ("TransitGateway", "TransitGatewayAttachment")
# The error a resource the caller does not own gets in CreateFlowLogs' Unsuccessful[]. AWS's exact code
# for this case is not documented; EC2 uses this one for "not allowed to act on that resource".
UNAUTHORIZED = "UnauthorizedOperation"

_OWNER_ATTR = "_strict_owner_id"  # set on moto's VPC / Subnet / TransitGateway instances
_CREATED_ATTR = "_strict_created_at"  # set on moto's FlowLogs instances: `_clock()` at creation

_lock = threading.Lock()
_applied = False
_lag: float | None = None  # None: use the environment variable (or 0)
_clock: Callable[[], float] = time.monotonic


class InvalidParameter(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameter", message)


class ManualClock:
    """A clock that moves only when told to: `clock.advance(seconds)`. For tests of the lag."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def apply_strict_fixes() -> None:
    """Patch moto's classes once per process (later calls do nothing). Call after moto_fixes' flow log fix."""
    global _applied
    with _lock:
        if _applied:
            return
        _fix_owner_ids()
        _fix_create_flow_logs()
        _fix_describe_flow_logs()
        _fix_flow_log_tags()
        _fix_bucket_tagging()
        _fix_cross_account_head_bucket()
        apply_organizations_fixes()
        apply_sts_fixes()
        apply_org_fixes()  # logs into another account's bucket; the 20 KB bucket policy cap
        apply_iam_fixes()  # CreateRole / CreatePolicy: names, trust documents, principals, sizes
        _applied = True


# -- eventual consistency ------------------------------------------------------------------------------


def set_describe_lag(seconds: float | None, *, clock: Callable[[], float] | None = None) -> None:
    """DescribeFlowLogs hides flow logs for `seconds` after CreateFlowLogs (None: back to the
    environment variable). `clock` (seconds, monotonic) replaces `time.monotonic` until reset with
    `clock=None` and `seconds=None`."""
    global _lag, _clock
    if seconds is not None and seconds < 0:
        raise ValueError("the DescribeFlowLogs lag can't be negative")
    _lag = seconds
    if clock is not None:
        _clock = clock
    elif seconds is None:
        _clock = time.monotonic


def current_lag() -> float:
    """The lag in effect: the one set in code, else `FLOWLOGS_SANDBOX_FLOWLOG_LAG`, else 0."""
    if _lag is not None:
        return _lag
    try:
        return max(0.0, float(os.environ.get(LAG_ENV, "") or 0))
    except ValueError:
        return 0.0


@contextmanager
def describe_lag(seconds: float, *, clock: Callable[[], float] | None = None) -> Iterator[None]:
    """`with describe_lag(30, clock=ManualClock()):` the lag for the block, then the previous setting."""
    global _lag, _clock
    saved = (_lag, _clock)
    set_describe_lag(seconds, clock=clock)
    try:
        yield
    finally:
        _lag, _clock = saved


def _visible(flow_log: Any, lag: float, now: float) -> bool:
    created = flow_log.__dict__.get(_CREATED_ATTR)
    return created is None or now - created >= lag


def _describe_flow_logs_response(self: Any) -> ActionResult:
    flow_log_ids = self._get_param("FlowLogIds", [])
    filters = self._filters_from_querystring()
    flow_logs = self.ec2_backend.describe_flow_logs(flow_log_ids, filters)
    self.error_on_dryrun()
    lag = current_lag()
    if lag > 0:
        now = _clock()
        flow_logs = [fl for fl in flow_logs if _visible(fl, lag, now)]
    return ActionResult({"FlowLogs": flow_logs})


def _fix_describe_flow_logs() -> None:
    ec2_flow_log_responses.FlowLogs.describe_flow_logs = _describe_flow_logs_response  # type: ignore[method-assign]


# -- ownership ---------------------------------------------------------------------------------------------


def _owner_id(self: Any) -> str:
    return str(self.__dict__.get(_OWNER_ATTR) or self.ec2_backend.account_id)


def _fix_owner_ids() -> None:
    for cls in (VPC, Subnet, TransitGateway):
        cls.owner_id = property(_owner_id)  # type: ignore[assignment,method-assign]


def _backend(backend_or_region: Any, account_id: str) -> Any:
    if isinstance(backend_or_region, str):
        return ec2_backends[account_id][backend_or_region]
    return backend_or_region


def share_vpc(
    backend_or_region: Any, vpc_id: str, owner_account: str | None, *, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Make `vpc_id` and its subnets (in `account_id`'s backend, or the backend given) appear owned by
    `owner_account` and shared with the caller, as a RAM participant sees them. None: the caller's again."""
    backend = _backend(backend_or_region, account_id)
    vpc = backend.get_vpc(vpc_id)
    vpc.__dict__[_OWNER_ATTR] = owner_account
    for subnet in backend.describe_subnets(filters={"vpc-id": [vpc_id]}):
        subnet.__dict__[_OWNER_ATTR] = owner_account


def share_transit_gateway(
    backend_or_region: Any, tgw_id: str, owner_account: str | None, *, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Make transit gateway `tgw_id` appear owned by `owner_account` (None: the caller's again)."""
    backend = _backend(backend_or_region, account_id)
    tgw = backend.transit_gateways.get(tgw_id)
    if tgw is None:
        raise KeyError(f"no transit gateway {tgw_id} in account {backend.account_id} {backend.region_name}")
    tgw.__dict__[_OWNER_ATTR] = owner_account


def resource_owner(backend: Any, resource_type: str, resource_id: str) -> str | None:
    """The account owning a flow log resource (for an attachment: its transit gateway's owner); None
    when the resource does not exist (CreateFlowLogs then fails for it as before)."""
    try:
        if resource_type == "VPC":
            return str(backend.get_vpc(resource_id).owner_id)
        if resource_type == "Subnet":
            return str(backend.get_subnet(resource_id).owner_id)
        if resource_type == "NetworkInterface":
            return str(backend.get_network_interface(resource_id).owner_id)
        if resource_type == "TransitGateway":
            return str(backend.transit_gateways[resource_id].owner_id)
        if resource_type == "TransitGatewayAttachment":
            attachment = backend.transit_gateway_attachments[resource_id]
            tgw = backend.transit_gateways.get(attachment.transit_gateway_id)
            return str(tgw.owner_id if tgw is not None else attachment.owner_id)
    except Exception:
        return None
    return None


# -- CreateFlowLogs ----------------------------------------------------------------------------------------


def _not_owned_message(resource_id: str, owner: str) -> str:
    return (
        "You are not authorized to perform this operation. "
        f"{resource_id} is owned by account {owner} and shared with you; only its owner can create "
        "flow logs for it."
    )


def _check_tgw_format(resource_type: str, log_format: str | None) -> None:
    bad = invalid_tgw_fields(parse_log_format(log_format)) if log_format else []
    if bad:
        names = ", ".join(f"${{{f}}}" for f in bad)
        raise InvalidParameter(
            f"LogFormat: {names} {'is' if len(bad) == 1 else 'are'} not supported for the {resource_type} "
            "resource type; transit gateway flow logs have their own set of fields."
        )


def _fix_create_flow_logs() -> None:
    inner: Any = ec2_flow_logs.FlowLogsBackend.create_flow_logs  # moto_fixes' version

    def create_flow_logs(
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
        if resource_type in TRANSIT_GATEWAY_TYPES:
            _check_tgw_format(resource_type, log_format)
            log_format = log_format or tgw_log_format()
        owned: list[str] = []
        refused: list[tuple[str, str, str]] = []
        for rid in resource_ids:
            owner = resource_owner(self, resource_type, rid)
            if owner is not None and owner != self.account_id:
                refused.append((rid, UNAUTHORIZED, _not_owned_message(rid, owner)))
            else:
                owned.append(rid)
        created, unsuccessful = inner(
            self,
            resource_type,
            owned,
            traffic_type,
            deliver_logs_permission_arn,
            log_destination_type,
            log_destination,
            log_group_name,
            log_format,
            max_aggregation_interval,
            destination_options,
        )
        now = _clock()
        for flow_log in created:
            flow_log.__dict__[_CREATED_ATTR] = now
        return created, [*refused, *unsuccessful]

    ec2_flow_logs.FlowLogsBackend.create_flow_logs = create_flow_logs  # type: ignore[method-assign]


# -- tags --------------------------------------------------------------------------------------------------

MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


class TagLimitExceeded(EC2ClientError):
    def __init__(self) -> None:
        super().__init__("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")


def check_flow_log_tags(specs: Any) -> None:
    """Raise what EC2 answers for CreateFlowLogs TagSpecifications it refuses (nothing is created)."""
    for spec in specs or []:
        kind = spec.get("ResourceType")
        if kind != "vpc-flow-log":
            raise InvalidParameterValue(f"'{kind}' is not a valid taggable resource type for this operation.")
        tags = spec.get("Tags") or spec.get("Tag") or []
        if len(tags) > MAX_TAGS:
            raise TagLimitExceeded()
        keys = [str(t.get("Key") or "") for t in tags]
        for tag, key in zip(tags, keys, strict=True):
            if key.lower().startswith("aws:"):
                raise InvalidParameterValue(
                    f"Value ( {key} ) for parameter key is invalid. "
                    "Tag keys starting with 'aws:' are reserved for internal use"
                )
            if not 1 <= len(key) <= MAX_TAG_KEY or keys.count(key) > 1:
                raise InvalidParameterValue(f"Value ( {key[:MAX_TAG_KEY]} ) for parameter key is invalid.")
            if len(str(tag.get("Value") or "")) > MAX_TAG_VALUE:
                raise InvalidParameterValue(
                    f"Value for the tag {key} is longer than {MAX_TAG_VALUE} characters."
                )


def _fix_flow_log_tags() -> None:
    inner: Any = ec2_flow_log_responses.FlowLogs.create_flow_logs  # moto_fixes' response

    def create_flow_logs(self: Any) -> Any:
        check_flow_log_tags(
            self._get_param("TagSpecification", []) or self._get_param("TagSpecifications", [])
        )
        return inner(self)

    ec2_flow_log_responses.FlowLogs.create_flow_logs = create_flow_logs  # type: ignore[method-assign]


def check_bucket_tags(tags: dict[str, str]) -> None:
    """Raise what S3 answers for a PutBucketTagging tag set it refuses."""
    from moto.s3.exceptions import BadRequest, InvalidTagError

    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Bucket tag count cannot be greater than {MAX_TAGS}")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise InvalidTagError("The TagKey you have provided is invalid")
        if len(value or "") > MAX_TAG_VALUE:
            raise InvalidTagError("The TagValue you have provided is invalid")


def _fix_bucket_tagging() -> None:
    from moto.s3.models import S3Backend

    inner = S3Backend.put_bucket_tagging

    def put_bucket_tagging(self: Any, bucket_name: str, tags: dict[str, str]) -> None:
        check_bucket_tags(tags)
        inner(self, bucket_name, tags)

    S3Backend.put_bucket_tagging = put_bucket_tagging  # type: ignore[method-assign]


# -- HeadBucket of another account's bucket ------------------------------------------------------------
# AWS answers 403 to HeadBucket of a bucket another account owns unless its bucket policy lets the caller
# list it (HeadBucket needs s3:ListBucket); moto 5.2.5 answers 200 (it shares buckets across accounts).


def cross_account_listing_allowed(policy: str | bytes | None, caller: str) -> bool:
    """Whether a bucket policy has an Allow for s3:ListBucket naming the caller's account (or anyone)."""
    if not policy:
        return False
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        principal = st.get("Principal", {})
        named = json.dumps(principal)
        if any(fnmatch.fnmatchcase("s3:ListBucket", a) for a in actions if isinstance(a, str)) and (
            principal == "*" or caller in named or '"*"' in named
        ):
            return True
    return False


def _fix_cross_account_head_bucket() -> None:
    from moto.s3.exceptions import MissingBucket
    from moto.s3.responses import S3Response

    original = S3Response.head_bucket

    def head_bucket(self: Any) -> Any:
        try:
            bucket = self.backend.get_bucket(self.bucket_name)
        except MissingBucket:
            return original(self)
        caller = self.current_account
        if bucket.account_id != caller and not cross_account_listing_allowed(bucket.policy, caller):
            return 403, {}, ""
        return original(self)

    S3Response.head_bucket = head_bucket  # type: ignore[method-assign]
