"""Append-only, write-ahead JSONL audit log of every mutating AWS call.

One JSON object per line, each written with a single `write` on an O_APPEND descriptor. A logical call
(one botocore API call, retries included) is a group of records sharing a `call_id`, told apart by
`phase`:

* "intent": written and fsynced before the first HTTP request is sent: time, identity ARN (when known),
  account, service, region, operation, target, parameters (secrets redacted, payloads summarised) and,
  for a custom endpoint, `endpoint`.
* "attempt": one per retry (attempt 2, 3, ...), written before that request is sent.
* "result": after the call, with the same fields as the intent plus `result` (ok + a short response
  summary, or the error code and message) and `attempts`; fsynced too.
* "refused": a call blocked by read-only mode; nothing was sent, so there is no intent.

After a crash (even kill -9) every mutating request that left the process has at least its intent on
disk; an intent without a result is a call whose outcome is unknown. Records of the demo sandbox carry
`"demo": true`. The file is only ever opened for appending.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

_SECRET_WORDS = ("secret", "password", "token", "credential", "sessionkey", "accesskey", "privatekey")
_PAYLOAD_KEYS = {"Body"}


def redact(value: Any, key: str = "") -> Any:
    """Copy `value` with secrets replaced by "***" and large payloads replaced by their size."""
    lowered = key.lower().replace("_", "").replace("-", "")
    if key and any(word in lowered for word in _SECRET_WORDS) and lowered not in {"updatetoken"}:
        return "***"
    if key in _PAYLOAD_KEYS:
        size = len(value) if isinstance(value, (bytes, str)) else None
        return f"<{size} bytes>" if size is not None else "<stream>"
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


Phase = Literal["intent", "attempt", "result", "refused"]
PHASES: tuple[Phase, ...] = ("intent", "attempt", "result", "refused")


def new_call_id() -> str:
    return uuid.uuid4().hex


class AuditLog:
    """Thread-safe appender. Each record is written with a single `write` on an O_APPEND descriptor;
    `sync=True` also fsyncs it before returning (the write-ahead intent). `demo=True` marks every record
    as the demo sandbox's."""

    def __init__(self, path: Path, *, demo: bool = False) -> None:
        self.path = Path(path)
        self.demo = demo
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any], *, sync: bool = False) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **redact(record)}
        if self.demo:
            entry["demo"] = True
        line = json.dumps(entry, sort_keys=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def size(self) -> int:
        """The log's length in bytes now: `records(since=size)` later reads only what came after."""
        return self.path.stat().st_size if self.path.exists() else 0

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        """Every line as written, all phases (from byte offset `since`, a `size()` taken earlier). A line
        cut short by a crash is left out."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(since)
            out = []
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
            return [e for e in out if isinstance(e, dict)]

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        """One record per logical call, in log order: its result (or refusal), or its intent when no
        result was written (a call still in flight, or a crash: outcome unknown). Lines without a phase
        (older logs) pass through. `since`: only calls logged from that byte offset on."""
        entries = self.entries(since)
        finished = {e["call_id"] for e in entries if e.get("phase") == "result" and "call_id" in e}
        out: list[dict[str, Any]] = []
        for entry in entries:
            phase = entry.get("phase")
            if phase in (None, "result", "refused") or (
                phase == "intent" and entry.get("call_id") not in finished
            ):
                out.append(entry)
        return out
