"""Step 5: live verification. Are the logs arriving, readable, and can Kentik's role read them?

Sources come from every location Kentik reads this run (`state.read_locations()`: the chosen buckets and
the existing destinations the checklist added to the read set), or for an
existing set-up from the buckets discovery saw flow logs and firewalls write to (the user can type
others). Polls run in a thread worker (`aws.logs.watch.Watcher`); a 1-second timer only counts down.
Every time on screen is an age relative to `now()`, which tests override for a fixed clock.

Each bucket is checked when its watch starts (`aws.logs.sources.bucket_problems`): one that does not
exist, belongs to another account or denies access is named in the detail pane and counted in the bar,
never left out silently. A typed name no bucket can have is refused under the field (nothing starts).

With Kentik credentials (`app.kentik.configured`), every poll also asks Kentik for its cloud exports in a
worker of its own (`aws.kentik.status`): each location's export state (API access, bucket access, flows
found, Kentik's error) is shown under the sources (screens.verify_kentik) and for the selected source in
the detail. A Kentik error is shown once through the app's error path and never stops the S3 watch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from aws.coverage import ReadLocation, ReadSet
from aws.errors import FlowlogsError, ValidationFailed
from aws.inventory import Inventory
from aws.kentik.status import KentikReport, export_statuses_as
from aws.logs.report import SourceStatus, age
from aws.logs.sources import LogSource, bucket_problems, parse_locations, sources_from_account
from aws.logs.watch import Watcher
from aws.reader import ReaderVerdict, RoleReaderCheck, role_name
from aws.s3.strategy import bucket_targets
from screens.base import WizardScreen
from screens.verify_kentik import KentikFailed, KentikPolled, kentik_block, kentik_detail
from tui.layout import WIDE
from tui.palette import BAD, BAD_BOLD, INFO, OK, OK_BOLD, WARN

# Each state is a word in a badge; its colour (from the palette, readable in every terminal) only adds to it.
STATE_COLOUR = {"waiting": WARN, "receiving": OK, "stale": WARN, "failed": BAD}
STATE_STYLE = {
    state: f"#000000 on {colour}" for state, colour in STATE_COLOUR.items()
}  # not bold: xterm greys bold black
BLOCKS = " ▁▂▃▄▅▆▇█"
SAMPLE_COLUMNS = {  # flow log field -> column title in the sample
    "srcaddr": "src",
    "dstaddr": "dst",
    "dstport": "dport",
    "protocol": "proto",
    "packets": "pkts",
    "bytes": "bytes",
    "action": "action",
    "log-status": "status",
}
WATCH_BACK = timedelta(hours=1)  # count files delivered since this long before the screen opened
BUCKET_HELP = "Bucket(s) to watch, separated by spaces or commas (Enter starts watching):"


def sparkline(counts: list[int], width: int) -> str:
    """Files per interval as block characters (the newest `width` intervals, oldest first)."""
    values = counts[-width:] if width else []
    top = max(values, default=0)
    if top == 0:
        return "·" * len(values)
    return "".join(BLOCKS[0] if v == 0 else BLOCKS[max(1, round(v / top * 8))] for v in values)


# -- messages from the poll worker ---------------------------------------------------------------------
@dataclass
class SourcesFound(Message):
    generation: int
    sources: list[LogSource]
    warnings: list[str] = field(default_factory=list)
    reader: str = ""  # what the reader check evaluates, or why it is off
    problems: list[str] = field(default_factory=list)  # buckets that cannot be watched, and why


@dataclass
class Polled(Message):
    generation: int
    watcher: Watcher
    statuses: list[SourceStatus]


@dataclass
class PollFailed(Message):
    generation: int


class VerifyScreen(WizardScreen):
    wide: reactive[bool] = reactive(False, init=False)  # at least WIDE columns: the wide table
    STEP = "verify"
    INTERVAL = 30  # seconds between polls
    TICK = 1.0  # countdown timer period (tests raise it so nothing moves on its own)
    AUTO_FOCUS = "#sources"
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume", id="verify.pause"),
        Binding("n", "poll_now", "Poll now", id="verify.poll"),
        Binding("b", "edit_buckets", "Buckets", id="verify.buckets"),
        Binding("s", "summary", "Summary", id="verify.summary"),
        Binding("escape", "hide_buckets", "Hide", show=False, id="verify.hide_buckets"),
    ]
    DEFAULT_CSS = (
        """
    VerifyScreen #verify-title { height: 1; }
    VerifyScreen #verify-bar { height: 1; padding: 0 1; }
    VerifyScreen #bucket-row { height: auto; display: none; padding: 0 1; }
    VerifyScreen #bucket-row.visible { display: block; }
    VerifyScreen #bucket-help { height: auto; color: $text-muted; }
    VerifyScreen #bucket-input { height: 1; border: none; padding: 0 1; }
    VerifyScreen #panes { height: 1fr; }
    VerifyScreen #sources { min-height: 3; max-height: 9; }
    VerifyScreen #kentik { height: auto; padding: 0 1; }
    VerifyScreen #detail-box { height: 1fr; min-height: 6; padding: 0 1;
        border-top: solid $primary-darken-2; }
    VerifyScreen.-wide #sources { max-height: 14; }
    """
        + f"VerifyScreen .panel-title {{ color: {INFO}; }}"
    )

    def __init__(self) -> None:
        super().__init__()
        self._columns_wide: bool | None = None  # the table's column widths are set for this layout
        self.watcher: Watcher | None = None
        self.buckets: list[str] = []
        self.regions: list[str] | None = None
        self.statuses: dict[str, SourceStatus] = {}
        self.order: list[str] = []
        self.selected: str | None = None
        self.paused = False
        self.polling = False
        self.remaining = self.INTERVAL
        self.reader_note = ""
        self.warnings: list[str] = []
        self.bucket_problems: list[str] = []  # this watch's buckets that cannot be watched, and why
        self.message = ""
        self.typed = False  # the user typed the buckets: keep them
        self._timer: Timer | None = None
        self.kentik_report: KentikReport | None = None  # Kentik's view of this watch's locations
        self.kentik_error: tuple[str, str] | None = None  # the last Kentik poll's error (type, message)
        self.kentik_polling = False

    def quit_warning(self) -> str:
        """Quitting now stops a watch that is running (the app asks first; see FlowlogsApp.quit_warning)."""
        if self.buckets and not self.paused and self.is_current:
            return "the verify panel is watching for log files"
        return ""

    # the injectable clock
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Verify: are the logs arriving, and can Kentik read them?",
            id="verify-title",
            classes="panel-title",
        )
        yield Static(id="verify-bar")
        with Vertical(id="bucket-row"):
            yield Static(BUCKET_HELP, id="bucket-help")
            yield Input(placeholder="my-flow-logs-bucket other-bucket", id="bucket-input")
        with Vertical(id="panes"):
            # The state badges keep their dark text on the cursor's row too (the cursor's own is light).
            yield DataTable(
                id="sources", cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable"
            )
            yield Static(id="kentik")
            with VerticalScroll(id="detail-box"):
                yield Static(id="detail")

    def on_mount(self) -> None:
        table = self.query_one("#sources", DataTable)
        table.styles.height = "auto"  # as tall as its rows (the app's stylesheet makes tables 1fr)
        self._timer = self.set_interval(self.TICK, self._tick)
        self.buckets, self.regions = self._known_buckets()
        if self.buckets:
            self.query_one("#bucket-input", Input).value = " ".join(self.buckets)
            self.start_watch()
        else:
            self.message = self._no_bucket_message()
            self.action_edit_buckets()
        self.render_bar()
        self.render_kentik()
        self.render_detail()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()  # no polling while another step or the summary is shown

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
        if self.watcher is not None:  # registered or credentials entered meanwhile (the summary's register)
            self.poll_kentik()
        self.render_kentik()
        if self.typed or self.watcher is None:
            return
        buckets, regions = self._known_buckets()
        if buckets and buckets != self.buckets:  # an earlier step chose other buckets meanwhile
            self.buckets, self.regions = buckets, regions
            self.query_one("#bucket-input", Input).value = " ".join(buckets)
            self.start_watch()

    def on_resize(self) -> None:
        self.wide = self.size.width >= WIDE  # the -wide class itself comes from the app's breakpoints

    def watch_wide(self) -> None:
        self.render_bar()
        self.render_kentik()
        if self.statuses:
            self.render_table()

    # -- where to look ---------------------------------------------------------------------------------
    def _known_buckets(self) -> tuple[list[str], list[str] | None]:
        """Every location Kentik reads (Kentik's buckets and existing destinations in the read set, as
        `bucket` or `bucket/prefix/`) with their source regions, else the S3 buckets discovery saw."""
        state = self.flow_app.state
        if state.buckets:
            return [loc.path for loc in state.read_locations()], sorted(state.buckets)
        choice = state.bucket_choice
        account = self.flow_app.identity.account if self.flow_app.identity else ""
        if choice is not None:
            try:
                return sorted({t.name for t in bucket_targets(choice, account)}), sorted(set(choice.regions))
            except FlowlogsError:
                pass
        inventory = state.inventory
        if isinstance(inventory, Inventory):
            found: set[str] = set()
            regions: set[str] = set()
            for region in inventory.scanned_regions:
                for vpc in region.vpcs:
                    for fl in vpc.flow_logs + vpc.partial_flow_logs:
                        if fl.bucket:
                            found.add(fl.bucket)
                            regions.add(region.name)
                for fw in region.firewalls:
                    for dest in fw.destinations:
                        if dest.bucket:
                            found.add(dest.bucket)
                            regions.add(region.name)
            return sorted(found), sorted(regions) or None
        return [], None

    def _no_bucket_message(self) -> str:
        if self.flow_app.state.inventory is None:
            return (
                "No bucket chosen and no discovery result: type the bucket(s) to watch, or go back to "
                "discovery (ctrl+b)."
            )
        return "No flow log or firewall writes to S3 yet: type the bucket(s) to watch."

    def _kms_keys(self) -> dict[str, str]:
        choice = self.flow_app.state.bucket_choice
        if choice is None or choice.encryption != "SSE-KMS":
            return {}
        account = self.flow_app.identity.account if self.flow_app.identity else ""
        try:
            return {t.name: t.kms_key_arn for t in bucket_targets(choice, account) if t.kms_key_arn}
        except FlowlogsError:
            return {}

    def _role_arn(self) -> str:
        state = self.flow_app.state
        if state.kentik_role_arn:
            return state.kentik_role_arn
        inventory = state.inventory
        if isinstance(inventory, Inventory) and inventory.roles:
            trusted = [r for r in inventory.roles if r.trusts_kentik] or inventory.roles
            return trusted[0].arn
        return ""

    # -- polling ---------------------------------------------------------------------------------------
    def start_watch(self) -> None:
        if self.flow_app.session is None:
            self.flow_app.show_no_session()
            return
        self.next_generation()  # one per watch: results of an earlier watch are dropped
        self.watcher = None
        self.statuses.clear()
        self.bucket_problems = []
        self.order = []
        self.selected = None
        self.kentik_report, self.kentik_error = None, None
        self.query_one("#sources", DataTable).clear()
        self.message = f"Finding flow logs and firewalls that write to {', '.join(self.buckets)}…"
        self.action_poll_now()

    def _tick(self) -> None:
        if self.paused or self.polling or self.watcher is None:
            return
        self.remaining -= 1
        if self.remaining <= 0:
            self.action_poll_now()
        else:
            self.render_bar()

    def action_poll_now(self) -> None:
        if self.polling or not self.buckets:
            return
        self.polling = True
        self.remaining = self.INTERVAL
        self.render_bar()
        if self.watcher is None:
            role = self._role_arn()
            self.run_poll(
                self.generation,
                None,
                list(self.buckets),
                self.regions,
                role,
                self._kms_keys(),
                self._locations(),
            )
        else:
            self.run_poll(self.generation, self.watcher)
        self.poll_kentik()

    # -- Kentik's view, on the same cadence -------------------------------------------------------------
    def _locations(self) -> list[ReadLocation]:
        """What Kentik reads: the wizard's read set as it is (an existing bucket's top prefix is its
        AWSLogs/ folder only), else the typed buckets, each read whole."""
        state = self.flow_app.state
        if not self.typed and state.buckets:
            return state.read_locations()
        try:
            return ReadSet.parse(self.buckets).locations
        except FlowlogsError:  # a typed location is refused under the field before it gets here
            return []

    def poll_kentik(self) -> None:
        """Ask Kentik about this watch's locations (when credentials are set and no ask is running)."""
        if not self.flow_app.kentik.configured:
            self.render_kentik()
            return
        locations = self._locations()
        if self.kentik_polling or not locations:
            return
        self.kentik_polling = True
        self.run_kentik(self.generation, locations, self.kentik_error)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-kentik")
    def run_kentik(
        self, generation: int, locations: list[ReadLocation], shown: tuple[str, str] | None
    ) -> None:
        """One list call to Kentik. Its error is raised (shown by the app) unless it is the one shown
        last time: a Kentik that keeps refusing is not announced every poll."""
        session = self.flow_app.session
        try:
            report = export_statuses_as(
                self.flow_app.kentik,
                locations,
                read_only=session.read_only if session else True,
                audit=session.audit if session else None,
                now=self.now(),
            )
        except FlowlogsError as err:
            key = (type(err).__name__, err.message)
            self.post_message(KentikFailed(generation, key))
            if key != shown:
                raise
            return
        except BaseException as err:
            self.post_message(KentikFailed(generation, (type(err).__name__, str(err))))
            raise
        self.post_message(KentikPolled(generation, report))

    def on_kentik_polled(self, message: KentikPolled) -> None:
        self.kentik_polling = False
        if self.stale(message.generation):  # the buckets changed while it ran
            self.poll_kentik()
            return
        self.kentik_report, self.kentik_error = message.report, None
        self.render_kentik()
        self.render_detail()

    def on_kentik_failed(self, message: KentikFailed) -> None:
        self.kentik_polling = False
        if self.stale(message.generation):
            self.poll_kentik()
            return
        self.kentik_error = message.error
        self.render_kentik()

    def render_kentik(self) -> None:
        wide = self.size.width >= WIDE
        block = kentik_block(
            self.kentik_report,
            configured=self.flow_app.kentik.configured,
            wide=wide,
            error=self.kentik_error[1] if self.kentik_error else "",
            max_rows=8 if wide else 3,
        )
        self.query_one("#kentik", Static).update(block)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-poll")
    def run_poll(
        self,
        generation: int,
        watcher: Watcher | None,
        buckets: list[str] | None = None,
        regions: list[str] | None = None,
        role: str = "",
        kms_keys: dict[str, str] | None = None,
        locations: list[ReadLocation] | None = None,
    ) -> None:
        """One poll; the first one of a watch also finds the sources (those writing where Kentik reads:
        not a log to another prefix of an existing bucket, which the plan left for another) and builds
        the watcher."""
        try:
            session = self.flow_app.require_session()
            now = self.now()
            if watcher is None:
                warnings: list[str] = []
                sources = sources_from_account(session, buckets or [], regions, warnings=warnings)
                if locations:
                    sources = [s for s in sources if any(loc.covers(s.bucket, s.prefix) for loc in locations)]
                problems = [err.message for err in bucket_problems(session, buckets or []).values()]
                check: Callable[[LogSource, str], ReaderVerdict] | None = None
                if role:
                    check = RoleReaderCheck(session, role, kms_keys or {})
                    note = f"role {role_name(role)}"
                else:
                    note = "no Kentik role known (choose it on the IAM policy step)"
                watcher = Watcher(session, sources, now - WATCH_BACK, check)
                self.post_message(SourcesFound(generation, sources, warnings, note, problems))
            statuses = watcher.poll(now)
            self.post_message(Polled(generation, watcher, statuses))
        except BaseException:
            self.post_message(PollFailed(generation))
            raise

    def on_sources_found(self, message: SourcesFound) -> None:
        if self.stale(message.generation):
            return
        self.reader_note = message.reader
        self.warnings = message.warnings
        self.bucket_problems = message.problems
        if message.sources:
            self.message = ""
        elif message.problems:
            self.message = "Nothing to watch. Press b to watch other buckets."
        else:
            self.message = (
                f"No flow log or firewall log writes to {', '.join(self.buckets)}. "
                "Press b to watch other buckets."
            )

    def on_polled(self, message: Polled) -> None:
        self.polling = False
        self.remaining = self.INTERVAL
        if self.stale(message.generation):  # the buckets changed while it ran
            self.action_poll_now()
            return
        self.watcher = message.watcher
        for status in message.statuses:
            self.statuses[status.source.id] = status
        self.order = [s.source.id for s in message.statuses]
        if self.selected not in self.statuses:
            self.selected = self.order[0] if self.order else None
        self.render_table()
        self.render_bar()
        self.render_detail()

    def on_poll_failed(self, message: PollFailed) -> None:
        self.polling = False
        self.remaining = self.INTERVAL
        if self.stale(message.generation):
            self.action_poll_now()
            return
        if self.watcher is None:
            self.message = "Could not list the sources (see the error). Press n to try again."
        self.render_bar()
        self.render_detail()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.render_bar()

    # -- buckets typed by the user -----------------------------------------------------------------------
    def action_edit_buckets(self) -> None:
        self.query_one("#bucket-row").add_class("visible")
        self.query_one("#bucket-input", Input).focus()

    def action_hide_buckets(self) -> None:
        if self.buckets:  # with nothing to watch, the bucket field stays
            self.query_one("#bucket-row").remove_class("visible")
            self.query_one("#sources", DataTable).focus()

    @on(Input.Submitted, "#bucket-input")
    def buckets_entered(self, event: Input.Submitted) -> None:
        names = [b for b in event.value.replace(",", " ").split() if b]
        if not names:
            self.notify("Type at least one bucket name.", severity="warning")
            return
        help_text = self.query_one("#bucket-help", Static)
        try:
            parse_locations(names)  # a name no bucket can have: refused before any AWS call
        except ValidationFailed as err:
            help_text.update(Text(err.message, style=BAD))
            return
        help_text.update(BUCKET_HELP)
        self.buckets, self.regions = names, None
        self.typed = True
        self.query_one("#bucket-row").remove_class("visible")
        self.query_one("#sources", DataTable).focus()
        self.start_watch()
        self.render_bar()
        self.render_detail()

    # -- summary ---------------------------------------------------------------------------------------
    def action_summary(self) -> None:
        from screens.summary import SummaryScreen

        self.app.push_screen(SummaryScreen([s.source for s in self.statuses.values()]))

    # -- rendering -------------------------------------------------------------------------------------
    def render_bar(self) -> None:
        """One line; below WIDE columns without the interval and poll count, so every state count fits."""
        wide = self.size.width >= WIDE
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.paused:
            text.append(" PAUSED ", style=f"#000000 on {WARN}")
            text.append(" p resumes", style="dim")
        elif self.polling:
            text.append("Polling…", style="bold")
        elif self.watcher is not None:
            text.append(f"Next poll in {self.remaining}s", style="bold")
            text.append(f" (every {self.INTERVAL}s)" if wide else "", style="dim")
        if self.bucket_problems:  # first: the counts after it may be cut at 80 columns, this may not
            n = len(self.bucket_problems)
            text.append(" · ")
            text.append(f"{n} bucket problem{'s' if n > 1 else ''}", style=BAD_BOLD)
        if self.watcher is not None and self.statuses:
            counts: dict[str, int] = {}
            for st in self.statuses.values():
                counts[st.state] = counts.get(st.state, 0) + 1
            ready = sum(1 for st in self.statuses.values() if st.ready)
            text.append(f" · poll {self.watcher.polls} · " if wide else " · ")
            shown = [state for state in ("receiving", "waiting", "stale", "failed") if counts.get(state)]
            for i, state in enumerate(shown):
                if i:
                    text.append(", ")
                text.append(f"{counts[state]} {state}", style=STATE_COLOUR[state])
            text.append(f" · {ready}/{len(self.statuses)} ready", style="dim")
        self.query_one("#verify-bar", Static).update(text)

    def _newest_age(self, st: SourceStatus) -> str:
        """Age of the newest file when the poll saw it (the clock the status's own text uses)."""
        return age(st.checked_at - st.newest.last_modified) if st.newest else "-"

    def render_table(self) -> None:
        table = self.query_one("#sources", DataTable)
        wide = self.size.width >= WIDE
        name_width = 44 if wide else 24  # 80 columns: the whole flow log id or firewall/type
        spark = 20 if wide else 8
        if self._columns_wide is not wide:
            # Fixed widths: auto-sized columns re-measured on every poll can leave rows at the old width.
            table.clear(columns=True)
            for label, width in (
                ("Source", name_width),
                ("Region", 14),
                ("State", 11),
                ("Files", 5),
                ("Newest", 6),
                ("Activity", spark),
            ):
                table.add_column(label, width=width)
            self._columns_wide = wide
        table.clear()
        for sid in self.order:
            st = self.statuses[sid]
            s = st.source
            name = (
                (s.label if wide else s.flow_log_id)
                if s.kind == "flowlog"
                else f"{s.firewall_name}/{s.log_type}"
            )
            if len(name) > name_width:
                name = name[: name_width - 1] + "…"
            table.add_row(
                name,
                s.region,
                Text(f" {st.state} ", style=STATE_STYLE[st.state]),
                str(st.files),
                self._newest_age(st),
                Text(sparkline(st.sparkline, spark), style="" if st.files else "dim"),  # shape, not colour
                key=sid,
            )
        if self.order:
            table.move_cursor(row=self.order.index(self.selected) if self.selected in self.order else 0)

    @on(DataTable.RowHighlighted, "#sources")
    def source_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.render_detail()

    def render_detail(self) -> None:
        self.query_one("#detail", Static).update(self.detail_renderable())

    def detail_renderable(self) -> RenderableType:
        parts: list[RenderableType] = []
        for problem in self.bucket_problems:
            parts.append(Text(problem, style=BAD))
        if self.message:
            parts.append(Text(self.message, style=WARN))
        for line in self.warnings:
            parts.append(Text(f"warning: {line}", style=WARN))
        st = self.statuses.get(self.selected or "")
        if st is None:
            if not parts:
                parts.append(Text("Waiting for the first poll…", style="dim"))
            return Group(*parts)
        s = st.source
        head = Text()
        head.append(f" {st.state} ", style=STATE_STYLE[st.state])
        what = (
            f"flow log {s.label}" if s.kind == "flowlog" else f"firewall {s.firewall_name} {s.log_type} log"
        )
        head.append(f" {what} ({s.region})", style="bold")
        parts.append(head)
        where = f"s3://{s.bucket}/{s.prefix + '/' if s.prefix and not s.prefix.endswith('/') else s.prefix}"
        parts.append(Text(f"To {where}", style="dim"))
        parts.append(Text(st.detail))
        if st.next_step:
            parts.append(Text.assemble(("Next: ", "bold"), st.next_step))
        if st.error:
            parts.append(Text(f"Last read error: {st.error}", style=WARN))
        if st.newest:
            parts.append(
                Text(
                    f"Newest: {st.newest.key.rsplit('/', 1)[-1]} ({st.newest.size} B, "
                    f"{self._newest_age(st)} ago)",
                    style="dim",
                )
            )
        parts += self._content_parts(st)
        parts.append(self._reader_text(st))
        if self.flow_app.kentik.configured:
            parts.append(kentik_detail(self.kentik_report, s.bucket, s.prefix, configured=True))
        return Group(*parts)

    def _content_parts(self, st: SourceStatus) -> list[RenderableType]:
        c = st.content
        if c is None:
            return []
        out: list[RenderableType] = []
        if not c.ok:
            out.append(Text(f"Content: unreadable: {'; '.join(c.problems)}", style=BAD))
            return out
        if c.kind == "flowlog":
            fields = (
                "every v2-v5 field present"
                if not c.missing_fields
                else f"missing: {', '.join(c.missing_fields)}"
            )
            status = ", ".join(f"{k} {v}" for k, v in sorted(c.log_status.items()))
            line = Text("Content: ", style="bold")
            line.append(
                f"{len(c.header)} fields, {fields}; {c.records} records",
                style=OK if not c.missing_fields else WARN,
            )
            if status:
                line.append(f" ({status})")
            out.append(line)
            out.append(self._flow_sample(c.header, c.sample))
        else:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(c.event_types.items()))
            out.append(Text.assemble(("Content: ", "bold"), (f"{c.records} events ({kinds})", OK)))
            out.append(self._firewall_sample(c.events))
        for w in c.warnings:
            out.append(Text(f"warning: {w}", style=WARN))
        return out

    @staticmethod
    def _flow_sample(header: list[str], rows: list[list[str]]) -> Table:
        columns = [f for f in SAMPLE_COLUMNS if f in header]
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        for name in columns:
            table.add_column(SAMPLE_COLUMNS[name], no_wrap=True, overflow="ellipsis")
        index = [header.index(f) for f in columns]
        for row in rows:
            table.add_row(*(row[i] for i in index))
        return table

    @staticmethod
    def _firewall_sample(events: list[dict[str, Any]]) -> Table:
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        for name in ("event", "source", "destination", "proto", "detail"):
            table.add_column(name, no_wrap=True, overflow="ellipsis")
        for record in events:
            event = record.get("event") if isinstance(record.get("event"), dict) else {}
            assert isinstance(event, dict)
            kind = str(event.get("event_type", "?"))
            extra = ""
            if isinstance(event.get("alert"), dict):
                alert = event["alert"]
                extra = f"{alert.get('action', '')} {alert.get('signature', '')}".strip()
            elif isinstance(event.get("netflow"), dict):
                extra = f"{event['netflow'].get('pkts', '')} pkts {event['netflow'].get('bytes', '')} B"
            elif isinstance(event.get("tls"), dict):
                extra = str(event["tls"].get("sni", ""))
            table.add_row(
                kind,
                f"{event.get('src_ip', '')}:{event.get('src_port', '')}",
                f"{event.get('dest_ip', '')}:{event.get('dest_port', '')}",
                str(event.get("proto", "")),
                extra,
            )
        return table

    def _reader_text(self, st: SourceStatus) -> Text:
        text = Text.assemble(("Kentik can read: ", "bold"))
        if st.reader is None:
            if self.reader_note.startswith("role "):
                text.append("checked when the first file arrives", style="dim")
            else:
                text.append(f"not checked: {self.reader_note or 'no role known'}", style="dim")
            return text
        text.append("pass" if st.reader.ok else "FAIL", style=OK_BOLD if st.reader.ok else BAD_BOLD)
        text.append(f" ({self.reader_note})", style="dim")
        for reason in st.reader.reasons:
            text.append(f"\n  {reason}", style="" if st.reader.ok else BAD)
        return text
