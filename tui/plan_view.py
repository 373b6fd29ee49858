"""Plan review and apply, shared by every step that changes AWS.

`PlanReview` lists every Change (what, why, which call), shows the selected one's parameters, and on
`a` asks for confirmation (destructive changes are listed separately and need their own yes), then runs
`apply_plan` in a thread worker. Each change's result arrives as a message and updates its row, so the
UI stays responsive and a failure does not hide the other results. The screen dismisses with the
`ApplyReport` (or None when nothing was applied).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from aws.lock import account_lock
from aws.plans.change import ApplyReport, Change, ChangeResult, Plan, apply_plan
from tui.config import state_dir
from tui.dialogs import Confirm
from tui.palette import BAD_BOLD, INFO_BOLD, OK, OK_BOLD, WARN
from tui.widgets import KeyFooter
from tui.workers import RoutesWorkerErrors

if TYPE_CHECKING:
    from aws.session import AwsSession
    from tui.app import FlowlogsApp

STATUS_STYLE = {
    "pending": ("pending", ""),
    "running": ("running…", INFO_BOLD),
    "applied": ("✓ applied", OK_BOLD),
    "satisfied": ("✓ in place", OK),
    "failed": ("✗ FAILED", BAD_BOLD),
    "refused": ("✗ refused", BAD_BOLD),
    "not-run": ("not run", ""),
    "skipped": ("skipped", WARN),
}


@dataclass
class ChangeDone(Message):
    change: Change
    result: ChangeResult


@dataclass
class ChangeStarted(Message):
    change: Change


@dataclass
class ApplyFinished(Message):
    report: ApplyReport


def outputs_text(result: ChangeResult) -> str:
    """Ids and per-resource errors of a change, one per line."""
    lines = []
    for rid, fid in sorted((result.outputs.get("flow_log_ids") or {}).items()):
        lines.append(f"{rid} → {fid}")
    for rid, err in sorted((result.outputs.get("errors") or {}).items()):
        lines.append(f"{rid}: {err}")
    for key in ("VersionId", "version_id", "bucket", "Location"):
        if key in result.outputs and not isinstance(result.outputs[key], dict):
            lines.append(f"{key}: {result.outputs[key]}")
    return "\n".join(lines)


class PlanReview(RoutesWorkerErrors, Screen[ApplyReport | None]):
    BINDINGS = [
        Binding("a", "apply", "Apply", id="plan.apply"),
        Binding("escape", "close", "Close", id="plan.close"),
    ]
    DEFAULT_CSS = """
    PlanReview { layout: vertical; }
    PlanReview #summary { height: auto; padding: 0 1; text-style: bold; }
    PlanReview #warnings { height: auto; max-height: 5; padding: 0 1; color: $warning; overflow-y: auto; }
    PlanReview #changes { height: 1fr; min-height: 5; }
    PlanReview #detail { height: 1fr; min-height: 4; border-top: solid $primary; padding: 0 1; }
    PlanReview.-wide #body { layout: horizontal; }
    PlanReview #body { height: 1fr; }
    PlanReview.-wide #changes { width: 3fr; }
    PlanReview.-wide #detail { width: 2fr; border-top: none; border-left: solid $primary; }
    """

    def __init__(
        self,
        plan: Plan,
        *,
        title: str,
        step: str,
        warnings: list[str] | None = None,
        notes: list[str] | None = None,
        session: AwsSession | None = None,
    ) -> None:
        """`session`: apply with it instead of the app's (e.g. an assumed role in a member account)."""
        super().__init__()
        self.plan = plan
        self.apply_session = session
        self.title_text = title
        self.step = step
        self.warnings = warnings or []
        self.notes = notes or []
        self.results: dict[str, ChangeResult] = {}
        self.report: ApplyReport | None = None
        self.running = False

    @property
    def flow_app(self) -> FlowlogsApp:
        return cast("FlowlogsApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.flow_app.make_context_bar()
        yield Static(f"{self.title_text}: {self.plan.summary()}", id="summary", markup=False)
        if self.warnings or self.notes:
            lines = [Text(f"! {w}", style="bold") for w in self.warnings]
            lines += [Text(f"- {n}", style="dim") for n in self.notes]
            yield Static(Text("\n").join(lines), id="warnings")
        with Vertical(id="body"):
            yield DataTable(id="changes", cursor_type="row")
            yield VerticalScroll(Static(id="detail-text", markup=False), id="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#changes", DataTable)
        table.add_columns("#", "Status", "Change")
        for n, change in enumerate(self.plan.changes, 1):
            title = Text(change.title)
            if change.destructive:
                title.append("  DESTRUCTIVE", style=BAD_BOLD)
            label, style = STATUS_STYLE["pending"]
            table.add_row(str(n), Text(label, style=style), title, key=change.id)
        if self.plan.changes:
            self.show_detail(self.plan.changes[0])
        else:
            self.query_one("#detail-text", Static).update(
                "Nothing to change: everything is already in place."
            )
        table.focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 120, "-wide")

    @on(DataTable.RowHighlighted, "#changes")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        change = next((c for c in self.plan.changes if c.id == event.row_key.value), None)
        if change:
            self.show_detail(change)

    def show_detail(self, change: Change) -> None:
        # Non-breaking spaces keep the JSON's indentation when the pane wraps lines.
        params = "\n".join(
            "\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ")
            for line in json.dumps(change.params, indent=2, default=str).splitlines()
        )
        text = (
            f"{change.title}\nWhy: {change.reason}\nTarget: {change.target}\n"
            f"Call: {change.service}:{change.operation} in {change.region}\n"
        )
        if change.destructive:
            text += "DESTRUCTIVE: replaces or deletes existing configuration; asks separately.\n"
        result = self.results.get(change.id)
        if result:
            text += f"\nResult: {result.status} — {result.detail}\n"
            extra = outputs_text(result)
            if extra:
                text += extra + "\n"
        text += f"\nParameters:\n{params}"
        self.query_one("#detail-text", Static).update(Text(text))

    # -- apply ----------------------------------------------------------------------------------------
    def action_apply(self) -> None:
        session = self.apply_session or self.flow_app.session
        if self.report is not None:
            self.flow_app.notify(
                "This plan is applied (its results are shown). Esc closes it; preview again to plan anew.",
                title=self.title_text,
            )
            return
        if self.running or not self.plan.changes or session is None:
            return
        if session.read_only:
            self.flow_app.notify(
                "Read-only mode is on: nothing can be applied. Toggle it in the command palette (Ctrl+P).",
                title="Read-only",
                severity="warning",
            )
            return
        question = f"Apply {len(self.plan.changes)} change(s) to account {self.plan.account or '?'}?"
        self.app.push_screen(Confirm(question, "Changes already in place are skipped."), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        destructive = self.plan.destructive
        if destructive:
            names = "\n".join(f"- {c.title}" for c in destructive)
            self.app.push_screen(
                Confirm(
                    f"Also apply {len(destructive)} DESTRUCTIVE change(s)?",
                    f"{names}\n\n'n' applies everything else and stops before the first of these.",
                ),
                lambda allow: self._start(bool(allow)),
            )
        else:
            self._start(False)

    def _start(self, allow_destructive: bool) -> None:
        if not self.flow_app.apply_began(self.step, self.plan):  # saved: a dropped session resumes from it
            return  # another apply is running (the app said so)
        self.running = True
        for change in self.plan.changes:
            self._set_status(change.id, "pending")
        self.run_apply(allow_destructive)

    @work(thread=True, exclusive=True, exit_on_error=False, group="apply")
    def run_apply(self, allow_destructive: bool) -> None:
        session = self.apply_session or self.flow_app.require_session()

        # The saved wizard state follows the apply before the next AWS call is made (so a session dropped
        # at any point resumes knowing what ran): the app saves it on its thread while this one waits.
        def begin(change: Change) -> None:
            self.app.call_from_thread(self.flow_app.change_began, change.id)
            self.post_message(ChangeStarted(change))

        def progress(change: Change, result: ChangeResult) -> None:
            self.app.call_from_thread(self.flow_app.change_done, result)
            self.post_message(ChangeDone(change, result))

        # one apply per account on this machine: LockHeld reaches the app's error path (worker error)
        with account_lock(state_dir(), self.plan.account or session.identity().account):
            report = apply_plan(
                self.plan,
                session,
                confirm_destructive=allow_destructive,
                on_progress=progress,
                on_begin=begin,
            )
        self.post_message(ApplyFinished(report))

    def on_change_started(self, message: ChangeStarted) -> None:
        self._set_status(message.change.id, "running")

    def on_change_done(self, message: ChangeDone) -> None:
        self.results[message.change.id] = message.result
        self._set_status(message.change.id, message.result.status)
        table = self.query_one("#changes", DataTable)
        if (
            table.cursor_row < len(self.plan.changes)
            and self.plan.changes[table.cursor_row].id == message.change.id
        ):
            self.show_detail(message.change)

    def on_apply_finished(self, message: ApplyFinished) -> None:
        self.running = False
        self.report = message.report
        self.flow_app.record_apply(self.step, self.plan, message.report)
        for result in message.report.results:
            if result.change_id not in self.results:
                self._set_status(result.change_id, result.status)
        counts = ", ".join(f"{n} {s}" for s, n in message.report.counts().items())
        session = self.flow_app.session
        audit = f" Audit log: {session.audit.path}." if session and session.audit else ""
        self.query_one("#summary", Static).update(f"{self.title_text}: {counts}.{audit} Esc closes.")
        if message.report.ok:
            self.flow_app.notify(f"Applied: {counts}.", title=self.title_text)
        else:
            failed = message.report.failed
            self.flow_app.notify(
                f"Failed: {failed.detail if failed else counts}. Changes that needed it were skipped; the "
                "others ran. Fix it and apply again: finished changes are skipped.",
                title=self.title_text,
                severity="error",
                timeout=12,
                markup=False,
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # shown by RoutesWorkerErrors; here the screen only unlocks
            self.running = False
            self.flow_app.apply_failed()

    def _set_status(self, change_id: str, status: str) -> None:
        table = self.query_one("#changes", DataTable)
        label, style = STATUS_STYLE.get(status, (status, ""))
        table.update_cell(
            change_id, table.ordered_columns[1].key, Text(label, style=style), update_width=True
        )

    def action_close(self) -> None:
        if self.running:
            self.flow_app.notify("Applying: wait for it to finish.", severity="warning")
            return
        self.dismiss(self.report)
