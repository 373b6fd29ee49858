"""The IAM step's "Create a Kentik role" (screens/create_role.py), driven through Textual's pilot on the
seeded demo account with discovery's Kentik roles taken away: offered only when no role trusts Kentik,
inputs checked as typed, the Changes previewed and applied through the plan review, a role that exists
with another trust refused through the app's error display, and the IAM step going on with the new role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_app_policy import policy_app, settle
from textual.widgets import Input, Static

from aws.iam.kentik_role import READ_POLICY_NAME, trust_document
from aws.sandbox.seed import SeedSummary
from screens.create_role import CREATE_HINT, CreateRoleScreen
from screens.policy_diff import PolicyDiffScreen
from tui.app import FlowlogsApp
from tui.plan_view import PlanReview
from tui.steps import ALL_STEPS

ROLE, EXTERNAL_ID = "kentik-ingest-role", "271828"


def no_kentik_role_app(tmp_path: Path) -> FlowlogsApp:
    """The IAM step after a discovery that found no role trusting Kentik."""
    app = policy_app(tmp_path)
    assert app.state.inventory is not None
    app.state.inventory.roles = []
    return app


def message(app: FlowlogsApp) -> str:
    return str(app.screen.query_one("#create-role-message", Static).content)


async def open_dialog(pilot: Any, external_id: str = EXTERNAL_ID) -> CreateRoleScreen:
    await settle(pilot)
    await pilot.press("c")
    await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, CreateRoleScreen)
    dialog.query_one("#external-id", Input).value = external_id
    await pilot.pause()
    return dialog


def trust_of(role: str) -> dict[str, Any]:
    doc = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return doc if isinstance(doc, dict) else json.loads(doc)


async def test_the_step_offers_to_create_a_role_when_none_trusts_kentik(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = no_kentik_role_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert CREATE_HINT in str(app.screen.query_one("#info-text", Static).content)
        dialog = await open_dialog(pilot)
        assert dialog.query_one("#role-name", Input).value == ROLE


async def test_no_offer_when_discovery_found_kentiks_role(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, PolicyDiffScreen)


async def test_a_bad_external_id_is_said_and_nothing_is_planned(seeded: SeedSummary, tmp_path: Path) -> None:
    app = no_kentik_role_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dialog(pilot, external_id="id#7")
        assert "the external id may only hold" in message(app) and "not '#'" in message(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CreateRoleScreen)
        assert "the external id may only hold" in message(app)


async def test_create_preview_apply_and_the_step_goes_on_with_the_new_role(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = no_kentik_role_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dialog(pilot)
        await pilot.press("enter")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        assert [c.kind for c in review.plan.changes] == [
            "iam.create-role",
            "iam.create-policy",
            "iam.attach-role-policy",
            "iam.put-role-read-policy",
        ]
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert review.report is not None and review.report.ok
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        assert screen.query_one("#source", Input).value == ROLE
        assert screen.proposal is not None and screen.proposal.target.policy_name == READ_POLICY_NAME
        assert screen.proposal.merge.noop  # the new role already reads the step's bucket
        assert app.state.kentik_role_arn.endswith(f":role/{ROLE}") and app.state.external_id == EXTERNAL_ID
    assert trust_of(ROLE) == trust_document(EXTERNAL_ID)


async def test_a_role_of_that_name_with_another_trust_is_refused_through_the_error_display(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = no_kentik_role_app(tmp_path)
    errors: list[BaseException] = []
    shown = app.show_error

    def record(error: BaseException, context: str = "") -> None:
        errors.append(error)
        shown(error, context)

    app.show_error = record  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#role-name", Input).value = seeded.kentik_role_name  # trusts Kentik with 184372
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CreateRoleScreen)
        assert "requires sts:ExternalId 184372, not 271828" in message(app)
        assert [type(e).__name__ for e in errors] == ["ExistingRoleDiffers"]
    assert trust_of(seeded.kentik_role_name)["Statement"][0]["Condition"]["StringEquals"] == {
        "sts:ExternalId": "184372"
    }


# -- snapshot --------------------------------------------------------------------------------------------


@pytest.fixture
def fixed_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.app.available_steps", lambda: list(ALL_STEPS))


async def _dialog_with_a_problem(pilot: Any) -> None:
    await open_dialog(pilot, external_id="id#7")


def test_snapshot_dialog_80x24(
    seeded: SeedSummary, tmp_path: Path, fixed_steps: None, snap_compare: Any
) -> None:
    assert snap_compare(
        no_kentik_role_app(tmp_path), terminal_size=(80, 24), run_before=_dialog_with_a_problem
    )
