"""The VPC flow log record format Kentik needs: every v2-v5 field, in AWS's table order.

Used by discovery (is an existing flow log's format complete?), the checklist (the LogFormat string to
create) and verification (does a delivered file's header carry every field?).
"""

from __future__ import annotations

import re

V2_FIELDS = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)
V3_FIELDS = ("vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr")
V4_FIELDS = ("region", "az-id", "sublocation-type", "sublocation-id")
V5_FIELDS = ("pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path")

# Every field the spec asks for ("select all v2, v3, v4 and v5 fields"): 29 fields.
REQUIRED_FIELDS: tuple[str, ...] = V2_FIELDS + V3_FIELDS + V4_FIELDS + V5_FIELDS

# Newer fields, offered as an opt-in extra (appended after the required ones, never replacing them).
# Version numbers of these come from public material and are not checked against a model file.
EXTRA_FIELDS: tuple[str, ...] = (
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-id",  # the resource a record is about (e.g. a regional NAT gateway)
    "encryption-status",  # VPC Encryption Controls
)

FIELD_VERSION: dict[str, int] = {
    **dict.fromkeys(V2_FIELDS, 2),
    **dict.fromkeys(V3_FIELDS, 3),
    **dict.fromkeys(V4_FIELDS, 4),
    **dict.fromkeys(V5_FIELDS, 5),
    **dict.fromkeys(EXTRA_FIELDS[:10], 7),
    "reject-reason": 8,
    # Not checked against AWS's table (no model file lists versions): the two newest fields, in order.
    "resource-id": 9,
    "encryption-status": 10,
}

_TOKEN = re.compile(r"\$\{([a-z0-9-]+)\}")


def log_format(extra: tuple[str, ...] | list[str] = ()) -> str:
    """The exact LogFormat string: `${version} ${account-id} ...`, required fields first."""
    unknown = [f for f in extra if f not in EXTRA_FIELDS]
    if unknown:
        raise ValueError(f"unknown flow log field(s): {', '.join(unknown)}")
    fields = list(REQUIRED_FIELDS) + [f for f in EXTRA_FIELDS if f in extra]
    return " ".join(f"${{{f}}}" for f in fields)


REQUIRED_LOG_FORMAT = log_format()


def parse_log_format(value: str | None) -> list[str]:
    """Field names of a LogFormat string, in order. None or empty means AWS's default (the v2 fields)."""
    if not value or not value.strip():
        return list(V2_FIELDS)
    return _TOKEN.findall(value)


def missing_fields(fields: list[str] | tuple[str, ...]) -> list[str]:
    """Required fields absent from `fields`, in AWS's order."""
    present = set(fields)
    return [f for f in REQUIRED_FIELDS if f not in present]
