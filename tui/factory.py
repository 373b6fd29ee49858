"""The one place sessions and apps are made: used by the CLI, the demo and the tests.

`tui.app` never imports this module: the app gets `make_session` injected (as a `SessionFactory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws.limits import DEFAULT_ACCOUNT_WORKERS
from tui.config import SessionFactory, Settings, demo_endpoint

if TYPE_CHECKING:
    from aws.org import AccountSelection
    from aws.session import AwsSession
    from tui.app import FlowlogsApp


def make_session(settings: Settings, *, endpoint_url: str | None = None) -> AwsSession:
    # boto3 loads here, not on import: the demo's first frame does not wait for it
    from aws.audit import AuditLog
    from aws.session import AwsSession, SessionOptions

    options = SessionOptions(
        profile=settings.profile,
        region=settings.region,
        read_only=settings.read_only,
        endpoint_url=endpoint_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        call_deadline=settings.call_deadline,
        max_attempts=settings.max_attempts,
        throttle_attempts=settings.throttle_attempts,
        retry_seed=settings.retry_seed,
    )
    # Demo runs have their own log (see Settings.audit_path) and every record says "demo": true.
    return AwsSession(options, audit=AuditLog(settings.audit_path, demo=demo_endpoint() is not None))


def create_app(
    settings: Settings,
    *,
    session: AwsSession | None = None,
    session_factory: SessionFactory = make_session,
    demo: bool = False,
    start_step: str | None = None,
    resume: bool | None = False,
    start_sandbox: bool = False,
    keep: bool = False,
    accounts: AccountSelection | None = None,
    account_workers: int = DEFAULT_ACCOUNT_WORKERS,
) -> FlowlogsApp:
    """Build the TUI. `session` is made by `session_factory` from settings when not given (tests pass one
    on moto); the app makes later sessions (a profile switch) with the same factory. `accounts` (validated,
    `tui.cli.account_selection`): with --org or --accounts, discovery scans every account of it,
    `account_workers` at once; None or a one-account selection is today's one-account run."""
    from tui.app import FlowlogsApp  # Textual loads only when an app is made: headless commands never do

    return FlowlogsApp(
        settings,
        session_factory=session_factory,
        session=session,
        demo=demo,
        start_step=start_step,
        resume=resume,
        start_sandbox=start_sandbox,
        keep=keep,
        accounts=accounts,
        account_workers=account_workers,
    )


def run_app(
    settings: Settings,
    *,
    demo: bool = False,
    session_factory: SessionFactory = make_session,
    resume: bool | None = None,
    keep: bool = False,
    accounts: AccountSelection | None = None,
    account_workers: int = DEFAULT_ACCOUNT_WORKERS,
) -> int:
    """Run the TUI. `resume`: True resumes saved wizard state without asking, False starts fresh, None
    asks when there is some. `demo`: the app starts the embedded sandbox in the background (its first
    frame does not wait for it); `keep` re-applies the demo's recorded changes to the fresh sandbox;
    `accounts` and `account_workers` as for `create_app`."""
    app = create_app(
        settings,
        demo=demo,
        session_factory=session_factory,
        resume=resume,
        start_sandbox=demo,
        keep=keep,
        accounts=accounts,
        account_workers=account_workers,
    )
    try:
        app.run()
    finally:
        if app.sandbox is not None:
            app.sandbox.stop()
    return app.return_code or 0
