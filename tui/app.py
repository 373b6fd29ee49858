"""The Textual app: a wizard of steps (modes) sharing one AWS session and one wizard state.

Errors from any worker reach the user in one place, `FlowlogsApp.show_error`: a notification with the
specific message and hint from `aws.errors.explain`, never a traceback.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from aws.errors import CredentialsError, FlowlogsError, NoSession, explain
from aws.limits import DEFAULT_ACCOUNT_WORKERS
from tui.config import SessionFactory, Settings, state_dir
from tui.dialogs import Confirm, ProfilePicker
from tui.kentik import KentikAccess
from tui.layout import WIDE
from tui.messages import DemoReady, IdentityLoaded, KeptChangesApplied
from tui.palette import THEME, THEMES
from tui.steps import Step, available_steps
from tui.widgets import ContextBar, StepBar
from tui.workers import RoutesWorkerErrors

# The first frame shows before boto3 and the engine load (they take most of a second): this module
# imports them where they are used, once the app is on screen (tests/test_startup.py checks).
if TYPE_CHECKING:
    from aws.kentik.api import KentikClient
    from aws.org import AccountSelection
    from aws.plans.change import ApplyReport, ChangeResult, Plan
    from aws.sandbox.server import Sandbox
    from aws.session import AwsSession, Identity
    from tui.resume import ResumeStore, SavedApply, SavedWizard
    from tui.state import WizardState


class FlowlogsApp(RoutesWorkerErrors, App[int]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "flowlogs"
    ENABLE_COMMAND_PALETTE = True
    # Every screen gets -narrow below WIDE columns and -wide from it (their CSS lays out by these classes).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", id="app.next_step", priority=True),
        Binding("ctrl+b", "prev_step", "Back", id="app.prev_step", priority=True),
        Binding("ctrl+o", "switch_profile", "Profile", id="app.switch_profile", show=False),
        Binding("ctrl+t", "toggle_read_only", "Read-only", id="app.toggle_read_only", show=False),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: SessionFactory,
        session: AwsSession | None = None,
        demo: bool = False,
        start_step: str | None = None,
        resume: bool | None = False,
        start_sandbox: bool = False,
        keep: bool = False,
        accounts: AccountSelection | None = None,
        account_workers: int = DEFAULT_ACCOUNT_WORKERS,
    ) -> None:
        """Made by `tui.factory.create_app`. `session_factory` makes the session for settings (at start when
        `session` is not given, and on a profile switch). `resume`: True resumes a saved wizard state
        without asking, None asks, False starts fresh. `start_sandbox` (the demo): the session is made
        once the embedded sandbox, started in the background, is ready; `keep` then re-applies the
        changes the saved demo state records. `accounts` (--org / --accounts): discovery scans each of
        its accounts, `account_workers` at once (`org_mode`); the later steps set up one of them."""
        super().__init__()
        self.settings = settings
        self.accounts = accounts if accounts is not None and accounts.many else None
        self.account_workers = account_workers
        self.session_factory = session_factory
        self.demo = demo
        self._state: WizardState | None = None
        self.identity: Identity | None = None
        self.session_problem = ""
        self.session: AwsSession | None = session
        self.kentik = KentikAccess()  # Kentik credentials for this run: memory only (tui.kentik)
        self.resume = resume
        self.keep = keep
        self._resume_store: ResumeStore | None = None
        self.sandbox: Sandbox | None = None
        self.sandbox_pending = start_sandbox
        self._steps_started = False
        self._identity_seen = False
        self._resume_step = ""  # a resumed step waiting for the rescan of a stale inventory
        self._scan_deferred = False  # discovery was shown before the demo sandbox was ready
        self._resume_pending = False  # the resume question is open: nothing is saved until it is answered
        self._quitting = False
        self._interrupted: tuple[ApplyReport, str] | None = None  # an interrupted apply, reported
        self._applying: SavedApply | None = None
        if session is None and not start_sandbox:
            try:
                self.session = session_factory(settings)
            except FlowlogsError as err:
                self.session_problem = err.message
        self.steps: list[Step] = available_steps()
        for step in self.steps:
            self.add_mode(step.key, self._screen_factory(step))
        self.start_step = start_step or (self.steps[0].key if self.steps else "")
        if settings.keymap:
            self.set_keymap(settings.keymap)
        for theme in THEMES:
            self.register_theme(theme)
        self._theme_problem = ""
        if settings.theme in self.available_themes:
            self.theme = settings.theme
        else:
            self.theme = THEME.name
            self._theme_problem = (
                f"Unknown theme {settings.theme!r} in the settings; using {THEME.name}. "
                f"Themes: {', '.join(sorted(self.available_themes))}."
            )

    @staticmethod
    def _screen_factory(step: Step) -> Any:
        def make() -> Screen[Any]:
            module, cls = step.screen.split(":")
            screen: Screen[Any] = getattr(importlib.import_module(module), cls)()
            return screen

        return make

    # -- life cycle --------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self._theme_problem:
            self.notify(self._theme_problem, title="Theme", severity="warning", timeout=12)
        self.screen.mount(
            self.make_context_bar(), StepBar(self.steps, ""), Static(" Starting…", id="starting")
        )
        if self.sandbox_pending:
            # The demo's first frame (the top bar with DEMO and the read-only state, and the steps) is on
            # screen before the engine, the first step and the sandbox load.
            self.call_after_refresh(self._begin)
        else:
            self._begin()

    def _begin(self) -> None:
        # With a saved state that may be this account's, the first step waits for the identity (the
        # account is part of the key); otherwise it shows at once.
        if not self._may_resume() or (self.session is None and not self.sandbox_pending):
            self.start_steps()  # (without a session there is no identity to key a saved state by)
        else:
            self.screen.query_one("#starting", Static).update(
                " Looking for the saved wizard state of this account…"
            )
        if self.sandbox_pending:
            self.start_demo_sandbox()
        elif self.session is not None:
            self.load_identity()
        elif self.session_problem:
            self.notify(self.session_problem, title="AWS session", severity="error", timeout=15)

    @property
    def state(self) -> WizardState:
        """What the steps hand to each other (made on first use: its models load the engine)."""
        if self._state is None:
            from tui.state import WizardState

            self._state = WizardState()
        return self._state

    @state.setter
    def state(self, value: WizardState) -> None:
        self._state = value

    def nested_defaults(self) -> dict[str, str]:
        """The IAM step's nested fields (by widget id) with --org / --accounts: the accounts discovery
        reached and our access role there; {} otherwise."""
        org = self.state.org_inventory
        if org is None or self.accounts is None:
            return {}
        return {
            "#accounts": ", ".join(a.account for a in org.scanned),
            "#assume-role": self.accounts.assume_role,
        }

    def kentik_client(self) -> KentikClient:
        """A Kentik client as this run's Kentik user (`self.kentik`), with the AWS session's read-only mode
        and audit log (KentikCredentialsMissing when no credentials were entered or are in the
        environment)."""
        session = self.session
        read_only = session.read_only if session else self.settings.read_only
        return self.kentik.client(read_only=read_only, audit=session.audit if session else None)

    @property
    def org_mode(self) -> bool:
        """Whether this run covers many accounts (--org or --accounts)."""
        return self.accounts is not None

    @property
    def resume_store(self) -> ResumeStore:
        if self._resume_store is None:
            from tui.resume import ResumeStore

            self._resume_store = ResumeStore(state_dir() / "resume")
        return self._resume_store

    def start_steps(self, step: str = "") -> None:
        """Show the first step (or `step`), once."""
        if self._steps_started:
            return
        self._steps_started = True
        if step or self.start_step:
            self.switch_mode(step or self.start_step)

    @work(thread=True, exclusive=True, exit_on_error=False, group="identity")
    def load_identity(self) -> None:
        self.post_message(IdentityLoaded(self.require_session().identity()))

    def on_identity_loaded(self, message: IdentityLoaded) -> None:
        self.identity = message.identity
        self.session_problem = ""
        self.refresh_context_bars()
        if not self._identity_seen:
            self._identity_seen = True
            self.offer_resume()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The error itself is shown by RoutesWorkerErrors; without an identity there is nothing to resume.
        if event.worker.group in ("identity", "sandbox") and event.state == WorkerState.ERROR:
            if event.worker.group == "sandbox" and self.session is None:  # the sandbox did not start
                self.session_problem = f"The demo sandbox did not start: {event.worker.error}"
            elif event.worker.group == "sandbox":  # --keep's replay failed: go on without it
                self.load_identity()
            self.sandbox_pending = False
            self.refresh_context_bars()
            self.start_steps()

    # -- the demo sandbox, started in the background ----------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="sandbox")
    def start_demo_sandbox(self) -> None:
        from aws.sandbox.server import start_sandbox

        sandbox = start_sandbox()
        if self._quitting:  # the user quit while it started (Textual waits for this thread): stop it
            sandbox.stop()
            return
        sandbox.export_env(os.environ)
        settings = self.settings.model_copy(update={"profile": None})
        self.post_message(DemoReady(sandbox, self.session_factory(settings), settings))

    def on_demo_ready(self, message: DemoReady) -> None:
        self.sandbox, self.session, self.settings = message.sandbox, message.session, message.settings
        self.sandbox_pending = False
        self.session_problem = ""
        self.refresh_context_bars()
        saved = self._saved(message.sandbox.account_id) if self.keep else None
        if saved is not None:
            self._interrupted_report(saved)  # before the replay writes its own calls to the audit log
        if saved is not None and (saved.applied or saved.applying):
            self.notify("Re-applying the saved demo changes to the fresh sandbox…", title="Demo")
            self.apply_kept_changes(saved)
        else:
            self.load_identity()
            self.rescan_if_shown()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sandbox")
    def apply_kept_changes(self, saved: SavedWizard) -> None:
        """`--demo --keep`: apply again, to the fresh sandbox, every change the saved applies finished."""
        from aws.plans.change import DONE, apply_plan

        session = self.require_session()
        done, problems = 0, 0
        for applied in [*saved.applied, *([saved.applying] if saved.applying else [])]:
            finished = {r.change_id for r in applied.report.results if r.status in DONE}
            plan = applied.plan.model_copy(
                update={"changes": [c for c in applied.plan.changes if c.id in finished]}
            )
            # these changes were applied before, destructive ones confirmed then; a registration in
            # Kentik (screens.register) is made again in the demo's fresh Kentik fake
            kentik = any(c.provider == "kentik" for c in plan.changes)
            providers = {"kentik": self.kentik_client()} if kentik and self.kentik.configured else None
            report = apply_plan(plan, session, confirm_destructive=True, providers=providers)
            done += sum(1 for r in report.results if r.status in DONE)
            problems += len(report.results) - sum(1 for r in report.results if r.status in DONE)
        self.post_message(KeptChangesApplied(done, problems))

    def on_kept_changes_applied(self, message: KeptChangesApplied) -> None:
        if message.problems:
            self.notify(
                f"Re-applied {message.count} saved change(s) to the demo sandbox; {message.problems} could "
                "not be (refused or failed): the resumed state may show more than the sandbox has.",
                title="Demo",
                severity="warning",
                timeout=15,
            )
        else:
            self.notify(f"Re-applied {message.count} saved change(s) to the demo sandbox.", title="Demo")
        self.load_identity()

    def rescan_if_shown(self) -> None:
        """Discovery was shown before the demo sandbox was ready (no session): scan once it is ready and
        discovery is on screen, now or when it is shown again (keys pressed during the start move on)."""
        ready = self.session is not None and self.state.inventory is None
        if self._scan_deferred and ready and self.current_mode == "discovery":
            self._scan_deferred = False
            self._rescan_discovery()

    # -- resume after a dropped session ----------------------------------------------------------------
    def resume_key(self) -> tuple[str, str]:
        """(endpoint, profile) of the saved-state key; the account completes it."""
        from aws.session import custom_endpoint
        from tui.resume import DEMO_ENDPOINT

        session = self.session
        if self.demo:
            endpoint = DEMO_ENDPOINT
        else:
            url = session.options.endpoint_url if session else None
            endpoint = custom_endpoint(url or os.environ.get("AWS_ENDPOINT_URL")) or "aws"
        profile = "" if self.demo else (session.options.profile if session else self.settings.profile) or ""
        return endpoint, profile

    def _may_resume(self) -> bool:
        if self.resume is False or (self.demo and not self.keep):
            return False
        return self.resume_store.any_for(*self.resume_key())

    def _saved(self, account: str) -> SavedWizard | None:
        from tui.resume import UnreadableState

        if self.resume is False or (self.demo and not self.keep):
            return None
        try:
            return self.resume_store.load(account, *self.resume_key())
        except UnreadableState as err:
            self.notify(str(err), title="Resume", severity="warning", timeout=12, markup=False)
            return None

    def offer_resume(self) -> None:
        # Only at start: once a step shows (e.g. the identity came only after a profile switch) the user
        # has moved on, and a saved state would replace what is on screen.
        saved = self._saved(self.identity.account) if self.identity and not self._steps_started else None
        if saved is None:
            self.start_steps()
            self.rescan_if_shown()
            return
        if self.resume:
            self.resume_from(saved)
            return
        question, details = self.resume_question(saved)
        self._resume_pending = True

        def answered(yes: bool | None) -> None:
            self._resume_pending = False
            if yes and not self._steps_started:
                self.resume_from(saved)
            else:
                self.start_steps()

        self.push_screen(ResumeConfirm(question, details), answered)

    def _step_title(self, key: str) -> str:
        keys = [s.key for s in self.steps]
        return f"step {keys.index(key) + 1} ({self.steps[keys.index(key)].title})" if key in keys else key

    def resume_question(self, saved: SavedWizard) -> tuple[str, str]:
        age = saved.inventory_age_s()
        if age is None:
            inventory = "no inventory"
        else:
            inventory = f"inventory {_age(age)} old"
            if age > self.settings.resume_max_age_hours * 3600:
                inventory += f" (older than {self.settings.resume_max_age_hours:g} h: rescanned first)"
        question = f"Resume where you left off: {self._step_title(saved.step)}, {inventory}?"
        details = f"Saved {_age((datetime.now(timezone.utc) - saved.saved_at).total_seconds())} ago"
        if saved.applying is not None:
            details += (
                "; an apply was interrupted: the account is scanned again, and its report shows what ran "
                "and what did not"
            )
        return question, details + ". y (or Esc) resumes; n starts fresh, replacing the saved state."

    def _step_keys(self) -> set[str]:
        return {s.key for s in self.steps}

    def _interrupted_report(self, saved: SavedWizard) -> tuple[ApplyReport, str] | None:
        """The report of the saved state's interrupted apply (made once: before --keep's replay adds
        its own calls to the audit log)."""
        from tui.resume import interrupted_report

        if saved.applying is not None and self._interrupted is None:
            session = self.session
            self._interrupted = interrupted_report(saved.applying, session.audit if session else None)
        return self._interrupted

    def resume_from(self, saved: SavedWizard) -> None:
        state = saved.wizard_state()
        interrupted = self._interrupted_report(saved)
        if saved.applying is not None and interrupted is not None:
            report, summary = interrupted
            state.record(saved.applying.step, saved.applying.plan, report)
            self.notify(summary, title="Resume", severity="warning", timeout=20, markup=False)
        age = saved.inventory_age_s()
        # A step this version does not have (a file from another version) resumes at the first one.
        step = saved.step if saved.step in self._step_keys() else self.start_step
        # An interrupted apply changed the account after the scan: the inventory no longer describes it.
        # A state saved by a one-account run resumed with --org (or the other way round) is scanned again.
        other_mode = (state.org_inventory is not None) != self.org_mode
        if (
            age is None
            or age > self.settings.resume_max_age_hours * 3600
            or saved.applying is not None
            or other_mode
        ):
            state.inventory, state.org_inventory, state.target_account = None, None, ""
            self._resume_step, step = step, "discovery"
        self.state = state
        self.start_steps(step)
        self.save_wizard()
        self.rescan_if_shown()

    def on_scan_finished(self, _: object) -> None:
        # Bubbles up from the discovery step (screens.discovery.ScanFinished) after it kept the inventory.
        if self._resume_step and self.state.inventory is not None:
            step, self._resume_step = self._resume_step, ""
            if self.current_mode == "discovery" and step in self._step_keys():  # unless the user moved on
                self.switch_mode(step)

    def on_org_scan_finished(self, message: object) -> None:
        # screens.discovery.OrgScanFinished (--org / --accounts): the same, once every account is scanned.
        self.on_scan_finished(message)

    def save_wizard(self) -> None:
        """Save the wizard state for this account (after each step and each change applied)."""
        if self._resume_pending or self.identity is None or self.current_mode not in self._step_keys():
            return
        from tui.resume import snapshot

        endpoint, profile = self.resume_key()
        saved = snapshot(
            self.state,
            account=self.identity.account,
            endpoint=endpoint,
            profile=profile,
            step=self._resume_step or self.current_mode,  # a step waiting for a rescan stays the saved one
            applying=self._applying,
        )
        try:
            self.resume_store.save(saved)
        except OSError as err:
            self.notify(f"Could not save the wizard state: {err}", title="Resume", severity="warning")

    def switch_mode(self, mode: str) -> Any:
        done = super().switch_mode(mode)
        self.call_after_refresh(self.save_wizard)
        return done

    def apply_began(self, step: str, plan: Plan) -> bool:
        """Track an apply for resuming; False (and a notice) while another one is still running."""
        from aws.plans.change import ApplyReport, ChangeResult
        from tui.resume import SavedApply

        if self._applying is not None:
            self.notify(
                f"Another apply ({self._applying.step}) is still running: wait for it to finish.",
                title="Apply",
                severity="warning",
            )
            return False

        results = [ChangeResult(change_id=c.id, status="not-run") for c in plan.changes]
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._applying = SavedApply(
            step=step, plan=plan, report=ApplyReport(account=plan.account, started=started, results=results)
        )
        self.save_wizard()
        return True

    def change_began(self, change_id: str) -> None:
        if self._applying is not None:
            self._applying.running = change_id
            self._applying.audit_offset = (
                self.session.audit.size() if self.session and self.session.audit else 0
            )
            self.save_wizard()

    def change_done(self, result: ChangeResult) -> None:
        if self._applying is not None:
            report = self._applying.report
            report.results = [result if r.change_id == result.change_id else r for r in report.results]
            self._applying.running = ""
            self.save_wizard()

    def record_apply(self, step: str, plan: Plan, report: ApplyReport) -> None:
        self.state.record(step, plan, report)
        self._applying = None
        self.save_wizard()

    def apply_failed(self) -> None:
        """The apply worker raised (the error is shown): nothing is in flight any more."""
        self._applying = None
        self.save_wizard()

    # -- the one place errors are shown -------------------------------------------------------------
    def require_session(self) -> AwsSession:
        """The AWS session, for workers: without one, NoSession (the worker-error hook shows it)."""
        if self.session is None:
            raise NoSession(self.session_problem or "No AWS session: set credentials and restart.")
        return self.session

    def show_no_session(self) -> None:
        """Tell the user why nothing can run: there is no AWS session (the reason it could not be made)."""
        if self.sandbox_pending:
            self._scan_deferred = True
            self.notify("The demo sandbox is starting: the scan begins when it is ready.", title="Demo")
            return
        self.show_error(NoSession(self.session_problem or "No AWS session: set credentials and restart."))

    def show_error(self, error: BaseException, context: str = "") -> None:
        from aws.kentik.access import KentikCredentialsMissing

        problem = explain(error, profile=self.session.options.profile if self.session else None)
        # An AWS credentials problem marks the context bar; Kentik's (its own credentials) does not.
        if isinstance(problem, CredentialsError) and not isinstance(problem, KentikCredentialsMissing):
            self.session_problem = problem.message
            self.refresh_context_bars()
        heading = problem.title or type(problem).__name__.replace("Error", " error")
        title = heading + (f" ({context})" if context else "")
        self.notify(str(problem), title=title, severity="error", timeout=12, markup=False)

    # -- context bar ---------------------------------------------------------------------------------
    def make_context_bar(self) -> ContextBar:
        bar = ContextBar()
        self.fill_context_bar(bar)
        return bar

    def fill_context_bar(self, bar: ContextBar) -> None:
        session = self.session
        bar.identity = self.identity
        bar.problem = self.session_problem
        bar.profile = (session.options.profile if session else self.settings.profile) or ""
        bar.aws_region = session.home_region if session else (self.settings.region or "")
        bar.read_only = session.read_only if session else self.settings.read_only
        bar.demo = self.demo
        bar.starting = self.sandbox_pending

    def refresh_context_bars(self) -> None:
        for screen in self.screen_stack:
            for bar in screen.query(ContextBar):
                self.fill_context_bar(bar)

    # -- navigation ----------------------------------------------------------------------------------
    def _step_index(self) -> int:
        keys = [s.key for s in self.steps]
        return keys.index(self.current_mode) if self.current_mode in keys else -1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Next is hidden on the last step and Back on the first (they would do nothing there)."""
        index = self._step_index()
        last = action == "next_step" and index == len(self.steps) - 1
        return not (last or (action == "prev_step" and index == 0))

    def action_next_step(self) -> None:
        index = self._step_index()
        if 0 <= index < len(self.steps) - 1:
            self.switch_mode(self.steps[index + 1].key)

    def action_prev_step(self) -> None:
        index = self._step_index()
        if index > 0:
            self.switch_mode(self.steps[index - 1].key)

    # -- quitting ------------------------------------------------------------------------------------
    def quit_warning(self) -> str:
        """What quitting now would interrupt ('' when nothing: Ctrl+Q then quits at once). Screens in the
        stack may say so through their own `quit_warning()` (the verify panel while it watches)."""
        if self._applying is not None:
            return "a change is being applied (a rerun of the plan finishes it)"
        for screen in reversed(self.screen_stack):
            warning = getattr(screen, "quit_warning", None)
            if callable(warning) and (text := warning()):
                return str(text)
        return ""

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._quitting = True
        super().exit(*args, **kwargs)

    async def action_quit(self) -> None:
        warning = self.quit_warning()
        if not warning or isinstance(self.screen, QuitConfirm):
            self.exit()
            return
        self.push_screen(QuitConfirm(f"Quit while {warning}?"), lambda yes: self.exit() if yes else None)

    # -- session actions -----------------------------------------------------------------------------
    def action_toggle_read_only(self) -> None:
        if self.session is None:
            return
        self.session.read_only = not self.session.read_only
        self.settings = self.settings.model_copy(update={"read_only": self.session.read_only})
        state = "on: no change will be made to AWS" if self.session.read_only else "off"
        self.notify(f"Read-only mode {state}.", title="Read-only")
        self.refresh_context_bars()

    def action_switch_profile(self) -> None:
        import boto3

        profiles = sorted(boto3.Session().available_profiles)
        current = self.session.options.profile if self.session else self.settings.profile
        self.push_screen(ProfilePicker(profiles, current), self._use_profile)

    def _use_profile(self, profile: str | None) -> None:
        if not profile:
            return
        settings = self.settings.model_copy(update={"profile": profile})
        try:
            session = self.session_factory(settings)
        except FlowlogsError as err:
            self.show_error(err, context="switch profile")
            return
        session.read_only = self.session.read_only if self.session else settings.read_only
        self.settings, self.session, self.identity = settings, session, None
        self._state = None  # a fresh one on next use
        self.refresh_context_bars()
        self.load_identity()
        self.action_rescan()

    def action_rescan(self) -> None:
        """Rescan the account: handled by the discovery step when it is present."""
        if any(s.key == "discovery" for s in self.steps):
            self.switch_mode("discovery")
            self.call_after_refresh(self._rescan_discovery)

    def _rescan_discovery(self) -> None:
        rescan = getattr(self.screen, "action_rescan", None)
        if callable(rescan):
            rescan()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Switch AWS profile", "Use another profile from ~/.aws", self.action_switch_profile
        )
        yield SystemCommand(
            "Rescan account", "Discover regions, VPCs and firewalls again", self.action_rescan
        )
        ro = self.session.read_only if self.session else self.settings.read_only
        yield SystemCommand(
            "Toggle read-only",
            f"Read-only is {'on' if ro else 'off'}: {'allow' if ro else 'block'} changes to AWS",
            self.action_toggle_read_only,
        )


class ResumeConfirm(Confirm):
    """Resume the saved wizard? y (or Esc: the choice that loses nothing) resumes; only n starts fresh,
    which replaces the saved state."""

    BINDINGS = [
        Binding("y,escape", "dismiss(True)", "Resume"),
        Binding("n", "dismiss(False)", "Start fresh"),
    ]


class QuitConfirm(Confirm):
    """Ctrl+Q while something is running: y quits (Ctrl+Q again too), n stays."""

    def __init__(self, question: str) -> None:
        super().__init__(question, "The saved wizard state resumes it on the next start.")


def _age(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days"
