"""One apply per account at a time on this machine: an advisory lock in the state directory.

`account_lock(state_dir, account)` holds `fcntl.flock` on `state_dir/locks/{account}.lock` for the
duration of an apply and writes the holder (pid, start time, command) into the file. A second apply
refuses at once with `LockHeld` naming that holder, or, with `wait=SECONDS`, polls until the lock is
free or the time is up. The lock goes with the process: a crashed apply leaves no stale lock behind
(the file stays, its contents describe the last holder and are only read while it is locked).

Across machines the AWS-side checks of each executor keep the end state single; this only stops two
applies on one machine from racing each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aws.errors import FlowlogsError

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    started: str
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another flowlogs process (it has not written its pid yet)"
        text = f"process {self.pid}, started {self.started or '?'}"
        return f"{text} ({self.command})" if self.command else text


class LockHeld(FlowlogsError):
    """Another apply against the same account is running on this machine. Nothing was changed."""

    kind = "usage"

    def __init__(self, account: str, holder: LockHolder, path: Path, waited: float) -> None:
        waited_text = f" (waited {waited:g} s)" if waited else ""
        super().__init__(
            f"Another apply against account {account} is running: {holder.describe()}{waited_text}. "
            "Nothing was changed.",
            hint=f"Let it finish, or wait for it with --wait SECONDS. Lock file: {path}",
        )
        self.account = account
        self.holder = holder
        self.path = path


def lock_path(state_dir: Path, account: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account) or "unknown"
    return state_dir / "locks" / f"{safe}.lock"


def read_holder(fd: int) -> LockHolder:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 64 * 1024)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        data = {}
    pid = data.get("pid") if isinstance(data, dict) else None
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        started=str(data.get("started", "")) if isinstance(data, dict) else "",
        command=str(data.get("command", "")) if isinstance(data, dict) else "",
    )


@contextmanager
def account_lock(
    state_dir: Path, account: str, *, wait: float = 0, command: str | None = None
) -> Iterator[LockHolder]:
    """Hold the apply lock of `account` (yields this holder). Raises LockHeld when another process or
    thread holds it and `wait` seconds (0: none) pass without it being released."""
    path = lock_path(state_dir, account)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        deadline = start + max(wait, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(account, read_holder(fd), path, wait) from None
                time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        me = LockHolder(
            pid=os.getpid(),
            started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            command=command if command is not None else " ".join(sys.argv),
        )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"pid": me.pid, "started": me.started, "command": me.command}).encode())
        try:
            yield me
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def account_locks(
    state_dir: Path, accounts: Iterable[str], *, wait: float = 0, command: str | None = None
) -> Iterator[list[LockHolder]]:
    """Hold the apply lock of every account (a plan across accounts), taken in sorted order so two
    applies touching the same accounts cannot deadlock. Raises LockHeld (nothing changed) for the first
    account another process holds; the locks already taken are released."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(account_lock(state_dir, account, wait=wait, command=command))
            for account in sorted(set(accounts))
        ]
