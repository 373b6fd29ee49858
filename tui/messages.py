"""Messages that carry engine results from worker threads back to the UI (dataclass messages: posted
with `post_message`, which is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from aws.kentik.models import CloudExport
    from aws.kentik.models import Plan as KentikPlan
    from aws.kentik.register import ExportTarget
    from aws.plans.change import ApplyReport, Change, ChangeResult, Plan
    from aws.sandbox.server import Sandbox
    from aws.session import AwsSession, Identity
    from tui.config import Settings


@dataclass
class IdentityLoaded(Message):
    identity: Identity


@dataclass
class DemoReady(Message):
    """The demo sandbox started in the background; `session` talks to it."""

    sandbox: Sandbox
    session: AwsSession
    settings: Settings


@dataclass
class KeptChangesApplied(Message):
    count: int  # changes re-applied to the fresh demo sandbox (`--demo --keep`)
    problems: int = 0  # changes that could not be (refused or failed)


# -- registering in Kentik (screens.register) ------------------------------------------------------------
@dataclass
class KentikPlansLoaded(Message):
    """Kentik's v5 plan list answered."""

    generation: int
    plans: list[KentikPlan]


@dataclass
class KentikPlansFailed(Message):
    """The plan list did not answer: the plan id is typed instead. `why` is shown as is (no token)."""

    generation: int
    why: str
    status: int = 0  # Kentik's HTTP status when it answered (401: it does not know the email and token)


@dataclass
class RegistrationPreviewed(Message):
    """What registering would do: the plan, the exports already as needed, and notes."""

    generation: int
    plan: Plan
    unchanged: list[tuple[ExportTarget, CloudExport]]
    notes: list[str]


@dataclass
class RegistrationProgress(Message):
    change: Change
    result: ChangeResult | None  # None: the change is running


@dataclass
class RegistrationApplied(Message):
    report: ApplyReport
