"""Messages that carry engine results from worker threads back to the UI (dataclass messages: posted
with `post_message`, which is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
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
