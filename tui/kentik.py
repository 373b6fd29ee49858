"""How the app reaches Kentik: credentials from the environment, or entered in the app (memory only).

`app.kentik` (a `KentikAccess`) holds what the user typed in the "Register in Kentik" dialog for this run
only: it is never saved with the wizard state, written to a file or shown. Without anything entered, the
environment's KENTIK_EMAIL / KENTIK_API_TOKEN are used (read when a client is made, so the demo's
sandbox can set them after the app starts).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aws.audit import AuditLog
from aws.errors import FlowlogsError
from aws.kentik.access import KentikCredentials
from aws.kentik.api import KentikClient


class KentikAccess:
    """The Kentik user this run acts as, and the Kentik region (us or eu)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self._entered: KentikCredentials | None = None
        self.region = "us"

    def __repr__(self) -> str:
        return f"KentikAccess(entered={self._entered is not None}, region={self.region!r})"

    def enter(self, email: str, token: str) -> None:
        """Use these credentials for this run (they replace the environment's)."""
        self._entered = KentikCredentials.from_env({"KENTIK_EMAIL": email, "KENTIK_API_TOKEN": token})

    def forget(self) -> None:
        self._entered = None

    @property
    def entered(self) -> bool:
        return self._entered is not None

    def credentials(self) -> KentikCredentials:
        """The entered credentials, else the environment's; KentikCredentialsMissing when neither."""
        if self._entered is not None:
            return self._entered
        return KentikCredentials.from_env(os.environ if self._env is None else self._env)

    @property
    def configured(self) -> bool:
        try:
            self.credentials()
        except FlowlogsError:
            return False
        return True

    def client(self, *, read_only: bool, audit: AuditLog | None) -> KentikClient:
        """A client as this user; read-only mode and the audit log are the AWS session's."""
        return KentikClient(
            self.credentials(), region=self.region, env=self._env, read_only=read_only, audit=audit
        )
