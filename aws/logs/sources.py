"""The sources a watch follows: which log files a flow log or firewall log type delivers, and where.

A `LogSource` is one stream of log files into a bucket: one flow log, or one log type of one firewall.
It knows its own S3 layout (`aws.logs.keys`): the partition folders and the narrowest listing prefixes
for a time range (`listings`, `(Prefix, StartAfter)` pairs) and whether a parsed key is one of its files
(`matches`; `source_for_key` for a list of sources).

`sources_from_account` finds them: every flow log (DescribeFlowLogs) and firewall log type
(ListFirewalls + DescribeLoggingConfiguration) delivering to the buckets (or bucket/prefix locations)
given, per enabled region, in parallel. It only reads.

The buckets to watch are checked first: `parse_locations` refuses a name no bucket can have
(`InvalidBucketName`, before any AWS call), `bucket_problems` asks S3 whether each bucket is there
(HeadBucket: 404 is `NoSuchBucket`, 403 `BucketNotAccessible`: another account's bucket, or one whose
policy denies this identity).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, field_validator

from aws.coverage import ReadSet
from aws.errors import AccessDeniedError, FlowlogsError, ValidationFailed, error_code, explain
from aws.logs import keys
from aws.logs.format import parse_log_format
from aws.names import existing_bucket_name_problem, log_folder, parse_s3_arn
from aws.permissions import declare
from aws.regions import validate_regions
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=[
        "s3:HeadBucket",
        "ec2:DescribeRegions",
        "ec2:DescribeFlowLogs",
        "network-firewall:ListFirewalls",
        "network-firewall:DescribeLoggingConfiguration",
    ],
)


class LogSource(BaseModel):
    """One stream of log files into a bucket: a flow log, or one log type of one firewall."""

    kind: Literal["flowlog", "firewall"]
    account: str
    region: str
    bucket: str
    prefix: str = Field(default="", description="Destination prefix as configured ('' = none)")
    bucket_region: str = Field(default="", description="Region of the bucket; '' = look it up")
    created: datetime | None = Field(default=None, description="Creation time (UTC); None = unknown")
    # flow logs
    flow_log_id: str = ""
    resource_id: str = ""
    hive: bool = False
    per_hour: bool = False
    file_format: str = "plain-text"
    log_format: list[str] = Field(default_factory=list, description="Field names, in LogFormat order")
    deliver_status: str = Field(default="", description="DeliverLogsStatus: SUCCESS | FAILED")
    deliver_error: str = Field(default="", description="DeliverLogsErrorMessage")
    # firewalls
    firewall_name: str = ""
    log_type: Literal["", "flow", "alert", "tls"] = ""

    @field_validator("created")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return keys.utc(value) if value is not None else None

    @property
    def id(self) -> str:
        """Unique within a watch: flow log id, or firewall/type@region."""
        if self.kind == "flowlog":
            return self.flow_log_id
        return f"{self.firewall_name}/{self.log_type}@{self.region}"

    @property
    def key(self) -> str:
        """Unique across accounts too (two members may name their firewalls alike): account/id."""
        return f"{self.account}/{self.id}"

    @property
    def label(self) -> str:
        if self.kind == "flowlog":
            return f"{self.flow_log_id} ({self.resource_id})" if self.resource_id else self.flow_log_id
        return f"{self.firewall_name} {self.log_type}"

    @property
    def hourly(self) -> bool:
        return self.kind == "firewall" or self.per_hour

    def partition_prefix(self, t: datetime) -> str:
        if self.kind == "flowlog":
            return keys.flowlog_partition(
                self.account, self.region, t, prefix=self.prefix, hive=self.hive, per_hour=self.per_hour
            )
        return keys.firewall_partition(
            self.account, self.region, self.firewall_name, self.log_type, t, prefix=self.prefix
        )

    def file_prefix(self, t: datetime) -> str:
        """The narrowest listing prefix for this source's files in the partition holding `t`."""
        if self.kind == "flowlog":
            return keys.flowlog_file_prefix(
                self.account,
                self.region,
                self.flow_log_id,
                t,
                prefix=self.prefix,
                hive=self.hive,
                per_hour=self.per_hour,
            )
        return keys.firewall_file_prefix(
            self.account, self.region, self.firewall_name, self.log_type, t, prefix=self.prefix
        )

    def listings(self, lower: datetime, upper: datetime) -> list[tuple[str, str]]:
        """(Prefix, StartAfter) pairs that list every file of this source named in [lower, upper].

        Flow logs: one listing per date partition, narrowed to this flow log's file names (a day or
        hour folder holds every flow log of the account and region). Firewalls: the day folder below
        the firewall's own folder holds only this source's files, so one listing per day covers its
        hour folders, starting after the cursor's hour and minute."""
        out: list[tuple[str, str]] = []
        cursor = self.file_prefix(lower) + self.time_token(lower)
        if self.kind == "flowlog":
            for part in keys.partition_starts(lower, upper, self.hourly):
                prefix = self.file_prefix(part)
                out.append((prefix, cursor if cursor.startswith(prefix) else ""))
            return out
        for day in keys.partition_starts(lower, upper, hourly=False):
            prefix = self.partition_prefix(day).rsplit("/", 2)[0] + "/"  # .../{yyyy}/{MM}/{dd}/
            out.append((prefix, cursor if cursor.startswith(prefix) else ""))
        return out

    def time_token(self, t: datetime) -> str:
        """The file-name time used for StartAfter cursors (the form that sorts first)."""
        return keys.time_token(t) if self.kind == "flowlog" else keys.compact_time_token(t)

    def matches(self, info: keys.KeyInfo) -> bool:
        if info.kind != self.kind or info.account != self.account or info.region != self.region:
            return False
        if self.kind == "flowlog":
            return (
                info.flow_log_id == self.flow_log_id
                and info.base == keys.flowlog_base(self.prefix)
                and info.hive == self.hive
                and info.per_hour == self.per_hour
            )
        return (
            info.firewall_name == self.firewall_name
            and info.log_type == self.log_type
            and info.base == keys.firewall_base(self.prefix)
        )


def source_for_key(sources: Iterable[LogSource], key: str) -> tuple[LogSource, datetime] | None:
    """The source a key belongs to and the time in its file name, or None."""
    info = keys.parse_key(key)
    if info is None:
        return None
    for source in sources:
        if source.matches(info):
            return source, info.time
    return None


# -- the buckets to watch ----------------------------------------------------------------------------


class InvalidBucketName(ValidationFailed):
    """A name no bucket can have (`aws.names.existing_bucket_name_problem`): refused before any AWS call."""

    def __init__(self, bucket: str, problem: str) -> None:
        super().__init__(problem)
        self.bucket = bucket


class NoSuchBucket(ValidationFailed):
    """No bucket has this name (HeadBucket: 404)."""

    def __init__(self, bucket: str) -> None:
        super().__init__(
            f"The bucket {bucket!r} does not exist (S3 HeadBucket: 404 Not Found).",
            hint="Check the name: `flowlogs scan` shows the buckets each flow log and firewall writes to.",
        )
        self.bucket = bucket


class BucketNotAccessible(AccessDeniedError):
    """The bucket exists, but belongs to another account or its policy denies this identity (HeadBucket:
    403)."""

    def __init__(self, bucket: str) -> None:
        super().__init__(
            f"The bucket {bucket!r} belongs to another account or denies access to this identity "
            "(S3 HeadBucket: 403 Forbidden).",
            action="s3:ListBucket",
            hint="If it is this account's bucket, grant s3:ListBucket on it; another account's bucket can "
            "be watched only when its bucket policy lets this identity list it.",
        )
        self.bucket = bucket


_MISSING = ("404", "NoSuchBucket", "NotFound")
_FORBIDDEN = ("403", "AccessDenied", "Forbidden")


def parse_locations(buckets: Iterable[str]) -> ReadSet:
    """The locations to watch, each `bucket` or `bucket/prefix/` (no AWS call). Raises `InvalidBucketName`
    for a name no bucket can have (ValidationFailed naming each one when several are)."""
    texts = list(buckets)
    wanted = ReadSet.parse(texts)
    refused = [
        InvalidBucketName(name, problem)
        for name in wanted.buckets
        if (problem := existing_bucket_name_problem(name)) is not None
    ]
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise ValidationFailed("\n".join(err.message for err in refused))
    return wanted


def bucket_problems(session: AwsSession, buckets: Iterable[str]) -> dict[str, FlowlogsError]:
    """Each bucket (of `bucket` / `bucket/prefix/` locations) that cannot be watched, and why: a name no
    bucket can have (`InvalidBucketName`, not sent), no such bucket (`NoSuchBucket`: HeadBucket 404),
    another account's bucket or one that denies this identity (`BucketNotAccessible`: 403). Buckets that
    are there and may be listed are left out. Any other failure of HeadBucket is raised, explained."""
    out: dict[str, FlowlogsError] = {}
    names = list(dict.fromkeys(ReadSet.parse(buckets).buckets))
    s3 = None
    for name in names:
        problem = existing_bucket_name_problem(name)
        if problem is not None:
            out[name] = InvalidBucketName(name, problem)
            continue
        s3 = s3 or session.client("s3")
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as err:
            code = error_code(err)
            if code in _MISSING:
                out[name] = NoSuchBucket(name)
            elif code in _FORBIDDEN:
                out[name] = BucketNotAccessible(name)
            else:
                raise explain(err, service="s3") from err
        except BotoCoreError as err:
            raise explain(err, service="s3") from err
    return out


# -- sources from AWS --------------------------------------------------------------------------------


def _enabled_regions(session: AwsSession, wanted: list[str] | None = None) -> list[str]:
    """The account's enabled regions; with `wanted`, those names, each checked to be a region of the
    account that it has enabled (`UnknownRegion` / `RegionNotEnabled`, usage errors, otherwise)."""
    try:
        regions = session.client("ec2").describe_regions(AllRegions=True)["Regions"]
    except (ClientError, BotoCoreError) as err:
        if wanted:  # the list only checks the names given: check them by name alone and go on
            return validate_regions(wanted, what="--regions")
        raise explain(err, service="ec2") from err
    listed = sorted(r["RegionName"] for r in regions)
    enabled = sorted(
        r["RegionName"] for r in regions if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
    )
    if wanted:
        return validate_regions(
            wanted, partition=session.partition, available=listed, enabled=enabled, what="--regions"
        )
    return enabled


def _flowlog_sources(session: AwsSession, account: str, region: str, buckets: ReadSet) -> list[LogSource]:
    ec2 = session.client("ec2", region)
    out = []
    pages = ec2.get_paginator("describe_flow_logs").paginate(
        Filters=[{"Name": "log-destination-type", "Values": ["s3"]}]
    )
    for page in pages:
        for fl in page.get("FlowLogs", []):
            where = parse_s3_arn(fl.get("LogDestination", "") or "")
            if where is None or buckets.find(*where) is None:
                continue
            opts = fl.get("DestinationOptions") or {}
            out.append(
                LogSource(
                    kind="flowlog",
                    account=account,
                    region=region,
                    bucket=where[0],
                    prefix=log_folder(where[1]),
                    created=fl.get("CreationTime"),
                    flow_log_id=fl["FlowLogId"],
                    resource_id=fl.get("ResourceId", ""),
                    hive=bool(opts.get("HiveCompatiblePartitions", False)),
                    per_hour=bool(opts.get("PerHourPartition", False)),
                    file_format=opts.get("FileFormat", "plain-text") or "plain-text",
                    log_format=parse_log_format(fl.get("LogFormat")),
                    deliver_status=fl.get("DeliverLogsStatus", "") or "",
                    deliver_error=fl.get("DeliverLogsErrorMessage", "") or "",
                )
            )
    return out


def _firewall_sources(session: AwsSession, account: str, region: str, buckets: ReadSet) -> list[LogSource]:
    nfw = session.client("network-firewall", region)
    out = []
    for page in nfw.get_paginator("list_firewalls").paginate():
        for fw in page.get("Firewalls", []):
            conf = nfw.describe_logging_configuration(FirewallArn=fw["FirewallArn"])
            for dest in (conf.get("LoggingConfiguration") or {}).get("LogDestinationConfigs", []):
                if dest.get("LogDestinationType") != "S3":
                    continue
                where = dest.get("LogDestination") or {}
                if buckets.find(where.get("bucketName"), where.get("prefix", "") or "") is None:
                    continue
                out.append(
                    LogSource(
                        kind="firewall",
                        account=account,
                        region=region,
                        bucket=where["bucketName"],
                        prefix=where.get("prefix", "") or "",
                        firewall_name=fw["FirewallName"],
                        log_type=dest["LogType"].lower(),
                    )
                )
    return out


def sources_from_account(
    session: AwsSession,
    buckets: list[str],
    regions: list[str] | None = None,
    *,
    warnings: list[str] | None = None,
) -> list[LogSource]:
    """Every flow log (DescribeFlowLogs) and firewall log type (ListFirewalls +
    DescribeLoggingConfiguration) delivering to one of `buckets`, in `regions` (None: every enabled
    region). A bucket may be given as `bucket/prefix/` (a location of Kentik's read set): then only
    sources writing at or below that prefix count. Regions that cannot be read are skipped with a line in `warnings`; if flow logs cannot be
    read in any region, the access error is raised. A named region that is not one of the account's
    enabled regions raises `UnknownRegion` / `RegionNotEnabled` (usage errors)."""
    if not buckets:
        raise ValidationFailed("Name at least one bucket to verify.")
    wanted = parse_locations(buckets)  # before the first AWS call
    account = session.identity().account
    regions = _enabled_regions(session, regions)
    notes = warnings if warnings is not None else []
    found: list[LogSource] = []
    denied: list[FlowlogsError] = []

    def scan(region: str) -> tuple[list[LogSource], list[str], FlowlogsError | None]:
        got: list[LogSource] = []
        msgs: list[str] = []
        err_out: FlowlogsError | None = None
        try:
            got += _flowlog_sources(session, account, region, wanted)
        except (ClientError, BotoCoreError) as err:
            err_out = explain(err, service="ec2")
            msgs.append(f"{region}: flow logs not read: {err_out.message}")
        try:
            got += _firewall_sources(session, account, region, wanted)
        except (ClientError, BotoCoreError) as err:
            msgs.append(f"{region}: firewalls not read: {explain(err, service='network-firewall').message}")
        return got, msgs, err_out

    with ThreadPoolExecutor(max_workers=min(12, max(1, len(regions)))) as pool:
        for got, msgs, err in pool.map(scan, regions):
            found += got
            notes += msgs
            if err is not None:
                denied.append(err)
    if regions and len(denied) == len(regions) and not found:
        raise denied[0]
    found.sort(key=lambda s: (s.bucket, s.kind, s.region, s.id))
    return found
