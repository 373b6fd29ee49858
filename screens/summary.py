"""The hand-off: what to register in Kentik, the audit-log path and the changes made this run.

Pushed from the verify step (key s). The text is plain and selectable; `c` copies it to the clipboard,
`e` writes it as JSON into the state directory and shows the file's path. `r` (or the "Register in
Kentik" button) opens the registration dialog (screens.register); the exports it registered are listed
here after it closes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Static, TextArea

from aws.coverage import ReadLocation, bucket_regions
from aws.errors import FlowlogsError
from aws.iam.nested import NestedSetup
from aws.inventory import Inventory
from aws.logs.sources import LogSource
from aws.s3.strategy import bucket_targets
from screens.base import EngineScreen
from screens.register import RegisterDialog, RegisteredExport, merge_exports, registered_exports
from tui import config
from tui.state import WizardState
from tui.widgets import KeyFooter

DELETION_TEXT = {
    "": "no (read-only access to the bucket)",
    "s3:DeleteObject": "yes: s3:DeleteObject",
    "s3:*": "yes: s3:*",
}


def registration(
    state: WizardState,
    sources: list[LogSource],
    *,
    account: str = "",
    audit_path: Path | None = None,
    bucket_regions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything Kentik's S3 registration asks for, plus what this run changed (JSON-ready)."""
    role_arn, role_from, external_id = (
        state.kentik_role_arn,
        "chosen on the IAM policy step",
        state.external_id,
    )
    inventory = state.inventory
    if not role_arn and isinstance(inventory, Inventory) and inventory.roles:
        role = next((r for r in inventory.roles if r.trusts_kentik), inventory.roles[0])
        role_arn, role_from = role.arn, "found by discovery: a candidate, not confirmed"
        external_id = external_id or (role.external_ids[0] if role.external_ids else "")
    regions = dict(bucket_regions or {})
    kms: dict[str, str] = {}
    if state.bucket_choice is not None:
        try:
            for target in bucket_targets(state.bucket_choice, account):
                regions.setdefault(target.name, target.region)
                if target.kms_key_arn:
                    kms[target.name] = target.kms_key_arn
        except FlowlogsError:
            pass
    for source in sources:
        if source.bucket_region:
            regions.setdefault(source.bucket, source.bucket_region)
    locations: dict[str, list[ReadLocation]] = {}
    for loc in state.read_locations():
        locations.setdefault(loc.bucket, []).append(loc)
        if loc.region:
            regions.setdefault(loc.bucket, loc.region)
        if loc.kms_key_arn:
            kms.setdefault(loc.bucket, loc.kms_key_arn)
    names = sorted(set(state.buckets.values()) | set(locations) | {s.bucket for s in sources})
    buckets = []
    for name in names:
        mine = [s for s in sources if s.bucket == name]
        prefixes = sorted({s.prefix for s in mine})
        places = locations.get(name, [])
        existing = bool(places) and not any(loc.kentik for loc in places)
        if existing:  # Kentik reads only the read-set prefixes of an existing bucket
            prefixes = sorted({loc.prefix for loc in places})
            mine = [s for s in mine if s.prefix.strip("/") in prefixes]
        elif not mine:
            prefixes = sorted({state.log_choices.prefix, state.log_choices.firewall_prefix})
        buckets.append(
            {
                "bucket": name,
                "region": regions.get(name, ""),
                "prefixes": prefixes,
                "source_regions": sorted(
                    {s.region for s in mine} or {r for r, b in state.buckets.items() if b == name}
                ),
                "flow_logs": sorted(s.flow_log_id for s in mine if s.kind == "flowlog"),
                "firewall_logs": sorted(
                    f"{s.firewall_name}/{s.log_type}" for s in mine if s.kind == "firewall"
                ),
                "kms_key_arn": kms.get(name, ""),
                "existing": existing,
                "read_prefixes": [loc.logs_prefix for loc in places] if existing else [],
            }
        )
    changes = []
    for applied in state.applied:
        results = {r.change_id: r for r in applied.report.results}
        for change in applied.plan.changes:
            result = results.get(change.id)
            changes.append(
                {
                    "step": applied.step,
                    "id": change.id,
                    "title": change.title,
                    "status": result.status if result else "not-run",
                }
            )
    nested = None
    org = state.org_inventory
    if org is not None:  # --org / --accounts: what Kentik's nested configuration asks for too
        # The members whose spoke policy the IAM step read, else every member scanned; those not
        # reached are left out with the excluded ones.
        members = state.nested_accounts or [a.account for a in org.scanned]
        nested = NestedSetup(
            primary_role_arn=role_arn,
            secondary_accounts=sorted(a for a in members if a != org.caller.account),
            secondary_role_suffix=state.spoke_role,
            regions=sorted({str(b["region"]) for b in buckets if b["region"]}),
            blocked_accounts=sorted({*org.excluded, *(a.account for a in org.failed)}),
        ).model_dump()
    return {
        "account": account,
        "nested": nested,
        "role_arn": role_arn,
        "role_from": role_from if role_arn else "",
        "external_id": external_id,
        "buckets": buckets,
        "deletion_granted": state.deletion_granted,
        "audit_log": str(audit_path) if audit_path else "",
        "changes": changes,
    }


def registration_text(data: dict[str, Any]) -> str:
    """The registration as plain text (what the copy key puts on the clipboard)."""
    lines = ["Register in Kentik (AWS / S3 flow logs):"]
    role = data["role_arn"] or "(no role known: create one trusting Kentik, see the IAM policy step)"
    lines.append(f"  Role ARN:     {role}")
    if data["role_from"]:
        lines.append(f"                ({data['role_from']})")
    lines.append(f"  External id:  {data['external_id'] or '(none)'}")
    for b in data["buckets"]:
        lines.append(f"  Bucket:       {b['bucket']}")
        if b.get("existing"):
            read = ", ".join(b["read_prefixes"])
            lines.append(f"    existing log bucket: Kentik reads {read} only (one more device)")
        lines.append(f"    region:     {b['region'] or '(unknown)'}")
        prefixes = ", ".join(p or "(none)" for p in b["prefixes"]) or "(none)"
        lines.append(f"    prefix:     {prefixes}")
        if b["source_regions"]:
            lines.append(f"    logs from:  {', '.join(b['source_regions'])}")
        if b["kms_key_arn"]:
            lines.append(f"    KMS key:    {b['kms_key_arn']}")
    if not data["buckets"]:
        lines.append("  Bucket:       (none chosen yet)")
    deletion = DELETION_TEXT.get(data["deletion_granted"], data["deletion_granted"])
    lines.append(f"  Deletion:     {deletion}")
    if data.get("kentik_exports"):
        lines += ["", "Registered in Kentik (cloud exports):"]
        for e in data["kentik_exports"]:
            lines.append(f"  {e['id']:>6}  {e['name']}  reads {e['reads']} ({e['how']})")
    if data.get("nested"):
        lines += ["", "Nested configuration (AWS Organizations):"]
        lines += [f"  {line}" for line in NestedSetup.model_validate(data["nested"]).lines()]
    lines.append("")
    lines.append(f"Audit log: {data['audit_log'] or '(none)'}")
    lines.append("")
    if data["changes"]:
        lines.append(f"Changes made this run ({len(data['changes'])}):")
        for c in data["changes"]:
            lines.append(f"  [{c['status']}] {c['title']}")
    else:
        lines.append("No change was made to AWS this run.")
    return "\n".join(lines)


def export_path(account: str) -> Path:
    return config.state_dir() / f"kentik-registration-{account or 'unknown'}.json"


@dataclass
class RegionsResolved(Message):
    regions: dict[str, str]


class SummaryScreen(EngineScreen):
    """Not a wizard step: pushed from the verify screen over it."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="summary.copy"),
        Binding("e", "export", "Export JSON", id="summary.export"),
        Binding("r", "register", "Register", id="summary.register"),
        Binding("escape", "back", "Live panel", id="summary.back"),  # not "Back": that is ctrl+b's
    ]
    DEFAULT_CSS = """
    SummaryScreen #summary-title { height: 1; padding: 0 1; text-style: bold; background: $boost; }
    SummaryScreen #summary-body { height: 1fr; border: none; padding: 0 1; }
    SummaryScreen #summary-foot { height: auto; }
    SummaryScreen #summary-note { height: auto; width: 1fr; padding: 0 1; color: $text-muted; }
    SummaryScreen #summary-foot Button { margin-right: 1; }
    """

    def __init__(self, sources: list[LogSource]) -> None:
        super().__init__()
        self.sources = sources
        self.bucket_regions: dict[str, str] = {}
        self.exported: Path | None = None
        self.kentik_exports: list[RegisteredExport] = []  # what the registration dialog last found

    def compose(self) -> ComposeResult:
        yield self.flow_app.make_context_bar()  # read-only or not, where `r` registers
        yield Static("Summary: register these in Kentik", id="summary-title")
        yield TextArea(
            id="summary-body",
            read_only=True,
            show_line_numbers=False,
            soft_wrap=True,
            highlight_cursor_line=False,
        )
        with Horizontal(id="summary-foot"):
            yield Static(id="summary-note")
            yield Button("Register in Kentik", id="summary-register", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#summary-body", TextArea).cursor_blink = False
        self.render_summary()
        if self.flow_app.session is not None and any(not b["region"] for b in self.data()["buckets"]):
            self.resolve_regions()

    def data(self) -> dict[str, Any]:
        app = self.flow_app
        session = app.session
        account = app.identity.account if app.identity else ""
        if not account and isinstance(app.state.inventory, Inventory):
            account = app.state.inventory.identity.account
        data = registration(
            app.state,
            self.sources,
            account=account,
            audit_path=session.audit.path if session and session.audit else None,
            bucket_regions=self.bucket_regions,
        )
        exports = merge_exports(registered_exports(app.state), self.kentik_exports)
        data["kentik_exports"] = [e.as_dict() for e in exports]
        return data

    @work(thread=True, exclusive=True, exit_on_error=False, group="summary-regions")
    def resolve_regions(self) -> None:
        unknown = [b["bucket"] for b in self.data()["buckets"] if not b["region"]]
        self.post_message(RegionsResolved(bucket_regions(self.flow_app.require_session(), unknown)))

    def on_regions_resolved(self, message: RegionsResolved) -> None:
        self.bucket_regions.update(message.regions)
        self.render_summary()

    def render_summary(self) -> None:
        self.query_one("#summary-body", TextArea).load_text(registration_text(self.data()))
        note = "c copies it all (or select text) · e exports it as JSON"  # one line at 80 columns
        if self.exported:
            note = f"Exported to {self.exported}"
        self.query_one("#summary-note", Static).update(Text(note))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(registration_text(self.data()))
        self.notify("Copied the registration details to the clipboard.", title="Summary")

    def action_export(self) -> None:
        data = self.data()
        path = export_path(data["account"])
        data["exported_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            self.flow_app.show_error(err, context="export summary")
            return
        self.exported = path
        self.render_summary()
        self.notify(f"Wrote {path}", title="Summary exported", markup=False)

    def action_register(self) -> None:
        self.app.push_screen(RegisterDialog(role_arn=self.data()["role_arn"]), self._registered)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "summary-register":
            self.action_register()

    def _registered(self, exports: list[RegisteredExport] | None) -> None:
        if exports:
            self.kentik_exports = merge_exports(self.kentik_exports, exports)
        self.render_summary()

    def action_back(self) -> None:
        self.dismiss(None)
