"""The verify panel's Kentik part: Kentik's own view of each location watched (aws.kentik.status), shown
beside our per-source states.

`kentik_block` is the compact table under the sources (one row per location: its export's state, API and
bucket access, flows found, Kentik's error), or one quiet line saying how to turn it on; `kentik_detail`
is the selected source's location as Kentik sees it, for the detail pane. The messages carry the poll
worker's answers (screens.verify runs it on the S3 poll's cadence).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.message import Message

from aws.kentik.status import ExportStatus, KentikReport, KentikState
from tui.palette import BAD, OK, WARN

KENTIK_COLOUR: dict[KentikState, str] = {
    "reading": OK,
    "waiting": WARN,
    "no-access": BAD,
    "disabled": WARN,
    "not-registered": WARN,
}
KENTIK_WORD: dict[KentikState, str] = {
    "reading": "reading",
    "waiting": "waiting",
    "no-access": "no access",
    "disabled": "disabled",
    "not-registered": "unregistered",
}
# the order rows are listed in when not all fit: what needs doing first
_URGENCY: dict[KentikState, int] = {
    "no-access": 0,
    "not-registered": 1,
    "disabled": 2,
    "waiting": 3,
    "reading": 4,
}
KENTIK_OFF = "Kentik: off. Register in the summary (s) or set KENTIK_EMAIL, KENTIK_API_TOKEN"


@dataclass
class KentikPolled(Message):
    generation: int
    report: KentikReport


@dataclass
class KentikFailed(Message):
    generation: int
    error: tuple[str, str]  # (type, message) of the error shown (an error is shown once, not every poll)


def badge(state: KentikState) -> Text:
    """The state as a word on its colour (dark text: readable in every terminal)."""
    return Text.assemble((f" {KENTIK_WORD[state]} ", f"#000000 on {KENTIK_COLOUR[state]}"))  # not the cell


def yes_no(value: bool | None) -> Text:
    """Kentik's answer as a word: yes, no, or ? when Kentik did not say (never taken as yes)."""
    if value is None:
        return Text("?", style="dim")
    return Text("yes", style=OK) if value else Text("no", style=BAD)


def _note(st: ExportStatus) -> Text:
    if st.error_message:
        return Text(st.error_message, style=BAD)
    if not st.registered:
        return Text("no cloud export reads it", style="dim")
    return Text(f"export {st.export_name or st.export_id}", style="dim")


def kentik_block(
    report: KentikReport | None, *, configured: bool, wide: bool, error: str = "", max_rows: int = 3
) -> RenderableType:
    """Under the sources: Kentik's view per location, or why there is none (one line)."""
    if not configured:
        return Text(KENTIK_OFF, style="dim", no_wrap=True, overflow="ellipsis")
    if report is None:
        text = f"Kentik: {error} (retried on the next poll)" if error else "Kentik: asking for its exports…"
        return Text(text, style=WARN if error else "dim", no_wrap=True, overflow="ellipsis")
    where = 44 if wide else 24
    table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, header_style="bold", expand=True)
    table.add_column("Kentik reads", width=where, no_wrap=True, overflow="ellipsis")
    table.add_column("State", width=14, no_wrap=True)
    table.add_column("API", width=3, no_wrap=True)
    table.add_column("Bucket", width=6, no_wrap=True)
    table.add_column("Flows", width=5, no_wrap=True)
    table.add_column("Note", no_wrap=True, overflow="ellipsis", ratio=1)
    rows = sorted(report.statuses, key=lambda s: _URGENCY[s.state])
    shown = rows if len(rows) <= max_rows else rows[: max_rows - 1]
    for st in shown:
        unknown = Text("-", style="dim")
        table.add_row(
            st.path,
            badge(st.state),
            yes_no(st.api_access) if st.registered else unknown,
            yes_no(st.bucket_access) if st.registered else unknown,
            yes_no(st.flow_found) if st.registered else unknown,
            _note(st),
        )
    parts: list[RenderableType] = [table]
    if len(shown) < len(rows):
        rest = rows[len(shown) :]
        counts = ", ".join(
            f"{n} {KENTIK_WORD[state]}"
            for state in _URGENCY
            if (n := sum(1 for s in rest if s.state == state))
        )
        parts.append(Text(f"… {len(rest)} more: {counts}", style="dim", no_wrap=True, overflow="ellipsis"))
    if error:
        parts.append(Text(f"Last Kentik poll failed: {error}", style=WARN, no_wrap=True, overflow="ellipsis"))
    return Group(*parts)


def kentik_detail(report: KentikReport | None, bucket: str, prefix: str, *, configured: bool) -> Text:
    """For the selected source: the export reading its location and what Kentik says about it."""
    text = Text.assemble(("Kentik sees: ", "bold"))
    if not configured:
        text.append("not asked (Kentik credentials not set)", style="dim")
        return text
    statuses = report.for_source(bucket, prefix) if report is not None else []
    if report is None:
        text.append("not asked yet", style="dim")
        return text
    if not statuses:
        text.append("this location is not one Kentik is asked about", style="dim")
        return text
    for i, st in enumerate(statuses):
        if i:
            text.append("\n  ")
        text.append_text(badge(st.state))
        if st.registered:
            text.append(f" export {st.export_id}", style="bold")
            if st.export_name:
                text.append(f" {st.export_name}")
            text.append(": API access ")
            text.append_text(yes_no(st.api_access))
            text.append(", bucket access ")
            text.append_text(yes_no(st.bucket_access))
            text.append(", flows found ")
            text.append_text(yes_no(st.flow_found))
            if st.status:
                text.append(f" (status {st.status})", style="dim")
        if st.error_message:
            text.append(f"\n  Kentik says: {st.error_message}", style=BAD)
        if step := st.next_step():
            text.append(f"\n  {step}", style="" if st.registered else WARN)
    return text
