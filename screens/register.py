"""Register in Kentik: the summary's dialog that makes Kentik read every log bucket (one cloud export per
bucket and prefix), the TUI twin of `flowlogs register`.

Who: the environment's KENTIK_EMAIL / KENTIK_API_TOKEN, or an email and API token typed here (the token in
a masked field). What is typed goes to `app.kentik` for this run only: it is never saved with the wizard
state, written to a file or the audit log, or shown (the field is cleared once it is taken). Kentik's
region (us/eu) picks its API hosts. The billing plan is picked from Kentik's plan list (the v5 API) when
that answers, typed otherwise (one quiet line says why).

ctrl+r previews: Kentik's exports are listed and compared with the buckets this setup writes to
(aws.kentik.register), nothing is sent; exports already as needed are listed, each change shows what it
sends (an update, the fields it changes). ctrl+g registers what the preview showed through the engine's
apply (audited, one apply per account, followed by the saved wizard state like every other apply):
updates overwrite settings made in Kentik's portal, so they are confirmed on their own. Read-only mode
refuses. Closing hands the registered exports (ids, names) to the summary.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioSet, Select, Static
from textual.worker import Worker, WorkerState

from aws.errors import FlowlogsError, ReadOnlyViolation, ValidationFailed, explain
from aws.kentik.access import KentikAccessDenied, header_safe
from aws.kentik.api import READ_SCOPE, WRITE_SCOPE
from aws.kentik.register import CREATE_KIND, UPDATE_KIND, Nested, Registration, registration_plan, targets_in
from aws.lock import account_lock
from aws.plans.change import ApplyReport, Change, ChangeResult, apply_plan, executor_for
from tui.config import state_dir
from tui.dialogs import Confirm
from tui.messages import (
    KentikPlansFailed,
    KentikPlansLoaded,
    RegistrationApplied,
    RegistrationPreviewed,
    RegistrationProgress,
)
from tui.palette import BAD, BAD_BOLD, INFO_BOLD, OK_BOLD, WARN_BOLD
from tui.plan_view import STATUS_STYLE
from tui.widgets import KeyFooter, MarkedRadio
from tui.workers import RoutesWorkerErrors

if TYPE_CHECKING:
    from aws.coverage import ReadLocation
    from aws.kentik.models import Plan as KentikPlan
    from aws.kentik.register import ExportTarget
    from aws.plans.change import Plan
    from tui.app import FlowlogsApp
    from tui.state import WizardState

STEP = "register"  # what the applied plan is recorded under (app.record_apply)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
IDLE_BODY = "ctrl+r previews: Kentik's exports are read and nothing is sent."
EXPORT_TARGET = "kentik:export:"  # aws.kentik.register.export_target_id's prefix


@dataclass(frozen=True)
class RegisteredExport:
    """A Kentik cloud export that reads one of this setup's buckets."""

    id: str
    name: str
    reads: str  # s3://bucket/prefix/
    how: str  # "new", "updated" or "as needed"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _reads(target: str) -> str:
    """s3://bucket/prefix/ from a Kentik change's target (kentik:export:bucket[/prefix])."""
    return f"s3://{target.removeprefix(EXPORT_TARGET).rstrip('/')}/"


def registered_exports(state: WizardState) -> list[RegisteredExport]:
    """The exports this setup registered (made or updated), from the applies recorded in the state."""
    out: dict[str, RegisteredExport] = {}
    for applied in state.applied:
        results = {r.change_id: r for r in applied.report.results}
        for change in applied.plan.changes:
            result = results.get(change.id)
            if change.kind not in (CREATE_KIND, UPDATE_KIND) or result is None or result.status != "applied":
                continue
            export_id = str(result.outputs.get("export_id") or "")
            if export_id:
                how = "new" if change.kind == CREATE_KIND else "updated"
                name = str(result.outputs.get("name") or "")
                out[export_id] = RegisteredExport(export_id, name, _reads(change.target), how)
    return list(out.values())


def merge_exports(*lists: list[RegisteredExport]) -> list[RegisteredExport]:
    """One entry per export id (a later list wins), ordered by the location read."""
    merged: dict[str, RegisteredExport] = {}
    for exports in lists:
        merged.update({e.id: e for e in exports})
    return sorted(merged.values(), key=lambda e: (e.reads, e.id))


def last_plan_id(state: WizardState) -> str:
    """The Kentik plan id the last registration of this setup used ('' when none)."""
    for applied in reversed(state.applied):
        kentik = applied.plan.settings.get("kentik")
        if isinstance(kentik, dict) and kentik.get("plan_id"):
            return str(kentik["plan_id"])
    return ""


@dataclass(frozen=True)
class Inputs:
    """What a preview is made from (read on the UI thread, handed to the worker)."""

    plan_id: str
    role_arn: str
    locations: list[ReadLocation]
    plans: list[Plan]
    spoke_role: str
    members: list[str]
    blocked: list[str]
    caller: str
    org: bool
    key: tuple[str, ...] = field(default=())  # what the preview shows depends on (changed: preview again)


def nested_for(inputs: Inputs, targets: list[ExportTarget]) -> Nested | None:
    """Kentik's nested setup when the IAM step set up a spoke role in the member accounts."""
    if not inputs.spoke_role:
        return None
    blocked = sorted(set(inputs.blocked))
    return Nested(
        org=inputs.org,
        accounts=sorted({a for a in inputs.members if a != inputs.caller and a not in blocked}),
        blocked=blocked,
        regions=sorted({t.region for t in targets if t.region}),
        suffix=inputs.spoke_role,
    )


class RegisterDialog(RoutesWorkerErrors, ModalScreen[list[RegisteredExport] | None]):
    """Pushed from the summary (r, or its button). Dismisses with the exports Kentik reads this setup's
    buckets through (None when nothing is known)."""

    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview", id="register.preview"),
        Binding("ctrl+g", "register", "Register", id="register.apply"),
        Binding("escape", "close", "Close", id="register.close"),
        # a modal cuts the app's bindings off: the app's read-only toggle, by its id (the keymap's too)
        Binding("ctrl+t", "toggle_read_only", "Read-only", id="app.toggle_read_only", show=False),
    ]
    DEFAULT_CSS = f"""
    RegisterDialog {{ background: $surface; layout: vertical; }}
    RegisterDialog #register-title {{ height: 1; padding: 0 1; text-style: bold; background: $boost; }}
    RegisterDialog .quiet {{ height: auto; padding: 0 1; color: $text-muted; }}
    RegisterDialog .row {{ height: 1; padding: 0 1; }}
    RegisterDialog .row Label {{ width: 7; }}
    RegisterDialog .row Label.-gap {{ width: 8; padding-left: 1; }}
    RegisterDialog .row Input {{ width: 1fr; }}
    RegisterDialog #region {{ layout: horizontal; width: 15; height: 1; }}
    RegisterDialog #region > RadioButton {{ width: auto; margin-right: 1; }}
    RegisterDialog #plan {{ width: 1fr; }}
    RegisterDialog #plan-id {{ display: none; }}
    RegisterDialog.-typed-plan #plan {{ display: none; }}
    RegisterDialog.-typed-plan #plan-id {{ display: block; }}
    RegisterDialog #register-status {{ height: auto; padding: 0 1; }}
    RegisterDialog #register-status.-problem {{ color: {BAD}; }}
    RegisterDialog #register-buttons {{ height: 1; padding: 0 1; }}
    RegisterDialog #register-buttons Button {{ margin-right: 2; }}
    RegisterDialog #register-body {{ height: 1fr; padding: 0 1; }}
    """

    def __init__(self, role_arn: str = "") -> None:
        """`role_arn`: Kentik's role as the summary shows it (the IAM step's, else discovery's candidate)."""
        super().__init__()
        self.role_arn = role_arn
        self.generation = 0  # of the preview; a newer one supersedes an older one's result
        self.plans_generation = 0
        self.plans: list[KentikPlan] | None = None  # Kentik's plan list, once it answered
        self.preview: RegistrationPreviewed | None = None
        self.previewed: tuple[str, ...] = ()  # the inputs the preview was made from
        self.pending_key: tuple[str, ...] = ()  # those of the preview running
        self.results: dict[str, ChangeResult] = {}
        self.report: ApplyReport | None = None
        self.registered: list[RegisteredExport] = []
        self.applying = False
        self.running = ""  # the change being applied

    @property
    def flow_app(self) -> FlowlogsApp:
        return cast("FlowlogsApp", self.app)

    # -- layout ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.flow_app.make_context_bar()
        title = Text("Register in Kentik", style=INFO_BOLD)
        yield Static(
            title.append(": one cloud export per log bucket (Tab moves, Esc closes)", style=""),
            id="register-title",
        )
        yield Static(id="register-user", classes="quiet", markup=False)
        with Horizontal(classes="row"):
            yield Label("Email")
            yield Input(placeholder="the Kentik user's email", id="email", compact=True)
            yield Label("Token", classes="-gap")
            yield Input(id="token", password=True, compact=True)
        with Horizontal(classes="row"):
            yield Label("Region")
            with RadioSet(id="region", compact=True):
                yield MarkedRadio("us", value=self.flow_app.kentik.region != "eu", id="region-us")
                yield MarkedRadio("eu", value=self.flow_app.kentik.region == "eu", id="region-eu")
            yield Label("Plan", classes="-gap")
            yield Select[str]([], prompt="Kentik's billing plan", id="plan", compact=True)
            yield Input(placeholder="the Kentik plan id", id="plan-id", compact=True)
        with Horizontal(classes="row"):
            yield Label("Role")
            yield Input(self.role_arn, placeholder="arn:aws:iam::ACCOUNT:role/NAME", id="role", compact=True)
        yield Static(id="plan-note", classes="quiet", markup=False)
        with Horizontal(id="register-buttons"):
            yield Button("Preview (ctrl+r)", id="preview", variant="primary", compact=True)
            yield Button("Register (ctrl+g)", id="register", compact=True)
        yield Static(id="register-status", markup=False)
        yield VerticalScroll(Static(id="register-preview", markup=False), id="register-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        kentik = self.flow_app.kentik
        email = self._email_now()
        self.query_one("#email", Input).value = email
        self._show_user()
        self._show_body(Text(IDLE_BODY, style="dim"))
        if kentik.configured:
            self.load_plans_now()
            self.query_one("#plan", Select).focus()
        else:
            self.query_one("#plan-note", Static).update(
                "Plans: Enter in the token field loads Kentik's plan list."
            )
            self.query_one("#email", Input).focus()

    # -- who -------------------------------------------------------------------------------------------
    def _email_now(self) -> str:
        """The email of the Kentik user this run acts as ('' when none)."""
        kentik = self.flow_app.kentik
        return kentik.credentials().email if kentik.configured else ""

    def _show_user(self) -> None:
        kentik = self.flow_app.kentik
        token = self.query_one("#token", Input)
        if kentik.entered:
            text = (
                f"As {self._email_now()} (typed in: in memory for this run only; clear Email and Token, "
                "Enter, to drop it)."
            )
            token.placeholder = "blank: the token typed before"
        elif kentik.configured:
            text = f"As KENTIK_EMAIL {self._email_now()}. Type another email and token to override."
            token.placeholder = "blank: KENTIK_API_TOKEN"
        else:
            text = "No Kentik credentials in the environment: type the user's email and API token."
            token.placeholder = "API token (never saved)"
        self.query_one("#register-user", Static).update(text)

    def _credentials_problems(self) -> list[str]:
        """Why the typed email/token cannot be used (never quoting the token)."""
        email = self.query_one("#email", Input).value.strip()
        token = self.query_one("#token", Input).value
        if not token:
            if not email:  # blank: the environment's user, when there is one
                return (
                    [] if self.flow_app.kentik.configured else ["type the Kentik user's email and API token"]
                )
            if not EMAIL.match(email):
                return [f"{email!r} does not look like an email address (name@example.com)"]
            if email != self._email_now():
                return [f"type the API token of {email} (from its profile in Kentik's portal)"]
            return []
        problems = []
        if not EMAIL.match(email):
            problems.append(
                f"{email!r} does not look like an email address (name@example.com)"
                if email
                else "type the Kentik user's email"
            )
        if token != token.strip() or any(c.isspace() for c in token):
            problems.append("the API token has spaces in it: paste it whole")
        elif not header_safe(token):
            problems.append(
                "the API token has a character no Kentik token has (not plain ASCII): paste it again"
            )
        if email and EMAIL.match(email) and not header_safe(email):
            problems.append(f"{email!r} has characters an HTTP header cannot carry (not plain ASCII)")
        return problems

    def _take_credentials(self) -> bool:
        """Use a typed token (app.kentik, memory only; the field is cleared). False when nothing new."""
        token = self.query_one("#token", Input)
        if not token.value:
            return False
        self.flow_app.kentik.enter(self.query_one("#email", Input).value.strip(), token.value)
        token.value = ""
        self._show_user()
        return True

    @on(Input.Submitted, "#email")
    def _email_done(self) -> None:
        self.query_one("#token", Input).focus()

    @on(Input.Submitted, "#token")
    def _token_done(self) -> None:
        if self._drop_typed():
            return
        problems = self._credentials_problems()
        if problems:
            self._status(problems, problem=True)
            return
        self._status([])
        self._take_credentials()
        self.load_plans_now()
        self.query_one("#plan-id" if self.has_class("-typed-plan") else "#plan").focus()

    def _drop_typed(self) -> bool:
        """Email and token both cleared, Enter: the typed credentials are forgotten (the environment's, if
        any, are used again). False when that is not what was asked."""
        kentik = self.flow_app.kentik
        email, token = self.query_one("#email", Input), self.query_one("#token", Input)
        if not kentik.entered or email.value.strip() or token.value:
            return False
        kentik.forget()
        self._forgotten()
        return True

    def _forgotten(
        self, why: str = "The typed email and token are forgotten.", *, problem: bool = False
    ) -> None:
        kentik = self.flow_app.kentik
        self.query_one("#email", Input).value = self._email_now()
        self._show_user()
        self.preview, self.previewed = None, ()  # made as the other user
        self._show_body(Text(IDLE_BODY, style="dim"))
        then = f"Using KENTIK_EMAIL {self._email_now()}." if kentik.configured else "Type an email and token."
        self._status([f"{why} {then}"], problem=problem)
        if kentik.configured:
            self.load_plans_now()

    @on(Input.Submitted, "#plan-id, #role")
    def _submitted(self) -> None:
        self.action_preview()

    @on(RadioSet.Changed, "#region")
    def _region(self, event: RadioSet.Changed) -> None:
        self.flow_app.kentik.region = "eu" if event.pressed.id == "region-eu" else "us"
        if self.flow_app.kentik.configured:
            self.load_plans_now()

    # -- Kentik's plans --------------------------------------------------------------------------------
    def load_plans_now(self) -> None:
        self.plans_generation += 1
        self.query_one("#plan-note", Static).update("Asking Kentik for its plans…")
        self.load_plans(self.plans_generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="register-plans", name="Kentik plans")
    def load_plans(self, generation: int) -> None:
        try:
            plans = self.flow_app.kentik_client().list_plans()
        except FlowlogsError as err:  # said quietly (the plan id is typed instead); the error's name only
            status = getattr(err, "status", 0)
            why = (err.title or type(err).__name__) + (f", HTTP {status}" if status else "")
            self.post_message(KentikPlansFailed(generation, why, status))
            return
        self.post_message(KentikPlansLoaded(generation, plans))

    def on_kentik_plans_loaded(self, message: KentikPlansLoaded) -> None:
        if message.generation != self.plans_generation:
            return
        if not message.plans:
            self._typed_plan("Kentik's plan list is empty for this user: type the plan id.")
            return
        self.plans = message.plans
        ordered = sorted(message.plans, key=lambda p: (p.active is False, p.name.lower(), p.id))
        options = [
            (f"{p.name or 'plan'} ({p.id})" + ("  inactive" if p.active is False else ""), p.id)
            for p in ordered
        ]
        select = self.query_one("#plan", Select)
        active = [p.id for p in ordered if p.active is not False]
        wanted = last_plan_id(self.flow_app.state) or (active[0] if len(active) == 1 else "")
        chosen = select.value  # a reload (another region or user) keeps the user's pick when it is listed
        select.set_options(options)
        if isinstance(chosen, str) and chosen in {p.id for p in ordered}:
            select.value = chosen
        elif wanted in {p.id for p in ordered}:
            select.value = wanted
        self.remove_class("-typed-plan")
        self.query_one("#plan-note", Static).update(f"Plans: Kentik's list ({len(options)}).")

    def on_kentik_plans_failed(self, message: KentikPlansFailed) -> None:
        if message.generation != self.plans_generation:
            return
        self._typed_plan(self._scrub(f"Kentik's plan list did not answer ({message.why}): type the plan id."))
        if message.status == 401 and self.flow_app.kentik.entered:
            self._drop_refused()

    def _drop_refused(self) -> None:
        """Kentik does not know the typed email and token: they are never sent again."""
        self.flow_app.kentik.forget()
        self._forgotten(
            "Kentik does not know the typed email and token (HTTP 401): they are dropped.", problem=True
        )

    def _typed_plan(self, why: str) -> None:
        self.plans = None
        had_focus = self.query_one("#plan", Select).has_focus
        self.add_class("-typed-plan")
        if had_focus:  # the list is hidden now: the typed field takes its place
            self.query_one("#plan-id", Input).focus()
        typed = self.query_one("#plan-id", Input)
        if not typed.value:
            typed.value = last_plan_id(self.flow_app.state)
        self.query_one("#plan-note", Static).update(why)

    def _plan_id(self) -> str:
        if self.has_class("-typed-plan"):
            return self.query_one("#plan-id", Input).value.strip()
        value = self.query_one("#plan", Select).value
        return value if isinstance(value, str) else ""

    # -- preview ---------------------------------------------------------------------------------------
    def _key(self) -> tuple[str, ...]:
        kentik = self.flow_app.kentik
        typed = "typed" if self.query_one("#token", Input).value else ""
        state = self.flow_app.state  # what to register may change meanwhile (ctrl+b / ctrl+n work here)
        return (
            self._email_now(),
            typed,
            kentik.region,
            self._plan_id(),
            self.query_one("#role", Input).value,
            " ".join(loc.path for loc in state.read_locations()),
            state.spoke_role,
            " ".join(state.nested_accounts),
            str(sum(1 for a in state.applied if a.step != STEP)),
        )

    def collect(self) -> Inputs | None:
        """The inputs of a preview, validated (every problem shown, nothing sent); None when not usable."""
        app = self.flow_app
        state = app.state
        problems = self._credentials_problems()
        if not problems and self._take_credentials():
            self.load_plans_now()  # another user: its plan list
        plan_id, role_arn = self._plan_id(), self.query_one("#role", Input).value.strip()
        try:
            Registration.parse(plan_id=plan_id, role_arn=role_arn)
        except ValidationFailed as err:
            problems += [line[2:] for line in err.message.splitlines() if line.startswith("- ")]
        if not plan_id:  # in the dialog's words rather than the command line's
            problems = [p for p in problems if not p.startswith("no Kentik plan id given")]
            if self.has_class("-typed-plan"):
                problems.append("type Kentik's plan id")
            else:
                loads = "" if self.plans else " (its list loads once the email and token are in)"
                problems.append(f"choose Kentik's billing plan{loads}")
        if not role_arn:
            problems = [p for p in problems if not p.startswith("no Kentik role given")]
            problems.append("give Kentik's role ARN (the IAM policy step chooses the role)")
        if not state.read_locations():
            problems.append("no bucket to register yet: choose the buckets on the bucket step first")
        if problems:
            self._status(problems, problem=True)
            return None
        org = state.org_inventory
        return Inputs(
            plan_id=plan_id,
            role_arn=role_arn,
            locations=list(state.read_locations()),
            plans=[a.plan for a in state.applied],
            spoke_role=state.spoke_role,
            members=list(state.nested_accounts or ([a.account for a in org.scanned] if org else [])),
            blocked=[*org.excluded, *(a.account for a in org.failed)] if org else [],
            caller=org.caller.account if org else (app.identity.account if app.identity else ""),
            org=bool(app.accounts and app.accounts.org),
            key=self._key(),
        )

    def action_preview(self) -> None:
        if self.applying:
            self._status(["Registering: wait for it to finish."], problem=True)
            return
        inputs = self.collect()
        if inputs is None:
            return
        self.generation += 1
        self.preview, self.pending_key = None, inputs.key
        self._status(["Previewing: reading Kentik's exports (nothing is sent)…"])
        self.run_preview(self.generation, inputs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="register-preview", name="register preview")
    def run_preview(self, generation: int, inputs: Inputs) -> None:
        app = self.flow_app
        session = app.require_session()
        identity = session.identity()
        targets = targets_in(session, inputs.locations, inputs.plans, account=identity.account)
        registration = Registration.parse(
            plan_id=inputs.plan_id,
            role_arn=inputs.role_arn,
            nested=nested_for(inputs, targets),
        )
        exports = app.kentik_client().list_exports()
        plan, found = registration_plan(
            exports, targets, registration, account=identity.account, partition=identity.partition
        )
        self.post_message(RegistrationPreviewed(generation, plan, found.unchanged, found.notes))

    def on_registration_previewed(self, message: RegistrationPreviewed) -> None:
        if message.generation != self.generation:
            return  # a newer preview supersedes it
        self.preview, self.results, self.report = message, {}, None
        self.previewed = self.pending_key
        self.registered = [
            RegisteredExport(str(export.id or ""), export.name, target.shown, "as needed")
            for target, export in message.unchanged
            if export.id
        ]
        plan = message.plan
        updates = len(plan.destructive)
        if plan.changes:
            what = f"{len(plan.changes) - updates} new, {updates} update(s)"
            asks = ", asking before updates" if updates else ""
            self._status([f"Preview: {what}. ctrl+g registers{asks}."])
        else:
            self._status(["Nothing to register: Kentik already reads every bucket as this setup needs."])
        self._render_preview()

    def _render_preview(self) -> None:
        preview = self.preview
        if preview is None:
            return
        pad = "\u00a0"  # leading spaces that survive the pane's wrapping
        text = Text()
        if preview.unchanged:
            text.append("Kentik already reads (left alone):\n", style=OK_BOLD)
            for target, export in preview.unchanged:
                text.append(f"{pad * 2}= {target.shown}  export {export.name!r} ({export.id})\n")
        for note in preview.notes:
            text.append(f"Note: {note}\n", style="dim")
        if preview.plan.changes:
            text.append("Results:\n" if self.results else "To register:\n", style=INFO_BOLD)
        for n, change in enumerate(preview.plan.changes, 1):
            result = self.results.get(change.id)
            if change.id == self.running:
                label, style = STATUS_STYLE["running"]
            elif result is not None:
                label, style = STATUS_STYLE.get(result.status, (result.status, ""))
            else:
                label, style = ("update", WARN_BOLD) if change.destructive else ("new", OK_BOLD)
            text.append(f"{pad}{n}. ").append(label, style=style).append(f"  {change.title}\n")
            if result is not None and result.status != "pending":
                failed = result.status in ("failed", "refused", "skipped")
                text.append(f"{pad * 4}{self._result_line(result)}\n", style=BAD if failed else "")
            call, *details = executor_for(change.kind).preview(change).splitlines()
            text.append(f"{pad * 4}{call}\n", style="dim")
            for line in details:
                text.append(f"{pad * 6}{line.strip()}\n")
        self._show_body(text)

    @staticmethod
    def _result_line(result: ChangeResult) -> str:
        export_id, name = result.outputs.get("export_id"), result.outputs.get("name")
        if result.status == "applied" and export_id:
            return f"export {export_id} ({name})"
        return result.detail

    def action_toggle_read_only(self) -> None:
        self.flow_app.action_toggle_read_only()
        self._status([])  # what it said about read-only mode no longer holds

    # -- register --------------------------------------------------------------------------------------
    def _read_only(self) -> bool:
        session = self.flow_app.session
        return session.read_only if session else self.flow_app.settings.read_only

    def action_register(self) -> None:
        if self.applying:
            self._status(["Registering: wait for it to finish."], problem=True)
            return
        if self._read_only():
            why = "Read-only mode is on: registering would change Kentik. Nothing was sent."
            self._status(
                [why, "Turn read-only off (ctrl+t) to register."],
                problem=True,
            )
            self.flow_app.notify(why, title="Read-only", severity="warning", markup=False)
            return
        preview = self.preview
        if preview is None or self.report is not None or self._key() != self.previewed:
            self._status(
                ["Preview first (ctrl+r): registering applies what the preview shows."], problem=True
            )
            return
        plan = preview.plan
        if not plan.changes:
            self._status(["Nothing to register: Kentik already reads every bucket as this setup needs."])
            return
        creates = [c for c in plan.changes if not c.destructive]
        updates = plan.destructive
        question = f"Register in Kentik as {self._email_now()}: {len(creates)} new export(s)"
        question += f" (and {len(updates)} update(s), asked next)?" if updates else "?"
        details = "\n".join(f"- {c.title}" for c in creates) or "- no new export"
        details += "\nEach call is written to the audit log (never the token)."
        self.app.push_screen(Confirm(question, details), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        preview = self.preview
        if not yes or preview is None:
            self._status(["Not registered: nothing was sent."])
            return
        updates = preview.plan.destructive
        if not updates:
            self._start(preview.plan, False)
            return
        lines = []
        for change in updates:
            lines.append(f"- {change.title}")
            lines += [f"    {d}" for d in executor_for(change.kind).details(change)[1:]]
        lines.append(
            "Only these fields change; the name, description and other settings made in Kentik's portal "
            "are kept. n registers the new exports only."
        )
        self.app.push_screen(
            Confirm(
                f"Also update {len(updates)} existing Kentik export(s)? This overwrites them.",
                "\n".join(lines),
            ),
            lambda allow: self._updates_answered(preview.plan, bool(allow)),
        )

    def _updates_answered(self, plan: Plan, allow: bool) -> None:
        """Updates declined: they are left out (not run and refused); with nothing else, nothing runs."""
        if not allow:
            plan = plan.model_copy(update={"changes": [c for c in plan.changes if not c.destructive]})
            if not plan.changes:
                self._status(["Updates skipped: nothing was sent."])
                return
        self._start(plan, allow)

    def _start(self, plan: Plan, allow_updates: bool) -> None:
        if not self.flow_app.apply_began(STEP, plan):  # another apply is running (the app said so)
            return
        self.applying = True
        self.results = {c.id: ChangeResult(change_id=c.id, status="pending") for c in plan.changes}
        self._status(["Registering in Kentik…"])
        self._render_preview()
        self.run_register(plan, allow_updates)

    @work(thread=True, exclusive=True, exit_on_error=False, group="register-apply", name="register")
    def run_register(self, plan: Plan, allow_updates: bool) -> None:
        app = self.flow_app
        session = app.require_session()
        client = app.kentik_client()

        # the saved wizard state follows the apply, as for every other apply (tui.plan_view)
        def begin(change: Change) -> None:
            self.app.call_from_thread(app.change_began, change.id)
            self.post_message(RegistrationProgress(change, None))

        def progress(change: Change, result: ChangeResult) -> None:
            self.app.call_from_thread(app.change_done, result)
            self.post_message(RegistrationProgress(change, result))

        with account_lock(state_dir(), plan.account or session.identity().account):
            report = apply_plan(
                plan,
                session,
                confirm_destructive=allow_updates,
                on_progress=progress,
                on_begin=begin,
                providers={"kentik": client},
            )
        self.post_message(RegistrationApplied(report))

    def on_registration_progress(self, message: RegistrationProgress) -> None:
        if message.result is None:
            self.running = message.change.id
        else:
            self.results[message.change.id], self.running = message.result, ""
        self._render_preview()

    def on_registration_applied(self, message: RegistrationApplied) -> None:
        preview = self.preview
        self.applying = False
        self.report = message.report
        if preview is None:
            return
        self.flow_app.record_apply(STEP, preview.plan, message.report)
        self.results = {r.change_id: r for r in message.report.results}
        self.registered = merge_exports(self.registered, registered_exports(self.flow_app.state))
        self._render_preview()
        counts = ", ".join(f"{n} {s}" for s, n in message.report.counts().items())
        session = self.flow_app.session
        audit = f" Audit log: {session.audit.path}." if session and session.audit else ""
        if message.report.ok:
            self._status([f"Registered: {counts}. Esc lists them in the summary.{audit}"])
            self.flow_app.notify(f"Registered in Kentik: {counts}.", title="Register in Kentik")
            return
        problems = message.report.problems
        self._status([f"Not all registered: {counts}. Fix it and preview again.{audit}"], problem=True)
        first = problems[0] if problems else None
        self.flow_app.notify(
            self._scrub(first.detail if first else counts),
            title="Register in Kentik: " + (first.status if first else "failed"),
            severity="error",
            timeout=15,
            markup=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The error itself is shown by RoutesWorkerErrors (the app's one error display); here the dialog
        # says what it means for what is on screen.
        if event.state != WorkerState.ERROR:
            return
        problem = explain(event.worker.error) if event.worker.error else None
        title = (problem.title or type(problem).__name__) if problem else "error"
        if event.worker.group == "register-apply":
            self.applying = False
            self.flow_app.apply_failed()
            self._status([f"Registering stopped ({title}): see the message."], problem=True)
        elif (
            isinstance(problem, KentikAccessDenied) and problem.status == 401 and self.flow_app.kentik.entered
        ):
            self._drop_refused()
        elif isinstance(problem, KentikAccessDenied):
            self._status(
                [
                    f"Kentik refused the email and token (HTTP {problem.status}): check them, and that the "
                    f"token has the {READ_SCOPE} and {WRITE_SCOPE} scopes. Nothing was sent.",
                ],
                problem=True,
            )
        elif event.worker.group == "register-preview":
            sent = "" if isinstance(problem, ReadOnlyViolation) else " Nothing was sent to Kentik."
            self._status([f"Preview failed ({title}): see the message.{sent}"], problem=True)

    # -- text ------------------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        """`text` without the Kentik token (the client scrubs what Kentik says; this is a second guard)."""
        with suppress(FlowlogsError):
            text = self.flow_app.kentik.credentials().scrub(text)
        typed = self.query_one("#token", Input).value
        return text.replace(typed, "<redacted>") if typed else text

    def _status(self, lines: list[str], *, problem: bool = False) -> None:
        status = self.query_one("#register-status", Static)
        status.set_class(problem, "-problem")
        if problem and lines:
            status.update(Text("\n".join(f"✗ {self._scrub(line)}" for line in lines), style=BAD_BOLD))
        else:
            status.update(Text("\n".join(self._scrub(line) for line in lines)))

    def _show_body(self, text: Text) -> None:
        self.query_one("#register-preview", Static).update(text)

    @on(Button.Pressed, "#preview")
    def _preview_pressed(self) -> None:
        self.action_preview()

    @on(Button.Pressed, "#register")
    def _register_pressed(self) -> None:
        self.action_register()

    def action_close(self) -> None:
        if self.applying:
            self._status(["Registering: wait for it to finish."], problem=True)
            return
        self.dismiss(self.registered or None)
