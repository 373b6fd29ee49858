"""Messages that carry engine results from worker threads back to the UI (dataclass messages: posted
with `post_message`, which is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from aws.session import Identity


@dataclass
class IdentityLoaded(Message):
    identity: Identity
