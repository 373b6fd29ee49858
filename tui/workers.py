"""The one worker-error hook: the app and every screen that runs engine work mix it in, so an error raised
in any thread worker reaches the app's one error display (`FlowlogsApp.show_error`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from textual.app import App

    from tui.app import FlowlogsApp


class RoutesWorkerErrors:
    """Mixin for a Textual App or Screen. A subclass that also reacts to a failure (resets a spinner, say)
    defines its own `on_worker_state_changed` WITHOUT calling super(): Textual runs the handler of every
    class in the MRO, so this one runs anyway (calling super() would show the error twice)."""

    app: App[Any]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            cast("FlowlogsApp", self.app).show_error(event.worker.error, context=event.worker.name)
