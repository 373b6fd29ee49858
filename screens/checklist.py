"""Step 3: the checklist of VPCs and Network Firewalls: what each needs, choose, review, apply.

Rows (`screens.checklist_rows`) come from discovery's inventory, grouped by region; the table is
virtualised (`ChecklistTable`), so 2,000 VPCs filter and toggle without lag. Options live in
`screens.checklist_options`.

Review plans in a worker with `aws.plans.build.build_plan`, the one planner `flowlogs plan` runs too: the
selection goes in as `LogChoices.selected` / `firewall_selected`, so every source is still judged (its bucket
may join Kentik's read set) while only the selected ones get changes. The bucket part is included only
while the chosen bucket still lacks something. After apply, the AWS-assigned flow log ids appear in the
rows and the affected regions are rescanned for fresh verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from aws.coverage import ReadSet
from aws.discovery import scan
from aws.inventory import Inventory, RegionResult
from aws.logs.flowlog_executors import current_flow_log_ids
from aws.logs.flowlogs import CREATE_KIND
from aws.plans.build import PlanBuild, build_plan
from aws.plans.change import ApplyReport, Plan
from aws.plans.choices import RESOURCE_NOUN, LogChoices, ResourceKind
from aws.plans.targets import ResourceTarget, default_judge, resource_targets
from aws.s3.strategy import BucketChoice
from screens.base import WizardScreen
from screens.checklist_options import ChecklistOptions, OptionsDialog
from screens.checklist_rows import KIND_SHORT, build_rows, filter_rows, plural
from screens.checklist_table import ChecklistRow, ChecklistTable
from screens.discovery import Clamped, FullText
from tui.palette import BAD_BOLD, INFO_BOLD, WARN_BOLD
from tui.plan_view import PlanReview

# -- messages -------------------------------------------------------------------------------------------


@dataclass
class PlanReady(Message):
    build: PlanBuild


@dataclass
class ResourcesListed(Message):
    kind: ResourceKind
    resources: list[ResourceTarget]


@dataclass
class RegionsRescanned(Message):
    regions: list[RegionResult]
    flow_log_ids: dict[str, str]


class Joined:
    """Parts on one line, joined by `sep`, when they fit the width they are drawn at; else each part
    that does not fit starts a new line (a part longer than a line wraps at its spaces)."""

    def __init__(self, parts: list[str], sep: str = " │ ") -> None:
        self.parts = parts
        self.sep = sep

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines: list[str] = []
        for part in self.parts:
            if lines and len(lines[-1]) + len(self.sep) + len(part) <= options.max_width:
                lines[-1] += self.sep + part
            else:
                lines.append(part)
        yield Text("\n".join(lines))


# -- the screen -----------------------------------------------------------------------------------------


class ChecklistScreen(WizardScreen):
    STEP = "checklist"
    BINDINGS = [
        Binding("space", "toggle_row", "Toggle", id="checklist.toggle"),
        Binding("enter", "toggle_row", "Toggle", show=False, id="checklist.toggle_enter"),
        Binding("r", "toggle_region", "Region", show=False, id="checklist.toggle_region"),
        Binding("a", "select_all", "All", show=False, id="checklist.select_all"),
        Binding("n", "select_none", "None", show=False, id="checklist.select_none"),
        Binding("e", "select_needing", "Needing", show=False, id="checklist.select_needing"),
        Binding("slash", "filter", "Filter", id="checklist.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="checklist.clear_filter"),
        Binding("o", "options", "Options", id="checklist.options"),
        Binding("ctrl+r", "review", "Review", id="checklist.review"),
        Binding("i", "details", "Details", show=False, id="checklist.details"),
    ]
    # At 80x24 the banner, options and key lines wrap rather than cut; the detail pane is 5 lines (7 when
    # wide) under its rule: the row's verdict and plan first, the reasons cut to fit ("… (i: all)").
    DEFAULT_CSS = """
    ChecklistScreen #bucket-line { height: auto; max-height: 2; padding: 0 1; }
    ChecklistScreen #options-line { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    ChecklistScreen #counts { height: 1; padding: 0 1; text-style: bold; }
    ChecklistScreen #filter { display: none; height: 1; border: none; padding: 0 1; }
    ChecklistScreen #filter.visible { display: block; }
    ChecklistScreen #detail { height: 6; padding: 0 1; border-top: solid $primary; }
    ChecklistScreen #keys { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    ChecklistScreen.-wide #detail { height: 8; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ChecklistRow] = []
        self.selected: set[str] = set()
        self.filter_text = ""
        self.replace_non_s3 = False
        self.flow_log_ids: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.plan: Plan | None = None
        self.building = False
        self.vpc_keys: set[str] = set()
        self.firewall_keys: set[str] = set()
        self.needing = 0
        self.compliant = 0
        self.resources: list[ResourceTarget] | None = None  # subnets/ENIs/TGWs, once listed
        self.resources_kind: ResourceKind = "vpc"
        self.detail_text = Text()  # the detail pane's text in full (the pane shows it cut to its height)

    # -- layout ---------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="checklist-body"):
            yield Static("", id="bucket-line")
            yield Static("", id="options-line", markup=False)
            yield Static("", id="counts", markup=False)
            yield Input(
                placeholder="filter by region, name, id, verdict, action, reason — Esc clears", id="filter"
            )
            yield ChecklistTable(id="table")
            yield Static("", id="detail", markup=False)
            yield Static(
                "r region · a all · n none · e needing action (of the rows shown) · i details",
                id="keys",
                markup=False,
            )

    @property
    def table(self) -> ChecklistTable:
        return self.query_one("#table", ChecklistTable)

    def on_mount(self) -> None:
        self.table.selected = self.selected
        for applied in self.flow_app.state.applied:
            if applied.step == self.STEP:
                self._collect_ids(applied.plan, applied.report)
        self.rebuild(select_needing=True)
        self.table.focus()

    def on_screen_resume(self) -> None:
        # Back from another step: the bucket, the inventory or the choices may have changed there.
        self.rebuild()

    # -- data -----------------------------------------------------------------------------------------
    @property
    def buckets(self) -> dict[str, str]:
        """Source region -> bucket, from the bucket step (never made up here)."""
        state = self.flow_app.state
        if state.bucket_choice is None:
            return {}
        if state.buckets:
            return dict(state.buckets)
        from aws.plans.build import bucket_for_region

        inventory = state.inventory
        account = inventory.identity.account if isinstance(inventory, Inventory) else ""
        return bucket_for_region(state.bucket_choice, account)

    def rebuild(self, *, select_needing: bool = False) -> None:
        state = self.flow_app.state
        inventory = state.inventory
        session = self.flow_app.session
        if not isinstance(inventory, Inventory) or session is None:
            self.rows = []
        else:
            self.rows = build_rows(
                session,
                inventory,
                state.log_choices,
                self.buckets,
                replace_non_s3=self.replace_non_s3,
                flow_log_ids=self.flow_log_ids,
                errors=self.errors,
                resources=self.resources if self.resources_kind == state.log_choices.resources else None,
            )
            if state.log_choices.resources != "vpc" and self.resources_kind != state.log_choices.resources:
                self.resources_kind = state.log_choices.resources
                self.resources = None
                self.list_resources(inventory, state.log_choices)
            if select_needing and not self.selected:
                self.selected.update(r.key for r in self.rows if r.kind != "region" and r.needs_action)
            keys = {r.key for r in self.rows}
            self.selected.intersection_update(keys)
        self.vpc_keys = {r.key for r in self.rows if r.kind in ("vpc", "resource")}
        self.firewall_keys = {r.key for r in self.rows if r.kind == "firewall"}
        self.needing = sum(r.needs_action for r in self.rows)
        self.compliant = sum(r.compliant for r in self.rows)
        self.table.ident_width = max([21, *(len(r.ident) for r in self.rows if r.kind == "resource")])
        self.table.set_rows(self.rows, filter_rows(self.rows, self.filter_text))
        self.show_header()
        self.show_counts()

    def show_header(self) -> None:
        state = self.flow_app.state
        line = self.query_one("#bucket-line", Static)
        if not isinstance(state.inventory, Inventory):
            line.update(
                Text(
                    "No scan yet: go back to Discovery (ctrl+b) and scan the account first.",
                    style=WARN_BOLD,
                )
            )
        elif state.bucket_choice is None:
            line.update(
                Text(
                    "No bucket yet: choose it first (ctrl+b). Until then: view only, Review is off.",
                    style=WARN_BOLD,
                )
            )
        else:
            choice = state.bucket_choice
            targets = sorted(set(self.buckets.values()))
            where = f" in {choice.central_region}" if choice.strategy == "central" else ""
            shown = ", ".join(targets[:2]) + (f" +{len(targets) - 2}" if len(targets) > 2 else "")
            line.update(Text(f"Bucket ({choice.strategy}{where}): {shown}", style=INFO_BOLD))
        c = state.log_choices
        on = "" if c.resources == "vpc" else f" on {RESOURCE_NOUN[c.resources]}s"
        seconds = 60 if c.resources == "tgw" else c.aggregation
        flow = f"Flow logs{on}: {seconds} s, prefix {c.prefix or '-'}, {29 + len(c.extra_fields)} fields" + (
            ", REPLACE old" if c.replace_existing else ""
        )
        if c.existing_destinations == "duplicate":
            flow += ", duplicate existing"
        fw = f"Firewalls: {'+'.join(c.firewall_logs)}, prefix {c.firewall_prefix or '-'}"
        if c.repoint_existing:
            fw += ", repoint S3"
        if self.replace_non_s3:
            fw += ", move CWL/KDF"
        self.query_one("#options-line", Static).update(Joined([flow, fw]))  # o (footer) edits them

    def show_counts(self) -> None:
        vpcs = len(self.selected & self.vpc_keys)
        fws = len(self.selected & self.firewall_keys)
        rows = self.rows
        shown = sum(1 for i in self.table.shown if rows[i].kind != "region")
        text = (
            f"Selected {vpcs + fws} ({vpcs} {KIND_SHORT[self.flow_app.state.log_choices.resources]}, {fws} FW) · needing action {self.needing} · "
            f"compliant {self.compliant} · shown {shown}/{len(self.vpc_keys) + len(self.firewall_keys)}"
        )
        self.query_one("#counts", Static).update(text, layout=False)

    @on(ChecklistTable.Highlighted)
    def show_detail(self, event: ChecklistTable.Highlighted) -> None:
        row = event.row
        detail = self.query_one("#detail", Static)
        if row is None:
            self.detail_text = Text(
                "Nothing to show." if not self.rows else "No row matches the filter (Esc clears)."
            )
            detail.update(self.detail_text, layout=False)
            return
        text = Text(no_wrap=False)
        if row.kind == "region":
            picked = sum(self.rows[i].key in self.selected for i in row.children)
            text.append(f"{row.name}\n", style=INFO_BOLD)
            text.append(f"{picked} of {len(row.children)} selected; space or r toggles the whole region.")
        else:
            kind = self.flow_app.state.log_choices.resources
            what = {"firewall": "Firewall", "vpc": "VPC"}.get(row.kind, RESOURCE_NOUN[kind].capitalize())
            text.append(f"{what} {row.name or row.ident} ({row.region}): ", style=INFO_BOLD)
            text.append(row.verdict, style=row.verdict_style)
            if row.kind == "firewall":
                text.append(f" · {row.ident}")
            if row.error:
                text.append(f"\nError: {row.error}", style=BAD_BOLD)
            elif row.flow_log_id:  # on the first line: the pane is five lines high at 80x24
                text.append(
                    f" · {row.flow_log_id}" + (" (created by this apply)" if row.new_flow_log else "")
                )
            text.append(f"\nPlan: {row.action_text}")
            if row.reason and row.reason != row.flow_log_id:
                text.append(f"\nWhy: {row.reason}")
        self.detail_text = text
        detail.update(Clamped(text, "(i: all)"), layout=False)

    def action_details(self) -> None:
        """The detail pane's text in full (its reasons may be cut to fit the pane)."""
        row = self.table.current
        title = "Checklist" if row is None else f"{row.name or row.ident} ({row.region})"
        self.app.push_screen(FullText(title, self.detail_text))

    # -- selection ------------------------------------------------------------------------------------
    def _shown_items(self) -> list[ChecklistRow]:
        return [self.rows[i] for i in self.table.shown if self.rows[i].kind != "region"]

    def _region_items(self, row: ChecklistRow) -> list[ChecklistRow]:
        visible = set(self.table.shown)
        head = self.rows[next(i for i in visible if self.rows[i].key == f"region:{row.region}")]
        return [self.rows[i] for i in head.children if i in visible]

    def _set(self, items: list[ChecklistRow], on: bool) -> None:
        for row in items:
            if on:
                self.selected.add(row.key)
            else:
                self.selected.discard(row.key)
        self.table.refresh()
        self.show_counts()
        self.post_message(ChecklistTable.Highlighted(self.table.current))

    def action_toggle_row(self) -> None:
        row = self.table.current
        if row is None:
            return
        if row.kind == "region":
            self.action_toggle_region()
            return
        self._set([row], row.key not in self.selected)

    def action_toggle_region(self) -> None:
        row = self.table.current
        if row is None:
            return
        items = self._region_items(row)
        self._set(items, not all(r.key in self.selected for r in items))

    def action_select_all(self) -> None:
        self._set(self._shown_items(), True)

    def action_select_none(self) -> None:
        self._set(self._shown_items(), False)

    def action_select_needing(self) -> None:
        items = self._shown_items()
        self._set([r for r in items if not r.needs_action], False)
        self._set([r for r in items if r.needs_action], True)

    @on(ChecklistTable.Clicked)
    def clicked(self, event: ChecklistTable.Clicked) -> None:
        self.action_toggle_row()

    # -- filter ---------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.table.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        current = self.table.current
        self.table.show(filter_rows(self.rows, self.filter_text), keep=current.key if current else None)
        self.show_counts()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.table.focus()

    # -- options --------------------------------------------------------------------------------------
    def action_options(self) -> None:
        options = ChecklistOptions(self.flow_app.state.log_choices, self.replace_non_s3)
        self.app.push_screen(OptionsDialog(options), self.options_saved)

    def options_saved(self, options: ChecklistOptions | None) -> None:
        if options is None:
            return
        changed = options.choices.resources != self.flow_app.state.log_choices.resources
        self.flow_app.state.log_choices = options.choices
        self.replace_non_s3 = options.replace_non_s3
        if changed:
            self.selected.difference_update(self.vpc_keys)
        self.rebuild()
        if changed:
            self.select_needing_flow_rows()

    # -- review and apply -----------------------------------------------------------------------------
    def action_review(self) -> None:
        state = self.flow_app.state
        session = self.flow_app.session
        if not isinstance(state.inventory, Inventory) or session is None:
            self.flow_app.notify("Scan the account first (Discovery, ctrl+b).", severity="warning")
            return
        if state.bucket_choice is None:
            self.flow_app.notify(
                "Choose the bucket first (ctrl+b): the flow logs and firewall logs need a destination.",
                title="No bucket",
                severity="warning",
            )
            return
        if self.building:
            return
        vpcs = [r.key for r in self.rows if r.kind in ("vpc", "resource") and r.key in self.selected]
        if state.log_choices.resources != "vpc" and self.resources is None:
            self.flow_app.notify("Still listing the resources; try again in a moment.")
            return
        firewalls = [(r.region, r.name) for r in self.rows if r.kind == "firewall" and r.key in self.selected]
        if not vpcs and not firewalls:
            self.flow_app.notify("Nothing selected: space toggles a row, e selects what needs action.")
            return
        # Every source is judged (its bucket may join Kentik's read set); the selection decides what changes.
        state.log_choices = state.log_choices.model_copy(
            update={
                "selected": sorted(vpcs),
                "firewall_selected": sorted(f"{region}/{name}" for region, name in firewalls),
                "firewalls": True,
                "replace_non_s3": self.replace_non_s3,
            }
        )
        self.building = True
        self.query_one("#detail", Static).update("Building the plan (read calls only)…")
        self.run_review(state.inventory, state.bucket_choice, state.log_choices)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checklist-plan")
    def run_review(self, inventory: Inventory, bucket: BucketChoice, choices: LogChoices) -> None:
        try:
            build = build_plan(self.flow_app.require_session(), inventory, bucket, choices)
        finally:
            self.building = False
        self.post_message(PlanReady(build))

    def on_plan_ready(self, message: PlanReady) -> None:
        self.plan = message.build.plan
        state = self.flow_app.state
        state.read_set = message.build.read_set  # the IAM step, verify and the summary read every location
        state.kms_keys = list(message.build.kms_keys)
        self.post_message(ChecklistTable.Highlighted(self.table.current))
        self.app.push_screen(
            PlanReview(
                message.build.plan,
                title="Flow logs and firewall logging",
                step=self.STEP,
                warnings=message.build.warnings,
                notes=message.build.notes,
            ),
            self.review_closed,
        )

    def _collect_ids(self, plan: Plan, report: ApplyReport) -> list[Any]:
        """Take the flow log ids and per-resource errors of an apply; return its satisfied creates."""
        by_id = {c.id: c for c in plan.changes}
        satisfied = []
        for result in report.results:
            change = by_id.get(result.change_id)
            if change is None or change.kind != CREATE_KIND:
                continue
            ids = result.outputs.get("flow_log_ids") or {}
            errors = result.outputs.get("errors") or {}
            self.flow_log_ids.update(ids)
            for rid in change.params.get("ResourceIds", []):
                if rid in ids:
                    self.errors.pop(rid, None)
                elif rid in errors:
                    self.errors[rid] = errors[rid]
                elif result.status == "failed":
                    self.errors[rid] = result.detail
            if result.status == "satisfied":
                satisfied.append(change)
        return satisfied

    def review_closed(self, report: ApplyReport | None) -> None:
        plan = self.plan
        if report is None or plan is None:
            return
        satisfied = self._collect_ids(plan, report)
        self.rebuild()
        regions = sorted({c.region for c in plan.changes if c.group in ("flowlogs", "firewall")})
        if regions and self.flow_app.session is not None:
            self.query_one("#detail", Static).update(f"Rescanning {', '.join(regions)} for fresh verdicts…")
            self.run_rescan(regions, satisfied)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checklist-rescan")
    def run_rescan(self, regions: list[str], satisfied: list[Any]) -> None:
        session = self.flow_app.require_session()
        ids: dict[str, str] = {}
        for change in satisfied:
            ids.update(current_flow_log_ids(session, change))
        fresh = scan(session, include=regions, workers=min(len(regions), 8))
        self.post_message(RegionsRescanned([r for r in fresh.regions if r.name in regions], ids))

    def on_regions_rescanned(self, message: RegionsRescanned) -> None:
        state = self.flow_app.state
        inventory = state.inventory
        if not isinstance(inventory, Inventory):
            return
        fresh = {r.name: r for r in message.regions if r.scanned}
        state.inventory = inventory.model_copy(
            update={"regions": [fresh.get(r.name, r) for r in inventory.regions]}
        )
        self.flow_log_ids.update(message.flow_log_ids)
        if state.log_choices.resources != "vpc":
            self.resources_kind = "vpc"  # list again: their flow logs' verdicts changed
        self.rebuild()
        self.flow_app.notify(f"Verdicts refreshed for {plural(len(fresh), 'region')}.", title="Checklist")

    # -- subnets, ENIs, transit gateways ----------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="checklist-resources")
    def list_resources(self, inventory: Inventory, choices: LogChoices) -> None:
        session = self.flow_app.require_session()
        regions = [r.name for r in inventory.scanned_regions]
        every = choices.model_copy(update={"include": None, "exclude": []})
        kentik = ReadSet.of_buckets(sorted(set(self.flow_app.state.buckets.values())))
        judge = default_judge(inventory, kentik, every)
        self.post_message(
            ResourcesListed(choices.resources, resource_targets(session, inventory, every, regions, judge))
        )

    def on_resources_listed(self, message: ResourcesListed) -> None:
        if message.kind != self.flow_app.state.log_choices.resources:
            return  # the user switched again meanwhile
        self.resources_kind = message.kind
        self.resources = message.resources
        self.rebuild()
        self.select_needing_flow_rows()

    def select_needing_flow_rows(self) -> None:
        """After a switch of resource kind: select the new flow log rows that need action (the default)."""
        self._set([r for r in self.rows if r.key in self.vpc_keys and r.needs_action], True)
