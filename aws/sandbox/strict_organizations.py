"""Strict sandbox: AWS Organizations rules moto (5.2.x) does not enforce.

* ListAccounts in an account that belongs to no organization: AWS answers
  `AWSOrganizationsNotInUseException` ("Your account is not a member of an organization."); moto returns
  an empty list, which would make `--org` look like an organization without accounts.
  https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html#API_ListAccounts_Errors
"""

from __future__ import annotations

import threading
from typing import Any

from moto.organizations.exceptions import AWSOrganizationsNotInUseException
from moto.organizations.models import OrganizationsBackend

_lock = threading.Lock()
_applied = False


def apply_organizations_fixes() -> None:
    """Patch moto once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        original = OrganizationsBackend.list_accounts

        def list_accounts(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.org is None:
                raise AWSOrganizationsNotInUseException
            return original(self, *args, **kwargs)

        OrganizationsBackend.list_accounts = list_accounts  # type: ignore[method-assign,assignment]
        _applied = True
