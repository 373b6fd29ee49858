"""The live verification panel and the summary, on the seeded demo account with the sandbox's delivery
simulator driven by hand (one `tick(now)` per delivery round) and one fake clock for moto and the screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import moto.ec2.models.flow_logs as moto_flow_logs
import moto.s3.models as moto_s3
import pytest
from app_fixtures import make_app
from terminal_checks import AA, footer_keys, screen_lines, word_contrasts
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from aws.coverage import ReadLocation, ReadSet
from aws.discovery import scan
from aws.logs.report import SourceStatus, State
from aws.logs.sources import LogSource
from aws.logs.watch import Watcher
from aws.plans.build import build_plan
from aws.plans.change import apply_plan
from aws.plans.choices import LogChoices
from aws.s3.strategy import BucketChoice
from aws.sandbox.delivery import DeliverySimulator
from aws.sandbox.seed import SeedSummary
from aws.session import AwsSession
from screens.summary import SummaryScreen, registration_text
from screens.verify import VerifyScreen, sparkline
from tui.app import FlowlogsApp
from tui.state import WizardState

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
REGIONS = ["eu-west-1", "us-east-1"]
EU_BUCKET = "kentik-eu-west-1-verify"
US_BUCKET = "kentik-us-east-1-verify"


class Clock:
    """One clock for moto (object LastModified, flow log CreationTime) and the screen."""

    def __init__(self) -> None:
        self.t = T0

    def set(self, minutes: int) -> None:
        self.t = T0 + timedelta(minutes=minutes)

    def naive(self) -> datetime:
        return self.t.replace(tzinfo=None)


@pytest.fixture
def clock(seeded: SeedSummary, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(moto_s3, "utcnow", c.naive)
    monkeypatch.setattr(moto_flow_logs, "utcnow", c.naive)
    monkeypatch.setattr(VerifyScreen, "now", lambda self: c.t)
    monkeypatch.setattr(VerifyScreen, "TICK", 3600.0)  # the countdown never moves on its own
    yield c


def apply_setup(app: FlowlogsApp, seeded: SeedSummary) -> WizardState:
    """What the earlier steps leave behind: regional buckets, two new VPC flow logs and a firewall's
    ALERT logs, applied engine-side."""
    session = app.session
    assert session is not None
    inventory = scan(session, include=REGIONS)
    choice = BucketChoice(strategy="regional", bucket="kentik-{region}-verify", regions=REGIONS)
    logs = LogChoices(
        include=[seeded.vpcs["payments-eu"].vpc_id, seeded.vpcs["shared-services"].vpc_id],
        firewall_include=[seeded.firewall_logging_flow_s3],
    )
    build = build_plan(session, inventory, choice, logs)
    report = apply_plan(build.plan, session)
    assert report.ok, report.failed
    state = WizardState(inventory=inventory, bucket_choice=choice, buckets=dict(build.buckets))
    state.kentik_role_arn = seeded.kentik_role_arn
    state.external_id = seeded.external_id
    state.record("checklist", build.plan, report)
    return state


def grant_reader(app: FlowlogsApp, seeded: SeedSummary) -> None:
    """What the IAM step would add: read access to the buckets for the Kentik role."""
    assert app.session is not None
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KentikS3Read",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{b}{s}" for b in (EU_BUCKET, US_BUCKET) for s in ("", "/*")],
            }
        ],
    }
    app.session.client("iam").put_role_policy(
        RoleName=seeded.kentik_role_name, PolicyName="kentik-s3-read", PolicyDocument=json.dumps(doc)
    )


def deliver(clock: Clock, minutes: int) -> None:
    clock.set(minutes)
    DeliverySimulator(first_delay=0).tick(clock.t)


def block_delivery(app: FlowlogsApp, bucket: str) -> None:
    """Take the delivery statements away: log delivery may no longer write into the bucket."""
    assert app.session is not None
    app.session.client("s3", "eu-west-1").delete_bucket_policy(Bucket=bucket)


async def idle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def rows(screen: VerifyScreen) -> dict[str, str]:
    return {sid: st.state for sid, st in screen.statuses.items()}


def detail_text(screen: VerifyScreen) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(screen.detail_renderable())
    return console.export_text()


def select(screen: VerifyScreen, source_id: str) -> None:
    table = screen.query_one("#sources", DataTable)
    table.move_cursor(row=screen.order.index(source_id))


# -- behaviour ---------------------------------------------------------------------------------------
async def test_waiting_receiving_failed_and_summary(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole run on one seeded account (it is slow to build): waiting, a delivery round and a poll
    (receiving, samples, reader check), pause and poll now, a bucket policy that blocks delivery
    (failed with the reason), then the summary (copy, export)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    copied: list[str] = []
    monkeypatch.setattr(FlowlogsApp, "copy_to_clipboard", lambda self, text: copied.append(text))
    app = make_app(tmp_path, start_step="verify")
    app.state = apply_setup(app, seeded)
    app.state.deletion_granted = "s3:DeleteObject"
    grant_reader(app, seeded)
    clock.set(2)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen) and screen.watcher is not None
        # one flow log per chosen VPC and the firewall's new ALERT destination, nothing else
        flowlogs = [s for s in screen.statuses.values() if s.source.kind == "flowlog"]
        firewalls = [s for s in screen.statuses.values() if s.source.kind == "firewall"]
        assert len(flowlogs) == 2 and {s.source.bucket for s in flowlogs} == {EU_BUCKET, US_BUCKET}
        assert [f"{s.source.firewall_name}/{s.source.log_type}" for s in firewalls] == [
            "egress-inspection/alert"
        ]
        assert set(rows(screen).values()) == {"waiting"}
        assert screen.query_one("#sources", DataTable).row_count == 3
        by_bucket = {s.source.bucket: s.source.id for s in flowlogs}
        select(screen, by_bucket[EU_BUCKET])
        await pilot.pause()
        assert screen.selected == by_bucket[EU_BUCKET] and "Created 2m ago" in detail_text(screen)

        # the countdown, pause/resume
        bar = screen.query_one("#verify-bar", Static)
        assert "Next poll in 30s" in str(bar.render())
        screen._tick()
        assert screen.remaining == 29 and "Next poll in 29s" in str(bar.render())
        await pilot.press("p")
        assert screen.paused and "PAUSED" in str(bar.render())
        for _ in range(40):
            screen._tick()
        await idle(pilot)
        assert screen.watcher.polls == 1  # paused: the countdown did not poll
        await pilot.press("p")
        screen.remaining = 1
        screen._tick()  # the countdown reaching 0 polls
        await idle(pilot)
        assert screen.watcher.polls == 2 and screen.remaining == VerifyScreen.INTERVAL

        # a delivery round, then poll now
        deliver(clock, 12)
        clock.set(13)
        await pilot.press("n")
        await idle(pilot)
        assert screen.watcher.polls == 3
        assert set(rows(screen).values()) == {"receiving"}
        assert all(st.ready for st in screen.statuses.values())
        st = screen.statuses[by_bucket[EU_BUCKET]]
        assert st.content is not None and st.content.ok and st.content.sample
        text = detail_text(screen)
        assert "every v2-v5 field present" in text
        assert all(title in text for title in ("src", "dst", "dport", "proto", "action", "status"))
        assert st.content.sample[0][st.content.header.index("srcaddr")] in text
        assert "newest 60s ago" in text and "Kentik can read: pass" in text
        assert f"s3:GetObject on arn:aws:s3:::{EU_BUCKET}/AWSLogs/" in text
        fw = firewalls[0].source.id
        select(screen, fw)
        await pilot.pause()
        text = detail_text(screen)
        assert "events (alert " in text and "destination" in text
        assert screen.query_one("#sources", DataTable).get_row(fw)[3] == "1"  # one file so far

        # the EU bucket stops letting log delivery write: that flow log fails, with the reason
        block_delivery(app, EU_BUCKET)
        deliver(clock, 17)
        clock.set(18)
        await pilot.press("n")
        await idle(pilot)
        failed = screen.statuses[by_bucket[EU_BUCKET]]
        assert failed.state == "failed"
        assert "AWS reports delivery FAILED: Access error" in failed.detail
        assert "delivery.logs.amazonaws.com" in failed.next_step
        assert screen.statuses[by_bucket[US_BUCKET]].state == "receiving"
        select(screen, failed.source.id)
        await pilot.pause()
        text = detail_text(screen)
        assert "failed" in text and "Access error" in text and "Next:" in text

        # the summary
        await pilot.press("s")
        await idle(pilot)
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        data = summary.data()
        assert data["role_arn"] == seeded.kentik_role_arn and data["external_id"] == seeded.external_id
        assert {(b["bucket"], b["region"]) for b in data["buckets"]} == {
            (EU_BUCKET, "eu-west-1"),
            (US_BUCKET, "us-east-1"),
        }
        assert data["deletion_granted"] == "s3:DeleteObject"
        assert data["audit_log"] == str(tmp_path / "audit.jsonl")
        applied = app.state.applied[0]
        assert len(data["changes"]) == len(applied.plan.changes)
        assert {c["status"] for c in data["changes"]} == {"applied"}
        await pilot.press("c")
        assert copied == [registration_text(data)]
        assert seeded.kentik_role_arn in copied[0] and "Audit log: " in copied[0]
        await pilot.press("e")
        path = tmp_path / "state" / "flowlogs-tui" / "kentik-registration-123456789012.json"
        assert summary.exported == path
        exported = json.loads(path.read_text())
        assert exported["role_arn"] == seeded.kentik_role_arn
        assert exported["buckets"] == data["buckets"]
        assert str(path) in str(summary.query_one("#summary-note", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_a_log_to_another_prefix_of_an_existing_bucket_kentik_reads_is_not_watched(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    """The read set has an existing bucket at its top prefix (Kentik reads its AWSLogs/ only): the seeded
    REJECT-only flow log to its security/ prefix is not Kentik's to read, so it is not waited for."""
    app = make_app(tmp_path, start_step="verify")
    app.state = apply_setup(app, seeded)
    existing = ReadLocation(bucket="northwind-flowlogs-use1", kentik=False, region="us-east-1")
    app.state.read_set = ReadSet(locations=[*app.state.read_locations(), existing])
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen) and screen.watcher is not None
        watched = {(s.source.bucket, s.source.prefix) for s in screen.statuses.values()}
    assert ("northwind-flowlogs-use1", "security") not in watched
    assert {EU_BUCKET, US_BUCKET} <= {bucket for bucket, _ in watched}


async def test_buckets_typed_when_none_known(seeded: SeedSummary, clock: Clock, tmp_path: Path) -> None:
    """No bucket chosen and no discovery: the user types one; its existing sources are watched, and
    the seeded role (no S3 permission yet) fails the reader check."""
    app = make_app(tmp_path, start_step="verify")
    # the seeded flow logs were made on the real clock: deliver one round now
    clock.t = datetime.now(timezone.utc)
    DeliverySimulator(first_delay=0).tick(clock.t)
    clock.t += timedelta(minutes=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert screen.watcher is None and not screen.statuses
        assert "go back to discovery (ctrl+b)" in detail_text(screen)
        assert screen.query_one("#bucket-input", Input).has_focus
        await pilot.press(*"northwind-flowlogs-use1")
        await pilot.press("enter")
        await idle(pilot)
        sources = {st.source.id for st in screen.statuses.values()}
        # the seed's flow logs to this bucket, and its firewall's flow logs
        in_bucket = ("all-fields-s3", "reject-only", "subnet-all-fields")
        assert sources == {seeded.flow_logs[n] for n in in_bucket} | {"egress-inspection/flow@us-east-1"}
        assert all(st.source.bucket == "northwind-flowlogs-use1" for st in screen.statuses.values())
        st = screen.statuses[seeded.flow_logs["all-fields-s3"]]
        assert st.state == "receiving"
        assert "no Kentik role known" in detail_text(screen)  # no discovery, no IAM step: no role


# -- typed buckets that cannot be watched are named, never ignored -------------------------------------
async def watch_typed(pilot: Pilot[Any], text: str) -> VerifyScreen:
    """Type `text` in the bucket field of a fresh panel (nothing chosen, no discovery) and press Enter."""
    await idle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, VerifyScreen)
    await pilot.press(*text)
    await pilot.press("enter")
    await idle(pilot)
    return screen


async def test_a_typed_bucket_that_does_not_exist_is_named_in_the_detail(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await watch_typed(pilot, "no-such-bucket-xyz")
        assert "The bucket 'no-such-bucket-xyz' does not exist" in detail_text(screen)


async def test_a_missing_bucket_beside_a_watched_one_is_counted_in_the_bar(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    """The header no longer says every source is ready while a typed bucket was dropped."""
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(120, 40)) as pilot:
        await watch_typed(pilot, "northwind-flowlogs-use1 no-such-bucket-xyz")
        assert " · 1 bucket problem · " in screen_lines(app)[3]


async def test_a_typed_bucket_that_denies_access_is_named_in_the_detail(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto answers HeadBucket of another account's bucket with 200; AWS answers 403 (emulated here)."""
    original = AwsSession.client

    def client(self: AwsSession, service: str, region: str | None = None) -> Any:
        c = original(self, service, region)
        if service == "s3" and not getattr(c, "_test_forbidden", False):
            forbidden = {"Error": {"Code": "403", "Message": "Forbidden"}, "ResponseMetadata": {}}
            c.meta.events.register(
                "before-call.s3.HeadBucket", lambda **_: (SimpleNamespace(status_code=403), forbidden)
            )
            c._test_forbidden = True
        return c

    monkeypatch.setattr(AwsSession, "client", client)
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await watch_typed(pilot, "northwind-flowlogs-use1")
        assert "belongs to another account or denies access" in detail_text(screen)


async def test_a_typed_name_no_bucket_can_have_is_refused_under_the_field(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await watch_typed(pilot, "My_Bucket")
        help_text = str(screen.query_one("#bucket-help", Static).render())
        assert help_text.startswith("'My_Bucket' is not a valid bucket name. Character rule:"), help_text


async def test_a_refused_name_starts_no_watch(seeded: SeedSummary, clock: Clock, tmp_path: Path) -> None:
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await watch_typed(pilot, "My_Bucket")
        assert (screen.buckets, screen.watcher) == ([], None)


async def test_at_80_columns_the_bar_counts_bucket_problems_before_the_states(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VerifyScreen, "TICK", 3600.0)  # the countdown stays at 30s
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        source = LogSource(kind="flowlog", account="1", region="us-east-1", bucket="b", flow_log_id="fl-1")
        screen.statuses[source.id] = SourceStatus(source=source, state="receiving", detail="", checked_at=T0)
        screen.bucket_problems = ["The bucket 'x' does not exist.", "The bucket 'y' does not exist."]
        screen.watcher = cast(Watcher, SimpleNamespace(polls=3))
        screen.render_bar()
        await pilot.pause()
        assert (
            screen_lines(app)[3].strip() == "Next poll in 30s · 2 bucket problems · 1 receiving · 0/1 ready"
        )


def test_sparkline() -> None:
    assert sparkline([0, 0, 0], 3) == "···"
    assert sparkline([0, 1, 2, 4], 4) == " ▂▄█"
    assert sparkline([5, 0, 1, 2], 2) == "▄█"


# -- 80x24, colours ---------------------------------------------------------------------------------
async def failed_panel(pilot: Pilot[Any], clock: Clock) -> VerifyScreen:
    """Two sources receiving, one failed (its delivery blocked) and selected."""
    app = cast(FlowlogsApp, pilot.app)
    await idle(pilot)
    deliver(clock, 12)
    block_delivery(app, EU_BUCKET)
    deliver(clock, 17)
    clock.set(18)
    await pilot.press("n")
    await idle(pilot)
    screen = app.screen
    assert isinstance(screen, VerifyScreen)
    select(screen, next(sid for sid, st in screen.statuses.items() if st.state == "failed"))
    await pilot.pause()
    return screen


async def test_at_80x24_the_panel_shows_title_every_source_whole_the_selected_state_and_every_key(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="verify")
    app.state = apply_setup(app, seeded)
    clock.set(2)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await failed_panel(pilot, clock)
        lines = screen_lines(app)
        assert lines[2].strip() == "Verify: are the logs arriving, and can Kentik read them?"
        names = {
            st.source.flow_log_id or f"{st.source.firewall_name}/{st.source.log_type}"
            for st in screen.statuses.values()
        }
        rows = lines[5:8]  # below the bar and the table's header
        assert sorted(next(n for n in names if row.lstrip().startswith(n + " ")) for row in rows) == sorted(
            names
        )
        failed = screen.statuses[screen.selected or ""]
        assert any(line.split()[:3] == ["failed", "flow", "log"] for line in lines[9:11])
        assert failed.state == "failed"
        keys = footer_keys(app)
        assert {"Pause/resume", "Poll now", "Buckets", "Summary", "Back"} <= set(keys)  # the last step
        assert all(keys.values()), keys


async def test_at_80_columns_the_bar_shows_every_state_count_whole(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eleven sources in all four states: the interval and poll count give way (wide screens only)."""
    monkeypatch.setattr(VerifyScreen, "TICK", 3600.0)  # the countdown stays at 30s
    app = make_app(tmp_path, start_step="verify")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        counts: dict[State, int] = {"receiving": 4, "waiting": 3, "stale": 2, "failed": 2}
        for n, state in enumerate(s for s, count in counts.items() for _ in range(count)):
            source = LogSource(
                kind="flowlog", account="1", region="us-east-1", bucket="b", flow_log_id=f"fl-{n}"
            )
            screen.statuses[source.id] = SourceStatus(source=source, state=state, detail="", checked_at=T0)
        screen.watcher = cast(Watcher, SimpleNamespace(polls=12))
        screen.render_bar()
        await pilot.pause()
        bar = screen_lines(app)[3].strip()
        assert bar == "Next poll in 30s · 4 receiving, 3 waiting, 2 stale, 2 failed · 0/11 ready"


async def test_state_badges_pause_badge_and_activity_read_in_every_colour_mode_on_the_cursor_row_too(
    seeded: SeedSummary, clock: Clock, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="verify")
    app.state = apply_setup(app, seeded)
    clock.set(2)
    async with app.run_test(size=(80, 24)) as pilot:
        await failed_panel(pilot, clock)
        await pilot.press("p")
        await pilot.pause()
        words = {"receiving", "failed", "PAUSED", "█", "██"}  # the failed row (1 file) has the cursor
        for colours in (0, 16):
            found = word_contrasts(app, words, colours=colours)
            assert {w.word for w in found} == words
            assert min(w.ratio for w in found) >= AA, (colours, found)


# -- snapshots ---------------------------------------------------------------------------------------
SIZES = ((80, 24), (120, 40))


def _snap(snap_compare: Any, app: FlowlogsApp, size: tuple[int, int], select_state: str = "") -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await idle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, VerifyScreen)
        if select_state == "summary":
            await pilot.press("s")
            await idle(pilot)
        elif select_state:
            chosen = next(sid for sid, st in screen.statuses.items() if st.state == select_state)
            select(screen, chosen)
            await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshots(seeded: SeedSummary, clock: Clock, tmp_path: Path, snap_compare: Any) -> None:
    """waiting, receiving (detail of a flow log), failed (its detail), the summary; 80x24 and 120x40.
    One test: the seeded account is slow to build, and each app starts a fresh watch of it."""
    apps = [make_app(tmp_path, start_step="verify") for _ in range(8)]
    state = apply_setup(apps[0], seeded)
    grant_reader(apps[0], seeded)
    for app in apps:
        app.state = state
        assert app.session is not None and app.session.audit is not None
        app.session.audit.path = Path("/home/user/.local/state/flowlogs-tui/audit.jsonl")  # shown only
    clock.set(2)
    for app, size in zip(apps[0:2], SIZES, strict=True):
        _snap(snap_compare, app, size)
    deliver(clock, 12)
    clock.set(13)
    for app, size in zip(apps[2:4], SIZES, strict=True):
        _snap(snap_compare, app, size, "receiving")
    block_delivery(apps[0], EU_BUCKET)
    deliver(clock, 17)
    clock.set(18)
    for app, size in zip(apps[4:6], SIZES, strict=True):
        _snap(snap_compare, app, size, "failed")
    for app, size in zip(apps[6:8], SIZES, strict=True):
        _snap(snap_compare, app, size, "summary")
