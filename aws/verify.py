"""Verification: are flow logs and firewall logs arriving in the bucket, readable, and complete?

A `Source` is one stream of files (a flow log, or one log type of one firewall) into a bucket. A
`Watcher` polls S3 for each source's new files and keeps a `SourceStatus` per source: waiting,
receiving, stale or failed, with a next step, the newest file and a content check of it.

Cost per poll does not grow with the bucket's history: each source lists only the date partitions
between (its previous poll - `late_window`) and now, with the narrowest prefix
(`.../{account}_vpcflowlogs_{region}_{flow-log-id}_`; for a firewall, its own day folder) and a
`StartAfter` cursor built from that time.
Files arrive late and out of name order, so the cursor is a time (not the last key seen), keys already
seen in that trailing window are remembered per prefix with their LastModified, and the current
partition is listed again on every poll. In steady state a source costs 1 ListObjectsV2 per poll (2
while a partition boundary is inside the late window) plus one capped GetObject when a new newest file
appears (deferred to the next poll when two listings were needed, except for a source's first file).

The engine never prints; times come from the `now` argument (injectable clock) or the system clock.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, field_validator

from aws import logkeys
from aws.coverage import ReadSet
from aws.errors import FlowlogsError, ValidationFailed, error_code, explain
from aws.flowlog_format import EXTRA_FIELDS, REQUIRED_FIELDS, missing_fields, parse_log_format
from aws.names import log_folder, parse_s3_arn
from aws.permissions import declare
from aws.reader import ReaderVerdict
from aws.regions import partition_of, validate_regions
from aws.session import AwsSession
from aws.tgw_format import tgw_missing_fields

PERMISSIONS = declare(
    __name__,
    read=[
        "ec2:DescribeRegions",
        "ec2:DescribeFlowLogs",
        "network-firewall:ListFirewalls",
        "network-firewall:DescribeLoggingConfiguration",
        "s3:GetBucketLocation",
        "s3:ListObjectsV2",
        "s3:GetObject",
    ],
    implied_read={
        "kms:Decrypt": "GetObject of a log file in an SSE-KMS bucket: S3 decrypts it with the caller's "
        "permission on the bucket's key",
    },
)

State = Literal["waiting", "receiving", "stale", "failed"]

LATE_WINDOW = timedelta(minutes=30)  # how late (after its name time) a file may still arrive
STALE_AFTER = timedelta(minutes=30)  # no new file for this long after having some: stale
FIRST_DELIVERY = (timedelta(minutes=10), timedelta(minutes=15))  # expected first delivery after creation
# AWS names files by 5-minute windows, so a source's first file may be named up to one window before its
# CreationTime: listings start this long before it (two windows, for clock skew).
NAME_LEAD = timedelta(minutes=10)
CONTENT_CAP = 256 * 1024  # bytes read from the newest file (Range GET)
TEXT_CAP = 4 * 1024 * 1024  # decompressed bytes parsed at most
SAMPLE_ROWS = 5
SPARK_BUCKET = timedelta(minutes=5)
SPARK_LEN = 20

ReaderCheck = Callable[["Source", str], "ReaderVerdict"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- models ------------------------------------------------------------------------------------------
class Source(BaseModel):
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
        return logkeys.utc(value) if value is not None else None

    @property
    def id(self) -> str:
        """Unique within a watch: flow log id, or firewall/type@region."""
        if self.kind == "flowlog":
            return self.flow_log_id
        return f"{self.firewall_name}/{self.log_type}@{self.region}"

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
            return logkeys.flowlog_partition(
                self.account, self.region, t, prefix=self.prefix, hive=self.hive, per_hour=self.per_hour
            )
        return logkeys.firewall_partition(
            self.account, self.region, self.firewall_name, self.log_type, t, prefix=self.prefix
        )

    def file_prefix(self, t: datetime) -> str:
        """The narrowest listing prefix for this source's files in the partition holding `t`."""
        if self.kind == "flowlog":
            return logkeys.flowlog_file_prefix(
                self.account,
                self.region,
                self.flow_log_id,
                t,
                prefix=self.prefix,
                hive=self.hive,
                per_hour=self.per_hour,
            )
        return logkeys.firewall_file_prefix(
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
            for part in logkeys.partition_starts(lower, upper, self.hourly):
                prefix = self.file_prefix(part)
                out.append((prefix, cursor if cursor.startswith(prefix) else ""))
            return out
        for day in logkeys.partition_starts(lower, upper, hourly=False):
            prefix = self.partition_prefix(day).rsplit("/", 2)[0] + "/"  # .../{yyyy}/{MM}/{dd}/
            out.append((prefix, cursor if cursor.startswith(prefix) else ""))
        return out

    def time_token(self, t: datetime) -> str:
        """The file-name time used for StartAfter cursors (the form that sorts first)."""
        return logkeys.time_token(t) if self.kind == "flowlog" else logkeys.compact_time_token(t)

    def matches(self, info: logkeys.KeyInfo) -> bool:
        if info.kind != self.kind or info.account != self.account or info.region != self.region:
            return False
        if self.kind == "flowlog":
            return (
                info.flow_log_id == self.flow_log_id
                and info.base == logkeys.flowlog_base(self.prefix)
                and info.hive == self.hive
                and info.per_hour == self.per_hour
            )
        return (
            info.firewall_name == self.firewall_name
            and info.log_type == self.log_type
            and info.base == logkeys.firewall_base(self.prefix)
        )


def source_for_key(sources: Iterable[Source], key: str) -> tuple[Source, datetime] | None:
    """The source a key belongs to and the time in its file name, or None."""
    info = logkeys.parse_key(key)
    if info is None:
        return None
    for source in sources:
        if source.matches(info):
            return source, info.time
    return None


class FileInfo(BaseModel):
    key: str
    size: int
    last_modified: datetime
    name_time: datetime | None = None


class ContentCheck(BaseModel):
    """What a capped read of one delivered file showed."""

    key: str
    kind: Literal["flowlog", "firewall"]
    ok: bool = Field(description="Readable: gzip text that parses (missing fields are only warnings)")
    problems: list[str] = Field(default_factory=list, description="Why it is not readable")
    warnings: list[str] = Field(default_factory=list)
    bytes_read: int = 0
    complete: bool = Field(default=False, description="The whole file was read (not capped)")
    header: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list, description="v2-v5 fields absent")
    records: int = Field(default=0, description="Records in the part read")
    log_status: dict[str, int] = Field(default_factory=dict, description="OK / NODATA / SKIPDATA")
    event_types: dict[str, int] = Field(default_factory=dict, description="Firewall event types")
    sample: list[list[str]] = Field(default_factory=list, description="First flow records, split")
    events: list[dict[str, Any]] = Field(default_factory=list, description="First firewall events")


class SourceStatus(BaseModel):
    source: Source
    state: State
    detail: str
    next_step: str = ""
    files: int = Field(default=0, description="Files delivered since the watch window started")
    bytes: int = 0
    newest: FileInfo | None = None
    content: ContentCheck | None = None
    reader: ReaderVerdict | None = None
    access_denied: bool = Field(default=False, description="This identity may not read the bucket/key")
    error: str = Field(default="", description="Last read error, if any")
    new_files: int = Field(default=0, description="Files found by the last poll")
    per_poll: list[int] = Field(default_factory=list, description="New files per poll, last 20 polls")
    sparkline: list[int] = Field(default_factory=list, description="Files per 5-minute bucket, oldest first")
    requests: int = Field(default=0, description="S3 requests made for this source by the last poll")
    checked_at: datetime

    @property
    def ready(self) -> bool:
        """Delivered readable files, and (when checked) Kentik's role can read them."""
        return (
            self.state == "receiving"
            and self.content is not None
            and self.content.ok
            and (self.reader is None or self.reader.ok)
        )


# -- content check -----------------------------------------------------------------------------------
def _gunzip(data: bytes, complete: bool, cap: int) -> tuple[bytes, list[str], list[str], bool]:
    """Decompress gzip members incrementally. Returns (text, problems, warnings, whole)."""
    if not data:
        return b"", ["empty file (0 bytes)"], [], True
    if data[:4] == b"PAR1":
        return b"", ["Parquet file: Kentik reads plain-text .log.gz files"], [], True
    if data[:2] != b"\x1f\x8b":
        return b"", [f"not gzip (starts with {data[:8]!r})"], [], True
    out = bytearray()
    buf = data
    warnings: list[str] = []
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = buf
        try:
            while pending and not d.eof:
                room = cap - len(out)
                if room <= 0:
                    return bytes(out), [], warnings, False
                out += d.decompress(pending, room)
                pending = d.unconsumed_tail
        except zlib.error as err:
            return bytes(out), [f"corrupt gzip: {err}"], warnings, False
        if not d.eof:
            if complete:
                return (
                    bytes(out),
                    ["truncated gzip: the file ends before the gzip stream does"],
                    warnings,
                    False,
                )
            return bytes(out), [], warnings, False  # capped read: the tail is cut, as expected
        buf = d.unused_data
        if not buf:
            return bytes(out), [], warnings, complete
        if buf[:2] != b"\x1f\x8b":
            warnings.append("extra bytes after the gzip stream were ignored")
            return bytes(out), [], warnings, complete


def _lines(text: bytes, whole: bool) -> list[str]:
    lines = text.decode("utf-8", errors="replace").split("\n")
    if not whole and lines:
        lines.pop()  # cut mid-line by the capped read
    return [line.rstrip("\r") for line in lines if line.strip()]


_KNOWN_FIELDS = set(REQUIRED_FIELDS) | set(EXTRA_FIELDS)
_FIELD_NAME = re.compile(r"^[a-z0-9-]+$")


def check_content(
    data: bytes,
    *,
    key: str,
    kind: Literal["flowlog", "firewall"],
    complete: bool,
    expected_fields: list[str] | None = None,
    text_cap: int = TEXT_CAP,
) -> ContentCheck:
    """Parse the first bytes of a delivered file. `complete` says whether `data` is the whole file
    (then a gzip stream that stops early is a truncated file, not a capped read)."""
    result = ContentCheck(key=key, kind=kind, ok=False, bytes_read=len(data), complete=complete)
    if key.endswith(".parquet"):
        result.problems.append("Parquet file: Kentik reads plain-text .log.gz files")
        return result
    text, problems, warnings, whole = _gunzip(data, complete, text_cap)
    result.problems += problems
    result.warnings += warnings
    if problems:
        return result
    lines = _lines(text, whole)
    if not lines:
        result.problems.append("empty file (no lines)" if whole else "no complete line in the part read")
        return result
    if kind == "flowlog":
        _parse_flowlog(lines, result, expected_fields)
    else:
        _parse_firewall(lines, result)
    result.ok = not result.problems
    return result


def _parse_flowlog(lines: list[str], result: ContentCheck, expected: list[str] | None) -> None:
    header = lines[0].split()
    if not all(_FIELD_NAME.match(f) for f in header) or not _KNOWN_FIELDS & set(header):
        result.problems.append(f"no header line (first line: {lines[0][:60]!r})")
        return
    result.header = header
    tgw = "tgw-id" in header or "resource-type" in header  # a transit gateway flow log: its own fields
    result.missing_fields = tgw_missing_fields(header) if tgw else missing_fields(header)
    if result.missing_fields:
        what = "transit gateway" if tgw else "v2-v5"
        result.warnings.append(
            f"{len(result.missing_fields)} of the {what} fields missing: {', '.join(result.missing_fields)}"
        )
    if expected and header != expected:
        result.warnings.append("the header differs from the flow log's LogFormat")
    status_at = header.index("log-status") if "log-status" in header else -1
    counts: Counter[str] = Counter()
    bad = 0
    for line in lines[1:]:
        row = line.split()
        if len(row) != len(header):
            bad += 1
            continue
        result.records += 1
        if status_at >= 0:
            counts[row[status_at]] += 1
        if len(result.sample) < SAMPLE_ROWS:
            result.sample.append(row)
    result.log_status = dict(counts)
    if bad:
        result.warnings.append(f"{bad} line(s) do not have {len(header)} fields")
    if result.records == 0 and bad:
        result.problems.append("no record matches the header")
    elif result.records == 0:
        result.warnings.append("header only, no records in the part read")


def _parse_firewall(lines: list[str], result: ContentCheck) -> None:
    counts: Counter[str] = Counter()
    bad = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not isinstance(record, dict):
            bad += 1
            continue
        result.records += 1
        event = record.get("event")
        kind = event.get("event_type") if isinstance(event, dict) else None
        counts[str(kind or "unknown")] += 1
        if len(result.events) < SAMPLE_ROWS:
            result.events.append(record)
    result.event_types = dict(counts)
    if bad:
        result.warnings.append(f"{bad} line(s) are not JSON objects")
    if result.records == 0:
        result.problems.append("no JSON record in the file")


# -- the watcher -------------------------------------------------------------------------------------
@dataclass
class _PrefixState:
    start_after: str = ""
    seen: dict[str, datetime] = field(default_factory=dict)  # key -> LastModified


@dataclass
class _Track:
    source: Source
    window_start: datetime
    prefixes: dict[str, _PrefixState] = field(default_factory=dict)
    last_listed: datetime | None = None
    files: int = 0
    bytes: int = 0
    newest: FileInfo | None = None
    arrivals: deque[datetime] = field(default_factory=deque)
    per_poll: deque[int] = field(default_factory=lambda: deque(maxlen=SPARK_LEN))
    content: ContentCheck | None = None
    content_pending: bool = False
    content_deferred: bool = False
    reader: ReaderVerdict | None = None
    reader_key: str = ""
    error: str = ""
    failure: str = ""  # blocking read failure (access, KMS, missing bucket)
    failure_step: str = ""
    failure_op: str = ""  # "list" or "read": what must succeed to clear it
    access_denied: bool = False
    status: SourceStatus | None = None


def _client_error_parts(err: ClientError) -> tuple[str, str]:
    return error_code(err), str(err.response.get("Error", {}).get("Message", "") or "")


def _is_kms(code: str, message: str) -> bool:
    return code.startswith("KMS.") or "kms" in message.lower() or code in ("KMSDisabledException",)


class Watcher:
    """Polls S3 for the sources' files. `poll()` may be called from a worker thread; polls are
    serialised by a lock, and the sources of one poll are listed concurrently."""

    def __init__(
        self,
        session: AwsSession,
        sources: list[Source],
        start: datetime,
        reader_check: ReaderCheck | None = None,
        *,
        late_window: timedelta = LATE_WINDOW,
        stale_after: timedelta = STALE_AFTER,
        content_cap: int = CONTENT_CAP,
        refresh_flow_logs: bool = True,
        max_workers: int = 8,
    ) -> None:
        ids = [s.id for s in sources]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate sources")
        self.session = session
        self.start = logkeys.utc(start)
        self.reader_check = reader_check
        self.late_window = late_window
        self.stale_after = stale_after
        self.content_cap = content_cap
        self.refresh_flow_logs = refresh_flow_logs
        self.max_workers = max_workers
        self.polls = 0
        self._lock = threading.Lock()
        self._bucket_regions: dict[str, str] = {}
        self._tracks = [
            _Track(source=s, window_start=max(self.start, s.created or self.start)) for s in sources
        ]

    @property
    def sources(self) -> list[Source]:
        return [t.source for t in self._tracks]

    def statuses(self) -> list[SourceStatus]:
        """The statuses from the last poll (before the first poll: as of the watch start). Never waits
        for a poll in progress, so a UI thread can call it at any time."""
        out = []
        for t in self._tracks:
            status = t.status
            if status is None:
                status = t.status = self._status(t, max(self.start, t.window_start), requests=0, new=0)
            out.append(status)
        return out

    def poll(self, now: datetime | None = None) -> list[SourceStatus]:
        """One poll of every source; returns their statuses (in the order given)."""
        with self._lock:
            now = logkeys.utc(now or utcnow())
            self.polls += 1
            if self.refresh_flow_logs:
                self._refresh_deliver_status()
            self._resolve_bucket_regions()
            if self.max_workers > 1 and len(self._tracks) > 1:
                with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                    results = list(pool.map(lambda t: self._poll_track(t, now), self._tracks))
            else:
                results = [self._poll_track(t, now) for t in self._tracks]
            return results

    # -- AWS reads --------------------------------------------------------------------------------
    def _refresh_deliver_status(self) -> None:
        """Re-read DeliverLogsStatus (one DescribeFlowLogs per region); failures keep the old value."""
        by_region: dict[str, list[_Track]] = {}
        for t in self._tracks:
            if t.source.kind == "flowlog" and t.source.flow_log_id:
                by_region.setdefault(t.source.region, []).append(t)
        for region, tracks in by_region.items():
            try:
                ec2 = self.session.client("ec2", region)
                found = ec2.describe_flow_logs(FlowLogIds=[t.source.flow_log_id for t in tracks])["FlowLogs"]
            except (ClientError, BotoCoreError):
                continue
            info = {f["FlowLogId"]: f for f in found}
            for t in tracks:
                fl = info.get(t.source.flow_log_id)
                if fl is not None:
                    t.source = t.source.model_copy(
                        update={
                            "deliver_status": fl.get("DeliverLogsStatus", "") or "",
                            "deliver_error": fl.get("DeliverLogsErrorMessage", "") or "",
                        }
                    )

    def _resolve_bucket_regions(self) -> None:
        for t in self._tracks:
            bucket = t.source.bucket
            if t.source.bucket_region:
                self._bucket_regions.setdefault(bucket, t.source.bucket_region)
            if bucket in self._bucket_regions:
                continue
            try:
                loc = self.session.client("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
                self._bucket_regions[bucket] = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(
                    loc, loc
                )
            except (ClientError, BotoCoreError):
                self._bucket_regions[bucket] = self.session.home_region  # botocore redirects if wrong

    def _s3(self, source: Source) -> Any:
        return self.session.client("s3", self._bucket_regions.get(source.bucket) or self.session.home_region)

    def _poll_track(self, t: _Track, now: datetime) -> SourceStatus:
        source = t.source
        s3 = self._s3(source)
        requests = 0
        new = 0
        floor = t.window_start - self.late_window
        if source.created is not None:  # no file is named more than a window before its source existed
            floor = max(floor, source.created - NAME_LEAD)
        # Until a source's first file is seen, keep listing from the floor: a late first file is never hidden.
        lower = max(floor, (t.last_listed or t.window_start) - self.late_window) if t.files else floor
        current: dict[str, _PrefixState] = {}
        try:
            for prefix, start_after in source.listings(lower, now):
                state = t.prefixes.get(prefix) or _PrefixState()
                state.start_after = start_after
                n, found = self._list(s3, source, prefix, state)
                requests += n
                for obj in found:
                    new += self._record(t, obj)
                state.seen = {k: v for k, v in state.seen.items() if k > state.start_after}
                current[prefix] = state
            t.prefixes = current
            t.last_listed = now
            t.error = ""
            self._clear_failure(t, "list")
        except ClientError as err:
            self._read_failure(t, err, listing=True)
        except BotoCoreError as err:
            t.error = str(explain(err))
        t.per_poll.append(new)
        while t.arrivals and t.arrivals[0] < now - SPARK_BUCKET * SPARK_LEN:
            t.arrivals.popleft()
        if t.newest is not None and t.content_pending:
            if requests >= 2 and t.content is not None and not t.content_deferred:
                t.content_deferred = True
            else:
                requests += self._check_newest(t, s3)
        self._check_reader(t)
        status = self._status(t, now, requests=requests, new=new)
        t.status = status
        return status

    def _list(
        self, s3: Any, source: Source, prefix: str, state: _PrefixState
    ) -> tuple[int, list[dict[str, Any]]]:
        params: dict[str, Any] = {"Bucket": source.bucket, "Prefix": prefix}
        if state.start_after:
            params["StartAfter"] = state.start_after
        found: list[dict[str, Any]] = []
        requests = 0
        while True:
            page = s3.list_objects_v2(**params)
            requests += 1
            for obj in page.get("Contents", []):
                lm = logkeys.utc(obj["LastModified"])
                if state.seen.get(obj["Key"]) != lm:
                    state.seen[obj["Key"]] = lm
                    found.append({**obj, "LastModified": lm})
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return requests, found
            params["ContinuationToken"] = token

    def _record(self, t: _Track, obj: dict[str, Any]) -> int:
        lm: datetime = obj["LastModified"]
        if lm < t.window_start:
            return 0
        info = logkeys.parse_key(obj["Key"])
        if info is None or not t.source.matches(info):
            return 0  # not a log file of this source (folder marker, stray upload)
        f = FileInfo(
            key=obj["Key"],
            size=int(obj.get("Size", 0)),
            last_modified=lm,
            name_time=info.time if info else None,
        )
        t.files += 1
        t.bytes += f.size
        t.arrivals.append(lm)
        if t.newest is None or (lm, f.key) > (t.newest.last_modified, t.newest.key):
            t.newest = f
            t.content_pending = True
        return 1

    def _check_newest(self, t: _Track, s3: Any) -> int:
        """Capped read of the newest file. Returns the number of S3 requests made."""
        newest = t.newest
        assert newest is not None
        t.content_pending = t.content_deferred = False
        kind = t.source.kind
        expected = t.source.log_format or None
        if newest.size == 0 or newest.key.endswith(".parquet"):
            t.content = check_content(b"", key=newest.key, kind=kind, complete=True, expected_fields=expected)
            return 0
        size = min(newest.size, self.content_cap)
        try:
            body = s3.get_object(Bucket=t.source.bucket, Key=newest.key, Range=f"bytes=0-{size - 1}")["Body"]
            data = body.read()
        except ClientError as err:
            self._read_failure(t, err, listing=False)
            return 1
        except BotoCoreError as err:
            t.error = str(explain(err))
            t.content_pending = True
            return 1
        self._clear_failure(t, "read")
        t.content = check_content(
            data,
            key=newest.key,
            kind=kind,
            complete=newest.size <= self.content_cap,
            expected_fields=expected,
        )
        return 1

    def _check_reader(self, t: _Track) -> None:
        if self.reader_check is None or t.newest is None or t.newest.key == t.reader_key:
            return
        t.reader_key = t.newest.key
        try:
            t.reader = self.reader_check(t.source, t.newest.key)
        except Exception as err:  # the hook is someone else's code: report, don't stop the watch
            t.reader = ReaderVerdict(ok=False, reasons=[f"reader check failed: {err}"])

    def _read_failure(self, t: _Track, err: ClientError, *, listing: bool) -> None:
        """Record a failed S3 read: access and KMS errors fail the source; others are transient."""
        code, message = _client_error_parts(err)
        bucket = t.source.bucket
        op = "list" if listing else "read"
        if _is_kms(code, message):
            failure = f"Cannot read the newest file: KMS refused to decrypt it ({code}: {message})"
            step = (
                "Grant kms:Decrypt and kms:DescribeKey on the bucket's KMS key to the identity running "
                "flowlogs (Kentik's role needs them too)."
            )
            denied = True
        elif code in ("AccessDenied", "AllAccessDisabled", "403") or "denied" in message.lower():
            if listing:
                failure = f"Cannot list s3://{bucket}/{t.source.file_prefix(t.window_start)}*: access denied"
                step = f"Grant s3:ListBucket on arn:aws:s3:::{bucket} to the identity running flowlogs."
            else:
                key = t.newest.key if t.newest else ""
                failure = f"Cannot read s3://{bucket}/{key}: access denied ({code})"
                step = f"Grant s3:GetObject on arn:aws:s3:::{bucket}/* to the identity running flowlogs."
            denied = True
        elif code in ("NoSuchBucket", "404") and listing:
            failure, step, denied = (
                f"Bucket {bucket} does not exist",
                "Check the bucket name, or create the bucket (flowlogs plan).",
                False,
            )
        else:
            t.error = f"{'ListObjectsV2' if listing else 'GetObject'} failed ({code}): {message}"
            if not listing and code != "NoSuchKey":
                t.content_pending = True
            return
        t.failure, t.failure_step, t.failure_op, t.access_denied = failure, step, op, denied

    def _clear_failure(self, t: _Track, op: str) -> None:
        if t.failure_op == op:
            t.failure = t.failure_step = t.failure_op = ""
            t.access_denied = False

    # -- status -----------------------------------------------------------------------------------
    def _sparkline(self, t: _Track, now: datetime) -> list[int]:
        oldest = now - SPARK_BUCKET * SPARK_LEN
        counts = [0] * SPARK_LEN
        for lm in t.arrivals:
            i = int((lm - oldest) / SPARK_BUCKET)
            if 0 <= i < SPARK_LEN:
                counts[i] += 1
        return counts

    def _status(self, t: _Track, now: datetime, *, requests: int, new: int) -> SourceStatus:
        state, detail, step = _assess(t, now, self.start, self.stale_after)
        return SourceStatus(
            source=t.source,
            state=state,
            detail=detail,
            next_step=step,
            files=t.files,
            bytes=t.bytes,
            newest=t.newest,
            content=t.content,
            reader=t.reader,
            access_denied=t.access_denied and state == "failed",
            error=t.error,
            new_files=new,
            per_poll=list(t.per_poll),
            sparkline=self._sparkline(t, now),
            requests=requests,
            checked_at=now,
        )


def age(delta: timedelta) -> str:
    """A short age: 45s, 12m, 3h, 2d."""
    s = max(0, int(delta.total_seconds()))
    if s < 90:
        return f"{s}s"
    if s < 90 * 60:
        return f"{s // 60}m"
    if s < 36 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _deliver_step(source: Source) -> str:
    msg = source.deliver_error.lower()
    if "access" in msg:
        folder = f"aws-account-id={source.account}" if source.hive else source.account
        partition = partition_of(source.bucket_region or source.region)
        return (
            f"Let delivery.logs.amazonaws.com write to arn:{partition}:s3:::{source.bucket}/"
            f"{logkeys.flowlog_base(source.prefix)}AWSLogs/{folder}/* in the bucket policy (and, "
            "with SSE-KMS, use the key in its key policy); check that no Deny statement of either "
            "policy matches log delivery."
        )
    if "rate" in msg:
        return "Delivery is being throttled; it resumes by itself. Consolidate flow logs if it persists."
    return "Recreate the flow log; if it keeps failing, open an AWS support case."


def _assess(
    t: _Track, now: datetime, watch_start: datetime, stale_after: timedelta
) -> tuple[State, str, str]:
    """(state, detail, next step) of one source at `now`."""
    s = t.source
    what = "firewall logs" if s.kind == "firewall" else "flow logs"
    if t.failure:
        return "failed", t.failure, t.failure_step
    if s.deliver_status.upper() == "FAILED":
        return (
            "failed",
            f"AWS reports delivery FAILED: {s.deliver_error or 'no message'}",
            _deliver_step(s),
        )
    if s.kind == "flowlog" and s.file_format == "parquet":
        return (
            "failed",
            "The flow log writes Parquet; Kentik reads plain-text .log.gz files",
            "Recreate the flow log with FileFormat plain-text.",
        )
    content = t.content
    if content is not None and not content.ok:
        return (
            "failed",
            f"Newest file unreadable: {'; '.join(content.problems)}",
            "Check what writes to this prefix; AWS writes gzip text. The watch continues with newer files.",
        )
    if t.newest is None:
        return _waiting(t, now, watch_start, what)
    since = now - t.newest.last_modified
    newest = f"newest {age(since)} ago"
    if since > stale_after:
        traffic = "the firewall sees traffic" if s.kind == "firewall" else "the VPC still has traffic"
        return (
            "stale",
            f"{t.files} file(s), but none for {age(since)} ({newest.split(' ', 1)[1]})",
            f"Check that {traffic} and that DeliverLogsStatus is SUCCESS; files are only written when "
            "there is traffic.",
        )
    detail = f"{t.files} file(s), {_size(t.bytes)}, {newest}"
    step = ""
    if content is None:
        step = "Reading the newest file."
    elif content.missing_fields:
        detail += f"; {len(content.missing_fields)} v2-v5 field(s) missing"
        step = "Recreate the flow log with a custom format holding every v2-v5 field (flowlogs plan)."
    if t.reader is not None and not t.reader.ok:
        reasons = "; ".join(t.reader.reasons) or "denied"
        detail += f"; Kentik's role cannot read it: {reasons}"
        step = "Fix the Kentik role's policy (flowlogs policy) so it can list the bucket and read the files."
    return "receiving", detail, step


def _waiting(t: _Track, now: datetime, watch_start: datetime, what: str) -> tuple[State, str, str]:
    s = t.source
    low, high = FIRST_DELIVERY
    traffic = "only when a rule alerts" if s.log_type == "alert" else "only when there is traffic"
    delivery_check = (
        "Check there is traffic, the DeliverLogsStatus, and that the bucket policy lets "
        f"delivery.logs.amazonaws.com write to AWSLogs/{s.account}/ (and the KMS key policy, with SSE-KMS)."
    )
    if s.created is not None and s.created >= watch_start:
        since = now - s.created
        if since < low:
            return (
                "waiting",
                f"Created {age(since)} ago; first {what} usually arrive after 10-15 min, {traffic}",
                "Wait.",
            )
        if since <= high:
            return "waiting", f"Created {age(since)} ago; the first files are due now ({traffic})", "Wait."
        return "waiting", f"No file {age(since)} after creation (expected within 10-15 min)", delivery_check
    since = now - t.window_start
    created = f" (created {age(now - s.created)} ago)" if s.created else ""
    detail = f"No file since the watch window began {age(since)} ago{created}; {what} are written {traffic}"
    return "waiting", detail, "Wait." if since <= high else delivery_check


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


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


def _flowlog_sources(session: AwsSession, account: str, region: str, buckets: ReadSet) -> list[Source]:
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
                Source(
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


def _firewall_sources(session: AwsSession, account: str, region: str, buckets: ReadSet) -> list[Source]:
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
                    Source(
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
) -> list[Source]:
    """Every flow log (DescribeFlowLogs) and firewall log type (ListFirewalls +
    DescribeLoggingConfiguration) delivering to one of `buckets`, in `regions` (None: every enabled
    region). A bucket may be given as `bucket/prefix/` (a location of Kentik's read set): then only
    sources writing at or below that prefix count. Regions that cannot be read are skipped with a line in `warnings`; if flow logs cannot be
    read in any region, the access error is raised. A named region that is not one of the account's
    enabled regions raises `UnknownRegion` / `RegionNotEnabled` (usage errors)."""
    if not buckets:
        raise ValidationFailed("Name at least one bucket to verify.")
    account = session.identity().account
    wanted = ReadSet.parse(buckets)
    regions = _enabled_regions(session, regions)
    notes = warnings if warnings is not None else []
    found: list[Source] = []
    denied: list[FlowlogsError] = []

    def scan(region: str) -> tuple[list[Source], list[str], FlowlogsError | None]:
        got: list[Source] = []
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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> timedelta:
    """'90s', '2m', '1h30m', '1d', or plain seconds ('45') as a timedelta; ValidationFailed otherwise."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return timedelta(seconds=float(value))
    parts = _DURATION.findall(value)
    if not value or not parts or "".join(n + u for n, u in parts) != value:
        raise ValidationFailed(
            f"Invalid duration {text!r}.", hint="Use a number with a unit: 90s, 2m, 1h, 1h30m, 1d."
        )
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return timedelta(seconds=sum(float(n) * unit[u] for n, u in parts))
