"""The Textual app: a wizard of steps (modes) sharing one AWS session and one wizard state.

Errors from any worker reach the user in one place, `FlowlogsApp.show_error`: a notification with the
specific message and hint from `aws.errors.explain`, never a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import boto3
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from aws.errors import CredentialsError, FlowlogsError, NoSession, explain
from aws.session import AwsSession, Identity
from tui.config import SessionFactory, Settings
from tui.dialogs import ProfilePicker
from tui.layout import WIDE
from tui.messages import IdentityLoaded
from tui.state import WizardState
from tui.steps import Step, available_steps
from tui.widgets import ContextBar
from tui.workers import RoutesWorkerErrors


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
    ) -> None:
        """Made by `tui.factory.create_app`. `session_factory` makes the session for settings (at start when
        `session` is not given, and on a profile switch)."""
        super().__init__()
        self.settings = settings
        self.session_factory = session_factory
        self.demo = demo
        self.state = WizardState()
        self.identity: Identity | None = None
        self.session_problem = ""
        self.session: AwsSession | None = session
        if session is None:
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
        self.theme = settings.theme

    @staticmethod
    def _screen_factory(step: Step) -> Any:
        def make() -> Screen[Any]:
            module, cls = step.screen.split(":")
            screen: Screen[Any] = getattr(importlib.import_module(module), cls)()
            return screen

        return make

    # -- life cycle --------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.start_step:
            self.switch_mode(self.start_step)
        if self.session is not None:
            self.load_identity()
        elif self.session_problem:
            self.notify(self.session_problem, title="AWS session", severity="error", timeout=15)

    @work(thread=True, exclusive=True, exit_on_error=False, group="identity")
    def load_identity(self) -> None:
        self.post_message(IdentityLoaded(self.require_session().identity()))

    def on_identity_loaded(self, message: IdentityLoaded) -> None:
        self.identity = message.identity
        self.session_problem = ""
        self.refresh_context_bars()

    # -- the one place errors are shown -------------------------------------------------------------
    def require_session(self) -> AwsSession:
        """The AWS session, for workers: without one, NoSession (the worker-error hook shows it)."""
        if self.session is None:
            raise NoSession(self.session_problem or "No AWS session: set credentials and restart.")
        return self.session

    def show_no_session(self) -> None:
        """Tell the user why nothing can run: there is no AWS session (the reason it could not be made)."""
        self.show_error(NoSession(self.session_problem or "No AWS session: set credentials and restart."))

    def show_error(self, error: BaseException, context: str = "") -> None:
        problem = explain(error, profile=self.session.options.profile if self.session else None)
        if isinstance(problem, CredentialsError):
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

    def refresh_context_bars(self) -> None:
        for screen in self.screen_stack:
            for bar in screen.query(ContextBar):
                self.fill_context_bar(bar)

    # -- navigation ----------------------------------------------------------------------------------
    def _step_index(self) -> int:
        keys = [s.key for s in self.steps]
        return keys.index(self.current_mode) if self.current_mode in keys else -1

    def action_next_step(self) -> None:
        index = self._step_index()
        if 0 <= index < len(self.steps) - 1:
            self.switch_mode(self.steps[index + 1].key)

    def action_prev_step(self) -> None:
        index = self._step_index()
        if index > 0:
            self.switch_mode(self.steps[index - 1].key)

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
        self.state = WizardState()
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
