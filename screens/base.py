"""The base of every wizard screen: context bar, step bar, body, footer; error routing for workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from tui.widgets import ContextBar, StepBar

if TYPE_CHECKING:
    from tui.app import FlowlogsApp


class WizardScreen(Screen[None]):
    """Subclasses set STEP (their mode key) and implement `compose_body`."""

    STEP = ""

    @property
    def flow_app(self) -> FlowlogsApp:
        return cast("FlowlogsApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.flow_app.make_context_bar()
        yield StepBar(self.flow_app.steps, self.STEP)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker error on this screen goes to the app's one error display."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.flow_app.show_error(event.worker.error, context=event.worker.name)

    def refresh_context(self) -> None:
        for bar in self.query(ContextBar):
            self.flow_app.fill_context_bar(bar)
