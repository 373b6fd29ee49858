"""Discovery with --org / --accounts: every account of an organization scanned, an Account column, a
summary per account, the unreachable member's reason, and `a` to show one account at a time. Driven
through Textual's pilot on the seeded demo account as the management account of 3 members (one of
which refuses AssumeRole)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import ORG_REGIONS, OrgMember, make_org_app
from terminal_checks import AA, footer_keys, screen_lines, word_contrasts
from textual.pilot import Pilot
from textual.widgets import DataTable, Label
from textual.worker import WorkerCancelled

from aws.inventory import Inventory
from screens.discovery import DiscoveryScreen
from tui.app import FlowlogsApp

MANAGEMENT = "123456789012"


async def idle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def column(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_column(key)]


def summary(app: FlowlogsApp) -> dict[str, list[str]]:
    """The per-account summary as shown: account id -> its cells (name, status, VPCs, OK, to do, FW,
    problem)."""
    table = app.screen.query_one("#accounts", DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)[1:]] for key in table.rows}


async def test_every_account_is_summarised_and_the_refusing_one_says_why(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    payments, refusing, sandbox = org_seeded
    app = make_org_app(tmp_path, org_seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)

        # the per-account summary: every account of the organization, in id order
        rows = summary(app)
        assert list(rows) == sorted([MANAGEMENT, *(m.account_id for m in org_seeded)])
        assert rows[payments.account_id][:6] == ["payments", "scanned", "3", "0", "3", "0/0"]  # its VPC and
        assert rows[sandbox.account_id][:2] == ["sandbox", "scanned"]  # 2 default VPCs
        assert rows[MANAGEMENT][:3] == ["master", "scanned", "8"]  # the demo's VPCs in ORG_REGIONS
        assert rows[refusing.account_id] == ["data-lake", "unreachable", "", "", "", "", "role refused"]
        progress = str(screen.query_one("#progress-label", Label).render())
        assert progress == "4 accounts: 3 scanned, 1 not reached, 14 VPCs"

        # the region table: an Account column (the name: it fits), no row of the unreachable member
        regions = screen.query_one("#regions", DataTable)
        assert set(column(regions, "Account")) == {"master", "payments", "sandbox"}
        assert len(regions.rows) == 3 * len(ORG_REGIONS)

        # the unreachable member is shown first, its reason and what to check in the detail pane
        assert screen.shown_account == refusing.account_id
        assert screen.note_text.startswith("Not reached: the role refused AssumeRole. Could not assume ")
        assert f"arn:aws:iam::{refusing.account_id}:role/OrganizationAccountAccessRole" in screen.note_text
        assert "Fix: Check that the role exists and that its trust policy lets" in screen.note_text
        shown = " ".join(" ".join(screen_lines(app)).split())
        assert "Not reached: the role refused AssumeRole." in shown and "Fix: Check that" in shown

        # the later steps set up the caller's own account, and discovery says so
        state = app.state
        assert state.org_inventory is not None and len(state.org_inventory.accounts) == 4
        assert state.target_account == MANAGEMENT
        assert isinstance(state.inventory, Inventory) and state.inventory.identity.account == MANAGEMENT
        assert (
            "The next steps set up account 123456789012 (master); `flowlogs plan --org` plans every account"
            in shown
        )

        # a: one account at a time (in the summary's order), then every account again
        seen = []
        for _ in range(5):
            await pilot.press("a")
            await pilot.pause()
            seen.append((screen.account_filter, sorted(set(column(regions, "Account")))))
        assert seen == [
            (MANAGEMENT, ["master"]),
            (refusing.account_id, []),
            (payments.account_id, ["payments"]),
            (sandbox.account_id, ["sandbox"]),
            ("", ["master", "payments", "sandbox"]),
        ]

        # Enter on an account: its VPCs and firewalls in every region
        accounts = screen.query_one("#accounts", DataTable)
        accounts.focus()
        accounts.move_cursor(row=list(rows).index(payments.account_id))
        await pilot.press("enter")
        await pilot.pause()
        detail = screen.query_one("#detail", DataTable)
        names = column(detail, "name")
        assert screen.account_filter == payments.account_id
        assert sorted(names) == ["(default VPC)", "(default VPC)", "payments-app"]
        assert sorted(set(column(detail, "region"))) == list(ORG_REGIONS)


async def test_a_member_denied_by_an_scp_is_told_apart_from_a_refusing_role(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    refusing = org_seeded[1]
    app = make_org_app(tmp_path, org_seeded, scp=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, DiscoveryScreen)
        assert summary(app)[refusing.account_id][1:2] + summary(app)[refusing.account_id][-1:] == [
            "unreachable",
            "SCP denies it",
        ]
        assert screen.shown_account == refusing.account_id
        assert screen.note_text.startswith("Not reached: an organization policy (SCP) denies it, not IAM.")
        assert "IAM permissions cannot lift that" in screen.note_text
        await pilot.press("i")  # the reason whole
        await pilot.pause()
        assert "service control policy" in " ".join(screen_lines(app))


async def test_without_the_callers_account_no_account_is_set_up(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    """The later steps use the caller's session: a member's inventory there would plan a change AWS refuses."""
    payments, refusing, sandbox = org_seeded
    named = (refusing.account_id, payments.account_id, sandbox.account_id)
    app = make_org_app(tmp_path, org_seeded, accounts=named)
    async with app.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        assert (app.state.target_account, app.state.inventory) == ("", None)


async def test_without_the_callers_account_the_note_points_to_plan_accounts(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    payments, _, sandbox = org_seeded
    app = make_org_app(tmp_path, org_seeded, accounts=(payments.account_id, sandbox.account_id))
    async with app.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        shown = " ".join(" ".join(screen_lines(app)).split())
        assert "the next steps have no account to set up. `flowlogs plan --accounts …`" in shown


async def test_the_account_key_is_in_the_footer_and_everything_fits_at_80x24(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    app = make_org_app(tmp_path, org_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        keys = footer_keys(app)
        assert {"Rescan", "Filter", "Details", "Account", "Next"} <= set(keys) and all(keys.values()), keys
        screen = app.screen
        for name in ("#accounts", "#regions", "#detail"):
            table = screen.query_one(name, DataTable)
            assert sum(c.get_render_width(table) for c in table.columns.values()) + 2 <= 80, name
        assert screen.query_one("#accounts", DataTable).region.height == 5  # a header and 4 accounts
        await pilot.press("slash", *"app")  # the text filter, within the account shown (every account)
        await pilot.pause()
        assert all(footer_keys(app).values())


async def test_one_account_runs_have_no_account_column_nor_key(seeded: Any, tmp_path: Path) -> None:
    from app_fixtures import make_app

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert not screen.query("#accounts") and "Account" not in footer_keys(app)
        assert "Account" not in [
            str(c.label) for c in screen.query_one("#regions", DataTable).columns.values()
        ]
        assert app.state.org_inventory is None and app.state.target_account == ""


ACCOUNT_WORDS = {"scanned", "unreachable", "role refused"}  # statuses, and a problem


@pytest.mark.parametrize("mode", ["truecolor", "NO_COLOR", "16 colours", "ansi-dark"])
async def test_the_account_summarys_verdict_words_keep_aa_contrast(
    org_seeded: list[OrgMember], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    app = make_org_app(tmp_path, org_seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        if mode == "ansi-dark":
            app.theme = "ansi-dark"
        await idle(pilot)
        table = app.screen.query_one("#accounts", DataTable)
        rows = set(range(table.region.y + 1, table.region.bottom))
        found = word_contrasts(app, ACCOUNT_WORDS, colours=16 if mode == "16 colours" else 0, rows=rows)
    words = {w.word for w in found}
    assert (ACCOUNT_WORDS - words, [w for w in found if w.ratio < AA]) == (set(), [])


def test_snapshot_org_80x24(org_seeded: list[OrgMember], tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(make_org_app(tmp_path, org_seeded), terminal_size=(80, 24), run_before=idle)


def test_snapshot_org_120x40(org_seeded: list[OrgMember], tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await idle(pilot)
        await pilot.press("a")  # the management account's regions and its VPCs and firewalls
        await pilot.pause()

    assert snap_compare(make_org_app(tmp_path, org_seeded), terminal_size=(120, 40), run_before=run_before)


# -- the flags ------------------------------------------------------------------------------------------
def test_the_tui_takes_the_account_flags_and_hands_them_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import tui.factory
    from tui.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(tui.factory, "run_app", lambda settings, **kw: seen.update(kw) or 0)
    argv = ["--org", "--exclude-accounts", "111111111111", "--assume-role", "Audit", "--account-workers", "3"]
    assert main([*argv, "--external-id", "xyz"]) == 0
    selection = seen["accounts"]
    assert (selection.org, selection.exclude, selection.assume_role, selection.external_id) == (
        True,
        ("111111111111",),
        "Audit",
        "xyz",
    )
    assert seen["account_workers"] == 3
    assert main([]) == 0 and not seen["accounts"].many  # no flag: today's one-account run


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--accounts", "12,abc"], "account ids are 12 digits, not: 12, abc"),
        (["--org", "--accounts", "111111111111"], "give either --org or --accounts, not both"),
        (["--org", "--account-workers", "0"], "--account-workers must be between 1 and 32, not 0"),
    ],
)
def test_bad_account_flags_are_a_usage_error_before_the_app_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    import tui.factory
    from tui.cli import main

    started: list[object] = []

    def run_app(*_: object, **kw: object) -> int:
        started.append(kw)
        return 0

    monkeypatch.setattr(tui.factory, "run_app", run_app)
    assert (main(argv), started) == (2, [])
    assert says in capsys.readouterr().err


# -- saved wizard state ---------------------------------------------------------------------------------
async def test_the_org_inventory_is_saved_and_resumed_and_older_files_still_load(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    from tui.resume import SavedWizard, snapshot

    app = make_org_app(tmp_path, org_seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        state, rows = app.state, summary(app)
    saved = snapshot(state, account=MANAGEMENT, endpoint="aws", profile="", step="discovery")
    again = SavedWizard.model_validate_json(saved.model_dump_json()).wizard_state()
    assert again.org_inventory is not None and state.org_inventory is not None
    # the saved inventory is the scan's (its sessions are never saved)
    assert again.org_inventory.model_dump() == state.org_inventory.model_dump()
    assert again.target_account == MANAGEMENT
    older = saved.model_dump(mode="json", exclude={"org_inventory", "target_account"})  # before --org
    state_before = SavedWizard.model_validate(older).wizard_state()
    assert (state_before.org_inventory, state_before.target_account) == (None, "")

    # a resumed (or kept) org inventory is shown as it was, without a scan
    shown = make_org_app(tmp_path, org_seeded)
    shown.state = again
    async with shown.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        assert summary(shown) == rows and shown.session is not None
        assert not [op for (service, op) in shown.session.stats.calls if service == "organizations"]


async def test_the_iam_steps_nested_mode_starts_from_the_accounts_discovery_reached(
    org_seeded: list[OrgMember], tmp_path: Path
) -> None:
    from textual.widgets import Input

    payments, _, sandbox = org_seeded
    app = make_org_app(tmp_path, org_seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await idle(pilot)
        app.switch_mode("policy")
        await pilot.pause()
        await app.screen.run_action("nested")
        await pilot.pause()
        typed = app.screen.query_one("#accounts", Input).value.split(", ")
        assert sorted(typed) == sorted(["123456789012", payments.account_id, sandbox.account_id])
