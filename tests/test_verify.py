"""Verification engine: content checks, the watcher's listing and states, sources from AWS."""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from aws.logs import keys
from aws.logs.content import check_content
from aws.logs.format import REQUIRED_FIELDS, V2_FIELDS
from aws.logs.report import SourceStatus, parse_duration
from aws.logs.sources import LogSource, sources_from_account
from aws.logs.watch import Watcher
from aws.reader import ReaderVerdict
from aws.session import AwsSession

ACCT = "123456789012"
REGION = "us-east-1"
BUCKET = "kentik-flow-logs"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def flow_text(
    fields: tuple[str, ...] | list[str] = REQUIRED_FIELDS, statuses: tuple[str, ...] = ("OK",)
) -> str:
    rows = [" ".join(fields)]
    for status in statuses:
        rows.append(
            " ".join(status if f == "log-status" else ("5" if f == "version" else "-") for f in fields)
        )
    return "\n".join(rows) + "\n"


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)  # no timestamp: test ids repeat across xdist workers


def firewall_text(events: tuple[str, ...] = ("netflow", "alert", "netflow")) -> str:
    lines = [
        json.dumps(
            {
                "firewall_name": "edge-fw",
                "availability_zone": "us-east-1a",
                "event_timestamp": "1767225600",
                "event": {"event_type": e, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"},
            }
        )
        for e in events
    ]
    return "\n".join(lines) + "\n"


def flow_source(**kw: Any) -> LogSource:
    base: dict[str, Any] = {
        "kind": "flowlog",
        "account": ACCT,
        "region": REGION,
        "bucket": BUCKET,
        "bucket_region": REGION,
        "flow_log_id": "fl-0aaa1111",
    }
    return LogSource(**{**base, **kw})


def fw_source(**kw: Any) -> LogSource:
    base: dict[str, Any] = {
        "kind": "firewall",
        "account": ACCT,
        "region": REGION,
        "bucket": BUCKET,
        "bucket_region": REGION,
        "firewall_name": "edge-fw",
        "log_type": "flow",
    }
    return LogSource(**{**base, **kw})


def key_of(source: LogSource, t: datetime, suffix: str = "0a1b2c3d", compact: bool = True) -> str:
    if source.kind == "flowlog":
        return keys.flowlog_key(
            source.account,
            source.region,
            source.flow_log_id,
            t,
            prefix=source.prefix,
            hive=source.hive,
            per_hour=source.per_hour,
            suffix=suffix,
        )
    return keys.firewall_key(
        source.account,
        source.region,
        source.firewall_name,
        source.log_type,
        t,
        prefix=source.prefix,
        compact_time=compact,
        suffix=suffix,
    )


# -- a deterministic S3 (times chosen by the test) ---------------------------------------------------
class FakeS3:
    """Enough of ListObjectsV2/GetObject to drive the watcher on a simulated clock."""

    def __init__(self, page_size: int = 1000) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.calls: Counter[str] = Counter()
        self.page_size = page_size

    def put(self, key: str, body: bytes, last_modified: datetime) -> None:
        self.objects[key] = (body, last_modified)

    def list_objects_v2(
        self, Bucket: str, Prefix: str = "", StartAfter: str = "", ContinuationToken: str = ""
    ) -> dict[str, Any]:
        self.calls["ListObjectsV2"] += 1
        after = ContinuationToken or StartAfter
        keys = sorted(k for k in self.objects if k.startswith(Prefix) and k > after)
        page = keys[: self.page_size]
        out: dict[str, Any] = {
            "Contents": [
                {"Key": k, "Size": len(self.objects[k][0]), "LastModified": self.objects[k][1]} for k in page
            ],
            "IsTruncated": len(keys) > len(page),
        }
        if out["IsTruncated"]:
            out["NextContinuationToken"] = page[-1]
        return out

    def get_object(self, Bucket: str, Key: str, Range: str = "") -> dict[str, Any]:
        self.calls["GetObject"] += 1
        data = self.objects[Key][0]
        if Range:
            first, last = Range.removeprefix("bytes=").split("-")
            data = data[int(first) : int(last) + 1]
        return {"Body": io.BytesIO(data)}


class FakeSession:
    home_region = REGION

    def __init__(self, s3: FakeS3) -> None:
        self.s3 = s3

    def client(self, service: str, region: str | None = None) -> Any:
        assert service == "s3"
        return self.s3


def fake_watcher(sources: list[LogSource], start: datetime = T0, **kw: Any) -> tuple[Watcher, FakeS3]:
    s3 = FakeS3(kw.pop("page_size", 1000))
    w = Watcher(FakeSession(s3), sources, start, refresh_flow_logs=False, max_workers=1, **kw)  # type: ignore[arg-type]
    return w, s3


def by_id(statuses: list[SourceStatus]) -> dict[str, SourceStatus]:
    return {s.source.id: s for s in statuses}


# -- content ----------------------------------------------------------------------------------------
def test_full_format_file_is_ok_with_counts() -> None:
    data = gz(flow_text(statuses=("OK", "OK", "NODATA", "SKIPDATA")))
    c = check_content(data, key="k.log.gz", kind="flowlog", complete=True)
    assert c.ok and not c.problems and not c.warnings
    assert c.header == list(REQUIRED_FIELDS) and c.missing_fields == []
    assert c.records == 4 and c.log_status == {"OK": 2, "NODATA": 1, "SKIPDATA": 1}
    assert len(c.sample) == 4 and len(c.sample[0]) == 29


def test_default_format_lists_the_missing_fields() -> None:
    c = check_content(gz(flow_text(V2_FIELDS)), key="k.log.gz", kind="flowlog", complete=True)
    assert c.ok  # readable: missing fields are a warning, not a failure
    assert c.missing_fields == [f for f in REQUIRED_FIELDS if f not in V2_FIELDS]
    assert len(c.missing_fields) == 15 and "15 of the v2-v5 fields missing" in c.warnings[0]


def test_header_differing_from_log_format_is_warned() -> None:
    c = check_content(
        gz(flow_text(V2_FIELDS)),
        key="k",
        kind="flowlog",
        complete=True,
        expected_fields=list(REQUIRED_FIELDS),
    )
    missing = [f for f in REQUIRED_FIELDS if f not in V2_FIELDS]
    assert c.warnings == [
        f"{len(missing)} of the v2-v5 fields missing: {', '.join(missing)}",
        "the header differs from the flow log's LogFormat",
    ]


@pytest.mark.parametrize(
    ("data", "complete", "problem"),
    [
        (b"", True, "empty file (0 bytes)"),
        (gz(""), True, "empty file (no lines)"),
        (
            b"\x1f\x8b\x08\x00garbage-not-deflate-data",
            True,
            "corrupt gzip: Error -3 while decompressing data: invalid code lengths set",
        ),
        (b"version account-id\n5 1\n", True, "not gzip (starts with b'version ')"),
        (b"PAR1\x00\x00\x00\x00", True, "Parquet file: Kentik reads plain-text .log.gz files"),
        (
            gz(flow_text(statuses=("OK",) * 200))[:-20],
            True,
            "truncated gzip: the file ends before the gzip stream does",
        ),
        (gz("hello world\nsecond line\n"), True, "no header line (first line: 'hello world')"),
    ],
)
def test_unreadable_files_are_reported(data: bytes, complete: bool, problem: str) -> None:
    c = check_content(data, key="k.log.gz", kind="flowlog", complete=complete)
    assert not c.ok
    assert c.problems == [problem]


def test_parquet_key_is_reported_without_reading() -> None:
    c = check_content(b"", key="x_20260101T0000Z_ab.log.parquet", kind="flowlog", complete=True)
    assert not c.ok and "Parquet" in c.problems[0]


def test_capped_read_tolerates_the_cut_tail() -> None:
    whole = gz(flow_text(statuses=("OK",) * 5000))
    part = whole[: len(whole) // 3]
    c = check_content(part, key="k.log.gz", kind="flowlog", complete=False)
    assert c.ok and 0 < c.records < 5000  # the cut line is dropped, not reported
    assert c.warnings == []
    # the same bytes claimed to be the whole file are a truncated file
    assert not check_content(part, key="k.log.gz", kind="flowlog", complete=True).ok


def test_multi_member_gzip_is_read_through() -> None:
    text = flow_text(statuses=("OK", "NODATA"))
    header, *rows = text.splitlines(keepends=True)
    data = gz(header + rows[0]) + gz(rows[1])
    c = check_content(data, key="k.log.gz", kind="flowlog", complete=True)
    assert c.ok and c.records == 2 and c.log_status == {"OK": 1, "NODATA": 1}


def test_firewall_events_are_counted() -> None:
    data = gz(firewall_text() + "not json\n")
    c = check_content(data, key="k.log.gz", kind="firewall", complete=True)
    assert c.ok and c.records == 3
    assert c.event_types == {"netflow": 2, "alert": 1}
    assert c.events[0]["firewall_name"] == "edge-fw"
    assert "1 line(s) are not JSON" in c.warnings[0]
    assert not check_content(gz("nope\n"), key="k", kind="firewall", complete=True).ok


# -- states over simulated time ---------------------------------------------------------------------
def test_status_transitions_over_simulated_time() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src])

    st = w.poll(T0 + timedelta(minutes=4))[0]
    assert st.state == "waiting" and "Created 4m ago" in st.detail and "traffic" in st.detail
    assert st.next_step == "Wait." and not st.ready

    st = w.poll(T0 + timedelta(minutes=12))[0]
    assert st.state == "waiting" and "due now" in st.detail

    st = w.poll(T0 + timedelta(minutes=20))[0]
    assert st.state == "waiting" and "expected within 10-15 min" in st.detail
    assert "delivery.logs.amazonaws.com" in st.next_step

    s3.put(key_of(src, T0 + timedelta(minutes=10)), gz(flow_text()), T0 + timedelta(minutes=21))
    st = w.poll(T0 + timedelta(minutes=22))[0]
    assert st.state == "receiving" and st.ready
    assert st.files == 1 and st.new_files == 1 and st.newest is not None
    assert st.content is not None and st.content.records == 1
    assert "1 file(s)" in st.detail and "newest 60s ago" in st.detail

    st = w.poll(T0 + timedelta(minutes=55))[0]
    assert st.state == "stale" and "none for 34m" in st.detail and not st.ready

    s3.put(key_of(src, T0 + timedelta(minutes=50)), gz(flow_text()), T0 + timedelta(minutes=56))
    st = w.poll(T0 + timedelta(minutes=57))[0]
    assert st.state == "receiving" and st.files == 2
    assert st.per_poll == [0, 0, 0, 1, 0, 1]
    assert sum(st.sparkline) == 2 and len(st.sparkline) == 20


def test_files_from_before_the_watch_window_are_not_counted() -> None:
    src = flow_source(created=T0 - timedelta(days=3))
    start = T0
    w, s3 = fake_watcher([src], start=start)
    s3.put(key_of(src, T0 - timedelta(minutes=20)), gz(flow_text()), T0 - timedelta(minutes=15))
    st = w.poll(T0 + timedelta(minutes=2))[0]
    assert st.state == "waiting" and st.files == 0
    assert "watch window began 2m ago" in st.detail and "created 3d ago" in st.detail
    # a late file named before the window but delivered inside it counts
    s3.put(key_of(src, T0 - timedelta(minutes=5), "late"), gz(flow_text()), T0 + timedelta(minutes=3))
    st = w.poll(T0 + timedelta(minutes=4))[0]
    assert st.state == "receiving" and st.files == 1


def test_late_file_written_after_a_later_named_one_is_detected() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src])
    s3.put(key_of(src, T0 + timedelta(minutes=20), "b"), gz(flow_text()), T0 + timedelta(minutes=26))
    assert w.poll(T0 + timedelta(minutes=27))[0].files == 1
    # named 10 minutes earlier (sorts before the file already seen), delivered later
    late = key_of(src, T0 + timedelta(minutes=10), "a")
    assert late < key_of(src, T0 + timedelta(minutes=20), "b")
    s3.put(late, gz(flow_text()), T0 + timedelta(minutes=28))
    st = w.poll(T0 + timedelta(minutes=29))[0]
    assert st.new_files == 1 and st.files == 2
    # nothing is counted twice
    assert w.poll(T0 + timedelta(minutes=30))[0].files == 2


def test_overwritten_file_counts_again_by_last_modified() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src])
    key = key_of(src, T0 + timedelta(minutes=10))
    s3.put(key, gz(flow_text()), T0 + timedelta(minutes=12))
    assert w.poll(T0 + timedelta(minutes=13))[0].files == 1
    s3.put(key, gz(flow_text()), T0 + timedelta(minutes=14))
    assert w.poll(T0 + timedelta(minutes=15))[0].new_files == 1


def test_day_rollover_lists_both_partitions_and_then_one() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src])
    midnight = datetime(2026, 5, 5, tzinfo=timezone.utc)
    s3.put(key_of(src, midnight - timedelta(minutes=30)), gz(flow_text()), midnight - timedelta(minutes=25))
    assert w.poll(midnight - timedelta(minutes=1))[0].content is not None
    s3.put(key_of(src, midnight - timedelta(minutes=2)), gz(flow_text()), midnight + timedelta(minutes=4))
    st = w.poll(midnight + timedelta(minutes=5))[0]
    # two folders listed; the new newest file's read waits for the next poll to stay at 2 requests
    assert st.new_files == 1 and st.requests == 2 and s3.calls["GetObject"] == 1
    st = w.poll(midnight + timedelta(minutes=6))[0]
    assert s3.calls["GetObject"] == 2 and st.content is not None and st.newest is not None
    assert st.content.key == st.newest.key
    before = s3.calls["ListObjectsV2"]
    w.poll(midnight + timedelta(minutes=40))  # the previous poll was 35 min ago: yesterday still open
    assert s3.calls["ListObjectsV2"] - before == 2
    before = s3.calls["ListObjectsV2"]
    w.poll(midnight + timedelta(minutes=45))
    assert s3.calls["ListObjectsV2"] - before == 1  # yesterday's folder is closed


@pytest.mark.parametrize("prefix", ["", "kentik/flows"])
@pytest.mark.parametrize("hive", [False, True])
@pytest.mark.parametrize("per_hour", [False, True])
def test_watcher_finds_files_in_every_flow_log_layout(prefix: str, hive: bool, per_hour: bool) -> None:
    src = flow_source(created=T0, prefix=prefix, hive=hive, per_hour=per_hour)
    other = flow_source(created=T0, flow_log_id="fl-0other", prefix=prefix, hive=not hive, per_hour=per_hour)
    w, s3 = fake_watcher([src, other])
    # a file of this layout, and one of the other layout: each source sees only its own
    s3.put(key_of(src, T0 + timedelta(minutes=50)), gz(flow_text()), T0 + timedelta(minutes=56))
    s3.put(key_of(other, T0 + timedelta(minutes=55)), b"junk", T0 + timedelta(minutes=57))
    s3.put(
        key_of(src, T0 + timedelta(minutes=62)).replace(".log.gz", ".txt"), b"x", T0 + timedelta(minutes=63)
    )
    states = by_id(w.poll(T0 + timedelta(minutes=64)))
    assert states[src.id].files == 1 and states[src.id].ready
    assert states["fl-0other"].files == 1 and states["fl-0other"].state == "failed"


def test_pagination_within_the_window() -> None:
    src = fw_source(created=T0)
    w, s3 = fake_watcher([src], page_size=2)
    for i in range(5):
        s3.put(
            key_of(src, T0 + timedelta(minutes=i), f"h{i}"), gz(firewall_text()), T0 + timedelta(minutes=6)
        )
    st = w.poll(T0 + timedelta(minutes=7))[0]
    assert st.files == 5 and st.state == "receiving"
    assert st.content is not None and st.content.event_types == {"netflow": 2, "alert": 1}


@pytest.mark.parametrize("compact", [True, False])
def test_firewall_source_both_timestamp_forms(compact: bool) -> None:
    src = fw_source(created=T0, log_type="alert", prefix="fw")
    w, s3 = fake_watcher([src])
    s3.put(
        key_of(src, T0 + timedelta(minutes=5), compact=compact),
        gz(firewall_text(("alert",))),
        T0 + timedelta(minutes=9),
    )
    st = w.poll(T0 + timedelta(minutes=10))[0]
    assert st.state == "receiving" and st.ready and st.content is not None
    assert st.content.event_types == {"alert": 1}


@pytest.mark.parametrize(
    ("body", "key_kw", "problem"),
    [
        (gz("not a header at all!\n"), {}, "no header line"),
        (b"", {}, "empty file"),
        (b"\x1f\x8bbroken", {}, "corrupt gzip"),
        (b"PAR1....", {"parquet": True}, "Parquet"),
    ],
)
def test_bad_file_fails_its_source_and_the_watch_carries_on(
    body: bytes, key_kw: dict[str, Any], problem: str
) -> None:
    bad = flow_source(created=T0, flow_log_id="fl-0bad")
    good = flow_source(created=T0, flow_log_id="fl-0good")
    w, s3 = fake_watcher([bad, good])
    bad_key = keys.flowlog_key(ACCT, REGION, "fl-0bad", T0 + timedelta(minutes=5), **key_kw)
    s3.put(bad_key, body, T0 + timedelta(minutes=9))
    s3.put(key_of(good, T0 + timedelta(minutes=5)), gz(flow_text()), T0 + timedelta(minutes=9))
    states = by_id(w.poll(T0 + timedelta(minutes=10)))
    assert states["fl-0bad"].state == "failed" and problem in states["fl-0bad"].detail
    assert states["fl-0good"].state == "receiving" and states["fl-0good"].ready
    # a readable newer file heals the source
    s3.put(key_of(bad, T0 + timedelta(minutes=10)), gz(flow_text()), T0 + timedelta(minutes=14))
    assert by_id(w.poll(T0 + timedelta(minutes=15)))["fl-0bad"].state == "receiving"


def test_large_file_is_read_with_a_capped_range() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src], content_cap=4096)
    import os

    text = flow_text(statuses=("OK",) * 3000).encode() + os.urandom(200_000).hex().encode()
    s3.put(key_of(src, T0 + timedelta(minutes=5)), gzip.compress(text), T0 + timedelta(minutes=9))
    st = w.poll(T0 + timedelta(minutes=10))[0]
    assert st.content is not None and st.content.bytes_read == 4096 and not st.content.complete
    assert st.content.ok and st.content.records == 3000  # every record; the incompressible tail is cut


def test_deliver_status_failed_is_reported_with_its_message() -> None:
    src = flow_source(created=T0, deliver_status="FAILED", deliver_error="Access error")
    w, _ = fake_watcher([src])
    st = w.poll(T0 + timedelta(minutes=5))[0]
    assert st.state == "failed" and "FAILED: Access error" in st.detail
    assert "bucket policy" in st.next_step and not st.access_denied


def test_parquet_flow_log_is_failed_up_front() -> None:
    w, _ = fake_watcher([flow_source(created=T0, file_format="parquet")])
    st = w.poll(T0 + timedelta(minutes=1))[0]
    assert st.state == "failed"
    assert st.detail == "The flow log writes Parquet; Kentik reads plain-text .log.gz files"
    assert st.next_step == "Recreate the flow log with FileFormat plain-text."


def test_reader_check_is_called_once_per_newest_file() -> None:
    calls: list[tuple[str, str]] = []

    def reader(source: LogSource, key: str) -> ReaderVerdict:
        calls.append((source.id, key))
        return ReaderVerdict(ok=False, reasons=["kms:Decrypt not allowed on the bucket key"])

    src = flow_source(created=T0)
    w, s3 = fake_watcher([src], reader_check=reader)
    key = key_of(src, T0 + timedelta(minutes=5))
    s3.put(key, gz(flow_text()), T0 + timedelta(minutes=9))
    st = w.poll(T0 + timedelta(minutes=10))[0]
    w.poll(T0 + timedelta(minutes=11))
    assert calls == [("fl-0aaa1111", key)]
    assert st.state == "receiving" and not st.ready
    assert st.reader is not None
    assert st.detail == (
        "1 file(s), 197 B, newest 60s ago; Kentik's role cannot read it: kms:Decrypt not allowed on the bucket key"
    )
    assert (
        st.next_step
        == "Fix the Kentik role's policy (flowlogs policy) so it can list the bucket and read the files."
    )


def test_reader_check_exception_becomes_a_verdict() -> None:
    def reader(source: LogSource, key: str) -> ReaderVerdict:
        raise RuntimeError("no role")

    src = flow_source(created=T0)
    w, s3 = fake_watcher([src], reader_check=reader)
    s3.put(key_of(src, T0 + timedelta(minutes=5)), gz(flow_text()), T0 + timedelta(minutes=9))
    st = w.poll(T0 + timedelta(minutes=10))[0]
    assert st.reader == ReaderVerdict(ok=False, reasons=["reader check failed: no role"])


def test_polls_from_threads_count_each_file_once() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src])
    for i in range(20):
        s3.put(
            key_of(src, T0 + timedelta(minutes=i % 10), f"x{i}"), gz(flow_text()), T0 + timedelta(minutes=11)
        )
    threads = [threading.Thread(target=w.poll, args=(T0 + timedelta(minutes=12),)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert w.statuses()[0].files == 20


def test_statuses_before_the_first_poll_are_waiting() -> None:
    w, s3 = fake_watcher([flow_source(created=T0), fw_source()])
    assert [s.state for s in w.statuses()] == ["waiting", "waiting"]
    assert s3.calls == Counter()  # no AWS call


def test_duplicate_sources_are_refused() -> None:
    with pytest.raises(ValueError):
        fake_watcher([flow_source(), flow_source()])


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("2m", 120), ("1h", 3600), ("1h30m", 5400), ("45", 45)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "1h-2m", "m"])
def test_parse_duration_rejects(text: str) -> None:
    from aws.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        parse_duration(text)


# -- against moto: requests per poll, access errors, sources from the account -----------------------
def _bucket(session: AwsSession) -> Any:
    s3 = session.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    return s3


def _put_direct(key: str, body: bytes) -> None:
    """Write into moto's backend without an API call (fast, and not counted)."""
    from moto.s3.models import s3_backends

    s3_backends[ACCT]["aws"].put_object(BUCKET, key, body)


def _s3_calls(session: AwsSession) -> int:
    return sum(n for (service, _), n in session.stats.calls.items() if service == "s3")


def test_requests_per_poll_do_not_grow_with_history(session: AwsSession) -> None:
    s3 = _bucket(session)
    now = datetime.now(timezone.utc)
    sources = [
        flow_source(flow_log_id="fl-0aaa1111", created=now - timedelta(days=20)),
        flow_source(flow_log_id="fl-0bbb2222", created=now - timedelta(days=20), hive=True, prefix="k"),
        fw_source(created=now - timedelta(days=20)),
    ]
    for src in sources:  # history: one file per source per day for 20 days
        for day in range(1, 21):
            _put_direct(key_of(src, now - timedelta(days=day)), gz(flow_text()))
    listed: list[dict[str, Any]] = []
    s3.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **_: listed.append(dict(params))
    )
    w = Watcher(session, sources, now - timedelta(minutes=5))
    w.poll()
    for src in sources:
        s3.put_object(Bucket=BUCKET, Key=key_of(src, now, "new"), Body=gz(flow_text()))

    def poll_cost() -> tuple[int, list[SourceStatus]]:
        before = _s3_calls(session)
        statuses = w.poll()
        return _s3_calls(session) - before, statuses

    cost, statuses = poll_cost()
    assert all(s.new_files == 1 for s in statuses)
    # listing (1, or 2 near a partition boundary) + the first file's content read
    assert cost == sum(s.requests for s in statuses) and all(s.requests <= 3 for s in statuses)
    listed.clear()
    for src in sources:  # ten times the history
        for day in range(21, 201):
            _put_direct(key_of(src, now - timedelta(days=day), "old"), b"x")
    for _ in range(3):
        cost, statuses = poll_cost()
        assert cost <= 2 * len(sources) and all(s.requests <= 2 for s in statuses)
    # every listing is narrowed to one source's files in today's (or, near midnight, yesterday's) folder
    recent = {f"{d:%Y}/{d:%m}/{d:%d}/" for d in (now, now - timedelta(days=1))} | {
        f"year={d:%Y}/month={d:%m}/day={d:%d}/" for d in (now, now - timedelta(days=1))
    }
    assert listed and all(any(r in p["Prefix"] for r in recent) for p in listed)
    assert all(
        p["Prefix"].endswith(("_fl-0aaa1111_", "_fl-0bbb2222_")) or "/edge-fw/" in p["Prefix"] for p in listed
    )
    assert all(p.get("StartAfter", "").startswith(p["Prefix"]) for p in listed if "StartAfter" in p)


def test_access_denied_listing_fails_the_source(session: AwsSession) -> None:
    src = flow_source(created=datetime.now(timezone.utc))
    w = Watcher(session, [src], datetime.now(timezone.utc), refresh_flow_logs=False)
    client = session.client("s3", REGION)
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
        st = w.poll()[0]
    assert st.state == "failed" and st.access_denied
    assert "access denied" in st.detail and "s3:ListBucket" in st.next_step


def test_kms_error_reading_the_newest_file(session: AwsSession) -> None:
    now = datetime.now(timezone.utc)
    src = flow_source(created=now - timedelta(minutes=30))
    w = Watcher(session, [src], now - timedelta(minutes=30), refresh_flow_logs=False)
    key = key_of(src, now - timedelta(minutes=5))
    client = session.client("s3", REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {
                "Contents": [{"Key": key, "Size": 100, "LastModified": now - timedelta(minutes=1)}],
                "IsTruncated": False,
            },
        )
        stub.add_client_error(
            "get_object",
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/me is not authorized to perform: kms:Decrypt",
            403,
        )
        st = w.poll()[0]
    assert st.state == "failed" and st.access_denied
    assert "KMS" in st.detail and "kms:Decrypt" in st.next_step


def test_access_denied_reading_the_newest_file(session: AwsSession) -> None:
    now = datetime.now(timezone.utc)
    src = flow_source(created=now - timedelta(minutes=30))
    w = Watcher(session, [src], now - timedelta(minutes=30), refresh_flow_logs=False)
    key = key_of(src, now - timedelta(minutes=5))
    client = session.client("s3", REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {
                "Contents": [{"Key": key, "Size": 100, "LastModified": now - timedelta(minutes=1)}],
                "IsTruncated": False,
            },
        )
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
        st = w.poll()[0]
    assert st.state == "failed" and st.access_denied
    assert key in st.detail and "s3:GetObject" in st.next_step


def test_throttling_is_transient_not_failed(session: AwsSession) -> None:
    src = flow_source(created=datetime.now(timezone.utc))
    w = Watcher(session, [src], datetime.now(timezone.utc), refresh_flow_logs=False)
    client = session.client("s3", REGION)
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "SlowDown", "Reduce your request rate", 503)
        st = w.poll()[0]
    assert st.state == "waiting" and "SlowDown" in st.error


def _vpc_and_flow_log(session: AwsSession, destination: str) -> str:
    ec2 = session.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return str(
        ec2.create_flow_logs(
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=destination,
        )["FlowLogIds"][0]
    )


def test_sources_from_account(session: AwsSession) -> None:
    _bucket(session)
    session.client("s3", REGION).create_bucket(Bucket="someone-elses-logs")
    fl = _vpc_and_flow_log(session, f"arn:aws:s3:::{BUCKET}")
    _vpc_and_flow_log(session, "arn:aws:s3:::someone-elses-logs")
    nfw = session.client("network-firewall", REGION)
    arn = nfw.create_firewall(
        FirewallName="edge-fw",
        FirewallPolicyArn=f"arn:aws:network-firewall:{REGION}:{ACCT}:firewall-policy/p",
        VpcId="vpc-1",
        SubnetMappings=[{"SubnetId": "subnet-1"}],
    )["Firewall"]["FirewallArn"]
    nfw.update_logging_configuration(
        FirewallArn=arn,
        LoggingConfiguration={
            "LogDestinationConfigs": [
                {
                    "LogType": "ALERT",
                    "LogDestinationType": "S3",
                    "LogDestination": {"bucketName": BUCKET, "prefix": "fw"},
                }
            ]
        },
    )
    sources = sources_from_account(session, [BUCKET], [REGION])
    assert [(s.kind, s.id) for s in sources] == [("firewall", f"edge-fw/alert@{REGION}"), ("flowlog", fl)]
    fw, flow = sources
    assert fw.prefix == "fw" and fw.account == ACCT
    assert (
        flow.created is not None and flow.deliver_status == "SUCCESS" and flow.log_format == list(V2_FIELDS)
    )


def test_sources_from_account_with_prefix_and_failed_delivery(session: AwsSession) -> None:
    from moto.ec2.models import ec2_backends

    _bucket(session)
    fl = _vpc_and_flow_log(session, f"arn:aws:s3:::{BUCKET}/kentik/")
    sources = sources_from_account(session, [BUCKET], [REGION])
    assert [(s.flow_log_id, s.prefix) for s in sources] == [(fl, "kentik")]
    # AWS marks the flow log FAILED later: the watcher re-reads DeliverLogsStatus on each poll
    w = Watcher(session, sources, datetime.now(timezone.utc))
    assert w.poll()[0].state == "waiting"
    flow = ec2_backends[ACCT][REGION].flow_logs[fl]
    flow.deliver_logs_status, flow.deliver_logs_error_message = "FAILED", "Access error"
    st = w.poll()[0]
    assert st.state == "failed" and "Access error" in st.detail


def test_sources_from_account_access_denied(session: AwsSession, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws.errors import AccessDeniedError

    client = session.client("ec2", REGION)
    err = ClientError(
        {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}, "DescribeFlowLogs"
    )

    def denied(*a: Any, **k: Any) -> Any:
        raise err

    monkeypatch.setattr(client, "describe_flow_logs", denied)
    monkeypatch.setattr(client, "get_paginator", lambda name: type("P", (), {"paginate": denied})())
    with pytest.raises(AccessDeniedError):
        sources_from_account(session, [BUCKET], [REGION])


# -- a source's first file is never missed ----------------------------------------------------------
def test_first_file_named_a_window_before_creation_is_found() -> None:
    """AWS names files by 5-minute windows, so the first file's name may precede CreationTime
    (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html: the file name carries the
    start of the 5-minute aggregation window)."""
    created = T0 + timedelta(minutes=3)
    src = flow_source(created=created)
    w, s3 = fake_watcher([src])
    s3.put(key_of(src, T0), gz(flow_text()), created + timedelta(minutes=11))
    st = w.poll(created + timedelta(minutes=12))[0]
    assert st.files == 1


def test_first_file_delivered_later_than_the_late_window_is_found() -> None:
    src = flow_source(created=T0)
    w, s3 = fake_watcher([src], late_window=timedelta(minutes=10))
    for minutes in (5, 15, 25, 35):  # polls keep moving the cursor while nothing has arrived
        w.poll(T0 + timedelta(minutes=minutes))
    s3.put(key_of(src, T0), gz(flow_text()), T0 + timedelta(minutes=40))
    st = w.poll(T0 + timedelta(minutes=41))[0]
    assert st.files == 1
