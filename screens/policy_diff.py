"""Step 4: the Kentik role's IAM policy — the exact change, previewed, applied safely, reversible.

The role comes from discovery's candidates (roles trusting Kentik's account or requiring an external
id) or is typed (a role name or a customer-managed policy ARN, `PolicySource`); when no role trusts Kentik,
`c` creates one (screens.create_role: previewed and applied as Changes); the buckets come from the
bucket step (or are typed). A thread worker finds the policy and computes the proposal
(`aws.iam.proposal.prepare`) and reads the role's trust (`aws.iam.accounts.role_trust`); the screen shows
current vs proposed JSON (`PolicyDiffView`: side by side when wide, unified when narrow, `v` toggles;
opened at the first change, `]`/`[` the next/previous one), the statement-level summary, one line per
new statement, the size against the limit (shorter lines below 120 columns), and applies through
the shared `PlanReview` (destructive version rotation asked separately). A concurrent edit makes the
apply refuse (a stale refusal, `ChangeResult.refusal`): the diff is refreshed. Each apply saves a
rollback record (`aws.iam.rollback.save_rollback`, in a worker); `u` rolls back (`rollback_plan`).

Nested configuration (`n` toggles it; Esc first leaves a text field): the spoke role's policy in
each member account, reached by assuming a named role there (`aws.iam.accounts.nested_proposals`).
Each account gets its own line and diff, and its own `PlanReview` run with that account's assumed
session; `A` applies every account needing a change, one review after the other. The screen makes no
AWS call itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from aws.errors import ValidationFailed, explain
from aws.iam.accounts import NestedInput, NestedProposal, nested_proposals, role_trust, split_names
from aws.iam.documents import PolicyChoiceNeeded, PolicySource, PolicyTarget
from aws.iam.proposal import PolicyProposal, prepare
from aws.iam.requirements import DELETE_RISK, KMS_NOTE, Requirements
from aws.iam.rollback import RollbackRecord, records_path, rollback_plan, save_rollback
from aws.inventory import Inventory, KentikRole
from aws.plans.change import ApplyReport, Plan
from aws.s3.strategy import bucket_targets
from aws.session import AwsSession
from screens.base import WizardScreen
from screens.create_role import CREATE_HINT, choose_role, offer_create_role, trusts_kentik
from tui.diff_view import PolicyDiffView
from tui.layout import WIDE
from tui.palette import BAD, INFO, WARN
from tui.pick import Pick
from tui.plan_view import PlanReview
from tui.proposal_text import (
    DELETION_OPTIONS,
    NESTED_INTRO,
    append_applied,
    append_changes,
    append_deletion,
    append_findings,
    append_target,
    missing_inputs,
    nested_line,
)

Deletion = Literal["", "s3:DeleteObject", "s3:*"]


# -- messages from the workers ---------------------------------------------------------------------


@dataclass
class ProposalReady(Message):
    proposal: PolicyProposal
    role_arn: str
    external_id: str


@dataclass
class PolicyChoice(Message):
    """The role holds several plausible policies: the user picks one."""

    message: str
    candidates: list[PolicyTarget]


@dataclass
class ProposalFailed(Message):
    error: BaseException


@dataclass
class NestedReady(Message):
    accounts: list[NestedProposal]
    spoke_role: str = ""


@dataclass
class RollbackReady(Message):
    plan: Plan
    session: AwsSession
    account: str | None  # the member account in nested mode


@dataclass
class RollbackSaved(Message):
    """After an apply: its rollback record (None when nothing was applied, or saving failed: `error`)."""

    record: RollbackRecord | None
    account: str | None  # the member account in nested mode
    then: Callable[[], None]  # what the apply's callback goes on with
    error: BaseException | None = None


# -- the screen ------------------------------------------------------------------------------------


class PolicyDiffScreen(WizardScreen):
    STEP = "policy"
    BINDINGS = [
        # Shown: what fits the compact footer at 80 columns beside Next and Back; the rest is said on
        # screen where it applies ("Deletion (d)", "Press u to roll back") and is in the command palette.
        Binding("a", "apply", "Apply", id="policy.apply"),
        Binding("A", "apply_all", "Apply all", id="policy.nested_apply_all"),
        Binding(
            "right_square_bracket", "next_change", "Next change", key_display="]", id="policy.next_change"
        ),
        Binding(
            "left_square_bracket", "prev_change", "Prev change", key_display="[", id="policy.prev_change"
        ),
        Binding("o", "choose_role", "Role", id="policy.choose_role"),
        Binding("c", "create_role", "Create role", show=False, id="policy.create_role"),
        Binding("r", "refresh", "Refresh", show=False, id="policy.refresh"),
        Binding("d", "deletion", "Deletion", show=False, id="policy.deletion"),
        Binding("u", "rollback", "Roll back", show=False, id="policy.rollback"),
        Binding("v", "toggle_view", "Side by side/unified", show=False, id="policy.toggle_view"),
        Binding("n", "nested", "Nested", id="policy.nested"),
        Binding("escape", "leave_field", "Leave the field", show=False, id="policy.leave_field"),
    ]
    DEFAULT_CSS = """
    PolicyDiffScreen #inputs { height: 1; padding: 0 1; }
    PolicyDiffScreen #inputs Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    PolicyDiffScreen #inputs Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    PolicyDiffScreen #info { height: auto; max-height: 7; padding: 0 1; }
    PolicyDiffScreen #diff { height: 1fr; min-height: 6; border-top: solid $primary; }
    PolicyDiffScreen #diff-text { padding: 0 1; }
    PolicyDiffScreen.-wide #info { max-height: 14; }
    PolicyDiffScreen #nested { display: none; height: auto; }
    PolicyDiffScreen.-nested #nested { display: block; }
    PolicyDiffScreen.-nested #source, PolicyDiffScreen.-nested #source-label { display: none; }
    PolicyDiffScreen .nested-row { height: 1; padding: 0 1; }
    PolicyDiffScreen .nested-row Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    PolicyDiffScreen .nested-row Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    PolicyDiffScreen #accounts-list { height: auto; max-height: 4; border: none; padding: 0 1; }
    PolicyDiffScreen.-nested #info { max-height: 5; }
    PolicyDiffScreen.-wide.-nested #info { max-height: 12; }
    PolicyDiffScreen.-wide #accounts-list { max-height: 8; }
    """

    # shown in the diff view (bound to it); set on every refresh, so the view re-renders each time
    proposal: reactive[PolicyProposal | None] = reactive(None, always_update=True)
    wide: reactive[bool] = reactive(False, init=False)  # at least WIDE columns (the app's -wide class)

    def __init__(self) -> None:
        super().__init__()
        self.policy_pick: tuple[str | None, str | None] = (None, None)  # (policy_arn, inline name)
        self._filled = ""  # the buckets field as last filled in from the wizard state
        self.deletion: Deletion = ""
        self.role_arn = ""
        self.external_id = ""
        self.record: RollbackRecord | None = None
        # a proposal is being read (not Widget.loading: that covers the screen, hiding the focused widget)
        self.busy = False
        self.status = ""
        self.view: Literal["auto", "side", "unified"] = "auto"
        self.kms_keys: list[str] = []
        self.nested_mode = False
        self.nested: list[NestedProposal] = []
        self.nested_selected = 0
        self.nested_records: dict[str, RollbackRecord] = {}
        self.standard_proposal: PolicyProposal | None = None

    # -- layout --------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="inputs"):
            yield Label("Role/policy", id="source-label")
            yield Input(placeholder="role name or policy ARN", id="source")
            yield Label("Buckets")
            yield Input(placeholder="log bucket names, comma separated", id="buckets")
        with Vertical(id="nested"):
            with Horizontal(classes="nested-row"):
                yield Label("Accounts")
                yield Input(placeholder="member account ids, comma separated", id="accounts")
                yield Label("Assume")
                yield Input(placeholder="role to assume in each", id="assume-role")
            with Horizontal(classes="nested-row"):
                yield Label("Spoke role")
                yield Input(placeholder="same as the assumed role", id="spoke-role")
                yield Label("External id")
                yield Input(placeholder="none", id="nested-external-id")
            yield OptionList(id="accounts-list")
        with VerticalScroll(id="info"):
            yield Static(id="info-text")
        yield PolicyDiffView(id="diff").data_bind(proposal=PolicyDiffScreen.proposal)

    @property
    def inventory(self) -> Inventory | None:
        inventory = self.flow_app.state.inventory
        return inventory if isinstance(inventory, Inventory) else None

    def candidates(self) -> list[KentikRole]:
        """Discovery's Kentik role candidates, those trusting Kentik's account first."""
        inventory = self.inventory
        roles = inventory.roles if inventory else []
        return sorted(roles, key=lambda r: (not r.trusts_kentik, not r.external_ids, r.name))

    def chosen_buckets(self) -> tuple[list[str], list[str]]:
        """(bucket names, KMS key ARNs) from the bucket step; empty when it has not run."""
        state = self.flow_app.state
        if state.bucket_choice is not None:
            account = self.inventory.identity.account if self.inventory else ""
            if not account and self.flow_app.identity:
                account = self.flow_app.identity.account
            try:
                targets = bucket_targets(state.bucket_choice, account)
            except ValidationFailed:
                targets = []
            if targets:
                keys = [t.kms_key_arn for t in targets if t.kms_key_arn]
                return [t.name for t in targets], list(dict.fromkeys(keys))
        return list(dict.fromkeys(state.buckets.values())), []

    def on_mount(self) -> None:
        roles = self.candidates()
        if roles:
            self.query_one("#source", Input).value = roles[0].name
        buckets, keys = self.chosen_buckets()
        self.kms_keys = keys
        self.query_one("#buckets", Input).value = self._filled = ", ".join(buckets)
        self.wide = self.size.width >= WIDE
        self.show_side()
        self.query_one("#diff", VerticalScroll).focus()
        self.status = missing_inputs(
            scanned=self.inventory is not None, roles=bool(roles), buckets=bool(buckets)
        )
        if self.inventory is not None and not trusts_kentik(roles):
            self.status = "\n".join(filter(None, [self.status, CREATE_HINT]))
        self.render_info()
        if roles and buckets:
            self.action_refresh()

    def on_screen_resume(self) -> None:  # buckets chosen since replace ones filled in (never typed ones)
        buckets, keys = self.chosen_buckets()
        field, filled = self.query_one("#buckets", Input), ", ".join(buckets)
        if buckets and filled != field.value == self._filled:
            field.value, self.kms_keys = filled, keys
            self.action_refresh()
        self._filled = field.value

    def on_resize(self) -> None:
        self.wide = self.size.width >= WIDE

    def watch_wide(self) -> None:
        self.render_info()
        self.show_side()

    # -- computing the proposal ----------------------------------------------------------------------
    def requirements(self) -> Requirements:
        buckets = split_names(self.query_one("#buckets", Input).value)
        partition = self.flow_app.session.partition if self.flow_app.session else "aws"
        existing = self.flow_app.state.existing_locations
        return Requirements(
            buckets=tuple(buckets),
            existing=tuple((loc.bucket, loc.prefix) for loc in existing),
            kms_keys=tuple(dict.fromkeys([*self.kms_keys, *self.flow_app.state.kms_keys])),
            allow_delete=self.deletion == "s3:*",
            allow_delete_objects=self.deletion == "s3:DeleteObject",
            partition=partition,
        )

    def action_refresh(self) -> None:
        session = self.flow_app.session
        if session is None:
            self.flow_app.show_no_session()
            return
        if self.nested_mode:
            self.refresh_nested()
            return
        try:
            source = PolicySource.parse(self.query_one("#source", Input).value)
            need = self.requirements()
        except ValidationFailed as err:
            self.flow_app.show_error(err, context="IAM policy")
            return
        if self.policy_pick != (None, None) and source.role_name:
            source = PolicySource(source.role_name, *self.policy_pick)
        self.busy = True
        self.status = "Reading the policy…"
        self.render_info()
        self.compute(source, need)

    @work(thread=True, exclusive=True, exit_on_error=False, group="policy")
    def compute(self, source: PolicySource, need: Requirements) -> None:
        session = self.flow_app.require_session()
        try:
            proposal = prepare(
                session,
                need,
                role_name=source.role_name,
                policy_arn=source.policy_arn,
                policy_name=source.policy_name,
            )
            role_arn, external_id = "", ""
            if source.role_name:
                trust = role_trust(session, source.role_name)
                role_arn, external_id = trust.arn, trust.external_id
        except PolicyChoiceNeeded as err:
            if not err.candidates:
                self.post_message(ProposalFailed(err))
                return
            self.post_message(PolicyChoice(err.message, err.candidates))
            return
        except Exception as err:  # shown in the one error display, and on screen
            self.post_message(ProposalFailed(err))
            return
        if not get_current_worker().is_cancelled:  # a newer refresh replaced this one
            self.post_message(ProposalReady(proposal, role_arn, external_id))

    def on_proposal_ready(self, message: ProposalReady) -> None:
        if self.nested_mode:  # a standard refresh that finished after switching to nested
            self.standard_proposal = message.proposal
            return
        self.busy = False
        self.status = ""
        self.proposal = message.proposal
        if message.role_arn:
            self.role_arn, self.external_id = message.role_arn, message.external_id
        else:  # a policy ARN was given: the role from discovery that has it attached, if any
            arn = message.proposal.target.policy_arn
            role = next(
                (r for r in self.candidates() if any(p.arn == arn for p in r.attached_policies)), None
            )
            self.role_arn = role.arn if role else ""
            self.external_id = role.external_ids[0] if role and role.external_ids else ""
        if message.proposal.merge.noop and not message.proposal.merge.blocking:
            self.remember_role()  # already granted: the next steps can use the role as it is
        self.render_info()

    def remember_role(self) -> None:
        state = self.flow_app.state
        state.kentik_role_arn = self.role_arn or state.kentik_role_arn
        state.external_id = self.external_id or state.external_id
        state.deletion_granted = self.deletion

    def on_proposal_failed(self, message: ProposalFailed) -> None:
        self.busy = False
        if self.nested_mode:
            self.nested = []
            self.query_one("#accounts-list", OptionList).clear_options()
        self.proposal = None
        said = str(explain(message.error))
        said = said if len(said) <= 240 else said[:239] + "…"
        self.status = f"Could not compute the change: {said}\nFix it and press r."
        self.render_info()
        self.flow_app.show_error(message.error, context="IAM policy")

    def on_policy_choice(self, message: PolicyChoice) -> None:
        self.busy = False
        self.status = message.message
        self.render_info()
        options: list[tuple[str, RenderableType]] = []
        for n, target in enumerate(message.candidates):
            what = target.policy_arn or f"inline policy {target.policy_name}"
            options.append((str(n), f"{what}  (metadata score {target.score})"))

        def chosen(key: str | None) -> None:
            if key is None:
                return
            target = message.candidates[int(key)]
            self.policy_pick = (target.policy_arn, None if target.policy_arn else target.policy_name)
            self.action_refresh()

        self.app.push_screen(Pick("Which policy holds the Kentik metadata permissions?", options), chosen)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "source":
            self.policy_pick = (None, None)
        self.query_one("#diff", VerticalScroll).focus()  # nested: the account list, once filled
        self.action_refresh()

    # -- nested configuration: a spoke role in each member account -----------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply_all":
            return self.nested_mode
        if action == "choose_role":
            return not self.nested_mode
        if action == "create_role":
            return not self.nested_mode and not trusts_kentik(self.candidates())
        return True

    def action_nested(self) -> None:
        """Switch between the standard configuration and the nested one (keeps each one's results)."""
        self.nested_mode = not self.nested_mode
        self.set_class(self.nested_mode, "-nested")
        self.busy, self.status = False, ""  # a pending result of the other mode is kept for it
        if self.nested_mode:
            self.standard_proposal = self.proposal
            external = self.query_one("#nested-external-id", Input)
            if not external.value:
                external.value = self.flow_app.state.external_id or ""
            for box, value in self.flow_app.nested_defaults().items():  # --org / --accounts
                field = self.query_one(box, Input)
                field.value = field.value or value  # a typed value is kept
            self.select_nested(self.nested_selected)
            self.query_one("#accounts", Input).focus()
        else:
            self.proposal = self.standard_proposal
            self.query_one("#diff", VerticalScroll).focus()
        self.refresh_bindings()
        self.render_info()

    def refresh_nested(self) -> None:
        try:
            given = NestedInput.parse(
                self.query_one("#accounts", Input).value,
                self.query_one("#assume-role", Input).value,
                self.query_one("#spoke-role", Input).value,
                self.query_one("#nested-external-id", Input).value,
            )
            need = self.requirements()
        except ValidationFailed as err:
            self.flow_app.show_error(err, context="IAM policy (nested)")
            return
        self.busy = True
        self.status = (
            f"Assuming {given.assume_role} in {len(given.accounts)} account(s) and reading the policies…"
        )
        self.render_info()
        self.compute_nested(given, need)

    @work(thread=True, exclusive=True, exit_on_error=False, group="policy")
    def compute_nested(self, given: NestedInput, need: Requirements) -> None:
        session = self.flow_app.require_session()
        try:
            out = nested_proposals(session, given, need)
        except Exception as err:
            self.post_message(ProposalFailed(err))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(NestedReady(out, given.spoke_role))

    def on_nested_ready(self, message: NestedReady) -> None:
        reached = [item.account for item in message.accounts if item.proposal is not None]
        self.flow_app.state.spoke_role, self.flow_app.state.nested_accounts = message.spoke_role, reached
        self.busy = False
        self.status = ""
        self.nested = message.accounts
        options = self.query_one("#accounts-list", OptionList)
        options.set_options([Option(self.account_line(item)) for item in self.nested])
        selected = min(self.nested_selected, len(self.nested) - 1) if self.nested else 0
        if self.nested:
            options.highlighted = selected
            if not isinstance(self.focused, Input):
                options.focus()
        self.select_nested(selected)

    def account_line(self, item: NestedProposal) -> Text:
        return nested_line(item, width=self.size.width, applied=item.account in self.nested_records)

    @on(OptionList.OptionHighlighted, "#accounts-list")
    def account_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.select_nested(event.option_index)

    def select_nested(self, index: int) -> None:
        self.nested_selected = index
        if not self.nested_mode:  # results that arrived after switching back to standard
            return
        item = self.selected_account()
        self.proposal = item.proposal if item else None
        self.render_info()

    def selected_account(self) -> NestedProposal | None:
        if self.nested_mode and 0 <= self.nested_selected < len(self.nested):
            return self.nested[self.nested_selected]
        return None

    def action_apply_all(self) -> None:
        items = [item for item in self.nested if item.needs_change]
        if not self.nested_mode or not items:
            self.flow_app.notify("No member account needs a change.", severity="warning")
            return
        self.apply_nested(items)

    def apply_nested(self, items: list[NestedProposal]) -> None:
        """One PlanReview per account (its own Plan account and assumed session), one after the other."""
        item, rest = items[0], items[1:]
        proposal, session = item.proposal, item.session
        assert proposal is not None and session is not None
        app_session = self.flow_app.session
        session.read_only = app_session.read_only if app_session else True  # follow the app's toggle
        warnings = [f"Account {item.account}, through the assumed role {item.role_arn}"]
        warnings += self.apply_warnings(proposal)
        plan = proposal.plan()  # the member account's: its policy is there
        title = f"IAM policy ({item.account})"

        def done(report: ApplyReport | None) -> None:
            self.query_one("#accounts-list", OptionList).focus()
            if report is None:  # backed out: the other accounts are left as they are
                if rest:
                    self.flow_app.notify(
                        f"Not applied to {', '.join(i.account for i in rest)}.", severity="warning"
                    )
                self.action_refresh()
                return
            failed = report.failed
            if failed is not None and failed.refusal == "stale":
                self.flow_app.notify(
                    f"The policy in {item.account} changed since the diff was shown; nothing was changed "
                    "there. The diffs are refreshed: review and apply again.",
                    title="IAM policy",
                    severity="warning",
                    timeout=12,
                )
            elif report.ok:
                self.keep_rollback(proposal.target, report, item.account, proceed)
                return
            proceed()

        def proceed() -> None:
            if rest:
                self.apply_nested(rest)
            else:
                self.action_refresh()

        self.app.push_screen(
            PlanReview(plan, title=title, step=self.STEP, warnings=warnings, session=session), done
        )

    def rollback_nested(self, item: NestedProposal) -> None:
        session, proposal = item.session, item.proposal
        if session is None or proposal is None:
            self.flow_app.notify("Nothing to roll back in this account.", severity="warning")
            return
        record = self.nested_records.get(item.account)
        if record is not None and record.key != proposal.target.key:
            record = None
        self.prepare_rollback(session, proposal.target, record, item.account)

    @work(thread=True, exclusive=True, exit_on_error=False, group="policy-rollback")
    def prepare_rollback(
        self, session: AwsSession, target: PolicyTarget, record: RollbackRecord | None, account: str | None
    ) -> None:
        """Find what to roll back to (saved record, else the version before the default) off the UI thread."""
        plan = rollback_plan(session, target, self.records_file, record=record, account=account or "")
        self.post_message(RollbackReady(plan, session, account))

    def on_rollback_ready(self, message: RollbackReady) -> None:
        if message.account is None:
            self.app.push_screen(
                PlanReview(message.plan, title="IAM policy rollback", step=self.STEP), self.rolled_back
            )
            return
        account = message.account

        def done(report: ApplyReport | None) -> None:
            self.query_one("#accounts-list", OptionList).focus()
            if report is not None and report.ok:
                self.nested_records.pop(account, None)
            self.rolled_back(report)

        self.app.push_screen(
            PlanReview(
                message.plan,
                title=f"IAM policy rollback ({account})",
                step=self.STEP,
                session=message.session,
            ),
            done,
        )

    # -- choosing role and deletion ------------------------------------------------------------------
    def action_choose_role(self) -> None:
        choose_role(self)

    def action_create_role(self) -> None:
        """No role trusts Kentik: make one (screens.create_role), then go on with it."""
        offer_create_role(self)

    def action_deletion(self) -> None:
        mapping: dict[str, Deletion] = {"none": "", "objects": "s3:DeleteObject", "all": "s3:*"}

        def chosen(key: str | None) -> None:
            if key is not None and mapping[key] != self.deletion:
                self.deletion = mapping[key]
                self.action_refresh()

        self.app.push_screen(Pick("Let Kentik delete old logs?", DELETION_OPTIONS), chosen)

    def action_next_change(self) -> None:
        if not self.query_one(PolicyDiffView).next_change():
            self.app.bell()  # no change further down

    def action_prev_change(self) -> None:
        if not self.query_one(PolicyDiffView).previous_change():
            self.app.bell()

    def action_leave_field(self) -> None:
        """Esc: out of a text field (which takes every letter), so the screen's keys work again."""
        accounts = self.query_one("#accounts-list", OptionList)
        if self.nested_mode and accounts.option_count:
            accounts.focus()
        else:
            self.query_one("#diff", VerticalScroll).focus()

    def action_toggle_view(self) -> None:
        wide = self.size.width >= WIDE
        current = "side" if (self.view == "side" or (self.view == "auto" and wide)) else "unified"
        self.view = "unified" if current == "side" else "side"
        self.show_side()

    # -- rendering -----------------------------------------------------------------------------------
    def render_info(self) -> None:
        text = Text()
        proposal = self.proposal
        nested = self.selected_account()
        if self.status:
            text.append(self.status + "\n", style=WARN)
        if self.nested_mode and not self.busy and nested is None:
            text.append(NESTED_INTRO, style="dim")
        elif nested is not None and proposal is None and not self.busy:
            text.append(f"Account {nested.account}", style="bold")
            text.append(f" (assuming {nested.role_arn}): ", style="dim")
            text.append(nested.error, style=BAD)
        if proposal is not None and not self.busy:
            wide = self.size.width >= WIDE
            append_target(text, proposal.target, wide=wide)
            if nested is not None:  # the list above names the account
                if wide:
                    text.append(f"\nAccount {nested.account} through {nested.role_arn}", style="dim")
            elif self.role_arn:
                text.append("\nRole: ", style="bold")
                text.append(self.role_arn if wide else self.role_arn.rsplit("/", 1)[-1])
                if self.external_id:
                    text.append(f" · external id {self.external_id}", style="dim")
            append_changes(text, proposal, wide=wide)
            append_deletion(text, self.deletion, wide=wide)
            existing = self.flow_app.state.existing_locations
            if existing:
                text.append("\nAlso reads (existing destinations, read only): ", style="bold")
                text.append(", ".join(loc.shown for loc in existing))
            if self.kms_keys:
                text.append(f"\nKMS: {KMS_NOTE}", style=INFO)
            append_findings(text, proposal.merge)
        elif self.busy:
            pass
        elif not self.status and not self.nested_mode:
            text.append("Press r to compute the change.", style="dim")
        record = self.nested_records.get(nested.account) if nested else None
        if nested is not None and record is not None:
            append_applied(text, record.previous_version_id, nested.account)
        elif not self.nested_mode and self.record is not None:
            append_applied(text, self.record.previous_version_id, None)
        self.query_one("#info-text", Static).update(text)

    def show_side(self) -> None:
        """Side by side when asked (`v`), or by default when wide; unified otherwise."""
        side = self.view == "side" or (self.view == "auto" and self.size.width >= WIDE)
        self.query_one(PolicyDiffView).side = side

    # -- applying and rolling back -------------------------------------------------------------------
    @property
    def records_file(self) -> Path:
        return records_path(self.flow_app.settings.audit_path)

    def apply_warnings(self, proposal: PolicyProposal) -> list[str]:
        warnings = [f"Size: {proposal.merge.size.describe()}"]
        if proposal.rotation is not None:
            warnings.append(
                f"Deletes policy version {proposal.rotation.params['VersionId']} (oldest non-default) to make "
                "room for the new one; asked separately."
            )
        if self.deletion == "s3:*":
            warnings.append(f"s3:* requested: {DELETE_RISK}")
        return warnings

    def action_apply(self) -> None:
        proposal = self.proposal
        nested = self.selected_account()
        if self.nested_mode and nested is not None and proposal is None and not self.busy:
            self.flow_app.notify(f"Account {nested.account}: {nested.error}", severity="error")
            return
        if proposal is None or self.busy:
            self.flow_app.notify("No change computed yet: press r.", severity="warning")
            return
        if proposal.merge.noop:
            self.flow_app.notify("No change needed: the policy already grants what Kentik needs.")
            return
        if proposal.merge.blocking:
            self.flow_app.notify(
                "Fix the BLOCKING problem shown first: the change would not give Kentik access.",
                severity="error",
            )
            return
        if nested is not None:
            self.apply_nested([nested])
            return
        warnings = self.apply_warnings(proposal)
        self.app.push_screen(
            PlanReview(proposal.plan(), title="IAM policy", step=self.STEP, warnings=warnings),
            lambda report: self.applied(proposal, report),
        )

    def applied(self, proposal: PolicyProposal, report: ApplyReport | None) -> None:
        if report is None:
            return
        failed = report.failed
        if failed is not None and failed.refusal == "stale":
            self.flow_app.notify(
                "The policy changed since the diff was shown; nothing was changed. The diff is refreshed: "
                "review it and apply again.",
                title="IAM policy",
                severity="warning",
                timeout=12,
            )
            self.action_refresh()
            return
        if report.ok:

            def proceed() -> None:
                self.remember_role()
                self.action_refresh()

            self.keep_rollback(proposal.target, report, None, proceed)
            return
        self.action_refresh()

    @work(thread=True, exit_on_error=False, group="policy-record")
    def keep_rollback(
        self, target: PolicyTarget, report: ApplyReport, account: str | None, then: Callable[[], None]
    ) -> None:
        """Save the applied change's rollback record off the UI thread, then go on with `then`."""
        try:
            record = save_rollback(self.records_file, target, report)
        except OSError as err:
            self.post_message(RollbackSaved(None, account, then, err))
            return
        self.post_message(RollbackSaved(record, account, then))

    def on_rollback_saved(self, message: RollbackSaved) -> None:
        if message.error is not None:
            self.flow_app.show_error(message.error, context="IAM policy rollback record")
        elif message.record is not None and message.account is None:
            self.record = message.record
        elif message.record is not None and message.account is not None:
            self.nested_records[message.account] = message.record
        message.then()

    def action_rollback(self) -> None:
        nested = self.selected_account()
        if self.nested_mode:
            if nested is None:
                self.flow_app.notify("Load the member accounts' policies first (Enter).", severity="warning")
            else:
                self.rollback_nested(nested)
            return
        session = self.flow_app.session
        proposal = self.proposal
        if session is None or proposal is None:
            self.flow_app.notify("Load the policy first (r).", severity="warning")
            return
        target = proposal.target
        record = self.record if self.record is not None and self.record.key == target.key else None
        self.prepare_rollback(session, target, record, None)

    def rolled_back(self, report: ApplyReport | None) -> None:
        if report is None:
            return
        failed = report.failed
        if failed is not None and failed.refusal == "stale":
            self.flow_app.notify(
                "The policy changed since that change was applied: not rolled back.",
                severity="warning",
                timeout=12,
            )
        elif report.ok:
            self.record = None
            self.flow_app.notify("Rolled back: the previous policy is in effect again.", title="IAM policy")
        self.action_refresh()
