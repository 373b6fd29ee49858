"""The summary screen at 80x24: what it shows whole and its keys (its content is tested with the live
panel in test_app_verify.py). A hand-made wizard state on in-process moto; nothing is applied."""

from __future__ import annotations

from pathlib import Path

from app_fixtures import make_app
from terminal_checks import footer_keys, screen_lines
from textual.widgets._footer import FooterKey

from aws.s3.strategy import BucketChoice
from screens.summary import SummaryScreen
from tui.app import FlowlogsApp

ROLE = "arn:aws:iam::123456789012:role/kentik-flowlogs"


def app_with_choices(tmp_path: Path) -> FlowlogsApp:
    app = make_app(tmp_path, start_step="buckets")
    state = app.state
    state.bucket_choice = BucketChoice(
        strategy="regional", bucket="kentik-{region}-logs", regions=["eu-west-1", "us-east-1"]
    )
    state.buckets = {r: f"kentik-{r}-logs" for r in ("eu-west-1", "us-east-1")}
    state.kentik_role_arn, state.external_id = ROLE, "184372"
    return app


async def test_at_80x24_the_summary_shows_its_title_the_registration_and_every_key_whole(
    moto: None, tmp_path: Path
) -> None:
    app = app_with_choices(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(SummaryScreen([]))
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0].strip() == "Summary: register these in Kentik"
        assert lines[1].strip() == "Register in Kentik (AWS / S3 flow logs):"
        assert lines[2].split() == ["Role", "ARN:", ROLE]
        keys = footer_keys(app)
        assert {"Copy", "Export JSON", "Live panel", "Back"} <= set(keys) and all(keys.values()), keys


async def test_every_summary_key_has_a_name_of_its_own(moto: None, tmp_path: Path) -> None:
    """Escape returns to the live panel and ctrl+b goes to the previous step: not both "Back"."""
    app = app_with_choices(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(SummaryScreen([]))
        await pilot.pause()
        names = [key.description for key in app.screen.query(FooterKey)]
        assert len(names) == len(set(names)), names


async def test_the_summary_note_fits_one_row_at_80_columns(moto: None, tmp_path: Path) -> None:
    app = app_with_choices(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(SummaryScreen([]))
        await pilot.pause()
        note = str(app.screen.query_one("#summary-note").render())
        assert "\n" not in note and note in screen_lines(app)[-2]
