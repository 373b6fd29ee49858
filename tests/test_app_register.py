"""Register in Kentik from the summary (screens.register): on the seeded demo account (moto) after the
earlier steps' changes, against the local Kentik fake (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import make_app
from terminal_checks import footer_keys, screen_lines
from test_app_verify import EU_BUCKET, US_BUCKET, apply_setup, idle
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea

from aws.sandbox.kentik_fake import EXPORTS_PATH, KentikFake
from aws.sandbox.seed import SeedSummary
from screens.register import RegisterDialog
from screens.summary import SummaryScreen
from tui.app import FlowlogsApp
from tui.dialogs import Confirm

EMAIL, TOKEN = "ops@example.com", "tok-typed-5f3a9c0e7d21"
PLAN = "11467"  # the fake's one plan


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[KentikFake]:
    with KentikFake(email=EMAIL, token=TOKEN) as running:
        monkeypatch.setenv("KENTIK_API_URL", running.url)
        monkeypatch.setenv("KENTIK_V5_API_URL", running.url)
        yield running


def use_env(monkeypatch: pytest.MonkeyPatch, token: str = TOKEN) -> None:
    monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
    monkeypatch.setenv("KENTIK_API_TOKEN", token)


def set_up(tmp_path: Path, seeded: SeedSummary) -> FlowlogsApp:
    """The app after the bucket and checklist steps applied their changes (engine-side)."""
    app = make_app(tmp_path, start_step="buckets")
    app.state = apply_setup(app, seeded)
    return app


async def open_dialog(pilot: Pilot[Any]) -> RegisterDialog:
    await pilot.app.push_screen(SummaryScreen([]))
    await idle(pilot)
    await pilot.press("r")
    await idle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, RegisterDialog)
    return dialog


@asynccontextmanager
async def dialog_on(
    tmp_path: Path, seeded: SeedSummary, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FlowlogsApp, Pilot[Any], RegisterDialog]]:
    """The app at 80x24 with the environment's Kentik credentials, the register dialog open."""
    use_env(monkeypatch)
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        yield app, pilot, await open_dialog(pilot)


async def type_into(pilot: Pilot[Any], dialog: RegisterDialog, widget: str, text: str) -> None:
    field = dialog.query_one(widget, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def enter_credentials(pilot: Pilot[Any], dialog: RegisterDialog, token: str = TOKEN) -> None:
    await type_into(pilot, dialog, "#email", EMAIL)
    await type_into(pilot, dialog, "#token", token)


async def preview(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+r")
    await idle(pilot)


async def register(pilot: Pilot[Any], *answers: str) -> None:
    """ctrl+g, then each answer to a confirmation in turn."""
    await pilot.press("ctrl+g")
    await pilot.pause()
    for answer in answers:
        assert isinstance(pilot.app.screen, Confirm), pilot.app.screen
        await pilot.press(answer)
        await pilot.pause()
    await idle(pilot)


def body(dialog: RegisterDialog) -> str:
    return str(dialog.query_one("#register-preview", Static).render())


def status(dialog: RegisterDialog) -> str:
    return str(dialog.query_one("#register-status", Static).render())


def writes(fake: KentikFake) -> list[tuple[str, str]]:
    return [(m, p) for m, p in fake.requests if m != "GET"]


def buckets_of(fake: KentikFake) -> set[tuple[str, str]]:
    return {(e["aws"]["bucket"], e["aws"].get("bucketPrefix", "")) for e in fake.exports.values()}


def notices(app: FlowlogsApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


# -- behaviour ---------------------------------------------------------------------------------------
async def test_registering_creates_an_export_per_bucket_and_the_summary_lists_them(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        assert f"As KENTIK_EMAIL {EMAIL}" in str(dialog.query_one("#register-user", Static).render())
        assert dialog.query_one("#plan", Select).value == PLAN  # the one active plan, from Kentik's list
        assert dialog.query_one("#role", Input).value == seeded.kentik_role_arn
        await preview(pilot)
        assert writes(fake) == []  # a preview sends nothing
        assert "Preview: 2 new, 0 update(s)" in status(dialog)
        assert f"new  Register s3://{EU_BUCKET}/ in Kentik as '{EU_BUCKET}'" in body(dialog)
        await register(pilot, "y")
        assert writes(fake) == [("POST", EXPORTS_PATH)] * 2
        assert buckets_of(fake) == {(EU_BUCKET, ""), (US_BUCKET, "")}
        for export in fake.exports.values():
            assert export["planId"] == PLAN and export["enabled"] is True
            assert export["aws"]["iamRoleArn"] == seeded.kentik_role_arn
        assert status(dialog).startswith("Registered: 2 applied. Esc lists them in the summary.")
        assert "✓ applied" in body(dialog) and "export 1001 (" in body(dialog)
        audit = (tmp_path / "audit.jsonl").read_text()
        assert '"operation": "CreateExport"' in audit and f'"identity": "{EMAIL}"' in audit
        assert '"service": "kentik"' in audit

        await pilot.press("escape")
        await idle(pilot)
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        text = summary.query_one("#summary-body", TextArea).text
        assert "Registered in Kentik (cloud exports):" in text
        for export_id, export in fake.exports.items():
            bucket = export["aws"]["bucket"]
            assert f"  {export_id}  {export['name']}  reads s3://{bucket}/ (new)" in text
        assert [a.step for a in app.state.applied][-1] == "register"


async def test_a_rerun_has_nothing_to_register(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await preview(pilot)
        await register(pilot, "y")
        sent = writes(fake)
        await preview(pilot)
        assert status(dialog) == (
            "Nothing to register: Kentik already reads every bucket as this setup needs."
        )
        assert "Kentik already reads (left alone):" in body(dialog) and "To register" not in body(dialog)
        await register(pilot)  # no confirmation: nothing to do
        assert not isinstance(app.screen, Confirm)
        assert writes(fake) == sent

        await pilot.press("escape")  # the exports found as needed are listed too
        await idle(pilot)
        text = app.screen.query_one("#summary-body", TextArea).text
        assert text.count("reads s3://") == 2


def seed_differing(fake: KentikFake, role: str) -> str:
    """An export for the EU bucket made in the portal: disabled, with a description and sampling."""
    export = fake.seed(
        {
            "name": "eu logs (portal)",
            "description": "set in the portal",
            "enabled": False,
            "planId": PLAN,
            "cloudProvider": "CLOUD_PROVIDER_AWS",
            "sampling": {"samplingEnabled": True, "samplingRate": 10},
            "aws": {"iamRoleArn": role, "region": "eu-west-1", "bucket": EU_BUCKET},
        }
    )
    return str(export["id"])


async def test_a_differing_export_is_updated_only_when_confirmed_and_keeps_the_portals_fields(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch)
    export_id = seed_differing(fake, seeded.kentik_role_arn)
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await preview(pilot)
        shown = body(dialog)
        assert f"1. update  Update Kentik export 'eu logs (portal)' ({export_id})" in shown
        assert status(dialog) == "Preview: 1 new, 1 update(s). ctrl+g registers, asking before updates."
        assert f"export {export_id}: only these fields change" in shown and "enabled: false -> true" in shown

        await register(pilot, "y", "n")  # the new one only
        assert fake.exports[export_id]["enabled"] is False
        assert ("PUT", f"{EXPORTS_PATH}/{export_id}") not in fake.requests
        assert "refused" not in body(dialog)  # a declined update is left out, not failed

        await preview(pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()
        confirm = app.screen
        assert (
            isinstance(confirm, Confirm)
            and "0 new export(s) (and 1 update(s), asked next)" in confirm.question
        )
        await pilot.press("y")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, Confirm)
        assert confirm.question == "Also update 1 existing Kentik export(s)? This overwrites them."
        assert "enabled: false -> true" in confirm.details
        await pilot.press("y")
        await idle(pilot)
        stored = fake.exports[export_id]
        assert stored["enabled"] is True
        assert stored["name"] == "eu logs (portal)" and stored["description"] == "set in the portal"
        assert stored["sampling"] == {"samplingEnabled": True, "samplingRate": 10}


async def test_a_wrong_token_is_dropped_and_creates_nothing(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake
) -> None:
    wrong = "tok-wrong-99aa77bb55cc"
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await enter_credentials(pilot, dialog, token=wrong)
        await pilot.press("enter")  # loads Kentik's plans: refused, so the plan id is typed
        await idle(pilot)
        assert dialog.query_one("#plan-id", Input).display and not dialog.query_one("#plan", Select).display
        note = str(dialog.query_one("#plan-note", Static).render())
        assert note == "Kentik's plan list did not answer (Kentik access denied, HTTP 401): type the plan id."
        assert status(dialog) == (
            "✗ Kentik does not know the typed email and token (HTTP 401): they are dropped. "
            "Type an email and token."
        )
        assert not app.kentik.entered  # never sent again
        await type_into(pilot, dialog, "#plan-id", PLAN)
        await preview(pilot)
        assert status(dialog).startswith("✗ type the Kentik user's email and API token")
        assert fake.exports == {} and writes(fake) == []
        shown = "\n".join(screen_lines(app)) + "".join(t + m for t, m in notices(app))
        assert wrong not in shown


async def test_a_token_kentik_refuses_at_the_preview_is_dropped(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await idle(pilot)
        app.kentik.enter(EMAIL, "tok-revoked-0000")  # known when typed, revoked before the preview
        await preview(pilot)
        [(title, message)] = [n for n in notices(app) if n[0].startswith("Kentik access denied")]
        assert title == "Kentik access denied (register preview)" and "HTTP 401" in message
        assert not app.kentik.entered
        assert status(dialog) == (
            "✗ Kentik does not know the typed email and token (HTTP 401): they are dropped. "
            f"Using KENTIK_EMAIL {EMAIL}."
        )
        assert fake.exports == {} and writes(fake) == []


async def test_a_typed_token_with_a_typographic_character_is_refused_in_the_dialog(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await type_into(pilot, dialog, "#email", EMAIL)
        token = dialog.query_one("#token", Input)
        token.value = "tok\u2019pasted"  # as pasted
        token.focus()
        await pilot.pause()
        await pilot.press("enter")
        await idle(pilot)
        assert app.screen is dialog and not app.kentik.entered
        assert (
            status(dialog)
            == "✗ the API token has a character no Kentik token has (not plain ASCII): paste it again"
        )


async def test_clearing_email_and_token_drops_the_typed_ones_for_the_environments(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await enter_credentials(pilot, dialog)  # typed: they replace the environment's
        await pilot.press("enter")
        await idle(pilot)
        assert app.kentik.entered
        await type_into(pilot, dialog, "#email", "")
        await type_into(pilot, dialog, "#token", "")
        await pilot.press("enter")
        await idle(pilot)
        assert not app.kentik.entered
        assert dialog.query_one("#email", Input).value == EMAIL  # KENTIK_EMAIL again
        assert status(dialog) == f"The typed email and token are forgotten. Using KENTIK_EMAIL {EMAIL}."


async def test_the_typed_token_is_in_no_file_notice_or_screen(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake
) -> None:
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await enter_credentials(pilot, dialog)
        assert dialog.query_one("#token", Input).value == TOKEN
        screens = [app.export_screenshot()]
        await pilot.press("enter")
        await idle(pilot)
        assert dialog.query_one("#plan", Select).value == PLAN
        assert dialog.query_one("#token", Input).value == ""  # taken (memory only) and cleared
        await preview(pilot)
        await register(pilot, "y")
        assert len(fake.exports) == 2
        screens.append(app.export_screenshot())
        await pilot.press("escape")
        await idle(pilot)
        screens.append(app.export_screenshot())
        resume = list((tmp_path / "state").rglob("*.json"))
        assert resume and any("kentik.create-export" in p.read_text() for p in resume)  # saved after it
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert tmp_path / "audit.jsonl" in files
        leaks = [str(p) for p in files if TOKEN.encode() in p.read_bytes()]
        assert leaks == []
        assert all(TOKEN not in s for s in screens) and "•" * len(TOKEN) in screens[0]
        assert all(TOKEN not in t + m for t, m in notices(app))
        assert TOKEN not in repr(app.kentik) and TOKEN not in repr(app.state)


def read_only_app(tmp_path: Path, seeded: SeedSummary, monkeypatch: pytest.MonkeyPatch) -> FlowlogsApp:
    """The app with the environment's Kentik credentials, in read-only mode."""
    use_env(monkeypatch)
    app = set_up(tmp_path, seeded)
    assert app.session is not None
    app.session.read_only = True
    return app


async def test_read_only_mode_previews_but_refuses_to_register(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = read_only_app(tmp_path, seeded, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await preview(pilot)
        assert "Preview: 2 new" in status(dialog)
        await register(pilot)
        assert not isinstance(app.screen, Confirm)
        assert status(dialog).startswith("✗ Read-only mode is on: registering would change Kentik.")
        assert ("Read-only", "Read-only mode is on: registering would change Kentik. Nothing was sent.") in (
            notices(app)
        )
        assert fake.exports == {} and writes(fake) == []
        assert '"service": "kentik"' not in (tmp_path / "audit.jsonl").read_text()


async def test_ctrl_t_turns_read_only_off_from_inside_the_dialog(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = read_only_app(tmp_path, seeded, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.screen is dialog and app.session.read_only is False


async def test_turning_read_only_off_in_the_dialog_clears_what_it_said_about_it(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = read_only_app(tmp_path, seeded, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await preview(pilot)
        await register(pilot)
        assert status(dialog).startswith("✗ Read-only mode is on")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert status(dialog) == ""


async def test_blank_email_and_token_use_the_environments_user(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (_, pilot, dialog):
        await type_into(pilot, dialog, "#email", "")
        await preview(pilot)
        assert "Preview: 2 new" in status(dialog)


async def test_a_plan_id_kentik_rejects_names_the_field(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with KentikFake(email=EMAIL, token=TOKEN, plans=[]) as fake:
        monkeypatch.setenv("KENTIK_API_URL", fake.url)
        monkeypatch.setenv("KENTIK_V5_API_URL", fake.url)
        use_env(monkeypatch)
        app = set_up(tmp_path, seeded)
        async with app.run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot)
            note = str(dialog.query_one("#plan-note", Static).render())
            assert note == "Kentik's plan list is empty for this user: type the plan id."
            await type_into(pilot, dialog, "#plan-id", "424242")
            await preview(pilot)
            await register(pilot, "y")
            assert fake.exports == {}
            [(title, message)] = [n for n in notices(app) if n[0].startswith("Register in Kentik")]
            assert title == "Register in Kentik: failed"
            assert message.startswith("Kentik rejected the field 'export.planId' (HTTP 400)")
            assert "✗ FAILED" in body(dialog)


async def test_bad_input_is_refused_in_the_dialog_before_anything_is_sent(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake
) -> None:
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await type_into(pilot, dialog, "#email", "ops-at-example")
        await type_into(pilot, dialog, "#token", TOKEN)
        await type_into(pilot, dialog, "#role", "kentik-role")
        await preview(pilot)
        assert status(dialog).splitlines() == [
            "✗ 'ops-at-example' does not look like an email address (name@example.com)",
            "✗ 'kentik-role' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            "✗ choose Kentik's billing plan (its list loads once the email and token are in)",
        ]
        assert TOKEN not in status(dialog)
        assert fake.requests == [] and not app.kentik.entered


async def test_a_change_after_the_preview_needs_a_new_preview_and_the_region_picks_kentiks_hosts(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await preview(pilot)
        await type_into(pilot, dialog, "#role", "arn:aws:iam::123456789012:role/other-role")
        await register(pilot)
        assert not isinstance(app.screen, Confirm)
        assert status(dialog) == "✗ Preview first (ctrl+r): registering applies what the preview shows."
        dialog.query_one("#region").focus()
        await pilot.press("right", "enter")
        await idle(pilot)
        assert app.kentik.region == "eu"
        assert app.kentik_client().api_url == fake.url  # KENTIK_API_URL wins over the region's host
        monkeypatch.delenv("KENTIK_API_URL")
        assert app.kentik_client().api_url == "https://grpc.api.kentik.eu"
        assert writes(fake) == []


# -- snapshots (80x24) -------------------------------------------------------------------------------
async def test_a_change_of_the_wizard_state_after_the_preview_needs_a_new_preview(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await preview(pilot)
        state = app.state  # another step drops a bucket meanwhile (ctrl+b / ctrl+n work in the dialog)
        state.buckets = dict(list(state.buckets.items())[:1])
        state.read_set = state.read_set.model_copy(update={"locations": state.read_set.locations[:1]})
        assert len(state.read_locations()) == 1
        await pilot.press("ctrl+g")
        await idle(pilot)
        assert (writes(fake), status(dialog)) == (
            [],
            "✗ Preview first (ctrl+r): registering applies what the preview shows.",
        )


async def test_declining_the_only_updates_runs_nothing(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dialog_on(tmp_path, seeded, monkeypatch) as (app, pilot, dialog):
        await preview(pilot)
        await register(pilot, "y")  # registers what is new
        for export in fake.exports.values():
            export["enabled"] = False  # both now differ
        before = len(app.state.applied)
        await preview(pilot)
        await register(pilot, "y", "n")
        assert (writes(fake)[2:], len(app.state.applied), status(dialog)) == (
            [],
            before,
            "Updates skipped: nothing was sent.",
        )


async def test_a_long_confirmation_keeps_its_answer_keys_in_view_at_80x24() -> None:
    from textual.app import App

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(
                Confirm("Also update 9 exports?", "\n".join(f"- field {n}: a -> b" for n in range(60)))
            )

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "y yes   n no" in "\n".join(screen_lines(app))


def test_snapshot_the_dialog_with_a_token_typed(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, snap_compare: Any
) -> None:
    """No credentials in the environment: the email and token typed (the token shows as dots only)."""

    async def typed(pilot: Pilot[Any]) -> None:
        dialog = await open_dialog(pilot)
        await enter_credentials(pilot, dialog)
        await idle(pilot)
        assert TOKEN not in pilot.app.export_screenshot()

    assert snap_compare(set_up(tmp_path, seeded), terminal_size=(80, 24), run_before=typed)


def test_snapshot_the_preview(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch, snap_compare: Any
) -> None:
    """Credentials from the environment, the plan from Kentik's list: one export to update, one new."""
    use_env(monkeypatch)
    seed_differing(fake, seeded.kentik_role_arn)

    async def previewed(pilot: Pilot[Any]) -> None:
        await open_dialog(pilot)
        await preview(pilot)

    assert snap_compare(set_up(tmp_path, seeded), terminal_size=(80, 24), run_before=previewed)


async def test_at_80x24_the_summary_shows_the_register_button_and_key_whole(
    seeded: SeedSummary, tmp_path: Path, fake: KentikFake
) -> None:
    app = set_up(tmp_path, seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.push_screen(SummaryScreen([]))
        await idle(pilot)
        lines = screen_lines(app)
        assert lines[-2].rstrip().endswith("Register in Kentik")
        keys = footer_keys(app)
        assert "Register" in keys and all(keys.values()), keys
        await pilot.click("#summary-register")
        await idle(pilot)
        assert isinstance(app.screen, RegisterDialog)
