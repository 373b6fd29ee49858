"""Kentik's Cloud Export API (v202506) resources as pydantic models, camelCase on the wire.

Fields Kentik adds (or the portal sets) that are not modelled here are kept (`extra="allow"`), so an
update built from a fetched export sends them back unchanged. `CloudExport.to_api()` is the JSON a create
or update sends: no None values, and none of the read-only fields Kentik sets (id, dates, currentStatus).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _KentikModel(BaseModel):
    # camelCase on the wire; fields Kentik adds (or the portal sets) that we do not model are kept, so a
    # PUT built from a fetched export sends them back unchanged.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class AwsProperties(_KentikModel):
    iam_role_arn: str
    region: str
    bucket: str | None = None
    bucket_prefix: str | None = None
    collect_flow_logs: bool | None = None  # Kentik's default: true
    collect_firewall_logs: bool | None = None  # Kentik's default: false
    collect_metrics: bool | None = None
    metadata_only: bool | None = None
    delete_after_read: bool | None = None  # deprecated by Kentik
    aws_iam_role_arn_is_org: bool | None = None
    secondary_aws_accounts: list[str] | None = None
    secondary_aws_blocked_accounts: list[str] | None = None
    secondary_aws_regions: list[str] | None = None
    secondary_aws_suffix: str | None = None


class CurrentStatus(_KentikModel):
    """Kentik's own view of an export (read-only)."""

    status: str | None = None
    error_message: str | None = None
    flow_found: bool | None = None
    api_access: bool | None = None
    storage_account_access: bool | None = None


READ_ONLY_FIELDS = frozenset({"id", "cdate", "edate", "currentStatus"})


class CloudExport(_KentikModel):
    name: str
    enabled: bool
    plan_id: str
    type: str = "CLOUD_EXPORT_TYPE_KENTIK_MANAGED"
    cloud_provider: str = "CLOUD_PROVIDER_AWS"
    description: str | None = None
    aws: AwsProperties | None = None
    # read-only, set by Kentik
    id: str | None = None
    cdate: str | None = None
    edate: str | None = None
    current_status: CurrentStatus | None = None

    def to_api(self, *, include_read_only: bool = False) -> dict[str, Any]:
        """The export as Kentik's JSON (camelCase, no None values), read-only fields left out unless
        asked for."""
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        if not include_read_only:
            data = {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data


class Plan(_KentikModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # v5 ids are numbers; planId is a string

    id: str
    name: str = ""
    description: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ExportList:
    """`GET exports`: the exports, and how many Kentik left out as invalid."""

    exports: list[CloudExport]
    invalid_count: int = 0

    def __iter__(self) -> Iterator[CloudExport]:
        return iter(self.exports)

    def __len__(self) -> int:
        return len(self.exports)
