"""The app shell and the discovery screen, driven through Textual's pilot on a seeded demo account."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import make_app
from botocore.exceptions import ClientError
from rich.color import Color, ColorSystem
from terminal_checks import AA, footer_keys, screen_lines, word_contrasts
from textual.widgets import DataTable

from aws.assess import assess_vpc
from aws.inventory import CallerIdentity, FlowLog, Inventory, RegionResult, RegionStatus, Vpc
from aws.sandbox.seed import SeedSummary
from screens.discovery import SHORT_REASON, VERDICT_STYLE, DiscoveryScreen, FullText
from tui.app import FlowlogsApp
from tui.config import Settings
from tui.factory import create_app
from tui.palette import BAD, OK, WARN
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
        note = screen.note_text
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
        names = {str(name) for name in detail.get_column("name")}
        regions = {str(region) for region in detail.get_column("region")}
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


async def test_a_step_shown_again_shows_the_read_only_mode_toggled_on_another(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        await pilot.press("ctrl+n")  # the bucket step: its screen stays in its own mode
        await wait_idle(pilot)
        bucket_screen = app.screen
        await pilot.press("ctrl+b", "ctrl+t", "ctrl+n")
        await wait_idle(pilot)
        assert app.screen is bucket_screen and app.session is not None and app.session.read_only
        assert bucket_screen.query_one(ContextBar).read_only


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
        for _ in range(100):  # a loaded machine may not have pushed the step's screen yet
            if isinstance(pilot.app.screen, DiscoveryScreen):
                break
            await pilot.pause(0.02)
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


# -- 80x24 (bastion terminals) ------------------------------------------------------------------------

ACCOUNT = "123456789012"
VERDICT_WORDS = {label for label, _ in VERDICT_STYLE.values()}


def _subnet_log(n: int) -> FlowLog:
    return FlowLog(
        flow_log_id=f"fl-{n:017x}",
        resource_id=f"subnet-{n:017x}",
        resource_type="Subnet",
        status="ACTIVE",
        traffic_type="ALL",
        destination_type="s3",
        destination="arn:aws:s3:::old-logs",
        bucket="old-logs",
    )


def partial_inventory() -> Inventory:
    """One region, 8 VPCs without a flow log; the first has subnet flow logs on 6 subnets, so its reason
    (partial coverage, naming each subnet and flow log) is a paragraph."""
    region = RegionResult(name="eu-west-1", status=RegionStatus.SCANNED)
    for k in range(8):
        vpc = Vpc(vpc_id=f"vpc-{k:017x}", name=f"team-{k}")
        if k == 0:
            vpc.partial_flow_logs = [_subnet_log(n) for n in range(6)]
        region.vpcs.append(assess_vpc(vpc))
    return Inventory(
        identity=CallerIdentity(account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/t", partition="aws"),
        home_region="us-east-1",
        started_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        regions=[region],
    )


def partial_app(tmp_path: Path) -> FlowlogsApp:
    app = make_app(tmp_path)
    app.state.inventory = partial_inventory()
    return app


def detail_rows_on_screen(app: FlowlogsApp) -> list[str]:
    """The detail table's rows as the terminal shows them (not its header)."""
    detail = app.screen.query_one("#detail", DataTable)
    lines = screen_lines(app)
    top = detail.region.y + 1
    return [line for line in lines[top : detail.region.bottom] if line.strip()]


async def dialog_text(pilot: Any) -> str:
    """The words the terminal shows once the FullText dialog is drawn (its border left out)."""
    for _ in range(20):
        lines = screen_lines(pilot.app)
        if any("(Esc closes)" in line for line in lines):
            break
        await pilot.pause(0.02)
    return " ".join(" ".join(line.strip(" █┃") for line in lines).split())


async def test_every_footer_key_is_whole_at_80x24(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        keys = footer_keys(app)
        assert {"Rescan", "Filter", "Details", "Next"} <= set(keys) and all(keys.values()), keys
        app.screen.query_one("#detail", DataTable).focus()  # a region's rows
        await pilot.pause()
        assert all(footer_keys(app).values()), footer_keys(app)
        await pilot.press("slash", *"prod")  # the filter open, its box focused
        await pilot.pause()
        keys = footer_keys(app)
        assert "Next" in keys and all(keys.values()), keys


async def test_reasons_are_whole_words_at_80x24(seeded: SeedSummary, tmp_path: Path) -> None:
    """Every reason in the detail table fits its column whole, in a few words; the table never scrolls
    sideways at 80 columns; each row on screen shows its reason uncut."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        detail = screen.query_one("#detail", DataTable)
        short = set(SHORT_REASON.values())
        checked = 0
        for name in ("us-east-1", "eu-west-1", "us-west-2", "ap-northeast-1"):
            screen.show_region(name)
            await pilot.pause()
            width = detail.columns["reason"].width  # type: ignore[index]
            assert sum(c.get_render_width(detail) for c in detail.columns.values()) + 2 <= 80
            for i in range(detail.row_count):
                reason = str(detail.get_cell_at((i, list(detail.columns).index("reason"))))  # type: ignore[arg-type]
                words = reason.split(" +")[0].split(", ")
                assert len(reason) <= width and "…" not in reason, reason
                assert set(words) <= short or reason.startswith(("fl-", "flow log fl-", "FLOW")), reason
                detail.move_cursor(row=i)
                await pilot.pause()
                shown = detail_rows_on_screen(app)[i - round(detail.scroll_offset.y)]
                assert reason in shown, (reason, shown)
                checked += 1
        assert checked >= 12


async def test_a_long_note_leaves_the_table_rows_at_80x24(moto: None, tmp_path: Path) -> None:
    app = partial_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        detail = screen.query_one("#detail", DataTable)
        detail.focus()
        detail.move_cursor(row=0)  # team-0: the paragraph of partial coverage
        await pilot.pause()
        assert "cover part of this VPC" in screen.note_text and len(screen.note_text) > 400
        note = screen.query_one("#note")
        assert note.region.height == 3  # cut to 3 lines, saying how to see it all
        assert screen_lines(app)[note.region.bottom - 1].rstrip().endswith("… (i: all)")
        assert len(detail_rows_on_screen(app)) >= 5
        await pilot.press("i")  # the note whole
        await pilot.pause()
        assert isinstance(app.screen, FullText)
        assert " ".join(screen.note_text.split()) in await dialog_text(pilot)  # in the dialog
        await pilot.press("escape")
        await pilot.pause()

        # The filter's state: its box takes a line, the table still shows several rows.
        await pilot.press("slash", *"team", "enter")
        await pilot.pause()
        detail.move_cursor(row=0)
        await pilot.pause()
        assert screen.query_one("#note").region.height == 3
        rows = detail_rows_on_screen(app)
        assert len(rows) >= 4 and all("no flow log" in row for row in rows), rows


async def test_enter_on_a_row_shows_its_reasons_whole(moto: None, tmp_path: Path) -> None:
    app = partial_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        detail = app.screen.query_one("#detail", DataTable)
        detail.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FullText)
        assert "vpc-00000000000000000 (team-0): missing — no VPC-level flow log" in str(app.screen.text)


def test_verdicts_are_words_and_only_missing_is_red_in_16_colours() -> None:
    labels = [label for label, _ in VERDICT_STYLE.values()]
    assert len(set(labels)) == len(labels) and all(label.isascii() and label for label in labels)
    red = {1, 9}  # xterm's red and bright red
    for label, style in VERDICT_STYLE.values():
        assert style in (OK, WARN, BAD), (label, style)  # the palette's meanings, not colour names
        number = Color.parse(style).downgrade(ColorSystem.STANDARD).number
        assert (number in red) == (label == "missing"), (label, style, number)


async def test_verdict_words_keep_their_contrast_in_16_colours(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        screen.show_region("us-east-1")  # compliant, needs-change and missing rows
        await pilot.pause()
        for colours in (0, 16):
            found = word_contrasts(app, VERDICT_WORDS, colours=colours)
            assert {f.word for f in found} == {"compliant", "needs-change", "missing"}
            assert all(f.ratio >= AA for f in found), (colours, found)
