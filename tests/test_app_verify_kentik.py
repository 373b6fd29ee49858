"""The verify panel with Kentik's own view: each location's cloud export (API access, bucket access, flows
found, Kentik's error) beside our per-source states, asked on the S3 poll's cadence; on the seeded demo
account (moto) and the local Kentik fake (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import moto.ec2.models.flow_logs as moto_flow_logs
import moto.s3.models as moto_s3
import pytest
from app_fixtures import make_app
from terminal_checks import screen_lines
from test_app_verify import (
    EU_BUCKET,
    US_BUCKET,
    Clock,
    apply_setup,
    deliver,
    detail_text,
    grant_reader,
    idle,
    select,
)
from textual.pilot import Pilot
from textual.widgets import Static

from aws.sandbox.kentik_fake import EXPORTS_PATH, KentikFake
from aws.sandbox.seed import SeedSummary
from screens.verify import VerifyScreen
from screens.verify_kentik import KENTIK_OFF
from tui.app import FlowlogsApp
from tui.state import WizardState

EMAIL, TOKEN = "ops@example.com", "tok-panel-0123456789"
READING = {
    "status": "OK",
    "errorMessage": "",
    "flowFound": True,
    "apiAccess": True,
    "storageAccountAccess": True,
}
NO_ACCESS = {
    "status": "ERROR",
    "errorMessage": "AccessDenied on s3:ListBucket",
    "flowFound": False,
    "apiAccess": True,
    "storageAccountAccess": False,
}


@pytest.fixture
def clock(seeded: SeedSummary, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(moto_s3, "utcnow", c.naive)
    monkeypatch.setattr(moto_flow_logs, "utcnow", c.naive)
    monkeypatch.setattr(VerifyScreen, "now", lambda self: c.t)
    monkeypatch.setattr(VerifyScreen, "TICK", 3600.0)  # the countdown never moves on its own
    yield c


def by_bucket(export: Mapping[str, Any]) -> Mapping[str, Any]:
    """The EU bucket's export found flows; the US one cannot read its bucket."""
    return READING if export["aws"]["bucket"] == EU_BUCKET else NO_ACCESS


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[KentikFake]:
    """Kentik with an export per bucket of the set-up, and this run's credentials in the environment."""
    with KentikFake(email=EMAIL, token=TOKEN, status_for=by_bucket) as running:
        for bucket, region in ((EU_BUCKET, "eu-west-1"), (US_BUCKET, "us-east-1")):
            running.seed(
                {
                    "name": bucket,
                    "enabled": True,
                    "planId": "11467",
                    "cloudProvider": "CLOUD_PROVIDER_AWS",
                    "aws": {
                        "iamRoleArn": "arn:aws:iam::123456789012:role/kentik-metadata-role",
                        "region": region,
                        "bucket": bucket,
                    },
                }
            )
        monkeypatch.setenv("KENTIK_API_URL", running.url)
        monkeypatch.setenv("KENTIK_V5_API_URL", running.url)
        yield running


def use_kentik(monkeypatch: pytest.MonkeyPatch, token: str = TOKEN) -> None:
    monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
    monkeypatch.setenv("KENTIK_API_TOKEN", token)


def kentik_text(screen: VerifyScreen) -> str:
    return str(screen.query_one("#kentik", Static).render())


def setup_app(tmp_path: Path, seeded: SeedSummary, clock: Clock) -> FlowlogsApp:
    app = make_app(tmp_path, start_step="verify")
    app.state = apply_setup(app, seeded)
    clock.set(2)
    return app


async def panel(pilot: Pilot[Any]) -> VerifyScreen:
    await idle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, VerifyScreen) and screen.watcher is not None
    return screen


def us_flow_log(screen: VerifyScreen) -> str:
    return next(
        sid
        for sid, st in screen.statuses.items()
        if st.source.bucket == US_BUCKET and st.source.kind == "flowlog"
    )


def line_of(app: FlowlogsApp, start: str) -> str:
    return next(line.strip() for line in screen_lines(app) if line.strip().startswith(start))


# -- behaviour ---------------------------------------------------------------------------------------
async def test_each_bucket_shows_its_exports_state_under_the_sources(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kentik(monkeypatch)
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await panel(pilot)
        assert line_of(app, EU_BUCKET).split()[:5] == [EU_BUCKET, "reading", "yes", "yes", "yes"]
        assert line_of(app, US_BUCKET).split()[:6] == [US_BUCKET, "no", "access", "yes", "no", "no"]
        assert line_of(app, US_BUCKET).endswith("AccessDenied on s3:ListBucket")


async def test_kentik_is_asked_again_on_every_poll(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kentik(monkeypatch)
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        assert fake.requests == [("GET", EXPORTS_PATH)]
        fake.status_for = lambda export: READING  # Kentik now reads the US bucket too
        await pilot.press("n")
        await idle(pilot)
        assert fake.requests == [("GET", EXPORTS_PATH)] * 2
        assert screen.kentik_report is not None and screen.kentik_report.done


async def test_kentik_is_asked_again_on_coming_back_from_the_summary(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kentik(monkeypatch)
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await panel(pilot)
        await pilot.press("s")  # the summary (where registering happens), over the panel
        await idle(pilot)
        await pilot.press("escape")  # back to the live panel
        await idle(pilot)
        assert fake.requests == [("GET", EXPORTS_PATH)] * 2


async def test_the_detail_shows_what_kentik_says_of_the_selected_sources_bucket(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kentik(monkeypatch)
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        select(screen, us_flow_log(screen))
        await pilot.pause()
        text = " ".join(detail_text(screen).split())
        assert f"Kentik sees: no access export 1002 {US_BUCKET}: API access yes, bucket access no" in text
        assert "Kentik says: AccessDenied on s3:ListBucket" in text


async def test_without_credentials_one_quiet_line_says_how_to_turn_it_on(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake
) -> None:
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        assert kentik_text(screen) == KENTIK_OFF
        assert KENTIK_OFF in screen_lines(app)[8]  # whole, under the three sources, at 80 columns
        assert fake.requests == []


async def test_a_kentik_error_is_shown_once_and_the_s3_watch_goes_on(
    seeded: SeedSummary, clock: Clock, tmp_path: Path, fake: KentikFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kentik(monkeypatch, token="not-the-token")
    app = setup_app(tmp_path, seeded, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        assert screen.watcher is not None
        deliver(clock, 12)
        clock.t += timedelta(minutes=1)
        await pilot.press("n")
        await idle(pilot)
        assert screen.watcher.polls == 2 and {st.state for st in screen.statuses.values()} == {"receiving"}
        assert len(fake.requests) == 2  # asked on both polls
        shown = [n.title for n in app._notifications if n.title.startswith("Kentik")]
        assert shown == ["Kentik access denied (run_kentik)"]  # once, not on every poll
        assert "HTTP 401" in kentik_text(screen) and "retried on the next poll" in kentik_text(screen)


# -- snapshots ---------------------------------------------------------------------------------------
def test_snapshots(
    seeded: SeedSummary,
    clock: Clock,
    tmp_path: Path,
    fake: KentikFake,
    monkeypatch: pytest.MonkeyPatch,
    snap_compare: Any,
) -> None:
    """80x24 and 120x40 with Kentik: the EU bucket's export reads, the US one cannot read its bucket (the
    US flow log selected, its detail saying so); then 80x24 without Kentik credentials."""
    apps = [make_app(tmp_path, start_step="verify") for _ in range(3)]
    state: WizardState = apply_setup(apps[0], seeded)
    grant_reader(apps[0], seeded)
    for app in apps:
        app.state = state
    deliver(clock, 12)
    clock.set(13)

    async def us_selected(pilot: Pilot[Any]) -> None:
        screen = await panel(pilot)
        select(screen, us_flow_log(screen))
        await pilot.pause()

    use_kentik(monkeypatch)
    assert snap_compare(apps[0], terminal_size=(80, 24), run_before=us_selected)
    assert snap_compare(apps[1], terminal_size=(120, 40), run_before=us_selected)
    monkeypatch.delenv("KENTIK_EMAIL")
    monkeypatch.delenv("KENTIK_API_TOKEN")
    assert snap_compare(apps[2], terminal_size=(80, 24), run_before=us_selected)
