"""The app shell and the discovery screen, driven through Textual's pilot on a seeded demo account."""

from __future__ import annotations

from pathlib import Path

from app_fixtures import make_app
from textual.widgets import DataTable

from aws.inventory import Inventory
from aws.sandbox.seed import SeedSummary
from screens.discovery import DiscoveryScreen
from tui.widgets import ContextBar


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
        assert names == sorted(names)
        assert "us-east-1" in names and "eu-west-1" in names
        bar = screen.query_one(ContextBar)
        assert bar.identity is not None and bar.identity.account == "123456789012"
        regions.focus()
        regions.move_cursor(row=names.index("us-east-1"))
        await pilot.press("enter")
        await pilot.pause()
        assert screen.selected == "us-east-1"
        detail = screen.query_one("#detail", DataTable)
        assert detail.row_count >= 1
