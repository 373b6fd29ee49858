"""Step 1: account and region discovery.

Who am I, which regions are enabled, what VPCs and firewalls exist, and how far each is from what the
spec wants. The scan runs in a thread worker; each region's result arrives as a message, so the region
table fills in live. Enter on a region shows its VPCs and firewalls with their verdicts and reasons: a
few words per reason in the table (SHORT_REASON), the highlighted row's in full in the note above it, cut
to a few lines so the table keeps its rows at 80x24; i (or Enter on a row) shows the note whole (FullText).

With --org / --accounts (`app.org_mode`) the scan covers every account of the run (aws.org_scan): a
summary row per account above the region table (screens.discovery_accounts), an Account column in the
region table, and `a` to show one account's regions or all; Enter on an account shows its VPCs and
firewalls, or why it was not reached. The later steps set up one account (`state.target_account`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState

from aws.discovery import scan
from aws.inventory import Inventory, Reason, ReasonCode, RegionResult, RegionStatus, Verdict
from screens.discovery_accounts import (
    ACCOUNT_ID_WIDTH,
    AccountsDiscovery,
    OrgScanFinished,
    RegionScanned,
)
from tui.layout import WIDE
from tui.palette import BAD, BAD_BOLD, INFO, INFO_BOLD, OK, WARN
from tui.words import count

if TYPE_CHECKING:
    from aws.org_scan import OrgInventory

# Each verdict is a word first; its colour (tui.palette) only repeats it.
VERDICT_STYLE = {
    Verdict.COMPLIANT: ("compliant", OK),
    Verdict.NEEDS_CHANGE: ("needs-change", WARN),
    Verdict.MISSING: ("missing", BAD),
    Verdict.UNKNOWN: ("unknown", WARN),
}
STATUS_STYLE = {
    RegionStatus.PENDING: "dim",
    RegionStatus.SCANNED: OK,
    RegionStatus.PARTIAL: WARN,
    RegionStatus.FAILED: BAD_BOLD,
    RegionStatus.NOT_ENABLED: "dim",
    RegionStatus.SKIPPED: "dim",
    RegionStatus.CANCELLED: "dim",
}


# A few words per reason for the tables (at most 14 cells: the checklist's last column at 80 columns);
# the full sentence (Reason.message) is in the note above discovery's table and in the checklist's detail.
SHORT_REASON: dict[ReasonCode, str] = {
    ReasonCode.INACTIVE: "not active",
    ReasonCode.NOT_S3: "not to S3",
    ReasonCode.TRAFFIC_TYPE: "traffic ≠ ALL",
    ReasonCode.PARQUET: "Parquet format",
    ReasonCode.MISSING_FIELDS: "fields missing",
    ReasonCode.DELIVERY_FAILED: "delivery fails",
    ReasonCode.NO_FLOW_LOG: "no flow log",
    ReasonCode.PARTIAL_COVERAGE: "partial logs",
    ReasonCode.FIREWALL_FLOW: "FLOW not S3",
    ReasonCode.FIREWALL_ALERT: "ALERT not S3",
    ReasonCode.UNREADABLE: "unreadable",
}


def short_reasons(reasons: list[Reason], width: int = 14) -> str:
    """The reasons in a few words: every label when they fit in `width` cells, else the first and +N."""
    labels = list(dict.fromkeys(SHORT_REASON.get(r.code, r.code.value) for r in reasons))
    if not labels:
        return ""
    every = ", ".join(labels)
    return every if len(every) <= width or len(labels) == 1 else f"{labels[0]} +{len(labels) - 1}"


class Clamped:
    """Text wrapped at the width it is drawn and cut to the height it is given (a widget's height or
    max-height); the last line kept ends with `more` (how to see it all). Measured uncut."""

    def __init__(self, text: Text, more: str) -> None:
        self.text = text
        self.more = more

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines = list(self.text.wrap(console, width))
        limit = options.height
        if limit and len(lines) > limit:
            lines = lines[:limit]
            marker = Text(f" … {self.more}", style="bold")
            last = lines[-1]
            last.rstrip()
            room = max(width - marker.cell_len, 0)
            if last.cell_len > room:  # cut at a space, never mid-word
                space = last.plain.rfind(" ", 0, room + 1)
                last.truncate(space if space > room // 2 else room)
                last.rstrip()
            last.append_text(marker)
        yield Text("\n").join(lines)


class FullText(ModalScreen[None]):
    """The whole of a text a screen shows cut (a long reason, a region's problem). Esc or Enter closes."""

    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Close", id="discovery.full_text_close")]
    DEFAULT_CSS = f"""
    FullText {{ align: center middle; }}
    FullText > VerticalScroll {{ width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1; }}
    FullText #full-title {{ color: {INFO}; text-style: bold; }}
    """

    def __init__(self, title: str, text: Text) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(f"{self.title_text}  (Esc closes)"), id="full-title")
            yield Static(self.text, id="full-text")


@dataclass
class DetailRow:
    """One row of discovery's detail table and its note (the reasons in full)."""

    key: str
    region: str
    resource: str  # the VPC id, or "firewall"
    name: str
    verdict: Text
    reasons: list[Reason]
    plain: str  # the reasons in full (or what makes it compliant)
    brief: str  # `plain` in a few words, when there are no reasons (a flow log id)
    note: str

    def reason_text(self, width: int) -> str:
        """What the Reason column shows in `width` cells: a few words per reason, never a cut word."""
        if self.reasons:
            return short_reasons(self.reasons, width)
        return self.plain if len(self.plain) <= width else self.brief


# (key, title, width; 0 = as wide as its longest cell, up to NAME_MAX, or the rest for the reason)
_DETAIL_COLUMNS = {
    "region": ("Region", 14),
    "resource": ("Resource", 21),
    "name": ("Name", 0),
    "verdict": ("Verdict", 12),
    "reason": ("Reason", 0),
}
NAME_MAX = 16


def detail_columns(width: int, names: list[str], *, filtering: bool) -> list[tuple[str, str, int]]:
    """The detail table's columns (key, title, width) for a table `width` cells wide: the reason gets
    the room left. A region's rows need no region column (the title names it); a filter's rows do, and
    below WIDE columns they drop the id column instead (the note above names the id)."""
    keys = ["resource", "name", "verdict", "reason"]
    if filtering:
        keys = ["region", "name", "verdict", "reason"] if width < WIDE else ["region", *keys]
    room = width - 2 - 2 * len(keys)  # a vertical scrollbar and each cell's padding
    fixed = sum(_DETAIL_COLUMNS[k][1] for k in keys)
    name = min(max([4, *(len(n) for n in names)]), NAME_MAX if width < WIDE else 2 * NAME_MAX)
    reason = max(room - fixed - name, 12)
    sizes = {"name": name, "reason": reason}
    return [(k, _DETAIL_COLUMNS[k][0], sizes.get(k) or _DETAIL_COLUMNS[k][1]) for k in keys]


@dataclass
class ScanStarted(Message):
    inventory: Inventory  # every region, pending / not-enabled / skipped
    generation: int


@dataclass
class ScanFinished(Message):
    inventory: Inventory
    generation: int


class DiscoveryScreen(AccountsDiscovery):
    STEP = "discovery"
    AUTO_FOCUS = "#regions"
    BINDINGS = [
        Binding("r", "rescan", "Rescan", id="discovery.rescan"),
        Binding("slash", "filter", "Filter", id="discovery.filter"),
        Binding("i", "details", "Details", id="discovery.details"),
        Binding("a", "cycle_account", "Account", id="discovery.account"),  # --org / --accounts only
        Binding("escape", "clear_filter", "Clear filter", show=False, id="discovery.clear_filter"),
    ]
    # The note above the detail table is cut to 3 lines (5 when wide) so the table keeps rows on screen;
    # i (or Enter on a row) shows it whole. A region without rows (failed) gives its problem the room.
    DEFAULT_CSS = f"""
    DiscoveryScreen #identity {{ height: auto; padding: 0 1; }}
    DiscoveryScreen #progress-row {{ height: 1; padding: 0 1; }}
    DiscoveryScreen #progress-row ProgressBar {{ width: 30; }}
    DiscoveryScreen #progress-label {{ width: 1fr; padding: 0 1; }}
    DiscoveryScreen #panes {{ height: 1fr; }}
    DiscoveryScreen #regions-box {{ height: 2fr; min-height: 5; }}
    DiscoveryScreen #detail-box {{ height: 3fr; min-height: 5; }}
    DiscoveryScreen #detail-title {{ height: 1; padding: 0 1; text-style: bold; color: {INFO}; }}
    DiscoveryScreen #note {{ height: auto; max-height: 3; padding: 0 1; color: $text-muted; }}
    DiscoveryScreen.-wide #note {{ max-height: 5; }}
    DiscoveryScreen #note.-alone {{ max-height: 100%; }}
    DiscoveryScreen #note.-fill {{ height: 1fr; max-height: 100%; }}
    DiscoveryScreen #note.problem {{ color: {WARN}; }}
    DiscoveryScreen #detail {{ height: 1fr; }}
    DiscoveryScreen #filter {{ display: none; height: 1; border: none; padding: 0 1; }}
    DiscoveryScreen #filter.visible {{ display: block; }}
    DiscoveryScreen #accounts-box {{ height: 5; }}
    DiscoveryScreen #regions-title {{ height: 1; padding: 0 1; color: {INFO}; }}
    """

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, RegionResult] = {}
        self.selected: str | None = None
        self.scanning = False
        self.filter_text = ""
        self.cancel = threading.Event()
        self.row_notes: dict[str, str] = {}  # detail row key -> its full text (for the note line)
        self.problem_text = ""  # the shown region's problems in full
        self.note_text = ""  # the note above the detail table in full (it is shown cut to its height)
        self.detail_width = 0  # the screen width the detail table's columns were laid out for
        self.regions_width = 0  # and the region table's
        # --org / --accounts: results are keyed "account/region"; the accounts' scan as it comes in
        self.region_account: dict[str, str] = {}  # results key -> its account
        self.org: OrgInventory | None = None
        self.account_filter = ""  # the one account whose regions the table shows ('' every account)
        self.shown_account = ""  # the account the detail pane shows ('' a region)

    def compose_body(self) -> ComposeResult:
        yield Static(id="identity")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=False)
            yield Label("", id="progress-label")
        yield Input(placeholder="filter VPCs and firewalls (name, id, verdict) — Esc clears", id="filter")
        with Vertical(id="panes"):
            if self.org_mode:
                with Vertical(id="accounts-box"):  # as high as its rows, up to a few (AccountsDiscovery)
                    yield DataTable(id="accounts", cursor_type="row")
            with Vertical(id="regions-box"):  # the app's CSS sizes every DataTable 1fr: size its box
                if self.org_mode:
                    yield Label("", id="regions-title")
                yield DataTable(id="regions", cursor_type="row", zebra_stripes=True)
            with Vertical(id="detail-box"):
                yield Label("Select a region and press Enter for its VPCs and firewalls", id="detail-title")
                yield Static(id="note")
                yield DataTable(id="detail", cursor_type="row")

    def on_mount(self) -> None:
        self._layout_regions()
        self._fill_detail([], None)
        self.show_identity()
        inventory = self.flow_app.state.inventory
        if self.org_mode:
            org = self.flow_app.state.org_inventory
            self._layout_accounts()
            if org is not None:
                self.on_org_scan_finished(OrgScanFinished(org, self.generation))
            else:
                self.action_rescan()
        elif isinstance(inventory, Inventory):
            for region in inventory.regions:
                self.add_region(region)
            self.finish(inventory)
        else:
            self.action_rescan()

    # -- scanning ------------------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self.show_identity()  # the identity may have come while another step was on screen
        self.flow_app.rescan_if_shown()

    def action_rescan(self) -> None:
        if self.flow_app.session is None:
            self.flow_app.show_no_session()
            return
        self.cancel.set()  # a scan still running stops starting regions
        self.cancel = threading.Event()
        generation = self.next_generation()  # messages from an older (cancelled) scan are dropped
        self.results.clear()
        self.query_one("#regions", DataTable).clear()
        self.query_one("#detail", DataTable).clear()
        self.scanning = True
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        if self.org_mode:
            self.org, self.shown_account = None, ""
            self.region_account.clear()
            self.query_one("#accounts", DataTable).clear()
            self.query_one("#progress-label", Label).update("Scanning: listing the accounts…")
            self.run_org_scan(self.cancel, generation)
            return
        self.query_one("#progress-label", Label).update("Scanning: listing regions…")
        self.run_scan(self.cancel, generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def run_scan(self, cancel: threading.Event, generation: int) -> None:
        settings = self.flow_app.settings
        inventory = scan(
            self.flow_app.require_session(),
            include=settings.include_regions or None,
            skip=settings.skip_regions or None,
            workers=settings.scan_workers,
            on_start=lambda inventory: self.post_message(ScanStarted(inventory, generation)),
            on_region=lambda region: self.post_message(RegionScanned(region, generation)),
            cancel=cancel,
        )
        if not cancel.is_set():
            self.post_message(ScanFinished(inventory, generation))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "scan" and event.state == WorkerState.ERROR:
            self.scanning = False
            self.query_one("#progress", ProgressBar).update(total=1, progress=0)
            self.query_one("#progress-label", Label).update("Scan failed (see the message) — r to retry")
            if self.flow_app.identity is None:
                self.query_one("#identity", Static).update(
                    Text("Identity: unknown — the credentials were not accepted", style=WARN)
                )

    def on_scan_started(self, message: ScanStarted) -> None:
        if self.stale(message.generation):
            return
        for region in message.inventory.regions:
            self.add_region(region)
        self.show_identity(started=message.inventory)
        self._progress()

    def on_region_scanned(self, message: RegionScanned) -> None:
        if self.stale(message.generation):
            return
        self.add_region(message.region, account=message.account)
        if message.account and self.org is not None:
            entry = self.org.account(message.account)
            if entry is not None:
                self._account_row(entry)
        self._progress()

    def _progress(self) -> None:
        if self.org_mode:
            self._org_progress()
            return
        scannable = [r for r in self.results.values() if r.status not in _NOT_SCANNED]
        done = [r for r in scannable if r.status is not RegionStatus.PENDING]
        self.query_one("#progress", ProgressBar).update(total=max(len(scannable), 1), progress=len(done))
        self.query_one("#progress-label", Label).update(f"Scanning: {len(done)}/{len(scannable)} regions")

    def on_scan_finished(self, message: ScanFinished) -> None:
        if self.stale(message.generation):
            return
        self.flow_app.state.inventory = message.inventory
        for region in message.inventory.regions:
            self.add_region(region)
        self.finish(message.inventory)

    def finish(self, inventory: Inventory) -> None:
        self.scanning = False
        scanned = len(inventory.scanned_regions)
        failed = len(inventory.failed_regions)
        vpcs = sum(len(r.vpcs) for r in inventory.regions)
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(scanned + failed, 1), progress=scanned + failed)
        summary = f"Scanned {scanned} regions, {vpcs} VPCs"
        if failed:
            summary += f", {failed} failed"
        self.query_one("#progress-label", Label).update(summary)
        self.show_identity()
        if self.selected is None:
            first = next((r.name for r in inventory.regions if r.vpcs or r.firewalls), None)
            if first:
                self.show_region(first)
        else:
            self.show_region(self.selected)

    # -- rendering -----------------------------------------------------------------------------------
    def show_identity(self, started: Inventory | None = None) -> None:
        """Identity and Kentik role candidates; `started` is the inventory of a scan still running."""
        if self.org_mode:
            self._show_org_identity()
            return
        inventory = self.flow_app.state.inventory
        identity = self.flow_app.identity
        text = Text()
        if started is not None:
            ident = started.identity
            text.append(f"Account {ident.account}", style=INFO_BOLD)
            text.append(f"  {ident.arn}")
            text.append(f"  ({ident.partition})\n", style="dim")
            text.append("Kentik role candidates: looking…", style="dim")
        elif isinstance(inventory, Inventory):
            ident = inventory.identity
            text.append(f"Account {ident.account}", style=INFO_BOLD)
            text.append(f"  {ident.arn}", style="")
            text.append(f"  ({ident.partition})\n", style="dim")
            roles = inventory.roles
            if roles:
                names = ", ".join(r.name for r in roles[:3]) + (" …" if len(roles) > 3 else "")
                text.append(f"Kentik role candidates: {names}", style=OK)
            elif inventory.roles_error:
                text.append(f"Roles not listed: {inventory.roles_error.message}", style=WARN)
            else:
                text.append("No role trusting Kentik (834693425129) or with an external id found", style=WARN)
        elif identity:
            text.append(f"Account {identity.account}", style=INFO_BOLD)
            text.append(f"  {identity.arn}")
        else:
            text.append("Identity: checking credentials…", style="dim")
        self.query_one("#identity", Static).update(text)

    def _layout_regions(self) -> None:
        """(Re)make the region table's columns for the screen's width: the problem column gets the room
        left, so the table never scrolls sideways (the note above the detail has each problem in full)."""
        table = self.query_one("#regions", DataTable)
        keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key if table.row_count else None
        table.clear(columns=True)
        self.regions_width = self.app.size.width
        columns = list(_ORG_REGION_COLUMNS if self.org_mode else _REGION_COLUMNS)
        room = self.regions_width - 2 - 2 * (len(columns) + 1)  # a scrollbar and the padding
        for title, width in columns:
            table.add_column(title, width=width, key=title)
        least = 8 if self.org_mode else 12  # the note above the detail has each problem in full
        table.add_column("Problem", width=max(room - sum(w for _, w in columns), least), key="Problem")
        self.region_columns = ["Account", "Region", "Status"] if self.org_mode else ["Region", "Status"]
        for key, region in list(self.results.items()):
            self.add_region(region, show=False, account=self.region_account.get(key, ""))
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    def add_region(self, region: RegionResult, *, show: bool = True, account: str = "") -> None:
        """Add or update a region's row; with --org / --accounts, keyed "account/region" (regions not
        enabled or skipped are left out: every account would list them)."""
        key = f"{account}/{region.name}" if account else region.name
        if account and region.status in _NOT_SCANNED:
            return
        self.results[key] = region
        if account:
            self.region_account[key] = account
            if self.account_filter and account != self.account_filter:
                return
        table = self.query_one("#regions", DataTable)
        counts = region.counts
        scanned = region.scanned
        problem = ""
        if region.status is RegionStatus.NOT_ENABLED:
            problem = "opt-in region"  # its status says not-enabled
        elif region.error:
            problem = f"{region.error.code}: {region.error.hint or region.error.message}"
        elif region.partial_errors:
            problem = "; ".join(e.hint or e.message for e in region.partial_errors)
        todo = (  # with --org / --accounts one "To do" column (as the account summary's), for the room
            [Text(str(counts.needs_change + counts.missing + counts.unknown), style=WARN) if scanned else ""]
            if account
            else [
                Text(str(counts.needs_change), style=WARN) if scanned else "",
                Text(str(counts.missing), style=BAD) if scanned else "",
            ]
        )
        cells = (
            *([Text(self._label(account), no_wrap=True, overflow="ellipsis")] if account else []),
            region.name,
            Text(region.status.value, style=STATUS_STYLE.get(region.status, "")),
            str(counts.vpcs) if scanned else "",
            Text(str(counts.compliant), style=OK) if scanned else "",
            *todo,
            f"{counts.firewalls_compliant}/{counts.firewalls}" if scanned else "",
            Text(problem, style=BAD if region.error else WARN, no_wrap=True, overflow="ellipsis"),
        )
        order = _org_region_order if account else _region_order
        if key in table.rows:
            for column, value in zip(table.columns, cells, strict=True):
                table.update_cell(key, column, value)
            table.sort(*self.region_columns, key=order)
        else:
            table.add_row(*cells, key=key)
            table.sort(*self.region_columns, key=order)
        if show and key == self.selected and not self.shown_account:
            self.show_region(key)

    @on(DataTable.RowSelected, "#regions")
    def region_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.show_region(event.row_key.value)
            self.query_one("#detail", DataTable).focus()

    def show_region(self, name: str) -> None:
        """Show one region's VPCs and firewalls; with a filter, matching ones of every region (of the
        account shown, with --org / --accounts). `name`: the region's key in `results`."""
        self.selected = name
        self.shown_account = ""
        if self.org_mode:  # an account's reason (AccountsDiscovery.show_account) had the whole pane
            self.query_one("#note", Static).remove_class("-fill")
            self.query_one("#detail", DataTable).display = True
        keep = self._highlighted_key()
        needle = self.filter_text.lower()
        rows: list[DetailRow] = []
        shown = self.account_filter
        keys = [k for k in sorted(self.results) if not shown or self.region_account.get(k) == shown]
        for key in keys if needle else [name]:
            found = self.results.get(key)
            if found is not None:
                rows += self._detail_rows(found, needle, key)
        self._fill_detail(rows, keep)
        title = self.query_one("#detail-title", Label)
        region = self.results.get(name)
        account = self.region_account.get(name, "")
        if needle:
            where = f" of account {shown}" if shown else " of every account" if self.org_mode else ""
            title.update(
                f"Filter '{self.filter_text}': {len(rows)} match(es) in all regions{where} (Esc clears)"
            )
        elif region is not None:
            label = f"{self._label(account)} {region.name}" if account else name
            title.update(
                f"{label}: {count(len(region.vpcs), 'VPC')}, {count(len(region.firewalls), 'firewall')}"
            )
        self._show_note(region if not needle else None, self.row_notes.get(self._highlighted_key() or ""))

    def _highlighted_key(self) -> str | None:
        detail = self.query_one("#detail", DataTable)
        if not detail.row_count or not detail.is_valid_coordinate(detail.cursor_coordinate):
            return None
        return str(detail.coordinate_to_cell_key(detail.cursor_coordinate).row_key.value)

    def _fill_detail(self, rows: list[DetailRow], keep: str | None, *, many: bool = False) -> None:
        """Lay the detail table out for the screen's width (the reason column gets the room left) and fill
        it; the cursor stays on `keep` when it is still there. `many`: rows of many regions (an account's)."""
        detail = self.query_one("#detail", DataTable)
        detail.clear(columns=True)
        self.row_notes.clear()
        self.detail_width = self.app.size.width
        filtering = bool(self.filter_text) or many
        keys = detail_columns(self.detail_width, [], filtering=filtering)
        with_id = any(k == "resource" for k, _, _ in keys)
        names = [row.name or ("" if with_id else row.resource) for row in rows]
        columns = detail_columns(self.detail_width, names, filtering=filtering)
        for key, title, width in columns:
            detail.add_column(title, width=width, key=key)
        reason_width = next(w for k, _, w in columns if k == "reason")
        for row, name in zip(rows, names, strict=True):
            cells: dict[str, Text | str] = {
                "region": row.region,
                "resource": row.resource,
                "name": Text(name, no_wrap=True, overflow="ellipsis"),
                "verdict": row.verdict,
                "reason": Text(row.reason_text(reason_width), no_wrap=True, overflow="ellipsis"),
            }
            detail.add_row(*(cells[key] for key, _, _ in columns), key=row.key)
            self.row_notes[row.key] = row.note
        if keep in self.row_notes:
            detail.move_cursor(row=detail.get_row_index(keep), animate=False)

    def on_resize(self, event: events.Resize) -> None:
        """The tables' columns fit the new width."""
        if self.regions_width and event.size.width != self.regions_width:
            self._layout_regions()
        if self.org_mode and event.size.width != self.regions_width:
            self._layout_accounts()
        if self.shown_account and self.detail_width and event.size.width != self.detail_width:
            self.show_account(self.shown_account)
        elif self.selected and self.detail_width and event.size.width != self.detail_width:
            self.show_region(self.selected)

    def _show_note(self, region: RegionResult | None, row_text: str | None = None) -> None:
        """Under the title: the region's problem and its fix, else the highlighted row's reasons, in full
        but cut to the note's height (i shows it whole) — the table shows a few words of each."""
        problems = []
        if region is not None and region.error and region.status is not RegionStatus.NOT_ENABLED:
            problems.append(
                f"{region.name} {region.status.value}: {region.error.code} — {region.error.message}"
            )
            if region.error.hint:
                problems.append(f"Fix: {region.error.hint}")
        if region is not None:
            for err in region.partial_errors:
                problems.append(
                    f"Partly read ({err.service}): {err.message}" + (f" Fix: {err.hint}" if err.hint else "")
                )
        if region is not None and region.status is RegionStatus.NOT_ENABLED and region.error:
            problems.append(region.error.hint or region.error.message)
        self.problem_text = "\n".join(problems)
        self._set_note(self.problem_text or row_text or "", problem=bool(problems))

    def _set_note(self, text: str, *, problem: bool) -> None:
        note = self.query_one("#note", Static)
        self.note_text = text
        note.set_class(problem, "problem")
        note.set_class(not self.row_notes, "-alone")
        note.update(Clamped(Text(self.note_text), "(i: all)"))
        note.display = bool(self.note_text)

    @on(DataTable.RowHighlighted, "#detail")
    def detail_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.shown_account:
            if not self.problem_text:
                self._set_note(self.row_notes.get(str(event.row_key.value), ""), problem=False)
            return
        region = self.results.get(self.selected or "")
        if region is not None and (region.error or region.partial_errors) and not self.filter_text:
            return  # the region's problem stays visible
        self._show_note(None, self.row_notes.get(str(event.row_key.value), ""))

    @on(DataTable.RowSelected, "#detail")
    def action_details(self) -> None:
        """The note in full, and the highlighted row's reasons in full (Enter on a row, or i)."""
        row = self.row_notes.get(self._highlighted_key() or "", "")
        text = "\n\n".join(dict.fromkeys(t for t in (self.problem_text, row, self.note_text) if t))
        if not text:
            self.flow_app.notify("Nothing more to show: choose a region (Enter) first.")
            return
        title = f"Filter '{self.filter_text}'" if self.filter_text else (self.selected or "Discovery")
        if self.shown_account:
            title = f"Account {self.shown_account}"
        self.app.push_screen(FullText(title, Text(text)))

    def _detail_rows(
        self, region: RegionResult, needle: str, key: str = "", *, many: bool = False
    ) -> list[DetailRow]:
        """The rows of a region (`key` in results); `many`: among an account's other regions."""
        rows = []
        name = region.name
        key = key or name
        where = f" in {name}" if needle or many else ""  # a region's own rows: the title names the region
        account = self.region_account.get(key, "")
        if account and needle and not many:  # a filter over every account's regions
            where += f" of {self._label(account)}"
        for vpc in region.vpcs:
            label, style = VERDICT_STYLE[vpc.verdict]
            reasons = "; ".join(r.message for r in vpc.reasons) or (
                f"flow log {vpc.compliant_flow_log_id}" if vpc.compliant_flow_log_id else ""
            )
            vpc_name = vpc.name or ("(default VPC)" if vpc.is_default else "")
            if needle and needle not in f"{vpc.vpc_id} {vpc_name} {label} {reasons}".lower():
                continue
            rows.append(
                DetailRow(
                    key=f"{key}/{vpc.vpc_id}",
                    region=name,
                    resource=vpc.vpc_id,
                    name=vpc_name,
                    verdict=Text(label, style=style),
                    reasons=vpc.reasons,
                    plain=reasons,
                    brief=vpc.compliant_flow_log_id or "",
                    note=f"{vpc.label}{where}: {label}" + (f" — {reasons}" if reasons else ""),
                )
            )
        for fw in region.firewalls:
            label, style = VERDICT_STYLE[fw.verdict]
            reasons = "; ".join(r.message for r in fw.reasons) or fw.error or "FLOW and ALERT to S3"
            if needle and needle not in f"{fw.name} firewall {label} {reasons}".lower():
                continue
            rows.append(
                DetailRow(
                    key=f"{key}/{fw.arn}",
                    region=name,
                    resource="firewall",
                    name=fw.name,
                    verdict=Text(label, style=style),
                    reasons=fw.reasons,
                    plain=reasons,
                    brief="unreadable" if fw.error else "FLOW+ALERT→S3",
                    note=f"firewall {fw.name}{where}: {label} — {reasons}",
                )
            )
        return rows

    # -- filter --------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.query_one("#regions", DataTable).focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self.shown_account:
            self.show_account(self.shown_account)
        elif self.selected:
            self.show_region(self.selected)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.query_one("#detail", DataTable).focus()


_NOT_SCANNED = (RegionStatus.NOT_ENABLED, RegionStatus.SKIPPED)
# The region table's columns but the last (Problem, which gets the room left): title, width.
_REGION_COLUMNS = (("Region", 14), ("Status", 11), ("VPCs", 4), ("OK", 3), ("Chg", 3), ("Miss", 4), ("FW", 5))
# With --org / --accounts: the account first, no not-enabled status (those rows are left out), one To do.
_ORG_REGION_COLUMNS = (
    ("Account", ACCOUNT_ID_WIDTH),
    ("Region", 14),
    ("Status", 9),
    ("VPCs", 4),
    ("OK", 3),
    ("To do", 5),
    ("FW", 5),
)
_STATUS_RANK = {
    RegionStatus.FAILED.value: 0,
    RegionStatus.PARTIAL.value: 1,
    RegionStatus.SCANNED.value: 1,
    RegionStatus.PENDING.value: 1,
    RegionStatus.CANCELLED.value: 2,
    RegionStatus.SKIPPED.value: 3,
    RegionStatus.NOT_ENABLED.value: 4,
}


def _org_region_order(cells: tuple[Any, Any, Any]) -> tuple[str, int, str]:
    """By account, then as `_region_order`."""
    account, name, status = cells
    return (str(account), _STATUS_RANK.get(str(status), 1), str(name))


def _region_order(cells: tuple[Any, Any]) -> tuple[int, str]:
    """Failed regions first (they need attention), then scanned by name, then not-enabled/skipped."""
    name, status = cells
    return (_STATUS_RANK.get(str(status), 1), str(name))
