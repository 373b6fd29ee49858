"""The app shell and the discovery screen, driven through Textual's pilot on a seeded demo account."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from app_fixtures import make_app
from botocore.exceptions import ClientError
from textual.widgets import DataTable

from aws.inventory import Inventory
from aws.sandbox.seed import SeedSummary
from screens.discovery import DiscoveryScreen
from tui.config import Settings
from tui.factory import create_app
from tui.widgets import ContextBar

EXPIRED = "AWS rejected the credentials (ExpiredToken): The security token included in the request is expired"


async def wait_idle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_scan_fills_region_table_and_drills_down(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        assert isinstance(app.state.inventory, Inventory)
        regions = screen.query_one("#regions", DataTable)
        names = [str(regions.get_row_at(i)[0]) for i in range(regions.row_count)]
        statuses = [str(regions.get_row_at(i)[1]) for i in range(regions.row_count)]
        scanned = [n for n, st in zip(names, statuses, strict=True) if st == "scanned"]
        assert scanned == sorted(scanned) and names[: len(scanned)] == scanned  # scanned first, by name
        assert statuses[-1] == "not-enabled" and "ap-east-1" in names
        assert "us-east-1" in names and "eu-west-1" in names
        bar = screen.query_one(ContextBar)
        assert bar.identity is not None and bar.identity.account == "123456789012"
        regions.focus()
        regions.move_cursor(row=names.index("us-east-1"))
        await pilot.press("enter")
        await pilot.pause()
        assert screen.selected == "us-east-1"
        detail = screen.query_one("#detail", DataTable)
        assert detail.row_count == 6  # us-east-1's seeded VPCs and firewalls


def fail_region(app, region: str, code: str = "AuthFailure") -> None:  # type: ignore[no-untyped-def]
    """Make every EC2 call in `region` fail the way AWS does for a region the credentials can't use."""

    def deny(**_: object) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": code,
                    "Message": "AWS was not able to validate the provided access credentials",
                }
            },
            "DescribeVpcs",
        )

    app.session.client("ec2", region).meta.events.register("before-call.ec2", deny)


def hold_region(app, region: str, release: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Keep `region` scanning until `release` is set (or 5 s pass), for a deterministic mid-scan state."""

    def wait(**_: object) -> None:
        release.wait(5)

    app.session.client("ec2", region).meta.events.register("before-call.ec2", wait)


async def test_failed_region_does_not_stop_others(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    fail_region(app, "eu-north-1")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        failed = screen.results["eu-north-1"]
        assert failed.status.value == "failed" and failed.error is not None
        assert "eu-north-1" in failed.error.hint
        assert screen.results["us-east-1"].status.value == "scanned"
        regions = screen.query_one("#regions", DataTable)
        row = regions.get_row("eu-north-1")
        assert str(row[-1]).startswith("AuthFailure")
        screen.show_region("eu-north-1")
        await pilot.pause()
        note = str(screen.query_one("#note").render())
        assert "eu-north-1 failed: AuthFailure" in note and "Fix:" in note


async def test_filter_finds_vpcs_in_every_region(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"prod")
        await pilot.pause()
        detail = screen.query_one("#detail", DataTable)
        names = {str(detail.get_row_at(i)[2]) for i in range(detail.row_count)}
        regions = {str(detail.get_row_at(i)[0]) for i in range(detail.row_count)}
        assert screen.filter_text == "prod", screen.filter_text
        assert sorted(names) == ["prod-core", "prod-eu", "prod-web-usw2"]
        assert sorted(regions) == ["eu-west-1", "us-east-1", "us-west-2"]  # matches from every region
        await pilot.press("escape")
        await pilot.pause()
        assert screen.filter_text == ""


async def test_rescan_and_read_only_toggle(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        first = app.state.inventory
        await pilot.press("r")
        await wait_idle(pilot)
        assert app.state.inventory is not first
        assert app.session is not None and not app.session.read_only
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.session.read_only
        assert app.screen.query_one(ContextBar).read_only
        assert app.session.stats.mutating() == 0  # discovery never changes anything


def test_snapshot_done_80x24(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_idle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_done_120x40(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_idle(pilot)
        screen = pilot.app.screen
        screen.show_region("us-east-1")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=(120, 40), run_before=run_before)


def test_snapshot_region_error_80x24(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path)
    fail_region(app, "ap-northeast-1")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_idle(pilot)
        pilot.app.screen.show_region("ap-northeast-1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_region_error_120x40(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path)
    fail_region(app, "ap-northeast-1")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_idle(pilot)
        pilot.app.screen.show_region("ap-northeast-1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def _scanning_snapshot(tmp_path: Path, snap_compare, size: tuple[int, int]) -> bool:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path)
    release = threading.Event()
    hold_region(app, "us-west-2", release)
    shutdown = app._shutdown

    async def release_then_shutdown() -> None:  # the picture is taken: let the held region finish now
        release.set()
        await shutdown()

    app._shutdown = release_then_shutdown  # type: ignore[method-assign]

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = pilot.app.screen
        for _ in range(400):
            pending = [r for r in screen.results.values() if r.status.value == "pending"]
            if screen.results and [r.name for r in pending] == ["us-west-2"] and pilot.app.identity:
                break
            await pilot.pause(0.02)
        screen.show_region("us-east-1")
        await pilot.pause()

    try:
        return bool(snap_compare(app, terminal_size=size, run_before=run_before))
    finally:
        release.set()


def test_snapshot_scanning_80x24(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert _scanning_snapshot(tmp_path, snap_compare, (80, 24))


def test_snapshot_scanning_120x40(seeded: SeedSummary, tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert _scanning_snapshot(tmp_path, snap_compare, (120, 40))


async def test_rejected_credentials_are_shown_not_crashed(moto: None, tmp_path: Path) -> None:
    """An expired token: one clear message, the scan marked failed, the app still running."""
    app = make_app(tmp_path)
    assert app.session is not None

    def expired(**_: object) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "ExpiredToken",
                    "Message": "The security token included in the request is expired",
                }
            },
            "GetCallerIdentity",
        )

    app.session.client("sts").meta.events.register("before-call.sts", expired)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):  # wait_for_complete() re-raises a failed worker: poll instead
            await pilot.pause(0.02)
            if not any(w.is_running for w in app.workers) and app.session_problem:
                break
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        assert "Scan failed" in str(screen.query_one("#progress-label").render())
        assert app.session_problem == EXPIRED
        shown = [(n.title, n.message) for n in app._notifications]  # each failed worker once, one place
        message = (
            EXPIRED + "\nRefresh the credentials (for SSO: aws sso login; for keys: check they are current)."
        )
        assert shown == [
            ("Credentials error (load_identity)", message),
            ("Credentials error (run_scan)", message),
        ]
        assert app.is_running


async def test_rescan_without_a_session_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No session (a profile that does not exist): the reason is shown as a typed error, never a RuntimeError."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    app = create_app(Settings(audit_log=tmp_path / "audit.jsonl", profile="no-such-profile"))
    assert app.session is None and "no-such-profile" in app.session_problem
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app._notifications.clear()
        await pilot.press("r")  # rescan
        await pilot.pause()
        shown = [(n.title, n.message) for n in app._notifications]
        assert shown == [("AWS session", app.session_problem)]
