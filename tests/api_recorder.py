"""Records every AWS operation flowlogs' own code makes during the test run, and fails the run when the
permissions declaration (`aws/permissions.py`) does not cover one.

* What is recorded: calls through `aws.session.AwsSession` clients (a `before-call` handler added after
  the session's own hooks, so calls refused in read-only mode are not counted) whose innermost project
  frame is flowlogs code (`aws/`, `screens/`, `tui/`). Calls a test makes itself to set up or inspect
  moto (innermost project frame in `tests/`) and the demo sandbox (`aws/sandbox/`, which uses its own
  boto3 clients anyway) are left out; `Executor.call` is looked through (its caller decides). A call with no project frame at all (a pool thread running a client
  method that engine code submitted) counts as flowlogs'.
* Merging: each process (the only one without xdist; the controller and every worker with it) writes
  its set to `<dir>/<worker id>.json` at session finish. The controller makes `<dir>` and hands it to
  the workers through `workerinput`; workers finish before the controller's session finish, which then
  merges every file, checks the union and removes the directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from aws.permissions import REGENERATE, Uncovered, uncovered_calls
from aws.session import AwsSession

ROOT = Path(__file__).resolve().parents[1]
_APP = tuple(str(ROOT / d) + os.sep for d in ("aws", "screens", "tui"))
_NOT_APP = (str(ROOT / "aws" / "sandbox") + os.sep, str(ROOT / "tests") + os.sep)
_THIS = str(Path(__file__).resolve())
# Project functions that make a call on behalf of their caller: the caller decides whose call it is
# (`Executor.call` sends the call a Change names, for an engine executor or a test's own executor).
_TRANSPARENT = {(str(ROOT / "aws" / "plans" / "change.py"), "call")}
DIR_KEY = "flowlogs_api_calls_dir"

# (boto3 service, operation) -> where flowlogs first made it ("aws/logs/watch.py:270").
CALLS: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()
_DIR = pytest.StashKey[Path]()
_REPORT = pytest.StashKey[list[str]]()


def caller(frame: FrameType | None) -> str | None:
    """'path:line' of the innermost project frame at or above `frame` when it is flowlogs code, None
    when it is a test or the sandbox, "" when there is no project frame."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name != _THIS and (name, frame.f_code.co_name) not in _TRANSPARENT:
            if name.startswith(_NOT_APP):
                return None
            if name.startswith(_APP):
                return f"{os.path.relpath(name, ROOT)}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def record(service: str, operation: str, where: str) -> None:
    if (service, operation) not in CALLS:
        with _LOCK:
            CALLS.setdefault((service, operation), where or "(a pool thread)")


def _recording(original: Callable[..., None]) -> Callable[..., None]:
    def install_hooks(self: AwsSession, client: Any, service: str, region: str) -> None:
        original(self, client, service, region)

        def on_call(model: Any, **_: Any) -> None:
            where = caller(sys._getframe(1))
            if where is not None:
                record(service, model.name, where)

        client.meta.events.register("before-call", on_call)

    install_hooks.__wrapped__ = original  # type: ignore[attr-defined]
    return install_hooks


def merge(directory: Path) -> dict[tuple[str, str], str]:
    """The union of every process's recording in `directory`."""
    out: dict[tuple[str, str], str] = {}
    for path in sorted(directory.glob("*.json")):
        for service, operation, where in json.loads(path.read_text(encoding="utf-8")):
            out.setdefault((service, operation), where)
    return out


def report(uncovered: Iterable[Uncovered], calls: dict[tuple[str, str], str]) -> list[str]:
    lines = [
        "AWS calls made by flowlogs code during the tests that the permissions declaration does not cover",
        f"(declare each next to the code that makes it, see aws/permissions.py; then run `{REGENERATE}`):",
    ]
    lines += [
        f"  {u.describe()}  first made at {calls.get((u.service, u.operation), '?')}" for u in uncovered
    ]
    return lines


def _worker_id(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "controller"


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and DIR_KEY in workerinput:
        config.stash[_DIR] = Path(workerinput[DIR_KEY])
    else:
        config.stash[_DIR] = Path(tempfile.mkdtemp(prefix="flowlogs-api-calls-"))
    if not hasattr(AwsSession._install_hooks, "__wrapped__"):
        AwsSession._install_hooks = _recording(AwsSession._install_hooks)  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    original = getattr(AwsSession._install_hooks, "__wrapped__", None)
    if original is not None:
        AwsSession._install_hooks = original  # type: ignore[method-assign]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist (controller): give each worker the shared directory."""
    node.workerinput[DIR_KEY] = str(node.config.stash[_DIR])


@pytest.hookimpl(tryfirst=True)  # a worker writes before xdist tells the controller it has finished
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    directory = config.stash[_DIR]
    with _LOCK:
        rows = sorted([s, o, w] for (s, o), w in CALLS.items())
    if directory.is_dir():
        (directory / f"{_worker_id(config)}.json").write_text(json.dumps(rows), encoding="utf-8")
    if hasattr(config, "workerinput"):
        return
    calls = merge(directory)
    shutil.rmtree(directory, ignore_errors=True)
    if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR):
        return
    uncovered = uncovered_calls(calls)
    if uncovered:
        config.stash[_REPORT] = report(uncovered, calls)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, None)
    if lines:
        terminalreporter.section("IAM permissions not declared", red=True, bold=True)
        for line in lines:
            terminalreporter.line(line, red=True)
