"""Step 2: bucket strategy and bucket set-up.

The spec's "Local buckets vs centralized bucket" comparison made concrete with this account's figures
(from the discovered inventory), the recommendation and its reasons, and the user's choice: strategy,
bucket name or `{region}` template (checked once typing pauses, every broken naming rule named) or, in
the account-regional namespace (the suggestion), a name prefix that becomes
`{prefix}-{account}-{region}-an` in each bucket region, the central bucket's region, encryption (SSE-S3,
or SSE-KMS with a customer-managed key picked from the bucket's region), and an optional lifecycle rule.
"Preview" plans the bucket Changes in a worker and opens the shared plan review, where the user applies
them. Every verdict and the status line are computed from the form as it is (`update_form`); the status
says what the next steps get (the previewed choice), and leaving for them with anything else says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    SelectionList,
    Static,
)
from textual.widgets.selection_list import Selection
from textual.worker import Worker, WorkerState

from aws.inventory import Inventory
from aws.limits import MAX_LIFECYCLE_DAYS
from aws.names import account_regional_suffix, parse_kms_key_arn
from aws.plans.build import bucket_for_region, build_bucket_plan, resources_by_region
from aws.plans.change import ApplyReport, Plan
from aws.s3.kms import KmsKey, list_keys_by_region
from aws.s3.setup import BucketSetup
from aws.s3.strategy import BucketChoice, StrategyComparison, compare_strategies, validate_choice
from screens.base import WizardScreen
from tui.layout import WIDE
from tui.palette import BAD, INFO, OK, OK_BOLD, WARN
from tui.plan_view import PlanReview
from tui.widgets import MarkedCheckbox, MarkedRadio, MarkedSelectionList
from tui.words import count

SUGGESTED = {"central": "kentik-flowlogs-{account}", "regional": "kentik-flowlogs-{account}-{region}"}
# The suggestion: a prefix in the account-regional namespace (kentik-flowlogs-ACCOUNT-REGION-an).
SUGGESTED_PREFIX = "kentik-flowlogs"
NAME_PLACEHOLDER = {True: "name prefix, e.g. kentik-flowlogs", False: "name, or template with {region}"}
DEFAULT_LIFECYCLE_DAYS = "30"
STRATEGY_TITLE = {"central": "Central bucket", "regional": "Regional buckets"}
CHECK_DELAY = 0.2  # seconds without a key before what was typed is checked
VERDICT_OF = {"bucket": "#name-problems", "kms-keys": "#kms-box", "lifecycle-days": "#lifecycle-problems"}


@dataclass
class KeysLoaded(Message):
    keys: dict[str, list[KmsKey]]  # region -> customer-managed keys


@dataclass
class KeysFailed(Message):
    regions: list[str]


@dataclass
class PreviewReady(Message):
    choice: BucketChoice
    setup: BucketSetup
    plan: Plan


def _geo(region: str) -> str:
    return region.split("-", 1)[0]


def _by_geography(regions: Iterable[str]) -> str:
    """'eu: 5, ap: 6' — regions counted by geography, in first-seen order."""
    counts: dict[str, int] = {}
    for region in regions:
        counts[_geo(region)] = counts.get(_geo(region), 0) + 1
    return ", ".join(f"{geo} {n}" for geo, n in counts.items())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _region(key_arn: str) -> str:
    return (parse_kms_key_arn(key_arn) or ("", ""))[1]


def _same(a: BucketChoice | None, b: BucketChoice | None) -> bool:
    """The same choice but for the log prefixes (the checklist's, which its own plan adds to the buckets)."""
    drop: dict[str, list[str]] = {"prefixes": []}
    return a is not None and b is not None and a.model_copy(update=drop) == b.model_copy(update=drop)


def _show(widget: Static, content: str | Text) -> None:
    """Update only on a change: each update lays the whole form out again."""
    if widget.content != content:
        widget.update(content)


class Verdict(Static):
    """A field's verdict, kept in view with its focused field when it grows (the form scrolls at 80x24)."""

    def on_resize(self) -> None:
        field = self.screen.focused
        if field is not None and VERDICT_OF.get(field.id or "") == f"#{self.id}":
            self.scroll_visible(animate=False)


def comparison_renderable(comparison: StrategyComparison, *, wide: bool) -> RenderableType:
    """The strategy table for this account: compact (80 columns) or full (wide screens)."""
    central, regional = comparison.central, comparison.regional
    home = central.buckets[0].region if central.buckets else ""
    total_vpcs = sum(b.vpcs for b in regional.buckets)
    total_fw = sum(b.firewalls for b in regional.buckets)
    busiest = max(regional.buckets, key=lambda b: b.vpcs, default=None)
    far = [r for r in central.cross_region if _geo(r) != _geo(home)]
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("", style="bold", no_wrap=True)
    for option in (central, regional):
        if option.strategy == "central":
            title = f"{STRATEGY_TITLE['central'] if wide else 'Central'} in {home}"
        else:
            title = STRATEGY_TITLE["regional"] if wide else "Regional"
        style, mark = (OK, " ✓") if option.strategy == comparison.recommended else ("", "")
        table.add_column(title + mark, ratio=1, overflow="fold", style=style, header_style="bold " + style)
    central_name = central.buckets[0].name if central.buckets else ""
    if wide:
        table.add_row(
            "Buckets",
            f"1{': ' + central_name if central_name else ''}",
            f"{len(regional.buckets)}, one per region with resources",
        )
        table.add_row("Kentik devices", central.rate_limit, regional.rate_limit)
        table.add_row(
            "Cross-region",
            (
                f"{_plural(len(central.cross_region), 'region')} send logs into {home} "
                f"({_by_geography(central.cross_region)}): AWS bills that transfer."
                if central.cross_region
                else central.cost
            ),
            "None: each region's logs stay in its bucket.",
        )
        table.add_row(
            "Data residency",
            (
                f"{_plural(len(far), 'region')} in another geography ({_by_geography(far)}): check "
                "data-residency rules (e.g. GDPR)."
                if far
                else central.residency
            ),
            regional.residency,
        )
        table.add_row(
            "Rate limits",
            f"Kentik advises regional buckets once one bucket gets hundreds of VPCs (here {total_vpcs}).",
            f"Split per region: the busiest device gets {count(busiest.vpcs if busiest else 0, 'VPC')}.",
        )
        return table
    table.add_row(
        "Buckets",
        f"1 ({total_vpcs} VPCs, {total_fw} FW)",
        f"{len(regional.buckets)} (max {busiest.vpcs} VPCs: {busiest.region})" if busiest else "0",
    )
    table.add_row(
        "Cross-region",
        f"{len(central.cross_region)} → {home} (billed)" if central.cross_region else "none",
        "none",
    )
    table.add_row(
        "Residency",
        f"{len(far)} leave their geography" if far else f"all stay in {home}",
        "logs stay in their region",
    )
    table.add_row(
        "Kentik",
        "1 device" + (": hundreds of VPCs, split!" if central.max_vpcs_per_bucket >= 100 else ""),
        _plural(regional.devices, "device") + " (1 per bucket)",
    )
    return table


def recommendation_renderable(comparison: StrategyComparison) -> RenderableType:
    text = Text()
    text.append("Recommended: ", style="bold")
    text.append(STRATEGY_TITLE[comparison.recommended].lower(), style=OK_BOLD)
    text.append(" — you decide.\n")
    for n, reason in enumerate(comparison.reasons):
        text.append(("\n" if n else "") + f"• {reason}")
    return text


class BucketStrategyScreen(WizardScreen):
    STEP = "buckets"
    wide: reactive[bool] = reactive(False, init=False)  # at least WIDE columns: the full comparison table
    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview", id="buckets.preview"),
        Binding("ctrl+l", "reload_keys", "Reload keys", show=False, id="buckets.reload_keys"),
    ]
    DEFAULT_CSS = (
        """
    BucketStrategyScreen #empty { padding: 1 2; height: auto; }
    BucketStrategyScreen #panes { height: 1fr; }
    BucketStrategyScreen #info, BucketStrategyScreen #form { height: auto; padding: 0 1; }
    BucketStrategyScreen #comparison { height: auto; }
    BucketStrategyScreen .row, BucketStrategyScreen #recommendation, BucketStrategyScreen #actions {
        height: auto; margin: 1 0 0 0; }
    BucketStrategyScreen .field { width: 16; padding: 0 1 0 0; text-style: bold; }
    BucketStrategyScreen .field-line { height: 1; }
    BucketStrategyScreen RadioSet { height: auto; width: 1fr; layout: horizontal; background: transparent; }
    BucketStrategyScreen RadioSet > RadioButton { width: auto; margin: 0 2 0 0; }
    BucketStrategyScreen #bucket, BucketStrategyScreen #region { width: 1fr; }
    BucketStrategyScreen #kms-box { height: auto; display: none; }
    BucketStrategyScreen #kms-keys { height: auto; max-height: 8; margin: 0 0 0 16; }
    BucketStrategyScreen #kms-hint { color: $text-muted; }
    BucketStrategyScreen #lifecycle { width: auto; }
    BucketStrategyScreen #lifecycle-days { width: 12; }
    BucketStrategyScreen .help { height: auto; padding: 0 0 0 16; }
    BucketStrategyScreen #preview { margin: 0 2 0 16; }
    BucketStrategyScreen #status { width: 1fr; height: auto; }
    BucketStrategyScreen.-wide #panes { layout: horizontal; overflow-y: hidden; }
    BucketStrategyScreen.-wide #encryption { layout: vertical; }
    BucketStrategyScreen.-wide #info, BucketStrategyScreen.-wide #form {
        width: 1fr; height: 1fr; overflow-y: auto; }
    BucketStrategyScreen.-wide #form { border-left: solid $primary; }
    BucketStrategyScreen.-wide .field { width: 100%; }
    BucketStrategyScreen.-wide .row { layout: vertical; }
    BucketStrategyScreen.-wide .help { padding: 0; }
    BucketStrategyScreen.-wide #kms-keys { margin: 0; }
    BucketStrategyScreen.-wide #preview { margin: 0 2 0 0; }
    BucketStrategyScreen #lifecycle-row { height: auto; width: 1fr; }
    """
        + (  # the colours that carry meaning, from the palette (readable in every terminal)
            f"BucketStrategyScreen .problems {{ color: {BAD}; }} BucketStrategyScreen .ok {{ color: {OK}; }} "
            f"BucketStrategyScreen .panel-title {{ color: {INFO}; }}"
        )
    )

    def __init__(self) -> None:
        super().__init__()
        self.inventory: Inventory | None = None
        self.comparison: StrategyComparison | None = None
        self.keys: dict[str, list[KmsKey]] = {}  # region -> keys, once loaded
        self.keys_loading: set[str] = set()
        self.suggested = ""
        self.previewing = False
        self.pending_keys: set[str] = set()  # keys of a restored choice, selected once listed
        self.rendered_comparison: tuple[str, bool] | None = None
        self.prefix_shown: bool | None = None  # the name field asks for a prefix (account-regional)
        self.outcome: tuple[BucketChoice, Text] | None = None  # the last preview/apply and its result
        self.check_timer: Timer | None = None  # the pending check of what was typed

    # -- layout --------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static(
            "No inventory yet: the bucket strategy is computed from the discovered VPCs and firewalls. "
            "Press Ctrl+B to go back to discovery and scan the account.",
            id="empty",
        )
        with VerticalScroll(id="panes"):
            with Vertical(id="info"):
                yield Label("Bucket strategy for this account", classes="panel-title")
                yield Static(id="comparison")
            with Vertical(id="form"):
                yield Static(id="recommendation")
                with Horizontal(classes="row"):
                    yield Label("Strategy", classes="field field-line")
                    with RadioSet(id="strategy", compact=True):
                        yield MarkedRadio("Central bucket", id="strategy-central")
                        yield MarkedRadio("Regional buckets", id="strategy-regional")
                with Horizontal(classes="row"):
                    yield Label("Bucket name", id="bucket-label", classes="field field-line")
                    yield Input(placeholder=NAME_PLACEHOLDER[True], id="bucket", compact=True)
                yield Verdict(id="name-problems", classes="help problems", markup=False)
                with Horizontal(classes="row"):
                    yield Label("Namespace", classes="field field-line")
                    yield MarkedCheckbox(
                        f"Account-regional: PREFIX{account_regional_suffix('ACCOUNT', 'REGION')}",
                        id="account-regional",
                        compact=True,
                    )
                yield Static(
                    "Only this account can create such names, so nobody else can own the bucket. Untick to "
                    "enter a whole name or {region} template.",
                    id="namespace-help",
                    classes="help",
                    markup=False,
                )
                with Horizontal(classes="row", id="region-row"):
                    yield Label("Bucket region", classes="field field-line")
                    yield Select[str]([], id="region", prompt="home region", compact=True)
                with Horizontal(classes="row"):
                    yield Label("Encryption", classes="field field-line")
                    with RadioSet(id="encryption", compact=True):
                        yield MarkedRadio("SSE-S3 (recommended)", value=True, id="enc-s3")
                        yield MarkedRadio("SSE-KMS (own key)", id="enc-kms")
                with Vertical(id="kms-box"):
                    yield MarkedSelectionList(id="kms-keys")
                    yield Static(id="kms-used", classes="help", markup=False)
                    yield Static(id="kms-hint", classes="help", markup=False)
                    yield Static(id="kms-problems", classes="help problems", markup=False)
                with Horizontal(classes="row"):
                    yield Label("Lifecycle", classes="field field-line")
                    with Horizontal(id="lifecycle-row"):
                        yield MarkedCheckbox("Expire logs after", id="lifecycle", compact=True)
                        yield Input(
                            DEFAULT_LIFECYCLE_DAYS,
                            type="integer",
                            id="lifecycle-days",
                            disabled=True,
                            compact=True,
                        )
                        yield Label(" days", classes="field-line")
                yield Static(
                    "Cost control (off by default): deletes delivered log files under AWSLogs/ after N days, "
                    "so storage does not grow forever.",
                    classes="help",
                )
                yield Verdict(id="lifecycle-problems", classes="help problems", markup=False)
                with Horizontal(id="actions"):
                    yield Button("Preview (Enter)", id="preview", variant="primary", compact=True)
                    yield Static(id="status", markup=False)

    def on_mount(self) -> None:
        self.sync_inventory()
        self.call_after_refresh(self.focus_start)

    def on_screen_resume(self) -> None:
        self.sync_inventory()

    def on_resize(self) -> None:
        self.wide = self.size.width >= WIDE  # the -wide class itself comes from the app's breakpoints

    def watch_wide(self, wide: bool) -> None:
        self.query_one("#panes", VerticalScroll).can_focus = not wide
        self.render_comparison()

    def focus_start(self) -> None:
        if self.inventory is not None:
            self.query_one("#strategy", RadioSet).focus(scroll_visible=False)

    # -- inventory -> form ---------------------------------------------------------------------------
    @property
    def account(self) -> str:
        return self.inventory.identity.account if self.inventory else ""

    def sync_inventory(self) -> None:
        inventory = self.flow_app.state.inventory
        have = isinstance(inventory, Inventory)
        self.query_one("#empty", Static).display = not have
        self.query_one("#panes", VerticalScroll).display = have
        if not have or inventory is self.inventory:
            return
        assert isinstance(inventory, Inventory)
        self.inventory = inventory
        self.keys.clear()
        resources = resources_by_region(inventory)
        home = inventory.home_region
        regions = sorted({r.name for r in inventory.scanned_regions} | {home})
        select = self.query_one("#region", Select)
        select.set_options(
            [
                (
                    f"{r} ({count(resources[r].vpcs, 'VPC')}){'  home' if r == home else ''}"
                    if r in resources
                    else r,
                    r,
                )
                for r in regions
            ]
        )
        comparison = compare_strategies(resources, home, account=self.account)
        previous = self.flow_app.state.bucket_choice
        if previous is not None:
            strategy, bucket, regional_ns = previous.strategy, previous.bucket, previous.account_regional
            select.value = previous.central_region if previous.central_region in regions else home
            kms, days = previous.encryption == "SSE-KMS", previous.lifecycle_days
        else:
            strategy, bucket, regional_ns = comparison.recommended, SUGGESTED_PREFIX, True
            select.value = home
            kms, days = False, None
        self.query_one(f"#strategy-{strategy}", RadioButton).value = True
        with self.prevent(Checkbox.Changed):
            self.query_one("#account-regional", Checkbox).value = regional_ns
        self.suggested = self.suggestion()
        self.query_one("#bucket", Input).value = bucket
        self.query_one("#enc-kms" if kms else "#enc-s3", RadioButton).value = True
        self.query_one("#lifecycle", Checkbox).value = days is not None
        if days is not None:
            self.query_one("#lifecycle-days", Input).value = str(days)
        if previous is not None and previous.kms_key_arns:
            self.pending_keys = set(previous.kms_key_arns)
        self.update_form()

    # -- reading the form ----------------------------------------------------------------------------
    @property
    def strategy(self) -> str:
        return "regional" if self.query_one("#strategy-regional", RadioButton).value else "central"

    @property
    def kms(self) -> bool:
        return self.query_one("#enc-kms", RadioButton).value

    @property
    def account_regional(self) -> bool:
        return self.query_one("#account-regional", Checkbox).value

    def suggestion(self) -> str:
        return SUGGESTED_PREFIX if self.account_regional else SUGGESTED[self.strategy]

    def follow_suggestion(self) -> None:
        """Show the suggestion for the current choices, unless the user typed a name (never rewritten)."""
        box = self.query_one("#bucket", Input)
        new = self.suggestion()
        if box.value.strip() in ("", self.suggested) and box.value != new:
            box.value = new
        self.suggested = new

    @property
    def central_region(self) -> str:
        value = self.query_one("#region", Select).value
        return value if isinstance(value, str) else (self.inventory.home_region if self.inventory else "")

    def lifecycle_days(self) -> tuple[int | None, list[str]]:
        if not self.query_one("#lifecycle", Checkbox).value:
            return None, []
        text = self.query_one("#lifecycle-days", Input).value.strip()
        days = int(text) if text.isdigit() and len(text) <= 6 else 0
        if not 1 <= days <= MAX_LIFECYCLE_DAYS:
            return None, [
                f"Lifecycle rule: enter a whole number of days from 1 to {MAX_LIFECYCLE_DAYS} (or untick it)."
            ]
        return days, []

    def build_choice(self) -> tuple[BucketChoice, list[str], list[str]]:
        """The choice, the problems shown under the name, and the problems shown under the key list."""
        assert self.inventory is not None
        state = self.flow_app.state
        days, lifecycle_problems = self.lifecycle_days()
        logs = state.log_choices
        choice = BucketChoice(
            strategy="regional" if self.strategy == "regional" else "central",
            bucket=self.query_one("#bucket", Input).value,
            account_regional=self.account_regional,
            regions=sorted(resources_by_region(self.inventory)),
            central_region=self.central_region if self.strategy == "central" else "",  # saved = shown
            encryption="SSE-KMS" if self.kms else "SSE-S3",
            kms_key_arns=self.selected_keys() if self.kms else [],
            prefixes=[p for p in (logs.prefix, logs.firewall_prefix) if p],
            lifecycle_days=days,
        )
        every = validate_choice(choice, account=self.account)
        general = validate_choice(
            choice.model_copy(update={"encryption": "SSE-S3", "kms_key_arns": []}), account=self.account
        )
        key_problems = [p for p in every if p not in general]
        return choice, general, key_problems + lifecycle_problems

    def selected_keys(self) -> list[str]:
        """The keys picked, and those of a restored choice while their region's keys are still listed."""
        picked = list(self.query_one("#kms-keys", SelectionList).selected)
        return picked + sorted(self.pending_keys - set(picked))

    # -- live updates --------------------------------------------------------------------------------
    @on(RadioSet.Changed, "#strategy")
    @on(Checkbox.Changed, "#account-regional")
    def strategy_changed(self) -> None:
        self.follow_suggestion()  # the user has not typed a name yet: follow the strategy and namespace
        self.update_form()

    @on(RadioSet.Changed, "#encryption")
    @on(Select.Changed, "#region")
    @on(SelectionList.SelectedChanged)
    def form_changed(self) -> None:
        self.update_form()

    @on(Input.Changed)
    def typed(self) -> None:
        """Check what was typed once typing pauses (preview and leaving the step check it at once)."""
        if self.check_timer is not None:
            self.check_timer.stop()
        self.check_timer = self.set_timer(CHECK_DELAY, self.update_form)

    @on(Checkbox.Changed, "#lifecycle")
    def lifecycle_toggled(self, event: Checkbox.Changed) -> None:
        self.query_one("#lifecycle-days", Input).disabled = not event.value
        self.update_form()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused field's verdict is shown with it (the form scrolls at 80x24)."""
        verdict = VERDICT_OF.get(event.widget.id or "")
        if verdict:
            self.query_one(verdict).scroll_visible(animate=False)

    def update_form(self) -> None:
        """Show the form's current state: every verdict and the status are computed here, from the form."""
        if self.check_timer is not None:
            self.check_timer.stop()
            self.check_timer = None
        if self.inventory is None:
            return
        central = self.strategy == "central"
        self.query_one("#region-row").display = central
        prefix = self.account_regional
        if prefix != self.prefix_shown:
            self.prefix_shown = prefix
            self.query_one("#bucket-label", Label).update("Name prefix" if prefix else "Bucket name")
            self.query_one("#bucket", Input).placeholder = NAME_PLACEHOLDER[prefix]
        self.query_one("#kms-box").display = self.kms
        resources = resources_by_region(self.inventory)
        regions = [self.central_region] if central else sorted(resources)
        if self.kms:
            self.ensure_keys(regions)
        self.show_keys(regions)  # first: listing keys can restore a selection the choice then reads
        choice, general, key_problems = self.build_choice()
        self.comparison = compare_strategies(
            resources, self.central_region, bucket="" if general else choice.template, account=self.account
        )
        self.render_comparison()
        names = self.query_one("#name-problems", Static)
        names.set_class(bool(general), "problems").set_class(not general, "ok")
        if general:
            _show(names, "\n".join(f"✗ {p}" for p in general))
        else:
            option = self.comparison.option(choice.strategy)
            listed = [b.name for b in option.buckets]
            shown = ", ".join(listed[:2]) + (f" … ({len(listed)} buckets)" if len(listed) > 2 else "")
            _show(names, f"✓ Valid: {shown}")
        for where, life in (("#kms-problems", False), ("#lifecycle-problems", True)):
            shown = "\n".join(f"✗ {p}" for p in key_problems if p.startswith("Lifecycle") == life)
            _show(self.query_one(where, Static), shown)
        _show(self.query_one("#kms-used", Static), self.keys_used(choice.kms_key_arns))
        _show(self.query_one("#status", Static), self.status(choice, general + key_problems))

    def keys_used(self, arns: list[str]) -> Text:
        """The keys the plan will use, by name (the list can be scrolled past them)."""
        names = {k.arn: ", ".join(k.aliases) or k.key_id for keys in self.keys.values() for k in keys}
        used = "; ".join(f"{names.get(arn, '')} ({arn})".strip() for arn in arns)
        return Text.assemble(("✓ Uses: ", OK_BOLD), used) if arns else Text()

    def handed_on(self) -> str:
        """What the next steps get: the saved (previewed) choice, in a few words."""
        saved = self.flow_app.state.bucket_choice
        if saved is None:
            return "the next steps have no bucket"
        names = sorted(set(bucket_for_region(saved, self.account).values()))
        if saved.strategy == "central":
            return f"the next steps use the previewed bucket {names[0]} in {saved.central_region}"
        more = f" … ({len(names)} buckets)" if len(names) > 2 else ""
        return f"the next steps use the previewed regional buckets {', '.join(names[:2])}{more}"

    def status(self, choice: BucketChoice, problems: list[str]) -> Text:
        """What the next steps use, for the form as it is now (never the result of another choice)."""
        if self.outcome is not None and _same(self.outcome[0], choice):
            return self.outcome[1]
        if problems:
            return Text(f"✗ Not saved: fix the problems marked ✗; until then {self.handed_on()}.", BAD)
        if not _same(choice, self.flow_app.state.bucket_choice):
            return Text(f"Not previewed: Ctrl+R previews it; until then {self.handed_on()}.", WARN)
        return Text("Saved for the next steps (previewed earlier). Ctrl+R previews it again.")

    def on_screen_suspend(self) -> None:
        """Leaving for a later step: say so when what the form shows is not what those steps get."""
        steps = [s.key for s in self.flow_app.steps]
        mode = self.app.current_mode
        if self.inventory is None or mode not in steps or steps.index(mode) <= steps.index(self.STEP):
            return  # a plan review over this step, or back to discovery: nothing is handed on
        choice, general, other = self.build_choice()
        problems = general + other
        saved = self.flow_app.state.bucket_choice
        if problems or not _same(choice, saved):
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            why = problems[0] + more if problems else "the choice shown was not previewed (Ctrl+R)."
            self.flow_app.notify(
                f"{'Nothing chosen' if saved is None else 'Your edits are not used'}: {why} "
                f"Until you fix it (Ctrl+B), {self.handed_on()}.",
                title="Bucket step",
                severity="warning",
                timeout=12,
                markup=False,
            )

    def render_comparison(self) -> None:
        if self.comparison is None:
            return
        # The names shown: the central bucket's in the wide table, none in the compact one.
        hidden = {"regional": {"buckets": {"__all__": {"name"}}}}
        if not self.wide:
            hidden["central"] = {"buckets": {"__all__": {"name"}}}
        key = (self.comparison.model_dump_json(exclude=hidden), self.wide)
        if key != self.rendered_comparison:  # re-render (and re-layout) only when what is shown changes
            self.rendered_comparison = key
            self.query_one("#comparison", Static).update(
                comparison_renderable(self.comparison, wide=self.wide)
            )
            self.query_one("#recommendation", Static).update(recommendation_renderable(self.comparison))

    # -- KMS key picker ------------------------------------------------------------------------------
    def ensure_keys(self, regions: list[str]) -> None:
        missing = [r for r in regions if r and r not in self.keys and r not in self.keys_loading]
        if missing and self.flow_app.session is not None:
            self.keys_loading.update(missing)
            self.load_keys(missing)

    def action_reload_keys(self) -> None:
        if not self.kms or self.inventory is None:
            return
        choice, _, _ = self.build_choice()
        for region in choice.bucket_regions:
            self.keys.pop(region, None)
        self.update_form()

    @work(thread=True, exit_on_error=False, group="bucket-keys")
    def load_keys(self, regions: list[str]) -> None:
        try:
            found = list_keys_by_region(self.flow_app.require_session(), regions)
        except Exception:
            self.post_message(KeysFailed(regions))
            raise  # the worker-error hook shows it
        self.post_message(KeysLoaded(found))

    def on_keys_failed(self, message: KeysFailed) -> None:
        self.keys_loading.difference_update(message.regions)
        regions = ", ".join(message.regions)
        self.query_one("#kms-hint", Static).update(
            f"Could not list the keys in {regions}. Ctrl+L tries again."
        )

    def on_keys_loaded(self, message: KeysLoaded) -> None:
        self.keys.update(message.keys)
        self.keys_loading.difference_update(message.keys)
        self.update_form()  # the list can restore a selection: every verdict follows it

    def show_keys(self, regions: list[str]) -> None:
        picker: SelectionList[str] = self.query_one("#kms-keys", SelectionList)
        selected = set(picker.selected) | self.pending_keys
        options: list[Selection[str]] = []
        refused: list[str] = []  # the reasons, shown under the list (an option is one line, cut short)
        for region in regions:
            for key in self.keys.get(region, []):
                name = ", ".join(key.aliases) or key.key_id
                label = Text(f"{region}  ", style="bold")  # one line: an option shows only its first
                if not key.usable:  # listed, but cannot be picked
                    refused.append(f"✗ {name}: {key.problem}")
                    label.append("✗ ", style=BAD)
                label.append(name)
                if not key.usable:
                    label.append(" (unusable)", style=BAD)
                options.append(
                    Selection(label, key.arn, key.usable and key.arn in selected, key.arn, not key.usable)
                )
        current = [picker.get_option_at_index(i).id for i in range(picker.option_count)]
        if current != [o.id for o in options]:
            with picker.prevent(SelectionList.SelectedChanged):
                picker.clear_options()
                picker.add_options(options)
            first = next((n for n, o in enumerate(options) if not o.disabled), None)
            if first is not None:
                picker.highlighted = first  # Space selects at once
        listed = {o.id for o in options}
        self.pending_keys = {a for a in self.pending_keys if a not in listed and _region(a) not in self.keys}
        loading = [r for r in regions if r not in self.keys]
        empty = [r for r in regions if r in self.keys and not any(k.usable for k in self.keys[r])]
        hints = []
        if loading:
            hints.append(f"Loading customer-managed keys in {', '.join(loading)}…")
        if empty:
            hints.append(
                f"No usable customer-managed key in {', '.join(empty)}: create one in KMS there "
                "(the AWS-managed aws/s3 key cannot be used)."
            )
        if not hints:
            hints.append("Space selects one key per bucket region. Its key policy gets a log-delivery grant.")
        hints.extend(refused)
        _show(self.query_one("#kms-hint", Static), "\n".join(hints))

    # -- preview -------------------------------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#preview")
    def submit(self) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        if self.inventory is None:
            self.flow_app.notify("Run discovery first (Ctrl+B).", severity="warning")
            return
        if self.flow_app.session is None:
            self.flow_app.show_no_session()
            return
        if self.previewing:
            return
        self.update_form()  # what was typed a moment ago too
        choice, general, other = self.build_choice()
        problems = general + other
        if problems:
            self.flow_app.notify(
                "Fix the choice first:\n" + "\n".join(f"- {p}" for p in problems),
                title="Cannot preview",
                severity="warning",
                markup=False,
            )
            return  # the status says so too (update_form)
        self.previewing, self.outcome = True, (choice, Text("Planning: reading the bucket settings…"))
        _show(self.query_one("#status", Static), self.outcome[1])
        self.run_preview(choice)

    @work(thread=True, exclusive=True, exit_on_error=False, group="bucket-plan")
    def run_preview(self, choice: BucketChoice) -> None:
        assert self.inventory is not None  # previews start only with an inventory
        identity = self.inventory.identity
        session = self.flow_app.require_session()
        setup, plan = build_bucket_plan(
            session, choice, account=identity.account, partition=identity.partition
        )
        self.post_message(PreviewReady(choice, setup, plan))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "bucket-plan":
            return
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.previewing = False
            if self.outcome is not None:
                self.outcome = (self.outcome[0], Text("✗ Not previewed: see the error message.", BAD))
            self.update_form()

    def on_preview_ready(self, message: PreviewReady) -> None:
        self.previewing = False
        state = self.flow_app.state
        choice, setup, plan = message.choice, message.setup, message.plan
        state.bucket_choice = choice
        state.buckets = bucket_for_region(choice, self.account)
        counts = f"{_plural(len(setup.changes), 'change')} for {_plural(len(setup.buckets), 'bucket')}"
        done = f"Previewed {counts}, not applied: saved for the next steps. Ctrl+R previews again."
        self.outcome = (choice, Text(done))
        self.update_form()
        self.app.push_screen(
            PlanReview(
                plan, title="Bucket set-up", step=self.STEP, warnings=setup.warnings, notes=setup.notes
            ),
            self.reviewed,
        )

    def reviewed(self, report: ApplyReport | None) -> None:
        if report is not None and self.outcome is not None:
            if report.ok:
                text = Text("✓ Applied: the bucket(s) are ready. Ctrl+N goes to the next step.", OK)
            else:
                text = Text(
                    "✗ Not every change went through (failed ones, and those that needed them, are "
                    "listed): fix the failure and preview again; finished changes are skipped.",
                    BAD,
                )
            self.outcome = (self.outcome[0], text)
        self.update_form()
        self.query_one("#actions").scroll_visible(animate=False)
