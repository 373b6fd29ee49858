"""What a watch reports per source: its state, why, and what to do next.

`SourceStatus` is one source's status after a poll: `waiting` (no file yet: due, or overdue after
`FIRST_DELIVERY`), `receiving` (files arriving; `ready` when the newest is readable and, when checked,
Kentik's role may read it), `stale` (no new file for `STALE_AFTER`) or `failed` (access, KMS, a missing
bucket, DeliverLogsStatus FAILED, Parquet, an unreadable newest file), with a detail line and a next
step. `assess_source` derives them from the watcher's per-source `Track`; `age` and `parse_duration`
turn durations into short text and back. Pure: no AWS call, no clock (times are arguments).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from aws.errors import ValidationFailed
from aws.logs import keys
from aws.logs.content import ContentCheck
from aws.logs.sources import LogSource
from aws.reader import ReaderVerdict
from aws.regions import partition_of

if TYPE_CHECKING:
    from aws.logs.watch import Track

State = Literal["waiting", "receiving", "stale", "failed"]

STALE_AFTER = timedelta(minutes=30)  # no new file for this long after having some: stale
FIRST_DELIVERY = (timedelta(minutes=10), timedelta(minutes=15))  # expected first delivery after creation


class FileInfo(BaseModel):
    key: str
    size: int
    last_modified: datetime
    name_time: datetime | None = None


class SourceStatus(BaseModel):
    source: LogSource
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


def _deliver_step(source: LogSource) -> str:
    msg = source.deliver_error.lower()
    if "access" in msg:
        folder = f"aws-account-id={source.account}" if source.hive else source.account
        partition = partition_of(source.bucket_region or source.region)
        return (
            f"Let delivery.logs.amazonaws.com write to arn:{partition}:s3:::{source.bucket}/"
            f"{keys.flowlog_base(source.prefix)}AWSLogs/{folder}/* in the bucket policy (and, "
            "with SSE-KMS, use the key in its key policy); check that no Deny statement of either "
            "policy matches log delivery."
        )
    if "rate" in msg:
        return "Delivery is being throttled; it resumes by itself. Consolidate flow logs if it persists."
    return "Recreate the flow log; if it keeps failing, open an AWS support case."


def assess_source(
    t: Track, now: datetime, watch_start: datetime, stale_after: timedelta
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


def _waiting(t: Track, now: datetime, watch_start: datetime, what: str) -> tuple[State, str, str]:
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
