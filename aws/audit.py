"""Append-only JSONL audit log of every mutating AWS call.

One JSON object per line: time (UTC, ISO 8601), caller identity ARN, service, region, operation,
parameters (secrets redacted, payloads summarised) and the result (ok + a short response summary, or
the error code and message). The file is only ever opened for appending.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


class AuditLog:
    """Thread-safe appender. Each record is written with a single `write` on an O_APPEND descriptor."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **redact(record)}
        line = json.dumps(entry, sort_keys=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Read back every record (for the summary screen and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
