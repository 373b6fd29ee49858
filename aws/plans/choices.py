"""What the user chose for flow logs and firewall logs (the checklist step / `flowlogs plan` flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from aws.coverage import (
    ExistingDestinations,
)

ResourceKind = Literal["vpc", "subnet", "eni", "tgw"]
LogType = Literal["FLOW", "ALERT", "TLS"]
DEFAULT_FIREWALL_LOGS: tuple[LogType, ...] = ("FLOW", "ALERT")
RESOURCE_TYPE = {"vpc": "VPC", "subnet": "Subnet", "eni": "NetworkInterface", "tgw": "TransitGateway"}
RESOURCE_NOUN = {"vpc": "VPC", "subnet": "subnet", "eni": "network interface", "tgw": "transit gateway"}
TGW_AGGREGATION_NOTE = (
    "Transit gateway flow logs always use a 60 s aggregation interval (AWS requires it); "
    "the 600 s choice applies to VPCs, subnets and network interfaces only."
)


class LogChoices(BaseModel):
    """Flow log and firewall choices (the checklist step / `flowlogs plan` flags)."""

    resources: ResourceKind = "vpc"
    include: list[str] | None = Field(
        default=None,
        description="Only these ids are in scope (None: all, []: none): VPC ids, or for subnets/ENIs their "
        "own or their VPC's ids, or transit gateway ids",
    )
    exclude: list[str] = Field(default_factory=list, description="Never these ids (same forms as include)")
    prefix: str = Field(default="", description="Flow log S3 prefix")
    extra_fields: list[str] = Field(default_factory=list)
    aggregation: Literal[60, 600] = 600
    replace_existing: bool = False
    firewalls: bool = True
    firewall_include: list[str] | None = Field(
        default=None, description="Only these firewall names are in scope (None: all, []: none)"
    )
    selected: list[str] | None = Field(
        default=None,
        description="Only these resource ids get flow log changes (None: all in scope). Every source in scope "
        "is still judged, so Kentik's read set stays whole: the checklist's selection",
    )
    firewall_selected: list[str] | None = Field(
        default=None,
        description="Only these firewalls, as REGION/NAME, get logging changes (None: all in scope)",
    )
    firewall_prefix: str = ""
    firewall_logs: list[LogType] = Field(default_factory=lambda: list(DEFAULT_FIREWALL_LOGS))
    repoint_existing: bool = False
    replace_non_s3: bool = Field(
        default=False,
        description="Move FLOW/ALERT logs that go to CloudWatch Logs/Firehose to S3 (destructive)",
    )
    existing_destinations: ExistingDestinations = Field(
        default="read",
        description="A complete log to another bucket of this account: add that bucket to Kentik's read "
        "set (read) or create a log to Kentik's bucket beside it (duplicate)",
    )
