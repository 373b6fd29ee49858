"""S3 key layouts of VPC flow logs and Network Firewall logs (see /work/shared/aws-facts.md).

Flow logs:
    [prefix/]AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{MM}/{dd}/[{HH}/]
        {account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz
    hive-compatible: [prefix/]AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/
        aws-region={region}/year={yyyy}/month={MM}/day={dd}/[hour={HH}/]
Network Firewall (always hourly folders; the file time is YYYYMMDDHHmm or YYYYMMDDTHHmmZ):
    [prefix/]AWSLogs/{account}/network-firewall/{type}/{region}/{firewall-name}/{yyyy}/{MM}/{dd}/{HH}/
        {account}_network-firewall_{type}_{region}_{firewall-name}_{time}_{hash}.log.gz

Builders return the partition folder, the narrowest listing prefix inside it (down to the file name's
fixed part) and whole keys; `parse_key` turns a key back into its parts. All times are UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

Kind = Literal["flowlog", "firewall"]
FIREWALL_LOG_TYPES = ("alert", "flow", "tls")


def utc(t: datetime) -> datetime:
    """`t` as an aware UTC datetime (naive values are taken to be UTC already)."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def flowlog_base(prefix: str) -> str:
    """What precedes `AWSLogs/` for a flow log: the destination ARN's prefix with its slashes trimmed."""
    p = prefix.strip("/")
    return f"{p}/" if p else ""


def firewall_base(prefix: str) -> str:
    """What precedes `AWSLogs/` for a firewall: AWS joins `{prefix}/AWSLogs`, so a prefix "/" gives
    "//AWSLogs" (aws-facts); the prefix is kept as configured."""
    return f"{prefix}/" if prefix else ""


def time_token(t: datetime) -> str:
    """The flow log file-name time, `YYYYMMDDTHHmmZ`."""
    return utc(t).strftime("%Y%m%dT%H%MZ")


def compact_time_token(t: datetime) -> str:
    """The firewall file-name time in its short form, `YYYYMMDDHHmm`. It sorts before the `T` form of
    the same day, so a StartAfter built from it never skips a file of either form."""
    return utc(t).strftime("%Y%m%d%H%M")


def partition_start(t: datetime, hourly: bool) -> datetime:
    t = utc(t)
    return (
        t.replace(minute=0, second=0, microsecond=0)
        if hourly
        else t.replace(hour=0, minute=0, second=0, microsecond=0)
    )


def partition_starts(lower: datetime, upper: datetime, hourly: bool) -> list[datetime]:
    """Start times of the date partitions overlapping [lower, upper], oldest first."""
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    current, end = partition_start(lower, hourly), utc(upper)
    out = []
    while current <= end:
        out.append(current)
        current += step
    return out


def flowlog_partition(
    account: str, region: str, t: datetime, *, prefix: str = "", hive: bool = False, per_hour: bool = False
) -> str:
    t = utc(t)
    base = flowlog_base(prefix)
    if hive:
        path = (
            f"{base}AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/"
            f"year={t:%Y}/month={t:%m}/day={t:%d}/"
        )
        return path + (f"hour={t:%H}/" if per_hour else "")
    path = f"{base}AWSLogs/{account}/vpcflowlogs/{region}/{t:%Y}/{t:%m}/{t:%d}/"
    return path + (f"{t:%H}/" if per_hour else "")


def flowlog_file_prefix(
    account: str,
    region: str,
    flow_log_id: str,
    t: datetime,
    *,
    prefix: str = "",
    hive: bool = False,
    per_hour: bool = False,
) -> str:
    """The narrowest listing prefix for one flow log in one partition."""
    folder = flowlog_partition(account, region, t, prefix=prefix, hive=hive, per_hour=per_hour)
    return f"{folder}{account}_vpcflowlogs_{region}_{flow_log_id}_"


def flowlog_key(
    account: str,
    region: str,
    flow_log_id: str,
    t: datetime,
    *,
    prefix: str = "",
    hive: bool = False,
    per_hour: bool = False,
    suffix: str = "0a1b2c3d",
    parquet: bool = False,
) -> str:
    ext = "log.parquet" if parquet else "log.gz"
    head = flowlog_file_prefix(account, region, flow_log_id, t, prefix=prefix, hive=hive, per_hour=per_hour)
    return f"{head}{time_token(t)}_{suffix}.{ext}"


def firewall_partition(
    account: str, region: str, firewall_name: str, log_type: str, t: datetime, *, prefix: str = ""
) -> str:
    t = utc(t)
    return (
        f"{firewall_base(prefix)}AWSLogs/{account}/network-firewall/{log_type}/{region}/{firewall_name}/"
        f"{t:%Y}/{t:%m}/{t:%d}/{t:%H}/"
    )


def firewall_file_prefix(
    account: str, region: str, firewall_name: str, log_type: str, t: datetime, *, prefix: str = ""
) -> str:
    folder = firewall_partition(account, region, firewall_name, log_type, t, prefix=prefix)
    return f"{folder}{account}_network-firewall_{log_type}_{region}_{firewall_name}_"


def firewall_key(
    account: str,
    region: str,
    firewall_name: str,
    log_type: str,
    t: datetime,
    *,
    prefix: str = "",
    compact_time: bool = True,
    suffix: str = "0a1b2c3d",
) -> str:
    head = firewall_file_prefix(account, region, firewall_name, log_type, t, prefix=prefix)
    stamp = compact_time_token(t) if compact_time else time_token(t)
    return f"{head}{stamp}_{suffix}.log.gz"


@dataclass(frozen=True)
class KeyInfo:
    """The parts of a delivered log file's key."""

    kind: Kind
    base: str  # everything before "AWSLogs/" ("" or ending with "/")
    account: str
    region: str
    time: datetime  # from the file name, UTC
    flow_log_id: str = ""
    firewall_name: str = ""
    log_type: str = ""
    hive: bool = False
    per_hour: bool = False
    parquet: bool = False


_BASE = r"(?P<base>(?:.*/)?)AWSLogs/"
_FILE_TAIL = r"_(?P<hash>[^_/]+?)\.(?P<ext>log\.gz|log\.parquet|gz\.parquet|parquet)$"
_FLOW_PLAIN = re.compile(
    _BASE + r"(?P<acct>\d{12})/vpcflowlogs/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})/(?:(?P<h>\d{2})/)?(?P<file>[^/]+)$"
)
_FLOW_HIVE = re.compile(
    _BASE + r"aws-account-id=(?P<acct>\d{12})/aws-service=vpcflowlogs/aws-region=(?P<region>[a-z0-9-]+)/"
    r"year=(?P<y>\d{4})/month=(?P<mo>\d{2})/day=(?P<d>\d{2})/(?:hour=(?P<h>\d{2})/)?(?P<file>[^/]+)$"
)
_FLOW_FILE = re.compile(
    r"^(?P<acct>\d{12})_vpcflowlogs_(?P<region>[a-z0-9-]+)_(?P<id>fl-[0-9a-zA-Z]+)_"
    r"(?P<time>\d{8}T\d{4}Z)" + _FILE_TAIL
)
_FIREWALL = re.compile(
    _BASE + r"(?P<acct>\d{12})/network-firewall/(?P<type>alert|flow|tls)/(?P<region>[a-z0-9-]+)/"
    r"(?P<name>[A-Za-z0-9-]+)/(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<file>[^/]+)$"
)
_FIREWALL_FILE = re.compile(
    r"^(?P<acct>\d{12})_network-firewall_(?P<type>alert|flow|tls)_(?P<region>[a-z0-9-]+)_"
    r"(?P<name>[A-Za-z0-9-]+)_(?P<time>\d{12}|\d{8}T\d{4}Z)" + _FILE_TAIL
)


def parse_file_time(token: str) -> datetime:
    """`YYYYMMDDTHHmmZ` or `YYYYMMDDHHmm` as a UTC datetime."""
    fmt = "%Y%m%dT%H%MZ" if "T" in token else "%Y%m%d%H%M"
    return datetime.strptime(token, fmt).replace(tzinfo=timezone.utc)


def parse_key(key: str) -> KeyInfo | None:
    """The parts of a flow log or firewall log key; None for any other key (or inconsistent parts)."""
    for pattern, hive in ((_FLOW_PLAIN, False), (_FLOW_HIVE, True)):
        m = pattern.match(key)
        if not m:
            continue
        f = _FLOW_FILE.match(m["file"])
        if not f or f["acct"] != m["acct"] or f["region"] != m["region"]:
            return None
        return KeyInfo(
            kind="flowlog",
            base=m["base"],
            account=m["acct"],
            region=m["region"],
            time=parse_file_time(f["time"]),
            flow_log_id=f["id"],
            hive=hive,
            per_hour=m["h"] is not None,
            parquet=f["ext"].endswith("parquet"),
        )
    m = _FIREWALL.match(key)
    if not m:
        return None
    f = _FIREWALL_FILE.match(m["file"])
    if not f or any(f[g] != m[g] for g in ("acct", "type", "region", "name")):
        return None
    return KeyInfo(
        kind="firewall",
        base=m["base"],
        account=m["acct"],
        region=m["region"],
        time=parse_file_time(f["time"]),
        firewall_name=m["name"],
        log_type=m["type"],
        per_hour=True,
        parquet=f["ext"].endswith("parquet"),
    )
