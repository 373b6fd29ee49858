"""The watcher: polls S3 for each source's new files and keeps a `SourceStatus` per source.

A `Watcher` follows a list of `LogSource`s (aws.logs.sources) from a start time. Each `poll()` lists
every source's new files, reads the newest one (capped, `aws.logs.content.check_content`), optionally
asks a reader hook whether Kentik's role may read it, and returns one status per source
(`aws.logs.report`): waiting, receiving, stale or failed, with a next step.

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

import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aws.coverage import bucket_region
from aws.errors import error_code, explain
from aws.logs import keys
from aws.logs.content import ContentCheck, check_content
from aws.logs.report import STALE_AFTER, FileInfo, SourceStatus, assess_source
from aws.logs.sources import LogSource
from aws.permissions import declare
from aws.reader import ReaderVerdict
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=[
        "ec2:DescribeFlowLogs",
        "s3:GetBucketLocation",
        "s3:ListObjectsV2",
        "s3:GetObject",
    ],
    implied_read={
        "kms:Decrypt": "GetObject of a log file in an SSE-KMS bucket: S3 decrypts it with the caller's "
        "permission on the bucket's key",
    },
)

LATE_WINDOW = timedelta(minutes=30)  # how late (after its name time) a file may still arrive
# AWS names files by 5-minute windows, so a source's first file may be named up to one window before its
# CreationTime: listings start this long before it (two windows, for clock skew).
NAME_LEAD = timedelta(minutes=10)
CONTENT_CAP = 256 * 1024  # bytes read from the newest file (Range GET)
SPARK_BUCKET = timedelta(minutes=5)
SPARK_LEN = 20

ReaderCheck = Callable[["LogSource", str], "ReaderVerdict"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _PrefixState:
    start_after: str = ""
    seen: dict[str, datetime] = field(default_factory=dict)  # key -> LastModified


@dataclass
class Track:
    source: LogSource
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
        sources: list[LogSource],
        start: datetime,
        reader_check: ReaderCheck | None = None,
        *,
        late_window: timedelta = LATE_WINDOW,
        stale_after: timedelta = STALE_AFTER,
        content_cap: int = CONTENT_CAP,
        refresh_flow_logs: bool = True,
        max_workers: int = 8,
        source_sessions: Mapping[str, AwsSession] | None = None,
    ) -> None:
        ids = [s.key for s in sources]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate sources")
        self.session = session  # reads the bucket(s)
        # Reads each source's own configuration (DeliverLogsStatus), by the source's account: a member's
        # flow logs are described in the member account. Accounts not here use `session`.
        self.source_sessions = dict(source_sessions or {})
        self.start = keys.utc(start)
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
            Track(source=s, window_start=max(self.start, s.created or self.start)) for s in sources
        ]

    @property
    def sources(self) -> list[LogSource]:
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
            now = keys.utc(now or utcnow())
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
        by_region: dict[tuple[str, str], list[Track]] = {}
        for t in self._tracks:
            if t.source.kind == "flowlog" and t.source.flow_log_id:
                by_region.setdefault((t.source.account, t.source.region), []).append(t)
        for (account, region), tracks in by_region.items():
            try:
                ec2 = self.source_sessions.get(account, self.session).client("ec2", region)
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
                self._bucket_regions[bucket] = bucket_region(self.session, bucket)
            except (ClientError, BotoCoreError):
                self._bucket_regions[bucket] = self.session.home_region  # botocore redirects if wrong

    def _s3(self, source: LogSource) -> Any:
        return self.session.client("s3", self._bucket_regions.get(source.bucket) or self.session.home_region)

    def _poll_track(self, t: Track, now: datetime) -> SourceStatus:
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
        self, s3: Any, source: LogSource, prefix: str, state: _PrefixState
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
                lm = keys.utc(obj["LastModified"])
                if state.seen.get(obj["Key"]) != lm:
                    state.seen[obj["Key"]] = lm
                    found.append({**obj, "LastModified": lm})
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return requests, found
            params["ContinuationToken"] = token

    def _record(self, t: Track, obj: dict[str, Any]) -> int:
        lm: datetime = obj["LastModified"]
        if lm < t.window_start:
            return 0
        info = keys.parse_key(obj["Key"])
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

    def _check_newest(self, t: Track, s3: Any) -> int:
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

    def _check_reader(self, t: Track) -> None:
        if self.reader_check is None or t.newest is None or t.newest.key == t.reader_key:
            return
        t.reader_key = t.newest.key
        try:
            t.reader = self.reader_check(t.source, t.newest.key)
        except Exception as err:  # the hook is someone else's code: report, don't stop the watch
            t.reader = ReaderVerdict(ok=False, reasons=[f"reader check failed: {err}"])

    def _read_failure(self, t: Track, err: ClientError, *, listing: bool) -> None:
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

    def _clear_failure(self, t: Track, op: str) -> None:
        if t.failure_op == op:
            t.failure = t.failure_step = t.failure_op = ""
            t.access_denied = False

    # -- status -----------------------------------------------------------------------------------
    def _sparkline(self, t: Track, now: datetime) -> list[int]:
        oldest = now - SPARK_BUCKET * SPARK_LEN
        counts = [0] * SPARK_LEN
        for lm in t.arrivals:
            i = int((lm - oldest) / SPARK_BUCKET)
            if 0 <= i < SPARK_LEN:
                counts[i] += 1
        return counts

    def _status(self, t: Track, now: datetime, *, requests: int, new: int) -> SourceStatus:
        state, detail, step = assess_source(t, now, self.start, self.stale_after)
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
