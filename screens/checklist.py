"""Step 3: the checklist of VPCs and Network Firewalls: what each needs, choose, review, apply.

Rows come from discovery's inventory, grouped by region: VPC rows (verdict, reason, and what the plan
would do, from `aws.flowlogs.flowlog_action`) and firewall rows (FLOW/ALERT status against the chosen
bucket, and the logging steps `aws.firewall.firewall_changes` would take). The table is virtualised
(`ChecklistTable`), so 2,000 VPCs filter and toggle without lag.

Review builds the plan for the selected resources in a worker with `aws.planner.build_plan` — the same
code `flowlogs plan` runs — so the bucket part is included only while the chosen bucket still lacks
something (it is empty once the bucket step was applied; a new log prefix adds its bucket-policy
statement, as the CLI does). The firewall part is added with `firewall_changes` directly because
`LogChoices` has no "move CloudWatch/Firehose destinations to S3" option. After apply, the AWS-assigned
flow log ids appear in the rows and the affected regions are rescanned for fresh verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, SelectionList, Static

from aws.buckets import BucketChoice
from aws.coverage import ReadSet, SourceCoverage
from aws.discovery import scan
from aws.errors import ValidationFailed
from aws.firewall import (
    REMOVE_KIND,
    FirewallOptions,
    FirewallTarget,
    assess_firewall,
    firewall_changes,
)
from aws.flowlog_format import EXTRA_FIELDS
from aws.flowlogs import (
    ACTION_TEXT,
    AGGREGATION_HELP,
    CREATE_KIND,
    FlowLogOptions,
    FlowLogTarget,
    current_flow_log_ids,
    flowlog_action,
)
from aws.inventory import Firewall, Inventory, RegionResult, Verdict, Vpc
from aws.names import firewall_prefix as validate_firewall_prefix
from aws.names import flowlog_prefix as validate_flowlog_prefix
from aws.plan import ApplyReport, Plan
from aws.planner import (
    RESOURCE_NOUN,
    LogChoices,
    PlanBuild,
    ResourceKind,
    ResourceTarget,
    build_plan,
    default_judge,
    firewall_coverage,
    firewall_options,
    firewall_targets,
    flow_targets,
    resource_targets,
)
from aws.session import AwsSession
from screens.base import WizardScreen
from screens.checklist_table import ChecklistRow, ChecklistTable
from screens.discovery import VERDICT_STYLE
from tui.plan_view import PlanReview

ACTION_LABEL = {"none": "none", "create": "create", "add-beside": "add beside", "replace": "replace"}
_DEST_SHORT = {"CloudWatchLogs": "CWL", "KinesisDataFirehose": "KDF", "S3": "S3"}
_STATUS_SHORT = {"ok": "S3✓", "missing": "off", "other-s3": "S3≠"}
KIND_SHORT: dict[str, str] = {"vpc": "VPC", "subnet": "subnet", "eni": "ENI", "tgw": "TGW"}
RESOURCE_OPTIONS: tuple[tuple[ResourceKind, str], ...] = (
    ("vpc", "VPCs (default)"),
    ("subnet", "Subnets (of the scanned VPCs)"),
    ("eni", "Network interfaces (of the scanned VPCs)"),
    ("tgw", "Transit gateways (AWS: always 60 s, no traffic type)"),
)


# -- building the rows (pure: no AWS calls) -----------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _firewall_status(fw: Firewall) -> dict[str, str]:
    """Short per-log-type status from discovery alone (no bucket chosen)."""
    out = {}
    for status in (fw.flow, fw.alert):
        if status.to_s3:
            out[status.log_type] = "S3"
        elif status.other:
            kinds = {d.destination_type for d in fw.destinations if d.log_type == status.log_type}
            out[status.log_type] = "/".join(sorted(_DEST_SHORT.get(k, k) for k in kinds)) or "other"
        else:
            out[status.log_type] = "off"
    return out


def firewall_row(
    region: str, fw: Firewall, target: FirewallTarget, options: FirewallOptions | None
) -> ChecklistRow:
    label, style = VERDICT_STYLE[fw.verdict]
    reason = "; ".join(r.message for r in fw.reasons) or fw.error or "FLOW and ALERT go to S3"
    if options is None:  # no bucket yet: discovery's view only
        status = _firewall_status(fw)
        steps = [f"+{t}" for t, s in status.items() if s == "off"]
        action_text = (
            "choose the bucket first (ctrl+b) to plan its logging" if steps else "nothing: already in S3"
        )
    else:
        assessment = assess_firewall(target, options)
        status = {}
        for item in assessment.types:
            if item.status == "non-s3":
                kind = (item.current or {}).get("LogDestinationType", "")
                status[item.log_type] = _DEST_SHORT.get(kind, kind)
            else:
                status[item.log_type] = _STATUS_SHORT[item.status]
        changes = firewall_changes([target], options)
        steps = []
        for change in changes:
            log_type = change.id.rsplit(":", 1)[-1]
            if change.kind == REMOVE_KIND:
                steps.append(f"move {log_type}")
            elif change.destructive:
                steps.append(f"repoint {log_type}")
            elif f"move {log_type}" not in steps:
                steps.append(f"+{log_type}")
        kept = [t.note for t in assessment.conflicts if not any(s.endswith(t.log_type) for s in steps)]
        parts = [c.title for c in changes] or ["nothing to change"]
        action_text = "; ".join(parts + [f"kept: {n} (o: options)" for n in kept])
    ident = " ".join(f"{t} {s}" for t, s in status.items())
    return ChecklistRow(
        key=f"fw:{region}:{fw.name}",
        kind="firewall",
        region=region,
        name=fw.name,
        ident=ident,
        verdict=label,
        verdict_style=style,
        action=" ".join(steps) or "none",
        action_text=action_text,
        needs_action=bool(steps),
        compliant=fw.verdict is Verdict.COMPLIANT,
        reason=reason,
    )


def build_rows(
    session: AwsSession,
    inventory: Inventory,
    choices: LogChoices,
    buckets: dict[str, str],
    *,
    replace_non_s3: bool = False,
    flow_log_ids: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    resources: list[ResourceTarget] | None = None,
) -> list[ChecklistRow]:
    """The checklist rows: per scanned region with resources, a region row, its VPCs, its firewalls.

    With `choices.resources` other than "vpc", the flow log rows are `resources` (subnets, ENIs or transit
    gateways, listed by `aws.planner.resource_targets` in a worker; None while not listed yet)."""
    flow_log_ids = flow_log_ids or {}
    errors = errors or {}
    kind = choices.resources
    by_region: dict[str, list[ResourceTarget]] = {}
    for res in resources or []:
        by_region.setdefault(res.target.region, []).append(res)
    regions = [
        r
        for r in inventory.scanned_regions
        if r.firewalls or (r.vpcs if kind == "vpc" or resources is None else by_region.get(r.name))
    ]
    names = [r.name for r in regions]
    judge = default_judge(inventory, ReadSet.of_buckets(sorted(set(buckets.values()))), choices)
    every = LogChoices(existing_destinations=choices.existing_destinations)
    targets = {t.resource_id: t for t in flow_targets(session, inventory, every, names, judge)}
    fw_list = firewall_targets(inventory, every, names)
    fw_targets = {(t.region, t.name): t for t in fw_list}
    firewall_coverage(judge, fw_list, choices)  # existing destinations join the read set
    coverage = {d.source: d for d in judge.decisions}
    flow_opts = FlowLogOptions(buckets=buckets, replace_existing=choices.replace_existing)
    rows: list[ChecklistRow] = []
    for region in regions:
        bucket = buckets.get(region.name)
        fw_opts = firewall_options(judge.read_set, choices, buckets, replace_non_s3) if bucket else None
        where = f"→ s3://{bucket}/{choices.prefix}" if bucket else "→ no bucket chosen"
        if kind == "vpc":
            counted = _plural(len(region.vpcs), "VPC")
        elif resources is None:
            counted = f"listing {RESOURCE_NOUN[kind]}s…"
        else:
            counted = _plural(len(by_region.get(region.name, [])), RESOURCE_NOUN[kind])
        head = ChecklistRow(
            key=f"region:{region.name}",
            kind="region",
            region=region.name,
            name=f"{region.name}  {counted}, {_plural(len(region.firewalls), 'firewall')}  {where}",
        )
        rows.append(head)
        vpc_names = {v.vpc_id: v.name or ("(default VPC)" if v.is_default else v.vpc_id) for v in region.vpcs}
        listed = sorted(
            by_region.get(region.name, []) if kind != "vpc" else [],
            key=lambda r: (vpc_names.get(r.vpc_id, r.vpc_id), r.vpc_id, r.name, r.target.resource_id),
        )
        for res in listed:  # a VPC's subnets/ENIs together, under its name
            head.children.append(len(rows))
            rows.append(resource_row(res, vpc_names, flow_opts, bucket, choices.prefix, flow_log_ids, errors))
        for vpc in region.vpcs if kind == "vpc" else []:
            head.children.append(len(rows))
            rows.append(
                vpc_row(
                    region.name,
                    vpc,
                    targets.get(vpc.vpc_id),
                    coverage.get(vpc.vpc_id),
                    flow_opts,
                    bucket,
                    choices.prefix,
                    flow_log_ids,
                    errors,
                )
            )
        for fw in region.firewalls:
            head.children.append(len(rows))
            rows.append(firewall_row(region.name, fw, fw_targets[(region.name, fw.name)], fw_opts))
    return rows


COVERAGE_LABEL: dict[str, tuple[str, str]] = {
    "covered": ("compliant", "green"),
    "read": ("read set", "green"),
    "duplicate": ("other bkt", "yellow"),
    "not-owned": ("not owned", "magenta"),
}


def vpc_row(
    region: str,
    vpc: Vpc,
    target: FlowLogTarget | None,
    coverage: SourceCoverage | None,
    flow_opts: FlowLogOptions,
    bucket: str | None,
    prefix: str,
    flow_log_ids: Mapping[str, str],
    errors: Mapping[str, str],
) -> ChecklistRow:
    """A VPC row, judged by coverage: compliant only when Kentik reads where its flow log goes."""
    decision = coverage.decision if coverage else "new"
    label, style = COVERAGE_LABEL.get(decision) or VERDICT_STYLE[vpc.verdict]
    action = flowlog_action(target, flow_opts) if target is not None else "none"
    if target is None:  # another account owns it: nothing to plan here
        text = coverage.reason if coverage else "not planned"
    elif decision == "read" and coverage is not None:
        text = f"nothing: Kentik will read s3://{coverage.bucket}/{coverage.prefix + '/' if coverage.prefix else ''}"
    else:
        text = ACTION_TEXT[action]
        if action != "none" and bucket:
            text += f" → s3://{bucket}/{prefix}"
        elif action != "none":
            text += " (choose the bucket first: ctrl+b)"
    reason = coverage.reason if coverage and decision != "new" else "; ".join(r.message for r in vpc.reasons)
    return ChecklistRow(
        key=vpc.vpc_id,
        kind="vpc",
        region=region,
        name=vpc.name or ("(default VPC)" if vpc.is_default else ""),
        ident=vpc.vpc_id,
        verdict=label,
        verdict_style=style,
        action=ACTION_LABEL[action],
        action_text=text,
        needs_action=action != "none",
        compliant=decision in ("covered", "read"),
        reason=reason,
        flow_log_id=flow_log_ids.get(vpc.vpc_id) or (coverage.flow_log_id if coverage else "") or "",
        new_flow_log=vpc.vpc_id in flow_log_ids,
        error=errors.get(vpc.vpc_id, ""),
    )


def resource_row(
    res: ResourceTarget,
    vpc_names: Mapping[str, str],
    flow_opts: FlowLogOptions,
    bucket: str | None,
    prefix: str,
    flow_log_ids: Mapping[str, str],
    errors: Mapping[str, str],
) -> ChecklistRow:
    """A subnet, ENI or transit gateway row; subnets and ENIs are named after their VPC."""
    target = res.target
    label, style = VERDICT_STYLE[Verdict(target.verdict)]
    action = flowlog_action(target, flow_opts)
    text = ACTION_TEXT[action]
    if action != "none" and bucket:
        text += f" → s3://{bucket}/{prefix}"
    elif action != "none":
        text += " (choose the bucket first: ctrl+b)"
    if res.vpc_id:
        where = vpc_names.get(res.vpc_id, res.vpc_id)
        short = res.name.removeprefix(f"{where}-") if where != res.vpc_id else res.name
        name = f"{where} › {short}" if short else where
    else:
        name = res.name
    rid = target.resource_id
    return ChecklistRow(
        key=rid,
        kind="resource",
        region=target.region,
        name=name,
        ident=rid,
        verdict=label,
        verdict_style=style,
        action=ACTION_LABEL[action],
        action_text=text,
        needs_action=action != "none",
        compliant=target.verdict == "compliant",
        reason="; ".join(target.reasons) or (f"in {res.vpc_id}" if res.vpc_id else ""),
        flow_log_id=flow_log_ids.get(rid, ""),
        new_flow_log=rid in flow_log_ids,
        error=errors.get(rid, ""),
    )


def filter_rows(rows: list[ChecklistRow], needle: str) -> list[int]:
    """Indexes of the rows to show: matching rows, each under its region row."""
    needle = needle.strip().lower()
    if not needle:
        return list(range(len(rows)))
    shown: list[int] = []
    for index, row in enumerate(rows):
        if row.kind != "region":
            continue
        hits = [i for i in row.children if needle in rows[i].haystack]
        if hits:
            shown.append(index)
            shown.extend(hits)
    return shown


# -- the plan -------------------------------------------------------------------------------------------


def checklist_plan(
    session: AwsSession,
    inventory: Inventory,
    bucket: BucketChoice,
    choices: LogChoices,
    *,
    vpcs: Iterable[str],
    firewalls: Iterable[tuple[str, str]],
    replace_non_s3: bool = False,
    regions: Mapping[str, str] | None = None,
) -> PlanBuild:
    """The plan for the selected VPCs and (region, name) firewalls only. Read calls only.

    With `choices.resources` other than "vpc", `vpcs` are the selected subnet, ENI or transit gateway ids
    and `regions` maps every listed one (selected or not) to its region.

    `build_plan` (the CLI's planner) makes the whole plan; its bucket part is empty when the bucket is
    already set up. Every source is judged, so existing destinations of unselected sources still join the
    read set; only the selected ones get changes (nothing selected: no flow log or firewall change).
    """
    picked = set(vpcs)
    region_of = dict(regions) if regions is not None else {v.vpc_id: r for r, v in inventory.vpcs()}
    prefixes = list(
        dict.fromkeys([*bucket.prefixes, *(p for p in (choices.prefix, choices.firewall_prefix) if p)])
    )
    bucket = bucket.model_copy(update={"prefixes": prefixes})
    covered = set(bucket.regions) | ({bucket.central_region} if bucket.strategy == "central" else set())
    outside = sorted(v for v in picked if region_of.get(v) not in covered)
    picked -= set(outside)
    wanted = set(firewalls)
    logs = choices.model_copy(
        update={"include": [], "exclude": [], "firewalls": True, "replace_non_s3": replace_non_s3}
    )
    build = build_plan(session, inventory, bucket, logs, firewall_pick=wanted, flow_pick=picked)
    fw_outside = sorted(f"{name} ({region})" for region, name in wanted if region not in build.buckets)
    build.plan.settings["logs"] = logs.model_dump() | {
        "firewalls": bool(wanted),
        "firewall_selection": sorted(f"{r}/{n}" for r, n in wanted),
        "replace_non_s3": replace_non_s3,
    }
    if outside or fw_outside:
        build.warnings.append(
            "Not in this plan, their region has no bucket in the chosen strategy: "
            + ", ".join([*outside, *fw_outside])
        )
    return build


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


# -- the options dialog ---------------------------------------------------------------------------------


@dataclass
class ChecklistOptions:
    choices: LogChoices
    replace_non_s3: bool


class OptionsDialog(ModalScreen[ChecklistOptions | None]):
    """Flow log and firewall options. Enter or ctrl+s saves (when valid), Esc cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="checklist.options_save"),
        Binding("escape", "cancel", "Cancel", id="checklist.options_cancel"),
    ]
    DEFAULT_CSS = """
    OptionsDialog { align: center middle; }
    OptionsDialog > Vertical { width: 90; max-width: 100%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1; }
    OptionsDialog #fields { height: 1fr; }
    OptionsDialog Label { margin-top: 1; text-style: bold; }
    OptionsDialog .help { color: $text-muted; }
    OptionsDialog SelectionList { height: auto; max-height: 6; }
    OptionsDialog #problems { color: $error; height: auto; }
    OptionsDialog .danger { color: $warning; }
    """

    def __init__(self, options: ChecklistOptions) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Checklist options[/b]  (Tab moves, Enter/ctrl+s saves, Esc cancels)")
            yield Static("", id="problems", markup=False)
            yield from self.fields()

    def fields(self) -> ComposeResult:
        c = self.options.choices
        with VerticalScroll(id="fields"):
            yield Label("Flow logs on")
            with RadioSet(id="resources", compact=True):
                for kind, text in RESOURCE_OPTIONS:
                    yield RadioButton(text, value=c.resources == kind, id=f"res-{kind}")
            yield Label("Complete logs already going to another bucket of this account")
            with RadioSet(id="existing", compact=True):
                yield RadioButton(
                    "Kentik reads that bucket too (default; read only; one more Kentik device each)",
                    value=c.existing_destinations == "read",
                    id="existing-read",
                )
                yield RadioButton(
                    "Add a flow log to Kentik's bucket beside it (a second vended-log charge)",
                    value=c.existing_destinations == "duplicate",
                    id="existing-duplicate",
                )
            yield Label("Flow log S3 prefix (optional, e.g. vpc-flow-logs/)")
            yield Input(c.prefix, placeholder="no prefix", id="prefix", compact=True)
            yield Label("Aggregation interval")
            with RadioSet(id="aggregation", compact=True):
                yield RadioButton("600 s (default)", value=c.aggregation == 600, id="agg-600")
                yield RadioButton("60 s", value=c.aggregation == 60, id="agg-60")
            yield Static(AGGREGATION_HELP, classes="help", markup=False)
            yield Label("Extra fields (opt-in, added after the 29 v2-v5 fields)")
            yield SelectionList[str](*[(f, f, f in c.extra_fields) for f in EXTRA_FIELDS], id="extra")
            yield Checkbox(
                "Replace old non-compliant flow logs (DESTRUCTIVE: deletes them)",
                c.replace_existing,
                id="replace",
                classes="danger",
                compact=True,
            )
            yield Label("Firewall S3 prefix (optional, e.g. firewall-logs/)")
            yield Input(c.firewall_prefix, placeholder="no prefix", id="fw-prefix", compact=True)
            yield Checkbox("Also send TLS logs (optional)", "TLS" in c.firewall_logs, id="tls", compact=True)
            yield Checkbox(
                "Repoint FLOW/ALERT logs that go to another S3 location (destructive)",
                c.repoint_existing,
                id="repoint",
                classes="danger",
                compact=True,
            )
            yield Checkbox(
                "Move FLOW/ALERT logs from CloudWatch Logs/Firehose to S3 (destructive)",
                self.options.replace_non_s3,
                id="move",
                classes="danger",
                compact=True,
            )

    def collect(self) -> tuple[ChecklistOptions | None, list[str]]:
        prefix = self.query_one("#prefix", Input).value.strip()
        fw_prefix = self.query_one("#fw-prefix", Input).value.strip()
        problems = []
        for check, value in ((validate_flowlog_prefix, prefix), (validate_firewall_prefix, fw_prefix)):
            try:
                check(value)
            except ValidationFailed as err:
                problems.append(f"{err.message} {err.hint}".strip())
        if problems:
            return None, problems
        logs: list[Any] = ["FLOW", "ALERT"] + (["TLS"] if self.query_one("#tls", Checkbox).value else [])
        kind = next((k for k, _ in RESOURCE_OPTIONS if self.query_one(f"#res-{k}", RadioButton).value), "vpc")
        choices = self.options.choices.model_copy(
            update={
                "resources": kind,
                "prefix": prefix,
                "aggregation": 60 if self.query_one("#agg-60", RadioButton).value else 600,
                "extra_fields": [
                    f for f in EXTRA_FIELDS if f in self.query_one("#extra", SelectionList).selected
                ],
                "replace_existing": self.query_one("#replace", Checkbox).value,
                "firewall_prefix": fw_prefix,
                "firewall_logs": logs,
                "repoint_existing": self.query_one("#repoint", Checkbox).value,
                "existing_destinations": "duplicate"
                if self.query_one("#existing-duplicate", RadioButton).value
                else "read",
            }
        )
        return ChecklistOptions(choices, self.query_one("#move", Checkbox).value), []

    @on(Input.Changed)
    def validate_live(self) -> None:
        _, problems = self.collect()
        self.query_one("#problems", Static).update("\n".join(problems))

    @on(Input.Submitted)
    def action_save(self) -> None:
        options, problems = self.collect()
        if options is None:
            self.query_one("#problems", Static).update("\n".join(problems))
            return
        self.dismiss(options)

    def action_cancel(self) -> None:
        self.dismiss(None)


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
    ]
    DEFAULT_CSS = """
    ChecklistScreen #bucket-line { height: 1; padding: 0 1; }
    ChecklistScreen #options-line { height: 1; padding: 0 1; color: $text-muted; }
    ChecklistScreen #counts { height: 1; padding: 0 1; text-style: bold; }
    ChecklistScreen #filter { display: none; height: 1; border: none; padding: 0 1; }
    ChecklistScreen #filter.visible { display: block; }
    ChecklistScreen #detail { height: 3; padding: 0 1; border-top: solid $primary; }
    ChecklistScreen #keys { height: 1; padding: 0 1; color: $text-muted; }
    ChecklistScreen.-wide #detail { height: 5; }
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
                "r region · a all · n none · e needing action (a/n/e: on the rows shown)",
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

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 120, "-wide")

    # -- data -----------------------------------------------------------------------------------------
    @property
    def buckets(self) -> dict[str, str]:
        """Source region -> bucket, from the bucket step (never made up here)."""
        state = self.flow_app.state
        if state.bucket_choice is None:
            return {}
        if state.buckets:
            return dict(state.buckets)
        from aws.planner import bucket_for_region

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
                    style="bold yellow",
                )
            )
        elif state.bucket_choice is None:
            line.update(
                Text(
                    "No bucket chosen: choose the bucket first (ctrl+b). Read-only view; Review is off.",
                    style="bold yellow",
                )
            )
        else:
            choice = state.bucket_choice
            targets = sorted(set(self.buckets.values()))
            where = f" in {choice.central_region}" if choice.strategy == "central" else ""
            shown = ", ".join(targets[:2]) + (f" +{len(targets) - 2}" if len(targets) > 2 else "")
            line.update(Text(f"Bucket ({choice.strategy}{where}): {shown}", style="bold"))
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
        self.query_one("#options-line", Static).update(f"{flow} │ {fw}  (o: options)")

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
            detail.update(
                "Nothing to show." if not self.rows else "No row matches the filter (Esc clears).",
                layout=False,
            )
            return
        text = Text(no_wrap=False)
        if row.kind == "region":
            picked = sum(self.rows[i].key in self.selected for i in row.children)
            text.append(f"{row.name}\n", style="bold")
            text.append(f"{picked} of {len(row.children)} selected; space or r toggles the whole region.")
        else:
            kind = self.flow_app.state.log_choices.resources
            what = {"firewall": "Firewall", "vpc": "VPC"}.get(row.kind, RESOURCE_NOUN[kind].capitalize())
            text.append(f"{what} {row.name or row.ident} ({row.region}): ", style="bold")
            text.append(row.verdict, style=row.verdict_style)
            if row.kind == "firewall":
                text.append(f" · {row.ident}")
            if row.error:
                text.append(f"\nError: {row.error}", style="bold red")
            elif row.flow_log_id:  # on the first line: the pane is three lines high at 80x24
                text.append(
                    f" · {row.flow_log_id}" + (" (created by this apply)" if row.new_flow_log else "")
                )
            text.append(f"\nPlan: {row.action_text}")
            if row.reason and row.reason != row.flow_log_id:
                text.append(f"\nWhy: {row.reason}")
        detail.update(text, layout=False)

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
        state.log_choices = state.log_choices.model_copy(
            update={
                "include": sorted(vpcs),
                "firewall_include": sorted({name for _, name in firewalls}),
                "firewalls": bool(firewalls),
            }
        )
        self.building = True
        self.query_one("#detail", Static).update("Building the plan (read calls only)…")
        regions = (
            {r.key: r.region for r in self.rows if r.kind == "resource"}
            if state.log_choices.resources != "vpc"
            else None
        )
        self.run_review(state.inventory, state.bucket_choice, state.log_choices, vpcs, firewalls, regions)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checklist-plan")
    def run_review(
        self,
        inventory: Inventory,
        bucket: BucketChoice,
        choices: LogChoices,
        vpcs: list[str],
        firewalls: list[tuple[str, str]],
        regions: dict[str, str] | None = None,
    ) -> None:
        try:
            session = self.flow_app.session
            assert session is not None
            build = checklist_plan(
                session,
                inventory,
                bucket,
                choices,
                vpcs=vpcs,
                firewalls=firewalls,
                replace_non_s3=self.replace_non_s3,
                regions=regions,
            )
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
        session = self.flow_app.session
        assert session is not None
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
        self.flow_app.notify(f"Verdicts refreshed for {_plural(len(fresh), 'region')}.", title="Checklist")

    # -- subnets, ENIs, transit gateways ----------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="checklist-resources")
    def list_resources(self, inventory: Inventory, choices: LogChoices) -> None:
        session = self.flow_app.session
        assert session is not None
        regions = [r.name for r in inventory.scanned_regions]
        every = choices.model_copy(update={"include": [], "exclude": []})
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
