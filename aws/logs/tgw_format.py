"""The transit gateway flow log record format: its OWN field set, not the VPC one.

Transit gateway flow logs (ResourceType `TransitGateway` / `TransitGatewayAttachment`) have their own
fields; a LogFormat with VPC-only fields (`interface-id`, `action`, `vpc-id`, `instance-id`,
`traffic-path`, ...) is refused by CreateFlowLogs, so the 29 VPC fields of `aws.logs.format` are the
wrong format for them. Omitting LogFormat for a transit gateway type gives ALL the fields below.

Source: AWS, "Transit Gateway Flow Log records"
https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html#flow-log-records
and "Create and manage Transit Gateway Flow Logs using APIs or the CLI" (default LogFormat = all fields)
https://docs.aws.amazon.com/vpc/latest/tgw/flow-logs-api-cli.html
See also ../shared/aws-facts.md ("Transit gateway flow logs have their OWN field set").

Checked from the AWS documentation as remembered and several public configurations using the full
list (Athena tables, Terraform modules); not checked against a botocore model (it has no field list):
* `tgw-src-vpc-account-id` and `tgw-dst-vpc-account-id` are in the list (the issue's sketch missed them);
* `tcp-flags`, `region`, `flow-direction`, `pkt-src-aws-service` and `pkt-dst-aws-service` are shared
  with VPC flow logs and valid here (transit gateways' `tcp-flags` also report PSH/ACK/URG);
* every field is "version 6" in AWS's table, so `version` in a record is 6 (`TGW_VERSION`);
* no newer transit gateway fields are known, so `TGW_EXTRA_FIELDS` is empty.

Engine code: no moto import (the planner and the sandbox both use it).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws.logs.format import EXTRA_FIELDS, REQUIRED_FIELDS

# Every transit gateway flow log field, in AWS's table order (which is also the default format's order).
TGW_FIELDS: tuple[str, ...] = (
    "version",
    "resource-type",
    "account-id",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "type",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
    "tcp-flags",
    "region",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
)

# What Kentik gets for a transit gateway: every field (the VPC spec's "select all", applied to the
# transit gateway field set; it is also what AWS writes when LogFormat is omitted).
TGW_REQUIRED_FIELDS: tuple[str, ...] = TGW_FIELDS

# Newer optional transit gateway fields, appended after the required ones (none known yet).
TGW_EXTRA_FIELDS: tuple[str, ...] = ()

TGW_VERSION = 6  # the `version` AWS gives every transit gateway field
TGW_FIELD_VERSION: dict[str, int] = dict.fromkeys(TGW_FIELDS, TGW_VERSION)

# VPC flow log fields a transit gateway flow log refuses.
VPC_ONLY_FIELDS: tuple[str, ...] = tuple(f for f in (*REQUIRED_FIELDS, *EXTRA_FIELDS) if f not in TGW_FIELDS)


def tgw_log_format(extra: Iterable[str] = ()) -> str:
    """The LogFormat string for a transit gateway flow log: `${version} ${resource-type} ...`,
    required fields first, then the chosen extras in `TGW_EXTRA_FIELDS` order. ValueError for anything
    else in `extra` (VPC-only fields such as the `ecs-*` extras included)."""
    extra = tuple(extra)
    unknown = [f for f in extra if f not in TGW_EXTRA_FIELDS]
    if unknown:
        raise ValueError(f"not an optional transit gateway flow log field: {', '.join(unknown)}")
    fields = list(TGW_REQUIRED_FIELDS) + [f for f in TGW_EXTRA_FIELDS if f in extra]
    return " ".join(f"${{{f}}}" for f in fields)


TGW_LOG_FORMAT = tgw_log_format()


def tgw_missing_fields(fields: Iterable[str]) -> list[str]:
    """Required transit gateway fields absent from `fields`, in AWS's order."""
    present = set(fields)
    return [f for f in TGW_REQUIRED_FIELDS if f not in present]


def invalid_tgw_fields(fields: Iterable[str]) -> list[str]:
    """Fields a transit gateway flow log refuses (VPC-only or unknown), in the order given, once each."""
    allowed = set(TGW_FIELDS) | set(TGW_EXTRA_FIELDS)
    out: list[str] = []
    for f in fields:
        if f not in allowed and f not in out:
            out.append(f)
    return out
