"""A dropped session loses nothing: the wizard state is saved after each step and each change applied,
keyed by account, endpoint and profile, and the next start resumes from it."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from app_fixtures import make_app, seeded_inventory
from terminal_checks import screen_lines
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from aws.audit import AuditLog
from aws.plans.change import ApplyReport, Change, ChangeResult, Plan
from aws.sandbox.seed import SeedSummary
from tui.app import FlowlogsApp, QuitConfirm
from tui.config import Settings, state_dir
from tui.dialogs import Confirm
from tui.factory import create_app
from tui.plan_view import PlanReview
from tui.resume import ResumeStore, SavedApply, SavedWizard, UnreadableState, interrupted_report, snapshot
from tui.state import WizardState

ACCOUNT = "123456789012"


async def idle(pilot: Pilot[Any]) -> None:
    """Until every worker has finished (one superseded by a newer one of its group counts as finished)."""
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def store() -> ResumeStore:
    return ResumeStore(state_dir() / "resume")


def saved(**changes: Any) -> SavedWizard:
    base = snapshot(WizardState(), account=ACCOUNT, endpoint="aws", profile="", step="buckets")
    return base.model_copy(update=changes)


def test_a_saved_state_reads_back_whole() -> None:
    state = WizardState(buckets={"us-east-1": "kentik-logs"}, kentik_role_arn="arn:aws:iam::1:role/k")
    original = snapshot(state, account=ACCOUNT, endpoint="aws", profile="prod", step="checklist")
    store().save(original)
    assert store().load(ACCOUNT, "aws", "prod") == original


def test_each_account_endpoint_and_profile_has_its_own_state() -> None:
    store().save(saved())
    assert [store().load(ACCOUNT, "aws", "other"), store().load("999999999999", "aws", "")] == [None, None]


def test_a_tampered_file_is_refused_whole() -> None:
    path = store().save(saved())
    data = json.loads(path.read_text())
    data["applied"] = [{"step": "buckets"}]  # no plan, no report
    path.write_text(json.dumps(data))
    with pytest.raises(UnreadableState):
        store().load(ACCOUNT, "aws", "")


def test_the_file_is_readable_by_its_owner_only() -> None:
    assert store().save(saved()).stat().st_mode & 0o077 == 0


def _change(n: int) -> Change:
    return Change(
        id=f"c{n}",
        kind="s3.put-public-access-block",
        title=f"change {n}",
        region="us-east-1",
        target=f"bucket-{n}",
        params={"Bucket": f"bucket-{n}"},
        reason="block public access",
    )


def _applying(audit: AuditLog) -> SavedApply:
    plan = Plan(account=ACCOUNT, changes=[_change(1), _change(2), _change(3)])
    report = ApplyReport(
        account=ACCOUNT,
        started="2026-12-01T10:00:00+00:00",
        results=[
            ChangeResult(change_id="c1", status="applied"),
            ChangeResult(change_id="c2", status="not-run"),
            ChangeResult(change_id="c3", status="not-run"),
        ],
    )
    offset = audit.size()
    audit.append(
        {
            "phase": "intent",
            "call_id": "other",
            "service": "ec2",
            "region": "us-east-1",
            "account": ACCOUNT,
            "operation": "CreateFlowLogs",
        }
    )  # another process's call: not it
    audit.append(
        {
            "phase": "intent",
            "call_id": "x",
            "service": "s3",
            "region": "us-east-1",
            "account": ACCOUNT,
            "operation": "PutPublicAccessBlock",
        }
    )
    return SavedApply(step="buckets", plan=plan, report=report, running="c2", audit_offset=offset)


def test_an_interrupted_apply_reports_what_ran_what_did_not_and_the_call_without_answer(
    tmp_path: Path,
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append({"phase": "intent", "call_id": "old", "operation": "CreateBucket"})  # before: not it
    report, summary = interrupted_report(_applying(audit), audit)
    assert [(r.change_id, r.status, r.error_kind) for r in report.results] == [
        ("c1", "applied", ""),
        ("c2", "failed", "interrupted"),
        ("c3", "not-run", ""),
    ]
    assert report.results[1].detail.endswith("AWS calls: PutPublicAccessBlock (outcome unknown)")
    assert summary.startswith("The last apply (buckets) was interrupted: 1 done; 1 interrupted (c2)")


async def test_moving_on_saves_the_step_and_the_inventory(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press("ctrl+n")
        await idle(pilot)
        inventory = app.state.inventory
    kept = store().load(ACCOUNT, "aws", "")
    assert kept is not None and (kept.step, kept.inventory) == ("buckets", inventory)


async def test_resume_opens_the_saved_step_with_the_saved_inventory_and_scans_nothing(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    session = make_app(tmp_path).session
    assert session is not None
    inventory = seeded_inventory(session).model_copy(update={"finished_at": datetime.now(timezone.utc)})
    store().save(saved(inventory=inventory, step="checklist"))
    app = make_app(tmp_path, resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        assert (app.current_mode, app.state.inventory) == ("checklist", inventory)
        assert app.session is not None and app.session.stats.calls[("ec2", "DescribeVpcs")] == 0


async def test_without_a_choice_the_app_asks_and_no_starts_fresh(seeded: SeedSummary, tmp_path: Path) -> None:
    store().save(saved(step="checklist"))
    app = make_app(tmp_path, resume=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        question = app.screen
        assert isinstance(question, Confirm)
        assert question.question == "Resume where you left off: step 3 (Checklist), no inventory?"
        await pilot.press("n")
        await idle(pilot)
        assert app.current_mode == "discovery" and app.state.inventory is not None


async def test_escape_on_the_question_resumes_and_keeps_the_saved_state(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    store().save(saved(step="checklist"))
    app = make_app(tmp_path, resume=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")
        await idle(pilot)
        assert app.current_mode == "checklist"


async def test_a_stale_inventory_is_rescanned_before_the_saved_step_opens(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    session = make_app(tmp_path).session
    assert session is not None
    scanned = datetime.now(timezone.utc) - timedelta(hours=25)
    old = seeded_inventory(session).model_copy(update={"finished_at": scanned})
    store().save(saved(inventory=old, step="buckets"))
    app = make_app(tmp_path, resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await idle(pilot)
        fresh = app.state.inventory
        assert app.current_mode == "buckets"
        assert fresh is not None and fresh.finished_at is not None and fresh.finished_at > scanned


async def test_a_resumed_interrupted_apply_is_among_the_applied_plans(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    audit = AuditLog(Settings(audit_log=tmp_path / "audit.jsonl").audit_path)
    store().save(saved(applying=_applying(audit)))
    app = make_app(tmp_path, resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        last = app.state.applied[-1].report
        assert [r.status for r in last.results] == ["applied", "failed", "not-run"]


async def test_the_apply_in_flight_is_saved_after_every_change(seeded: SeedSummary, tmp_path: Path) -> None:
    """While the bucket step applies, the saved state names the change running and the results so far
    (read from disk at the moment the second change makes its AWS call)."""
    app = make_app(tmp_path, start_step="buckets")
    assert app.session is not None
    app.state.inventory = seeded_inventory(app.session)
    seen: list[SavedApply | None] = []

    def read_saved(**_: object) -> None:
        if not seen:
            kept = store().load(ACCOUNT, "aws", "")
            seen.append(kept.applying if kept else None)

    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        name = app.screen.query_one("#bucket", Input)
        name.value = "northwind-kentik"
        name.focus()
        await pilot.pause()
        await pilot.press("enter")
        await idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        assert app.session is not None
        app.session.client("s3", "us-east-1").meta.events.register(
            "before-call.s3.PutBucketEncryption", read_saved
        )
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await idle(pilot)
    first, second = review.plan.changes[:2]
    assert seen and seen[0] is not None
    assert (seen[0].running, seen[0].report.results[0].change_id, seen[0].report.results[0].status) == (
        second.id,
        first.id,
        "applied",
    )


async def test_quit_asks_while_a_change_is_applied_and_not_otherwise(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        app.apply_began("buckets", Plan(account=ACCOUNT, changes=[_change(1)]))
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitConfirm)
        await pilot.press("n")
        await pilot.pause()
        app.record_apply("buckets", Plan(account=ACCOUNT), ApplyReport(account=ACCOUNT))
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0 and not isinstance(app.screen, QuitConfirm)


def _demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """export_env points this process at the sandbox: let the test undo it."""
    for var in ("AWS_ENDPOINT_URL", "FLOWLOGS_DEMO_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, os.environ.get(var, ""))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("FLOWLOGS_DEMO_ENDPOINT")


@asynccontextmanager
async def held_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FlowlogsApp, Any, threading.Event]]:
    """The demo app at 80x24 whose sandbox starts only once the yielded event is set (stopped after)."""
    import aws.sandbox.server as server

    _demo_env(monkeypatch)
    gate = threading.Event()
    real = server.start_sandbox

    def held(*args: Any, **kwargs: Any) -> server.Sandbox:
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(server, "start_sandbox", held)
    app = create_app(Settings(), demo=True, start_sandbox=True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            yield app, pilot, gate
    finally:
        gate.set()
        if app.sandbox is not None:
            app.sandbox.stop()


async def test_the_demo_shows_its_first_frame_while_the_sandbox_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with held_demo(monkeypatch) as (app, pilot, gate):
        await pilot.pause()
        first = screen_lines(app)[0]
        gate.set()
        await idle(pilot)
        await idle(pilot)
        ready = screen_lines(app)[0]
    assert (first.split()[:4], ready.split()[:5]) == (
        ["flowlogs", "DEMO", "read-write", "starting"],
        ["flowlogs", "DEMO", "read-write", "acct", ACCOUNT],
    )


async def test_leaving_discovery_while_the_demo_starts_still_scans_when_it_is_shown_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with held_demo(monkeypatch) as (app, pilot, gate):
        await pilot.pause()
        await pilot.press("ctrl+n")  # on to the bucket step before the sandbox is up
        await pilot.pause()
        gate.set()
        await idle(pilot)
        await idle(pilot)
        assert app.current_mode == "buckets" and app.state.inventory is None
        await pilot.press("ctrl+b")
        await idle(pilot)
        await idle(pilot)
        inventory = app.state.inventory
        top = screen_lines(app)[0]
    assert inventory is not None and inventory.identity.account == ACCOUNT
    assert top.split()[:5] == ["flowlogs", "DEMO", "read-write", "acct", ACCOUNT]


async def test_demo_keep_applies_the_saved_changes_to_the_fresh_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _demo_env(monkeypatch)
    _save_kept_demo()
    app = create_app(Settings(), demo=True, start_sandbox=True, keep=True, resume=True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(4):
                await idle(pilot)
            assert app.session is not None
            buckets = app.session.client("s3", "us-east-1").list_buckets()["Buckets"]
            mode = app.current_mode
    finally:
        if app.sandbox is not None:
            app.sandbox.stop()
    assert ("kept-demo-bucket" in {b["Name"] for b in buckets}, mode) == (True, "buckets")


async def test_demo_keep_asks_before_any_step_shows_or_is_saved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """While the resume question waits (after the kept changes were re-applied), no step is shown and
    the saved state is untouched; y then opens the saved step."""
    _demo_env(monkeypatch)
    path = _save_kept_demo()
    before = path.read_bytes()
    app = create_app(Settings(), demo=True, start_sandbox=True, keep=True, resume=None)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(4):
                await idle(pilot)
            waiting = (isinstance(app.screen, Confirm), app.current_mode, path.read_bytes() == before)
            await pilot.press("y")
            await idle(pilot)
            mode = app.current_mode
    finally:
        if app.sandbox is not None:
            app.sandbox.stop()
    assert (waiting, mode) == ((True, "_default", True), "buckets")


def _save_kept_demo() -> Path:
    create = Change(
        id="bucket",
        kind="s3.create-bucket",
        title="create kept-demo-bucket",
        region="us-east-1",
        target="kept-demo-bucket",
        params={"Bucket": "kept-demo-bucket"},
        reason="the central bucket",
    )
    plan = Plan(account=ACCOUNT, changes=[create])
    report = ApplyReport(account=ACCOUNT, results=[ChangeResult(change_id="bucket", status="applied")])
    kept = snapshot(WizardState(), account=ACCOUNT, endpoint="demo", profile="", step="buckets")
    applied = [SavedApply(step="buckets", plan=plan, report=report)]
    return store().save(kept.model_copy(update={"applied": applied}))


async def test_quit_asks_while_the_verify_panel_watches(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path, start_step="verify")
    app.state.buckets = {"us-east-1": "northwind-flowlogs-use1"}  # a seeded bucket: the panel watches it
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitConfirm)
        assert app.screen.question == "Quit while the verify panel is watching for log files?"


async def test_the_resume_question_is_whole_at_80_columns(seeded: SeedSummary, tmp_path: Path) -> None:
    session = make_app(tmp_path).session
    assert session is not None
    scanned = datetime.now(timezone.utc) - timedelta(hours=30)
    old = seeded_inventory(session).model_copy(update={"finished_at": scanned})
    store().save(saved(inventory=old, step="checklist"))
    app = make_app(tmp_path, resume=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        shown = " ".join(" ".join(line.strip(" █▀▄▌▐").split()) for line in screen_lines(app))
    assert (
        "Resume where you left off: step 3 (Checklist), inventory 30 h 0 min old (older than 24 h: "
        "rescanned first)?"
    ) in shown


async def test_after_an_interrupted_apply_the_account_is_scanned_again_before_the_step_opens(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    session = make_app(tmp_path).session
    assert session is not None
    audit = AuditLog(Settings(audit_log=tmp_path / "audit.jsonl").audit_path)
    just_now = datetime.now(timezone.utc)
    inventory = seeded_inventory(session).model_copy(update={"finished_at": just_now})
    store().save(saved(inventory=inventory, step="buckets", applying=_applying(audit)))
    app = make_app(tmp_path, resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await idle(pilot)
        fresh = app.state.inventory
        mode = app.current_mode
    assert (mode, fresh is not None and fresh.finished_at is not None and fresh.finished_at > just_now) == (
        "buckets",
        True,
    )


async def test_without_a_session_a_saved_state_does_not_hold_the_first_step(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    from aws.errors import CredentialsError

    def no_session(settings: Settings, *, endpoint_url: str | None = None) -> Any:
        raise CredentialsError("The profile 'gone' could not be found.")

    store().save(saved(step="checklist"))
    app = create_app(Settings(), session_factory=no_session, resume=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        mode = app.current_mode
    assert mode == "discovery"


async def test_nothing_is_saved_while_the_resume_question_is_open(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    path = store().save(saved(step="checklist"))
    before = path.read_bytes()
    app = make_app(tmp_path, resume=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        app.action_rescan()  # the command palette stays usable over the question
        await idle(pilot)
        app.save_wizard()
    assert path.read_bytes() == before


async def test_a_saved_step_this_version_lacks_resumes_at_the_first_step(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    store().save(saved(step="summary-of-a-later-version"))
    app = make_app(tmp_path, resume=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        mode = app.current_mode
    assert mode == "discovery"


async def test_a_second_apply_waits_for_the_first(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        first = app.apply_began("buckets", Plan(account=ACCOUNT, changes=[_change(1)]))
        second = app.apply_began("checklist", Plan(account=ACCOUNT, changes=[_change(2)]))
    assert (first, second) == (True, False)


def test_a_saved_time_without_a_time_zone_is_refused() -> None:
    path = store().save(saved())
    data = json.loads(path.read_text())
    data["saved_at"] = "2026-12-01T10:00:00"
    path.write_text(json.dumps(data))
    with pytest.raises(UnreadableState):
        store().load(ACCOUNT, "aws", "")
