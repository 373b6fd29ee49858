"""The checklist's options dialog: flow log and firewall log options (resources, prefixes, fields,
aggregation, what to do with existing destinations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, SelectionList, Static

from aws.errors import ValidationFailed
from aws.logs.flowlogs import AGGREGATION_HELP
from aws.logs.format import EXTRA_FIELDS
from aws.names import firewall_prefix as validate_firewall_prefix
from aws.names import flowlog_prefix as validate_flowlog_prefix
from aws.plans.choices import LogChoices
from screens.checklist_rows import RESOURCE_OPTIONS
from tui.palette import BAD, INFO_BOLD, WARN
from tui.widgets import MarkedCheckbox, MarkedRadio, MarkedSelectionList

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
    # Problems and destructive choices say so in words ("DESTRUCTIVE", "destructive"); colour repeats it.
    DEFAULT_CSS = f"""
    OptionsDialog {{ align: center middle; }}
    OptionsDialog > Vertical {{ width: 90; max-width: 100%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1; }}
    OptionsDialog #fields {{ height: 1fr; }}
    OptionsDialog Label {{ margin-top: 1; text-style: bold; }}
    OptionsDialog .help {{ color: $text-muted; }}
    OptionsDialog SelectionList {{ height: auto; max-height: 6; }}
    OptionsDialog #problems {{ color: {BAD}; height: auto; }}
    OptionsDialog .danger {{ color: {WARN}; }}
    """

    def __init__(self, options: ChecklistOptions) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text("Checklist options", style=INFO_BOLD)
            yield Static(title.append("  (Tab moves, Enter/ctrl+s saves, Esc cancels)", style=""))
            yield Static("", id="problems", markup=False)
            yield from self.fields()

    def fields(self) -> ComposeResult:
        c = self.options.choices
        with VerticalScroll(id="fields"):
            yield Label("Flow logs on")
            with RadioSet(id="resources", compact=True):
                for kind, text in RESOURCE_OPTIONS:
                    yield MarkedRadio(text, value=c.resources == kind, id=f"res-{kind}")
            yield Label("Complete logs already going to another bucket of this account")
            with RadioSet(id="existing", compact=True):
                yield MarkedRadio(
                    "Kentik reads it too (default; read only; one more Kentik device each)",
                    value=c.existing_destinations == "read",
                    id="existing-read",
                )
                yield MarkedRadio(
                    "Add a flow log to Kentik's bucket too (a second vended-log charge)",
                    value=c.existing_destinations == "duplicate",
                    id="existing-duplicate",
                )
            yield Label("Flow log S3 prefix (optional, e.g. vpc-flow-logs/)")
            yield Input(c.prefix, placeholder="no prefix", id="prefix", compact=True)
            yield Label("Aggregation interval")
            with RadioSet(id="aggregation", compact=True):
                yield MarkedRadio("600 s (default)", value=c.aggregation == 600, id="agg-600")
                yield MarkedRadio("60 s", value=c.aggregation == 60, id="agg-60")
            yield Static(AGGREGATION_HELP, classes="help", markup=False)
            yield Label("Extra fields (opt-in, added after the 29 v2-v5 fields)")
            yield MarkedSelectionList(*[(f, f, f in c.extra_fields) for f in EXTRA_FIELDS], id="extra")
            yield MarkedCheckbox(
                "Replace old non-compliant flow logs (DESTRUCTIVE: deletes them)",
                c.replace_existing,
                id="replace",
                classes="danger",
                compact=True,
            )
            yield Label("Firewall S3 prefix (optional, e.g. firewall-logs/)")
            yield Input(c.firewall_prefix, placeholder="no prefix", id="fw-prefix", compact=True)
            yield MarkedCheckbox(
                "Also send TLS logs (optional)", "TLS" in c.firewall_logs, id="tls", compact=True
            )
            yield MarkedCheckbox(
                "Repoint FLOW/ALERT logs that go to another S3 location (destructive)",
                c.repoint_existing,
                id="repoint",
                classes="danger",
                compact=True,
            )
            yield MarkedCheckbox(
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
