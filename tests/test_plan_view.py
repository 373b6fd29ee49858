"""The shared plan review / apply screen: preview, confirmation, per-change progress, rerun converges."""

from __future__ import annotations

import os
from pathlib import Path

from app_fixtures import make_app
from textual.widgets import DataTable

from aws.lock import account_lock
from aws.plans.change import ApplyReport, Plan
from aws.s3.setup import plan_buckets
from aws.s3.strategy import BucketChoice
from aws.sandbox.seed import SeedSummary
from tui.app import FlowlogsApp
from tui.config import state_dir
from tui.plan_view import PlanReview


def bucket_plan(app: FlowlogsApp) -> Plan:
    assert app.session is not None
    choice = BucketChoice(
        strategy="central",
        bucket="kentik-review-test",
        regions=["us-east-1", "eu-west-1"],
        central_region="us-east-1",
    )
    setup = plan_buckets(app.session, choice, "123456789012")
    return Plan(account="123456789012", changes=setup.changes)


async def test_review_apply_and_rerun(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    results: list[ApplyReport | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        plan = bucket_plan(app)
        assert plan.changes
        app.push_screen(PlanReview(plan, title="Bucket", step="buckets"), results.append)
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        review = app.screen
        assert isinstance(review, PlanReview)
        assert review.report is not None and review.report.ok
        table = review.query_one("#changes", DataTable)
        statuses = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert statuses <= {"✓ applied", "✓ in place"}
        assert app.state.applied and app.state.applied[0].step == "buckets"
        await pilot.press("escape")
        await pilot.pause()
    assert results and results[0] is not None and results[0].ok
    assert app.session is not None
    again = bucket_plan(app)
    assert again.changes == []  # the bucket now exists with every setting: nothing left to do


async def test_read_only_refuses_apply(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        plan = bucket_plan(app)
        app.push_screen(PlanReview(plan, title="Bucket", step="buckets"))
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        review = app.screen
        assert isinstance(review, PlanReview) and review.report is None and not review.running
        assert app.session is not None and app.session.stats.mutating() == 0


async def test_apply_while_another_apply_holds_the_account_shows_the_holder(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        plan = bucket_plan(app)
        app.push_screen(PlanReview(plan, title="Bucket", step="buckets"))
        await pilot.pause()
        with account_lock(state_dir(), "123456789012", command="other-apply"):
            await pilot.press("a")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        [(title, message)] = [(n.title, n.message) for n in app._notifications]
        assert title == "LockHeld (run_apply)" and message.startswith(
            f"Another apply against account 123456789012 is running: process {os.getpid()}, started "
        )


async def test_apply_refused_by_the_lock_changes_nothing(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        plan = bucket_plan(app)
        app.push_screen(PlanReview(plan, title="Bucket", step="buckets"))
        await pilot.pause()
        with account_lock(state_dir(), "123456789012"):
            await pilot.press("a")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert app.session is not None and app.session.stats.mutating() == 0


async def test_apply_again_on_an_applied_plan_says_it_is_applied(seeded: SeedSummary, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        app.push_screen(PlanReview(bucket_plan(app), title="Bucket", step="buckets"))
        await pilot.pause()
        await pilot.press("a", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
    assert messages[-1].startswith("This plan is applied")
