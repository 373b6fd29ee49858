"""Kentik's own view of the locations being verified: each cloud export's `currentStatus`.

    report = export_statuses(client, locations)   # one list call
    report.done                                   # every location has an export and each found flows

For each read location (bucket, prefix) the exports reading it (`aws.kentik.exports.exports_for`), each
as an `ExportStatus` with one `state`:

- `reading`: Kentik found flow data there (and reports no missing access);
- `waiting`: Kentik reports no lack of access but has found no flows yet;
- `no-access`: Kentik reports it cannot use the role's API access or cannot read the bucket;
- `disabled`: the export is switched off in Kentik, so it reads nothing;
- `not-registered`: no cloud export reads the location.

A field Kentik leaves out (None) is never taken as a yes: a flow found unknown is no flow found, an access
unknown is not confirmed (shown as unknown, not as refused). Exports that read none of the locations are
ignored. Pure apart from the one list call: no AWS call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from aws.audit import AuditLog
from aws.coverage import ReadLocation
from aws.kentik.api import KentikClient
from aws.kentik.exports import clean_prefix, export_key, exports_for
from aws.kentik.models import CloudExport

KentikState = Literal["reading", "waiting", "no-access", "disabled", "not-registered"]
STATES: tuple[KentikState, ...] = ("reading", "waiting", "no-access", "disabled", "not-registered")


class ExportStatus(BaseModel):
    """One location as Kentik sees it: the export reading it (none: not registered) and its status."""

    bucket: str
    prefix: str = Field(default="", description="Key prefix without slashes; '' = the top of the bucket")
    export_id: str | None = Field(default=None, description="None: no Kentik cloud export reads here")
    export_name: str | None = None
    enabled: bool | None = None
    api_access: bool | None = Field(default=None, description="Kentik can call AWS with the role")
    bucket_access: bool | None = Field(default=None, description="Kentik can read the bucket")
    flow_found: bool | None = Field(default=None, description="Kentik has found flow data")
    status: str | None = Field(default=None, description="Kentik's own status word")
    error_message: str | None = None
    state: KentikState

    @property
    def path(self) -> str:
        """`bucket` or `bucket/prefix/`, as `flowlogs verify --bucket` takes it."""
        return f"{self.bucket}/{self.prefix}/" if self.prefix else self.bucket

    @property
    def registered(self) -> bool:
        return self.export_id is not None

    @property
    def done(self) -> bool:
        return self.state == "reading"

    def next_step(self) -> str:
        """What to do about a location Kentik does not read yet ('' when it does)."""
        where = f"s3://{self.path}{'' if self.prefix else '/'}"
        if self.state == "not-registered":
            return (
                f"No Kentik cloud export reads {where}: register it (the summary step of the TUI, or "
                "Kentik's portal)."
            )
        if self.state == "disabled":
            return "The cloud export is disabled in Kentik: enable it in Kentik's portal."
        if self.state == "no-access":
            return (
                "Kentik cannot use the role or read the bucket: check the role's trust policy (Kentik's "
                "account and the external id) and its S3 (and KMS) read permissions (the IAM policy step, "
                "or flowlogs policy)."
            )
        if self.state == "waiting":
            return "Kentik reaches the bucket but has found no flows yet: it looks again every few minutes."
        return ""

    def covers(self, bucket: str, prefix: str = "") -> bool:
        """Whether logs delivered to (bucket, prefix) are read by this location: the same bucket, and the
        same prefix (a location at the top of the bucket covers the whole bucket)."""
        return bucket == self.bucket and (not self.prefix or clean_prefix(prefix) == self.prefix)


class KentikReport(BaseModel):
    """Every location's export status after one list call."""

    checked_at: datetime
    statuses: list[ExportStatus] = Field(default_factory=list)
    invalid_exports: int = Field(default=0, description="Exports Kentik left out of the list as invalid")

    @property
    def done(self) -> bool:
        return kentik_done(self.statuses)

    def counts(self) -> dict[str, int]:
        """How many statuses are in each state (states with none left out), in `STATES` order."""
        found = {state: sum(1 for s in self.statuses if s.state == state) for state in STATES}
        return {state: n for state, n in found.items() if n}

    def for_source(self, bucket: str, prefix: str = "") -> list[ExportStatus]:
        """The statuses of the location(s) a source delivering to (bucket, prefix) lies in: the one of its
        own prefix first, else the one of the whole bucket."""
        exact = [s for s in self.statuses if s.bucket == bucket and s.prefix and s.covers(bucket, prefix)]
        return exact or [s for s in self.statuses if s.bucket == bucket and not s.prefix]


def state_of(export: CloudExport) -> KentikState:
    """The state of a registered export from its `enabled` flag and `currentStatus`."""
    if export.enabled is False:
        return "disabled"
    current = export.current_status
    if current is None:
        return "waiting"
    if current.api_access is False or current.storage_account_access is False:
        return "no-access"
    return "reading" if current.flow_found is True else "waiting"


def export_status(location: ReadLocation, export: CloudExport | None) -> ExportStatus:
    """A location's status: its export's (`export` None: not registered). A bucket read whole may have
    one export per prefix: each status names its export's prefix."""
    key = export_key(export) if export is not None else None
    prefix = key[1] if key else clean_prefix(location.prefix)
    if export is None:
        return ExportStatus(bucket=location.bucket, prefix=prefix, state="not-registered")
    current = export.current_status
    return ExportStatus(
        bucket=location.bucket,
        prefix=prefix,
        export_id=export.id or "",
        export_name=export.name,
        enabled=export.enabled,
        api_access=current.api_access if current else None,
        bucket_access=current.storage_account_access if current else None,
        flow_found=current.flow_found if current else None,
        status=current.status if current else None,
        error_message=(current.error_message or None) if current else None,
        state=state_of(export),
    )


def statuses_of(exports: Iterable[CloudExport], locations: Iterable[ReadLocation]) -> list[ExportStatus]:
    """Per location (in order) one status per export reading it, or one `not-registered`; each export
    once. A location read whole (Kentik's own bucket, logs under any prefix) is read by every export of
    its bucket: one per prefix its logs go under, so it is `not-registered` only when none reads it."""
    every = list(exports)
    out: list[ExportStatus] = []
    seen: set[tuple[str, str, str | None]] = set()
    for location in locations:
        key = (location.bucket, clean_prefix(location.prefix))
        if location.kentik:
            matching = [e for e in every if (k := export_key(e)) is not None and k[0] == location.bucket]
        else:
            matching = exports_for(every, *key)
        for status in [export_status(location, e) for e in matching] or [export_status(location, None)]:
            if (status.bucket, status.prefix, status.export_id) not in seen:
                seen.add((status.bucket, status.prefix, status.export_id))
                out.append(status)
    return out


def kentik_done(statuses: Sequence[ExportStatus]) -> bool:
    """Done when there is something to read and every location's export(s) found flows."""
    return bool(statuses) and all(s.done for s in statuses)


def export_statuses(
    client: KentikClient, locations: Iterable[ReadLocation], *, now: datetime | None = None
) -> KentikReport:
    """Kentik's view of `locations`: one list call (its errors are raised, typed: aws.kentik.api)."""
    listed = client.list_exports()
    return KentikReport(
        checked_at=now or datetime.now(timezone.utc),
        statuses=statuses_of(listed.exports, locations),
        invalid_exports=listed.invalid_count,
    )


class KentikClients(Protocol):
    """What makes a Kentik client for the user of this run (tui.kentik.KentikAccess)."""

    def client(self, *, read_only: bool, audit: AuditLog | None) -> KentikClient: ...


def export_statuses_as(
    access: KentikClients,
    locations: Iterable[ReadLocation],
    *,
    read_only: bool,
    audit: AuditLog | None,
    now: datetime | None = None,
) -> KentikReport:
    """`export_statuses` with a client made by `access` (the AWS session's read-only mode and audit log)."""
    return export_statuses(access.client(read_only=read_only, audit=audit), locations, now=now)
