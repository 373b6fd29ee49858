"""The content check of one delivered log file: is it gzip text Kentik can read, and what is in it?

`check_content(data, key=..., kind=..., complete=...)` parses the first bytes of a file (a capped
Range GET, or the whole file when `complete`) and returns a `ContentCheck`: `ok` when it is readable
gzip text that parses (a flow log header and records, or firewall JSON events), with the problems that
make it unreadable and warnings (missing v2-v5 or transit gateway fields, a header differing from the
flow log's LogFormat, bad lines). At most `TEXT_CAP` decompressed bytes are parsed. Pure: no AWS call.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field

from aws.logs.format import EXTRA_FIELDS, REQUIRED_FIELDS, missing_fields
from aws.logs.tgw_format import tgw_missing_fields

TEXT_CAP = 4 * 1024 * 1024  # decompressed bytes parsed at most
SAMPLE_ROWS = 5


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
