"""Discovery with --org / --accounts: the scan of every account, and the per-account summary.

`AccountsDiscovery` is the discovery screen's base (screens/discovery.py): in org mode it scans every
account of the run (aws.org_scan) in a thread worker, streaming per account and region, and shows one
row per account above the region table; `a` shows one account's regions or all. The functions below
turn an `AccountScan` into that row and into the note the detail pane shows for it: what was found, or
why the account could not be reached and what to check (the role refused AssumeRole, or an organization
policy (SCP) denies it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import DataTable, Label, ProgressBar, Static

from aws.inventory import RegionResult, RegionStatus
from aws.org_scan import AccountScan, OrgInventory, scan_accounts
from screens.base import WizardScreen
from tui.layout import WIDE
from tui.palette import BAD_BOLD, INFO_BOLD, OK, WARN
from tui.words import count

if TYPE_CHECKING:
    from screens.discovery import DetailRow

# Each status is a word first; its colour only repeats it. "scanning": pending, with regions coming in.
ACCOUNT_STATUS_STYLE = {
    "pending": "dim",
    "scanning": "dim",
    "scanned": OK,
    "partial": WARN,
    "failed": BAD_BOLD,
    "unreachable": BAD_BOLD,
    "cancelled": "dim",
}
ACCOUNT_ID_WIDTH = 12
# The summary's columns but Name and Problem (sized to the room): title, width.
_ACCOUNT_COLUMNS = (("Status", 11), ("VPCs", 4), ("OK", 3), ("To do", 5), ("FW", 5))
NAME_MAX = 16


def account_label(account: str, name: str) -> str:
    """How the region table's Account column names an account: its name when it fits, else its id."""
    return name if name and len(name) <= ACCOUNT_ID_WIDTH else account


def account_columns(width: int, names: list[str]) -> list[tuple[str, int]]:
    """The summary's columns (title, width) for a table `width` cells wide: the problem gets the room
    left, the name up to NAME_MAX (twice that from WIDE)."""
    room = width - 2 - 2 * (len(_ACCOUNT_COLUMNS) + 3)  # a vertical scrollbar and each cell's padding
    name = min(max([4, *(len(n) for n in names)]), NAME_MAX if width >= WIDE else 10)
    fixed = ACCOUNT_ID_WIDTH + name + sum(w for _, w in _ACCOUNT_COLUMNS)
    return [
        ("Account", ACCOUNT_ID_WIDTH),
        ("Name", name),
        *_ACCOUNT_COLUMNS,
        ("Problem", max(room - fixed, 12)),
    ]


def account_status(entry: AccountScan, regions_seen: int) -> str:
    return "scanning" if entry.status == "pending" and regions_seen else entry.status


def account_problem(entry: AccountScan) -> str:
    """A few words on why an account was not (wholly) scanned; the detail pane has it in full."""
    err = entry.error
    if err is not None:
        if err.kind == "scp":
            return "SCP denies it"
        if entry.status == "unreachable" and err.kind == "access":
            return "role refused"
        return {"access": "access denied", "credentials": "credentials", "network": "unreachable"}.get(
            err.kind, err.message
        )
    failed = entry.counts.regions_failed
    return f"{failed} region{'s' if failed != 1 else ''} failed" if failed else ""


def account_cells(entry: AccountScan, regions_seen: int) -> tuple[str | Text, ...]:
    """One row of the summary: id, name, status word, VPCs, compliant, to do, firewalls, problem."""
    status = account_status(entry, regions_seen)
    cells: tuple[str | Text, ...] = (
        entry.account,
        Text(entry.name, no_wrap=True, overflow="ellipsis"),
        Text(status, style=ACCOUNT_STATUS_STYLE.get(status, "")),
    )
    if entry.inventory is None:
        cells += ("", "", "", "")
    else:
        c = entry.counts
        cells += (
            str(c.vpcs),
            Text(str(c.compliant), style=OK),
            Text(str(c.needs_change + c.missing + c.unknown), style=WARN),
            f"{c.firewalls_compliant}/{c.firewalls}",
        )
    problem = account_problem(entry)
    return (*cells, Text(problem, style=BAD_BOLD if entry.error else WARN, no_wrap=True, overflow="ellipsis"))


def account_title(entry: AccountScan) -> str:
    name = f" ({entry.name})" if entry.name else ""
    if entry.inventory is None:
        return f"Account {entry.account}{name}: {entry.status}"
    c = entry.counts
    todo = c.needs_change + c.missing + c.unknown
    return (
        f"Account {entry.account}{name}: {c.vpcs} VPCs ({c.compliant} compliant, {todo} to do), "
        f"{c.firewalls} firewalls"
    )


def account_note(entry: AccountScan) -> str:
    """Why the account was not reached or scanned, and what to check ('' when it was scanned whole)."""
    err = entry.error
    if err is None:
        failed = entry.counts.regions_failed
        if failed:
            return f"{failed} region(s) of this account failed: choose them in the region table for why."
        return ""
    if entry.status == "unreachable" and err.kind == "scp":
        why = "Not reached: an organization policy (SCP) denies it, not IAM."
    elif entry.status == "unreachable" and err.kind == "access":
        why = "Not reached: the role refused AssumeRole."
    elif entry.status == "unreachable":
        why = "Not reached."
    else:
        why = "Reached, but its scan failed."
    lines = [f"{why} {err.message}"]
    if err.hint:
        lines.append(f"Fix: {err.hint}")
    return "\n".join(lines)


def org_summary(org: OrgInventory, *, finished: bool) -> str:
    """The progress line: accounts scanned and not reached, and the VPCs found."""
    total = len(org.accounts)
    if not finished:
        done = sum(1 for a in org.accounts if a.status != "pending")
        return f"Scanning: {done}/{total} accounts"
    unreached = sum(1 for a in org.accounts if a.status == "unreachable")
    failed = len(org.failed) - unreached
    text = f"{total} accounts: {len(org.scanned)} scanned"
    if unreached:
        text += f", {unreached} not reached"
    if failed:
        text += f", {failed} failed"
    return text + f", {org.totals.vpcs} VPCs"


def target_entry(org: OrgInventory) -> AccountScan | None:
    """The account the later steps set up: the caller's own, when it was scanned. Never a member: the
    later steps plan and apply with the caller's session, which AWS would refuse in another account
    (`flowlogs plan --org` plans and applies every account through its role)."""
    return next((a for a in org.scanned if a.account == org.caller.account), None)


# -- the screen's part -----------------------------------------------------------------------------------
@dataclass
class RegionScanned(Message):
    region: RegionResult
    generation: int
    account: str = ""  # with --org / --accounts: the account it is in


@dataclass
class OrgScanStarted(Message):
    org: OrgInventory  # every account, pending
    generation: int


@dataclass
class AccountScanned(Message):
    entry: AccountScan  # scanned, or why not
    generation: int


@dataclass
class OrgScanFinished(Message):
    org: OrgInventory
    generation: int


class AccountsDiscovery(WizardScreen):
    """What the discovery screen does with --org / --accounts (`app.org_mode`). Results are keyed
    "account/region" (`region_account` maps them back); without org mode none of this is used."""

    region_account: dict[str, str]
    org: OrgInventory | None
    account_filter: str  # the one account whose regions the table shows ('' every account)
    shown_account: str  # the account the detail pane shows ('' a region)

    if TYPE_CHECKING:  # the discovery screen's own
        results: dict[str, RegionResult]
        selected: str | None
        scanning: bool
        filter_text: str
        row_notes: dict[str, str]
        problem_text: str

        def add_region(self, region: RegionResult, *, show: bool = True, account: str = "") -> None: ...
        def show_region(self, name: str) -> None: ...
        def _layout_regions(self) -> None: ...
        def _highlighted_key(self) -> str | None: ...
        def _set_note(self, text: str, *, problem: bool) -> None: ...
        def _detail_rows(
            self, region: RegionResult, needle: str, key: str = "", *, many: bool = False
        ) -> list[DetailRow]: ...
        def _fill_detail(self, rows: list[DetailRow], keep: str | None, *, many: bool = False) -> None: ...

    @property
    def org_mode(self) -> bool:
        return self.flow_app.org_mode

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`a` (one account or all) only with --org / --accounts: the one-account footer is as it was."""
        return self.org_mode if action == "cycle_account" else True

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def run_org_scan(self, cancel: threading.Event, generation: int) -> None:
        app = self.flow_app
        assert app.accounts is not None
        settings = app.settings
        org = scan_accounts(
            app.require_session(),
            app.accounts,
            account_workers=app.account_workers,
            workers=settings.scan_workers,
            include=settings.include_regions or None,
            skip=settings.skip_regions or None,
            on_start=lambda org: self.post_message(OrgScanStarted(org, generation)),
            on_account=lambda entry: self.post_message(AccountScanned(entry, generation)),
            on_region=lambda account, region: self.post_message(RegionScanned(region, generation, account)),
            cancel=cancel,
        )
        if not cancel.is_set():
            self.post_message(OrgScanFinished(org, generation))

    # -- many accounts (--org / --accounts) ------------------------------------------------------------
    def on_org_scan_started(self, message: OrgScanStarted) -> None:
        if self.stale(message.generation):
            return
        self.org = message.org
        self._layout_accounts()
        self._show_org_identity()
        self._org_progress()

    def on_account_scanned(self, message: AccountScanned) -> None:
        if self.stale(message.generation) or self.org is None:
            return
        entry = message.entry
        self.org.accounts = [entry if a.account == entry.account else a for a in self.org.accounts]
        for region in entry.inventory.regions if entry.inventory else []:
            self.add_region(region, account=entry.account)
        self._account_row(entry)
        if self.shown_account == entry.account:
            self.show_account(entry.account)
        self._org_progress()

    def on_org_scan_finished(self, message: OrgScanFinished) -> None:
        """Keep every account's scan, and the account the later steps set up (its inventory)."""
        if self.stale(message.generation):
            return
        org = message.org
        state = self.flow_app.state
        target = target_entry(org)
        state.org_inventory = org
        state.inventory = target.inventory if target is not None else None
        state.target_account = target.account if target is not None else ""
        self.org = org
        for entry in org.accounts:
            for region in entry.inventory.regions if entry.inventory else []:
                self.add_region(region, account=entry.account, show=False)
        self._layout_accounts()
        self.scanning = False
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(len(org.accounts), 1), progress=len(org.accounts))
        self.query_one("#progress-label", Label).update(org_summary(org, finished=True))
        self._show_org_identity()
        if self.shown_account:
            self.show_account(self.shown_account)
        elif self.selected is not None and self.selected in self.results:
            self.show_region(self.selected)
        elif org.failed:
            self.show_account(org.failed[0].account)  # what went wrong first
        else:
            first = next((k for k, r in sorted(self.results.items()) if r.vpcs or r.firewalls), None)
            if first:
                self.show_region(first)

    def _layout_accounts(self) -> None:
        """(Re)make the account summary for the screen's width (the problem column gets the room left)."""
        table = self.query_one("#accounts", DataTable)
        keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key if table.row_count else None
        table.clear(columns=True)
        entries = self.org.accounts if self.org is not None else []
        for title, width in account_columns(self.app.size.width, [a.name for a in entries]):
            table.add_column(title, width=width, key=title)
        for entry in entries:
            self._account_row(entry)
        # as high as its rows (a header and one per account), up to 5 accounts below WIDE and 10 from it
        most = 10 if self.app.size.width >= WIDE else 5
        self.query_one("#accounts-box").styles.height = min(max(len(entries), 1), most) + 1
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._regions_title()

    def _account_row(self, entry: AccountScan) -> None:
        table = self.query_one("#accounts", DataTable)
        seen = sum(1 for a in self.region_account.values() if a == entry.account)
        cells = account_cells(entry, seen)
        if entry.account in table.rows:
            for column, value in zip(table.columns, cells, strict=True):
                table.update_cell(entry.account, column, value)
        else:
            table.add_row(*cells, key=entry.account)

    def _label(self, account: str) -> str:
        entry = self.org.account(account) if self.org is not None else None
        return account_label(account, entry.name if entry else "")

    def _regions_title(self) -> None:
        if self.account_filter:
            entry = self.org.account(self.account_filter) if self.org is not None else None
            name = f" ({entry.name})" if entry is not None and entry.name else ""
            text = f"Regions of account {self.account_filter}{name} — a: next account"
        else:
            text = "Regions of every account — a: one account at a time"
        self.query_one("#regions-title", Label).update(text)

    @on(DataTable.RowSelected, "#accounts")
    def account_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.set_account_filter(str(event.row_key.value))

    def action_cycle_account(self) -> None:
        """a: every account's regions, then each account's in turn (in the summary's order)."""
        if self.org is None:
            return
        order = ["", *(a.account for a in self.org.accounts)]
        self.set_account_filter(order[(order.index(self.account_filter) + 1) % len(order)])

    def set_account_filter(self, account: str) -> None:
        self.account_filter = account
        self._layout_regions()
        self._regions_title()
        if account:
            self.show_account(account)
        elif self.selected in self.results:
            self.show_region(self.selected or "")
        else:
            self.shown_account = ""
            self._fill_detail([], None)
            self.query_one("#detail-title", Label).update("Every account: choose a region or an account")
            self._set_note("", problem=False)

    def show_account(self, account: str) -> None:
        """One account in the detail pane: its VPCs and firewalls in every region, or why it was not
        reached (and what to check) in full."""
        entry = self.org.account(account) if self.org is not None else None
        if entry is None:
            return
        self.shown_account = account
        accounts = self.query_one("#accounts", DataTable)
        if account in accounts.rows:
            accounts.move_cursor(row=accounts.get_row_index(account), animate=False)
        keep = self._highlighted_key()
        needle = self.filter_text.lower()
        rows: list[DetailRow] = []
        for key in sorted(k for k, a in self.region_account.items() if a == account):
            rows += self._detail_rows(self.results[key], needle, key, many=True)
        self._fill_detail(rows, keep, many=True)
        title = account_title(entry)
        if needle:
            title = f"Filter '{self.filter_text}': {len(rows)} match(es) in account {account} (Esc clears)"
        self.query_one("#detail-title", Label).update(title)
        problem = account_note(entry)
        self.problem_text = problem
        # an account not reached has no rows: its reason gets the pane, cut to it (i shows it whole)
        self.query_one("#note", Static).set_class(not rows, "-fill")
        self.query_one("#detail", DataTable).display = bool(rows)
        self._set_note(
            problem or self.row_notes.get(self._highlighted_key() or "", ""), problem=bool(problem)
        )

    def _org_progress(self) -> None:
        if self.org is None:
            return
        done = sum(1 for a in self.org.accounts if a.status != "pending")
        regions = sum(1 for r in self.results.values() if r.status is not RegionStatus.PENDING)
        self.query_one("#progress", ProgressBar).update(total=max(len(self.org.accounts), 1), progress=done)
        label = f"{org_summary(self.org, finished=False)}, {count(regions, 'region')}"
        self.query_one("#progress-label", Label).update(label)

    def _show_org_identity(self) -> None:
        """Which accounts, through which role, by whom (one line, cut); and the one account the next
        steps set up (whole, on as many lines as it needs)."""
        org, app = self.org, self.flow_app
        head = Text(no_wrap=True, overflow="ellipsis")
        note = Text()
        if org is None:
            head.append(
                "Organization: listing its accounts…" if app.accounts and app.accounts.org else "Accounts"
            )
            head.stylize(INFO_BOLD)
            if app.identity is not None:
                head.append(f"  caller {app.identity.arn}")
        else:
            source = "Organization" if org.org else "Accounts named"
            head.append(f"{source}: {count(len(org.accounts), 'account')}", style=INFO_BOLD)
            head.append(f" via {org.assume_role}  caller {org.caller.arn}")
        target = app.state.target_account if org is not None and app.state.org_inventory is org else ""
        if target and org is not None:
            entry = org.account(target)
            name = f" ({entry.name})" if entry is not None and entry.name else ""
            flag = "--org" if org.org else "--accounts …"
            note.append(
                f"The next steps set up account {target}{name}; `flowlogs plan {flag}` plans every account",
                style=WARN,
            )
        elif self.scanning or org is None:
            note.append(
                "The next steps set up one account: the caller's own when it is scanned.", style="dim"
            )
        else:
            flag = "--org" if org.org else "--accounts …"
            note.append(
                f"The caller's account {org.caller.account} was not scanned: the next steps have no account to "
                f"set up. `flowlogs plan {flag}` plans these accounts.",
                style=WARN,
            )
        self.query_one("#identity", Static).update(Group(head, note))
