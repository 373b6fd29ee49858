"""Messages that carry engine results from worker threads back to the UI (dataclass messages: posted
with `post_message`, which is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from aws.session import Identity


@dataclass
class IdentityLoaded(Message):
    identity: Identity


@dataclass
class SessionChanged(Message):
    """The AWS session was replaced (profile switch) or its read-only state changed."""

    reason: str


@dataclass
class ErrorRaised(Message):
    """An error for the one place errors are shown (the app routes it)."""

    error: BaseException
    context: str = ""
