"""Shared fixtures. Tests never reach the network: AWS is moto (in-process `mock_aws`, or a
ThreadedMotoServer on 127.0.0.1), and credentials are fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aws.audit import AuditLog
from aws.session import AwsSession, SessionOptions

if TYPE_CHECKING:
    from aws.sandbox.strict import ManualClock

# `seeded`: the deterministic demo account for TUI tests; `api_recorder`: fails the run when flowlogs
# code makes an AWS call the IAM permissions declaration (aws/permissions.py) does not cover.
pytest_plugins = ["app_fixtures", "api_recorder"]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no real profile or config file, no Kentik account, state and config dirs in tmp."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    # Nor the user's Kentik account: a test that talks to Kentik starts its own fake and sets these.
    for var in ("KENTIK_EMAIL", "KENTIK_API_TOKEN", "KENTIK_API_URL", "KENTIK_V5_API_URL"):
        monkeypatch.delenv(var, raising=False)
    # A proxy of the machine running the tests must not carry the calls to the local fakes away.
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("FLOWLOGS_CONFIG", str(tmp_path / "flowlogs-config.toml"))
    monkeypatch.setenv("FLOWLOGS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # ~0.7 s per region saved; no test uses AMIs
    # Kentik's client waits before asking a busy Kentik again: never for real in a test.
    import aws.kentik.api

    monkeypatch.setattr(aws.kentik.api, "sleep", lambda _: None)


@pytest.fixture(autouse=True)
def no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors do not blink in tests: no timer repaints while a test waits, and snapshots do not
    depend on when they are taken."""
    from textual.widgets import Input, TextArea

    for widget in (Input, TextArea):
        monkeypatch.setattr(widget.__dict__["cursor_blink"], "_default", False)


@pytest.fixture
def moto() -> Iterator[None]:
    """In-process moto with the AWS-strictness fixes the sandbox applies too."""
    from moto import mock_aws

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    with mock_aws():
        yield


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
def session(moto: None, audit: AuditLog) -> AwsSession:
    """A session on in-process moto, home region us-east-1, auditing to tmp."""
    return AwsSession(SessionOptions(region="us-east-1"), audit=audit)


@pytest.fixture
def flowlog_lag(moto: None) -> Iterator[ManualClock]:
    """DescribeFlowLogs lags CreateFlowLogs by 30 s on a manual clock (AWS is eventually consistent):
    `flowlog_lag.advance(seconds)` moves time on; `set_describe_lag()` changes the lag."""
    from aws.sandbox.strict import ManualClock, describe_lag

    clock = ManualClock()
    with describe_lag(30.0, clock=clock):
        yield clock
