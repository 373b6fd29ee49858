"""One apply per account on this machine: the advisory lock (aws.lock) and `flowlogs apply --wait`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from aws.lock import LockHeld, account_lock, lock_path
from aws.plans.change import Change, Plan
from tui.cli import main
from tui.config import state_dir

ACCOUNT = "123456789012"

HOLDER = """
import sys
from pathlib import Path
from aws.lock import account_lock
with account_lock(Path(sys.argv[1]), sys.argv[2], command="holder-apply"):
    print("locked", flush=True)
    sys.stdin.readline()  # released when the test writes a line or closes stdin
"""


class Holder:
    """Another process holding the lock of an account until `release()`."""

    def __init__(self, directory: Path, account: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(directory), account],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the lock is held (or the process died)
        if line.strip() != "locked":
            self.proc.kill()
            raise RuntimeError(f"holder did not take the lock: {line!r}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    held = Holder(tmp_path, ACCOUNT)
    yield held
    held.release()


def test_second_lock_refuses_naming_the_holder_pid(tmp_path: Path, holder: Holder) -> None:
    with pytest.raises(LockHeld) as info, account_lock(tmp_path, ACCOUNT):
        pass
    assert f"process {holder.pid}" in info.value.message


def test_refusal_names_the_holder_start_time_and_command(tmp_path: Path, holder: Holder) -> None:
    with pytest.raises(LockHeld) as info, account_lock(tmp_path, ACCOUNT):
        pass
    assert info.value.holder.started[:4].isdigit() and info.value.holder.command == "holder-apply"


def test_refusal_is_immediate_without_wait(tmp_path: Path, holder: Holder) -> None:
    start = time.monotonic()
    with pytest.raises(LockHeld), account_lock(tmp_path, ACCOUNT):
        pass
    assert time.monotonic() - start < 1.0


def test_lock_held_is_a_usage_error(tmp_path: Path, holder: Holder) -> None:
    with pytest.raises(LockHeld) as info, account_lock(tmp_path, ACCOUNT):
        pass
    assert info.value.kind == "usage"


def test_wait_gives_up_at_the_deadline(tmp_path: Path, holder: Holder) -> None:
    start = time.monotonic()
    with pytest.raises(LockHeld), account_lock(tmp_path, ACCOUNT, wait=0.3):
        pass
    assert 0.3 <= time.monotonic() - start < 2.0


def test_wait_proceeds_once_the_holder_releases(tmp_path: Path, holder: Holder) -> None:
    threading.Timer(0.3, holder.release).start()
    with account_lock(tmp_path, ACCOUNT, wait=20) as me:
        assert me.pid == os.getpid()


def test_other_accounts_are_not_blocked(tmp_path: Path, holder: Holder) -> None:
    with account_lock(tmp_path, "210987654321") as me:
        assert me.pid == os.getpid()


def test_two_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    errors: list[Exception] = []

    def second() -> None:
        try:
            with account_lock(tmp_path, ACCOUNT):
                pass
        except LockHeld as err:
            errors.append(err)

    with account_lock(tmp_path, ACCOUNT):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=10)
    assert [type(e) for e in errors] == [LockHeld]


def test_lock_is_free_again_after_the_holder_exits(tmp_path: Path) -> None:
    Holder(tmp_path, ACCOUNT).release()
    with account_lock(tmp_path, ACCOUNT) as me:
        assert me.pid == os.getpid()


def test_lock_file_lives_in_the_state_dir(tmp_path: Path) -> None:
    assert lock_path(tmp_path, ACCOUNT) == tmp_path / "locks" / f"{ACCOUNT}.lock"


# -- flowlogs apply -----------------------------------------------------------------------------------


def bucket_plan(tmp_path: Path) -> Path:
    change = Change(
        id="s3.create-bucket:kentik-lock-test",
        kind="s3.create-bucket",
        title="Create bucket kentik-lock-test",
        reason="lock test",
        target="arn:aws:s3:::kentik-lock-test",
        service="s3",
        region="us-east-1",
        operation="CreateBucket",
        params={"Bucket": "kentik-lock-test"},
        group="bucket",
    )
    path = tmp_path / "plan.json"
    path.write_text(Plan(account=ACCOUNT, changes=[change]).to_json())
    return path


def buckets() -> set[str]:
    return {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


@pytest.fixture
def cli_holder(moto: None) -> Iterator[Holder]:
    held = Holder(state_dir(), ACCOUNT)
    yield held
    held.release()


def test_concurrent_cli_apply_exits_2_naming_the_holder(
    tmp_path: Path, cli_holder: Holder, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["apply", "--plan", str(bucket_plan(tmp_path)), "--yes"])
    assert (code, f"process {cli_holder.pid}" in capsys.readouterr().err) == (2, True)


def test_concurrent_cli_apply_changes_nothing(tmp_path: Path, cli_holder: Holder) -> None:
    main(["apply", "--plan", str(bucket_plan(tmp_path)), "--yes"])
    assert "kentik-lock-test" not in buckets()


def test_cli_apply_with_wait_runs_after_the_holder(tmp_path: Path, cli_holder: Holder) -> None:
    threading.Timer(0.3, cli_holder.release).start()
    code = main(["apply", "--plan", str(bucket_plan(tmp_path)), "--yes", "--wait", "20"])
    assert (code, "kentik-lock-test" in buckets()) == (0, True)
