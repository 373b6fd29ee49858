"""The base of every screen that runs engine work (`EngineScreen`: the one worker-error hook, stale results
dropped one way) and of every wizard step (`WizardScreen`: context bar, step bar, body, footer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.screen import Screen

from tui.widgets import ContextBar, KeyFooter, StepBar
from tui.workers import RoutesWorkerErrors

if TYPE_CHECKING:
    from tui.app import FlowlogsApp


class EngineScreen(RoutesWorkerErrors, Screen[None]):
    """A screen that runs engine calls in thread workers: the one worker-error hook and the one way to
    drop results of superseded work.

    Every worker error goes to the app's one error display (`RoutesWorkerErrors`). Work that a newer run supersedes takes `self.next_generation()`
    and posts it with its results; handlers drop a result when `self.stale(message.generation)`.
    """

    generation = 0

    @property
    def flow_app(self) -> FlowlogsApp:
        return cast("FlowlogsApp", self.app)

    def next_generation(self) -> int:
        """Start a run that supersedes every earlier one; its results carry the number returned."""
        self.generation += 1
        return self.generation

    def stale(self, generation: int) -> bool:
        """Whether a result belongs to a superseded run (and is to be dropped)."""
        return generation != self.generation

    def on_screen_resume(self) -> None:
        """The context bar as things are now: read-only may have been toggled on another step (a step's
        screen stays in its own mode's stack, which the app's refresh does not reach). Textual calls this
        for each class of the screen, whatever the subclasses define."""
        for bar in self.query(ContextBar):
            self.flow_app.fill_context_bar(bar)


class WizardScreen(EngineScreen):
    """Subclasses set STEP (their mode key) and implement `compose_body`."""

    STEP = ""

    def compose(self) -> ComposeResult:
        yield self.flow_app.make_context_bar()
        yield StepBar(self.flow_app.steps, self.STEP)
        yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def refresh_context(self) -> None:
        for bar in self.query(ContextBar):
            self.flow_app.fill_context_bar(bar)
