"""The summary screen at 80x24: what it shows whole and its keys (its content is tested with the live
panel in test_app_verify.py). A hand-made wizard state on in-process moto; nothing is applied."""

from __future__ import annotations

from pathlib import Path

from app_fixtures import make_app
from terminal_checks import footer_keys, screen_lines
from textual.widgets._footer import FooterKey

from aws.s3.strategy import BucketChoice
from screens.summary import SummaryScreen, registration, registration_text
from tui.app import FlowlogsApp
from tui.state import WizardState

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
        assert lines[0].split()[:2] == ["flowlogs", "read-write"]  # the safety state, where `r` registers
        assert lines[1].strip() == "Summary: register these in Kentik"
        assert lines[2].strip() == "Register in Kentik (AWS / S3 flow logs):"
        assert lines[3].split() == ["Role", "ARN:", ROLE]
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


def _org_state() -> WizardState:
    """A wizard state after an organization's discovery (the caller 123456789012 and two members)."""
    from datetime import datetime, timezone

    from aws.inventory import CallerIdentity
    from aws.org_scan import AccountScan, OrgInventory

    state = WizardState()
    state.org_inventory = OrgInventory(
        caller=CallerIdentity(
            account="123456789012", arn="arn:aws:iam::123456789012:user/a", partition="aws"
        ),
        org=True,
        assume_role="OrganizationAccountAccessRole",
        excluded=["999999999999"],
        started_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
        accounts=[
            AccountScan(account=a, status="scanned") for a in ("123456789012", "210987654321", "345678901234")
        ]
        + [AccountScan(account="456789012345", status="unreachable")],
    )
    state.bucket_choice = BucketChoice(
        strategy="central", bucket="kentik-logs", regions=["eu-west-1"], central_region="eu-west-1"
    )
    state.buckets = {"eu-west-1": "kentik-logs"}
    state.kentik_role_arn, state.spoke_role = ROLE, "KentikSpoke"
    return state


def test_the_summary_of_an_org_run_lists_what_kentiks_nested_setup_needs() -> None:
    text = registration_text(registration(_org_state(), [], account="123456789012"))
    assert text.split("Nested configuration (AWS Organizations):\n", 1)[1].splitlines()[:5] == [
        f"  Primary role ARN: {ROLE}",
        "  Secondary account ids: 210987654321, 345678901234",
        "  Secondary role name (suffix): KentikSpoke",
        "  Regions: eu-west-1",
        "  Left out: 456789012345, 999999999999",  # unreached, and excluded
    ]


def test_a_one_account_summary_has_no_nested_block() -> None:
    state = _org_state()
    state.org_inventory = None
    assert "Nested configuration" not in registration_text(registration(state, [], account="123456789012"))
