"""Step 1: account and region discovery.

Who am I, which regions are enabled, what VPCs and firewalls exist, and how far each is from what the
spec wants. The scan runs in a thread worker; each region's result arrives as a message, so the region
table fills in live. Enter on a region shows its VPCs and firewalls with their verdicts and reasons.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState

from aws.discovery import scan
from aws.inventory import Inventory, RegionResult, RegionStatus, Verdict
from screens.base import WizardScreen

VERDICT_STYLE = {
    Verdict.COMPLIANT: ("compliant", "green"),
    Verdict.NEEDS_CHANGE: ("needs-change", "yellow"),
    Verdict.MISSING: ("missing", "red"),
    Verdict.UNKNOWN: ("unknown", "magenta"),
}
STATUS_STYLE = {
    RegionStatus.PENDING: "dim",
    RegionStatus.SCANNED: "green",
    RegionStatus.PARTIAL: "yellow",
    RegionStatus.FAILED: "bold red",
    RegionStatus.NOT_ENABLED: "dim",
    RegionStatus.SKIPPED: "dim",
    RegionStatus.CANCELLED: "dim",
}


@dataclass
class RegionScanned(Message):
    region: RegionResult
    generation: int


@dataclass
class ScanStarted(Message):
    inventory: Inventory  # every region, pending / not-enabled / skipped
    generation: int


@dataclass
class ScanFinished(Message):
    inventory: Inventory
    generation: int


class DiscoveryScreen(WizardScreen):
    STEP = "discovery"
    AUTO_FOCUS = "#regions"
    BINDINGS = [
        Binding("r", "rescan", "Rescan", id="discovery.rescan"),
        Binding("slash", "filter", "Filter", id="discovery.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="discovery.clear_filter"),
    ]
    DEFAULT_CSS = """
    DiscoveryScreen #identity { height: auto; padding: 0 1; }
    DiscoveryScreen #progress-row { height: 1; padding: 0 1; }
    DiscoveryScreen #progress-row ProgressBar { width: 30; }
    DiscoveryScreen #progress-label { width: 1fr; padding: 0 1; }
    DiscoveryScreen #panes { height: 1fr; }
    DiscoveryScreen #regions { height: 1fr; min-height: 5; }
    DiscoveryScreen #detail-box { height: 1fr; min-height: 5; }
    DiscoveryScreen #detail-title { height: 1; padding: 0 1; text-style: bold; }
    DiscoveryScreen #note { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    DiscoveryScreen #note.problem { color: $warning; }
    DiscoveryScreen #detail { height: 1fr; }
    DiscoveryScreen #filter { display: none; height: 1; border: none; padding: 0 1; }
    DiscoveryScreen #filter.visible { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, RegionResult] = {}
        self.selected: str | None = None
        self.scanning = False
        self.filter_text = ""
        self.cancel = threading.Event()
        self.row_notes: dict[str, str] = {}  # detail row key -> its full text (for the note line)

    def compose_body(self) -> ComposeResult:
        yield Static(id="identity")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=False)
            yield Label("", id="progress-label")
        yield Input(placeholder="filter VPCs and firewalls (name, id, verdict) — Esc clears", id="filter")
        with Vertical(id="panes"):
            yield DataTable(id="regions", cursor_type="row", zebra_stripes=True)
            with Vertical(id="detail-box"):
                yield Label("Select a region and press Enter for its VPCs and firewalls", id="detail-title")
                yield Static(id="note")
                yield DataTable(id="detail", cursor_type="row")

    def on_mount(self) -> None:
        regions = self.query_one("#regions", DataTable)
        self.region_columns = regions.add_columns(
            "Region", "Status", "VPCs", "OK", "Chg", "Miss", "FW", "Problem"
        )[:2]
        detail = self.query_one("#detail", DataTable)
        detail.add_columns("Region", "Resource", "Name", "Verdict", "Reason")
        self.show_identity()
        inventory = self.flow_app.state.inventory
        if isinstance(inventory, Inventory):
            for region in inventory.regions:
                self.add_region(region)
            self.finish(inventory)
        else:
            self.action_rescan()

    # -- scanning ------------------------------------------------------------------------------------
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
                    Text("Identity: unknown — the credentials were not accepted", style="yellow")
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
        self.add_region(message.region)
        self._progress()

    def _progress(self) -> None:
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
        inventory = self.flow_app.state.inventory
        identity = self.flow_app.identity
        text = Text()
        if started is not None:
            ident = started.identity
            text.append(f"Account {ident.account}", style="bold")
            text.append(f"  {ident.arn}")
            text.append(f"  ({ident.partition})\n", style="dim")
            text.append("Kentik role candidates: looking…", style="dim")
        elif isinstance(inventory, Inventory):
            ident = inventory.identity
            text.append(f"Account {ident.account}", style="bold")
            text.append(f"  {ident.arn}", style="")
            text.append(f"  ({ident.partition})\n", style="dim")
            roles = inventory.roles
            if roles:
                names = ", ".join(r.name for r in roles[:3]) + (" …" if len(roles) > 3 else "")
                text.append(f"Kentik role candidates: {names}", style="green")
            elif inventory.roles_error:
                text.append(f"Roles not listed: {inventory.roles_error.message}", style="yellow")
            else:
                text.append(
                    "No role trusting Kentik (834693425129) or with an external id found", style="yellow"
                )
        elif identity:
            text.append(f"Account {identity.account}", style="bold")
            text.append(f"  {identity.arn}")
        else:
            text.append("Identity: checking credentials…", style="dim")
        self.query_one("#identity", Static).update(text)

    def add_region(self, region: RegionResult) -> None:
        self.results[region.name] = region
        table = self.query_one("#regions", DataTable)
        counts = region.counts
        scanned = region.scanned
        problem = ""
        if region.status is RegionStatus.NOT_ENABLED:
            problem = "opt-in region, not enabled"
        elif region.error:
            problem = f"{region.error.code}: {region.error.hint or region.error.message}"
        elif region.partial_errors:
            problem = "; ".join(e.hint or e.message for e in region.partial_errors)
        cells = (
            region.name,
            Text(region.status.value, style=STATUS_STYLE.get(region.status, "")),
            str(counts.vpcs) if scanned else "",
            Text(str(counts.compliant), style="green") if scanned else "",
            Text(str(counts.needs_change), style="yellow") if scanned else "",
            Text(str(counts.missing), style="red") if scanned else "",
            f"{counts.firewalls_compliant}/{counts.firewalls}" if scanned else "",
            Text(problem, style="red" if region.error else "yellow"),
        )
        if region.name in table.rows:
            for column, value in zip(table.columns, cells, strict=True):
                table.update_cell(region.name, column, value, update_width=True)
            table.sort(*self.region_columns, key=_region_order)
        else:
            table.add_row(*cells, key=region.name)
            table.sort(*self.region_columns, key=_region_order)
        if region.name == self.selected:
            self.show_region(region.name)

    @on(DataTable.RowSelected, "#regions")
    def region_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.show_region(event.row_key.value)
            self.query_one("#detail", DataTable).focus()

    def show_region(self, name: str) -> None:
        """Show one region's VPCs and firewalls; with a filter, matching ones of every region."""
        self.selected = name
        detail = self.query_one("#detail", DataTable)
        detail.clear()
        self.row_notes.clear()
        needle = self.filter_text.lower()
        regions = sorted(self.results) if needle else [name]
        rows = 0
        for region_name in regions:
            region = self.results.get(region_name)
            if region is None:
                continue
            rows += self._detail_rows(detail, region, needle)
        title = self.query_one("#detail-title", Label)
        region = self.results.get(name)
        if needle:
            title.update(f"Filter '{self.filter_text}': {rows} match(es) in all regions (Esc clears)")
        elif region is not None:
            title.update(f"{name}: {len(region.vpcs)} VPC(s), {len(region.firewalls)} firewall(s)")
        self._show_note(region if not needle else None)

    def _show_note(self, region: RegionResult | None, row_text: str = "") -> None:
        """Under the title: the region's problem and its fix in full (wrapped), else the highlighted row's
        reasons in full — the table's columns are cut at 80 columns."""
        note = self.query_one("#note", Static)
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
        note.set_class(bool(problems), "problem")
        note.update(Text("\n".join(problems) if problems else row_text))
        note.display = bool(problems or row_text)

    @on(DataTable.RowHighlighted, "#detail")
    def detail_highlighted(self, event: DataTable.RowHighlighted) -> None:
        region = self.results.get(self.selected or "")
        if region is not None and (region.error or region.partial_errors) and not self.filter_text:
            return  # the region's problem stays visible
        self._show_note(None, self.row_notes.get(str(event.row_key.value), ""))

    def _detail_rows(self, detail: DataTable[Any], region: RegionResult, needle: str) -> int:
        rows = 0
        name = region.name
        for vpc in region.vpcs:
            label, style = VERDICT_STYLE[vpc.verdict]
            reasons = "; ".join(r.message for r in vpc.reasons) or (
                f"flow log {vpc.compliant_flow_log_id}" if vpc.compliant_flow_log_id else ""
            )
            vpc_name = vpc.name or ("(default VPC)" if vpc.is_default else "")
            if needle and needle not in f"{vpc.vpc_id} {vpc_name} {label} {reasons}".lower():
                continue
            key = f"{name}/{vpc.vpc_id}"
            self.row_notes[key] = f"{vpc.label} in {name}: {label}" + (f" — {reasons}" if reasons else "")
            detail.add_row(name, vpc.vpc_id, vpc_name, Text(label, style=style), reasons, key=key)
            rows += 1
        for fw in region.firewalls:
            label, style = VERDICT_STYLE[fw.verdict]
            reasons = "; ".join(r.message for r in fw.reasons) or fw.error or "FLOW and ALERT to S3"
            if needle and needle not in f"{fw.name} firewall {label} {reasons}".lower():
                continue
            key = f"{name}/{fw.arn}"
            self.row_notes[key] = f"firewall {fw.name} in {name}: {label} — {reasons}"
            detail.add_row(name, "firewall", fw.name, Text(label, style=style), reasons, key=key)
            rows += 1
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
        if self.selected:
            self.show_region(self.selected)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.query_one("#detail", DataTable).focus()


_NOT_SCANNED = (RegionStatus.NOT_ENABLED, RegionStatus.SKIPPED)
_STATUS_RANK = {
    RegionStatus.FAILED.value: 0,
    RegionStatus.PARTIAL.value: 1,
    RegionStatus.SCANNED.value: 1,
    RegionStatus.PENDING.value: 1,
    RegionStatus.CANCELLED.value: 2,
    RegionStatus.SKIPPED.value: 3,
    RegionStatus.NOT_ENABLED.value: 4,
}


def _region_order(cells: tuple[Any, Any]) -> tuple[int, str]:
    """Failed regions first (they need attention), then scanned by name, then not-enabled/skipped."""
    name, status = cells
    return (_STATUS_RANK.get(str(status), 1), str(name))
