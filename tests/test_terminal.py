"""Every wizard step on a bastion's 80x24 terminal: the safety state leads the top bar and every key
the footer shows fits, Next and Back among them; verdict words stay readable (WCAG AA, 4.5:1) in the
default theme, under NO_COLOR and in 16 colours."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import make_app, seeded_inventory
from terminal_checks import AA, footer_keys, screen_lines, word_contrasts
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from aws.sandbox.seed import SeedSummary
from tui.app import FlowlogsApp
from tui.steps import ALL_STEPS

STEPS = [step.key for step in ALL_STEPS]
VERDICTS = {"missing", "needs-change", "compliant", "scanned", "read set", "FAILED", "failed", "waiting"}
VERDICTS |= {"receiving", "stale", "✓ applied", "✗ FAILED"}
# The verdict words each measured step shows on the seeded account (so a test measures them all).
SHOWN = {"discovery": {"missing", "scanned"}, "checklist": {"missing", "needs-change"}, "verify": {"waiting"}}


async def idle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def step_app(tmp_path: Path, step: str, *, read_only: bool = False) -> FlowlogsApp:
    app = make_app(tmp_path, start_step=step, read_only=read_only)
    assert app.session is not None
    app.state.inventory = seeded_inventory(app.session)
    return app


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("read_only", [False, True])
async def test_the_safety_state_leads_the_top_bar(
    seeded: SeedSummary, tmp_path: Path, step: str, read_only: bool
) -> None:
    app = step_app(tmp_path, step, read_only=read_only)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        top = screen_lines(app)[0].split()
    assert top[:2] == ["flowlogs", "READ-ONLY" if read_only else "read-write"]


@pytest.mark.parametrize("step", STEPS)
async def test_every_footer_key_fits_at_80_columns_with_the_moves_that_work_there(
    seeded: SeedSummary, tmp_path: Path, step: str
) -> None:
    app = step_app(tmp_path, step)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        keys = footer_keys(app)
    moves = (
        {"Next", "Back"}
        - ({"Back"} if step == STEPS[0] else set())
        - ({"Next"} if step == STEPS[-1] else set())
    )
    shown = {"Next", "Back"} & set(keys)
    assert (shown, [k for k, whole in keys.items() if not whole]) == (moves, [])


@pytest.mark.parametrize("mode", ["truecolor", "NO_COLOR", "16 colours", "ansi-dark"])
@pytest.mark.parametrize("step", sorted(SHOWN))
async def test_verdict_words_keep_aa_contrast(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, mode: str
) -> None:
    if mode == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    app = step_app(tmp_path, step)
    if step == "verify":
        app.state.buckets = {"us-east-1": "northwind-flowlogs-use1"}  # a seeded log bucket to watch
    async with app.run_test(size=(120, 40)) as pilot:
        if mode == "ansi-dark":
            app.theme = "ansi-dark"
        await idle(pilot)
        found = word_contrasts(app, VERDICTS, colours=16 if mode == "16 colours" else 0)
    assert (SHOWN[step] - {w.word for w in found}, [w for w in found if w.ratio < AA]) == (set(), [])


@pytest.mark.parametrize("step", ["discovery", "checklist"])
def test_snapshot_no_color_80x24(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare: Any, step: str
) -> None:
    """What NO_COLOR=1 shows at 80x24: greys only, every verdict a word, the cursor row still marked."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(step_app(tmp_path, step), terminal_size=(80, 24), run_before=idle)


@pytest.mark.parametrize(("setting", "used"), [("ansi-dark", "ansi-dark"), ("ansi-light", "ansi-light")])
def test_the_ansi_themes_can_be_set(tmp_path: Path, setting: str, used: str) -> None:
    from tui.config import Settings
    from tui.factory import create_app

    assert create_app(Settings(theme=setting), session=None).theme == used


async def test_an_unknown_theme_falls_back_to_the_default_and_says_so(moto: None, tmp_path: Path) -> None:
    from tui.config import Settings
    from tui.factory import create_app

    app = create_app(Settings(theme="solarised-typo"), session=None)
    titles: list[str | None] = []
    notify = app.notify

    def recording(message: str, *, title: str = "", **kwargs: Any) -> None:
        titles.append(title)  # what the user is told, however long the toast stays up on a busy machine
        notify(message, title=title, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert (app.theme, "Theme" in titles) == ("flowlogs-dark", True)


@pytest.mark.parametrize("mode", ["truecolor", "NO_COLOR", "16 colours", "ansi-dark"])
async def test_the_top_bar_and_the_footer_keep_aa_contrast(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    app = step_app(tmp_path, "discovery")
    async with app.run_test(size=(80, 24)) as pilot:
        if mode == "ansi-dark":
            app.theme = "ansi-dark"
        await idle(pilot)
        found = word_contrasts(app, None, colours=16 if mode == "16 colours" else 0, rows={0, 23})
    assert [(w.word, w.ratio) for w in found if w.ratio < AA] == []
