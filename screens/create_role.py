"""The IAM step's Kentik role choices: pick one of discovery's candidates (`choose_role`), or, when no role
trusts Kentik, create one (`offer_create_role`: issue 15, "A Kentik role from nothing").

`CreateRoleScreen` asks for the role name and Kentik's external id (the Kentik company id), says at once
what IAM would refuse in either (`aws.iam.kentik_role.input_problems`, no AWS call), then plans the role in
a thread worker (`plan_kentik_role`: the role trusted by Kentik's principal with that external id, a
managed metadata policy with the describe permissions of Kentik's Terraform module, attached, and the S3
read statement for the IAM step's buckets) and shows the Changes in the shared `PlanReview`, which applies
them from its own thread worker (account lock, audit log, resume record). A role of that name that does not
trust Kentik with that id is refused, never overwritten: the error reaches the app's one error display,
and is repeated in the dialog. Once applied the dialog closes with the role (`CreatedRole`) and the IAM
step uses it. The screen makes no AWS call itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from aws.errors import ValidationFailed
from aws.iam.kentik_role import (
    KENTIK_PRINCIPAL,
    KentikRoleInputInvalid,
    KentikRolePlan,
    KentikRoleSpec,
    input_problems,
    plan_kentik_role,
)
from aws.iam.requirements import Requirements
from aws.inventory import KentikRole
from tui.palette import BAD, INFO_BOLD, OK
from tui.pick import Pick
from tui.plan_view import PlanReview
from tui.workers import RoutesWorkerErrors

if TYPE_CHECKING:
    from aws.plans.change import ApplyReport
    from screens.policy_diff import PolicyDiffScreen
    from tui.app import FlowlogsApp

DEFAULT_ROLE_NAME = "kentik-ingest-role"
CREATE_HINT = "No role trusts Kentik yet: press c to create a Kentik role."


@dataclass(frozen=True)
class CreatedRole:
    name: str
    arn: str
    external_id: str


@dataclass
class RolePlanned(Message):
    made: KentikRolePlan


class CreateRoleScreen(RoutesWorkerErrors, ModalScreen["CreatedRole | None"]):
    """Role name and external id in, Kentik's role planned, previewed and applied (`PlanReview`)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="create_role.cancel")]
    DEFAULT_CSS = """
    CreateRoleScreen { align: center middle; }
    CreateRoleScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1; }
    CreateRoleScreen .title { text-style: bold; width: 100%; }
    CreateRoleScreen #create-role-intro { width: 100%; color: $text-muted; }
    CreateRoleScreen .field { height: 1; margin: 1 0 0 0; }
    CreateRoleScreen .field Label { width: 13; }
    CreateRoleScreen .field Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    CreateRoleScreen #create-role-message { width: 100%; height: auto; margin: 1 0 0 0; }
    CreateRoleScreen #create-role-keys { width: 100%; margin: 1 0 0 0; }
    """

    def __init__(
        self, need: Requirements, *, role_name: str = DEFAULT_ROLE_NAME, external_id: str = ""
    ) -> None:
        super().__init__()
        self.need = need
        self.role_name = role_name
        self.external_id = external_id
        self.planning = False

    @property
    def flow_app(self) -> FlowlogsApp:
        return cast("FlowlogsApp", self.app)

    def compose(self) -> ComposeResult:
        reads = ", ".join([*self.need.buckets, *(b for b, _ in self.need.existing)])
        with Vertical():
            yield Label("Create a Kentik role", classes="title")
            yield Static(
                f"Trusted by Kentik's {KENTIK_PRINCIPAL} with your Kentik company id as sts:ExternalId; "
                f"a managed metadata policy (the describe permissions of Kentik's Terraform module); read "
                f"access to {reads}. Nothing existing is overwritten.",
                id="create-role-intro",
                markup=False,
            )
            with Horizontal(classes="field"):
                yield Label("Role name")
                yield Input(value=self.role_name, id="role-name")
            with Horizontal(classes="field"):
                yield Label("External id")
                yield Input(value=self.external_id, placeholder="your Kentik company id", id="external-id")
            yield Static(id="create-role-message")
            keys = Text.assemble(("Enter", "bold"), " preview the changes   ", ("Esc", "bold"), " cancel")
            yield Label(keys, id="create-role-keys")

    def on_mount(self) -> None:
        self.query_one("#external-id" if self.role_name else "#role-name", Input).focus()

    def values(self) -> tuple[str, str]:
        return (
            self.query_one("#role-name", Input).value.strip(),
            self.query_one("#external-id", Input).value.strip(),
        )

    def say(self, message: RenderableType) -> None:
        self.query_one("#create-role-message", Static).update(message)

    @on(Input.Changed)
    def changed(self) -> None:
        """What IAM would refuse, said while typing (an empty field only once Enter is pressed)."""
        name, external_id = self.values()
        problems = input_problems(name or "x", external_id or "xx")
        self.say(Text("; ".join(problems), style=BAD) if problems else "")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if self.planning:
            return
        name, external_id = self.values()
        try:
            spec = KentikRoleSpec(name, external_id)
        except KentikRoleInputInvalid as err:
            problems = err.problems
            self.say(Text("; ".join(problems) + ".", style=BAD))
            field = "#role-name" if input_problems(name, "xx") else "#external-id"
            self.query_one(field, Input).focus()
            return
        if self.flow_app.session is None:
            self.flow_app.show_no_session()
            return
        self.planning = True
        self.say(Text("Reading what exists and planning the role…", style=INFO_BOLD))
        self.make_plan(spec)

    @work(thread=True, exclusive=True, exit_on_error=False, group="create-role")
    def make_plan(self, spec: KentikRoleSpec) -> None:
        made = plan_kentik_role(self.flow_app.require_session(), spec, self.need)
        self.post_message(RolePlanned(made))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # shown by RoutesWorkerErrors; repeated here, in place
            self.planning = False
            error = event.worker.error
            self.say(Text(getattr(error, "message", str(error)), style=BAD))

    def on_role_planned(self, message: RolePlanned) -> None:
        self.planning = False
        made = message.made
        self.say(
            Text(f"{len(made.plan.changes)} change(s) planned: review them and press a to apply.", style=OK)
        )
        warnings = [] if not made.role_exists else [f"{made.role_arn} already exists with Kentik's trust."]

        def done(report: ApplyReport | None) -> None:
            if report is not None and report.ok:
                self.dismiss(CreatedRole(made.role_arn.rsplit("/", 1)[-1], made.role_arn, made.external_id))
            elif report is not None:
                self.say(
                    Text("Not every change was applied (see the review); fix it and try again.", style=BAD)
                )

        review = PlanReview(
            made.plan, title="Kentik role", step="policy", warnings=warnings, notes=made.plan.notes
        )
        self.app.push_screen(review, done)

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the IAM step's role actions ------------------------------------------------------------------------


def trusts_kentik(roles: list[KentikRole]) -> bool:
    return any(r.trusts_kentik for r in roles)


def choose_role(screen: PolicyDiffScreen) -> None:
    """Pick one of discovery's candidate roles (or be told to type one)."""
    roles = screen.candidates()
    if not roles:
        hint = " or press c to create one" if screen.inventory is not None else ""
        screen.flow_app.notify(
            f"No candidate roles from discovery: type the role name or policy ARN{hint}.", severity="warning"
        )
        screen.query_one("#source", Input).focus()
        return
    options: list[tuple[str, RenderableType]] = []
    for role in roles:
        why = "trusts Kentik's account" if role.trusts_kentik else "requires an external id"
        if role.trusts_kentik and role.external_ids:
            why += " with external id " + ", ".join(role.external_ids)
        options.append((role.name, f"{role.name}  ({why})"))

    def chosen(name: str | None) -> None:
        if name:
            screen.query_one("#source", Input).value = name
            screen.policy_pick = (None, None)
            screen.action_refresh()

    screen.app.push_screen(Pick("Which role does Kentik assume?", options), chosen)


def offer_create_role(screen: PolicyDiffScreen) -> None:
    """Open the dialog with the IAM step's buckets (a usage error when none is named yet)."""
    try:
        need = screen.requirements()
    except ValidationFailed as err:
        screen.flow_app.show_error(err, context="Create a Kentik role")
        return
    dialog = CreateRoleScreen(need, external_id=screen.flow_app.state.external_id or "")
    screen.app.push_screen(dialog, lambda made: role_created(screen, made))


def role_created(screen: PolicyDiffScreen, made: CreatedRole | None) -> None:
    """The IAM step goes on with the new role: named in the role field, a candidate, and Kentik's."""
    if made is None:
        return
    inventory = screen.inventory
    if inventory is not None and not any(r.arn == made.arn for r in inventory.roles):
        principal = [KENTIK_PRINCIPAL]
        inventory.roles.append(
            KentikRole(
                name=made.name,
                arn=made.arn,
                trusts_kentik=True,
                external_ids=[made.external_id],
                principals=principal,
            )
        )
    screen.query_one("#source", Input).value = made.name
    screen.policy_pick = (None, None)
    screen.role_arn, screen.external_id = made.arn, made.external_id
    screen.status = ""
    screen.flow_app.notify(f"Kentik's role {made.arn} is ready.", title="IAM policy")
    screen.action_refresh()
