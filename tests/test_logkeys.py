"""S3 key layouts of flow logs and firewall logs: building and parsing every variant."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from aws.logs import keys
from aws.logs.sources import LogSource, source_for_key

ACCT = "123456789012"
T = datetime(2026, 3, 7, 9, 35, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("prefix", "hive", "per_hour", "expected"),
    [
        (
            "",
            False,
            False,
            f"AWSLogs/{ACCT}/vpcflowlogs/eu-west-1/2026/03/07/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "",
            False,
            True,
            f"AWSLogs/{ACCT}/vpcflowlogs/eu-west-1/2026/03/07/09/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "kentik/",
            False,
            False,
            f"kentik/AWSLogs/{ACCT}/vpcflowlogs/eu-west-1/2026/03/07/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "a/b",
            False,
            True,
            f"a/b/AWSLogs/{ACCT}/vpcflowlogs/eu-west-1/2026/03/07/09/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "",
            True,
            False,
            f"AWSLogs/aws-account-id={ACCT}/aws-service=vpcflowlogs/aws-region=eu-west-1/"
            f"year=2026/month=03/day=07/{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "",
            True,
            True,
            f"AWSLogs/aws-account-id={ACCT}/aws-service=vpcflowlogs/aws-region=eu-west-1/"
            f"year=2026/month=03/day=07/hour=09/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "kentik",
            True,
            False,
            f"kentik/AWSLogs/aws-account-id={ACCT}/aws-service=vpcflowlogs/aws-region=eu-west-1/"
            f"year=2026/month=03/day=07/{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
        (
            "kentik",
            True,
            True,
            f"kentik/AWSLogs/aws-account-id={ACCT}/aws-service=vpcflowlogs/aws-region=eu-west-1/"
            f"year=2026/month=03/day=07/hour=09/"
            f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_20260307T0935Z_0a1b2c3d.log.gz",
        ),
    ],
)
def test_flowlog_layouts_build_and_parse(prefix: str, hive: bool, per_hour: bool, expected: str) -> None:
    key = keys.flowlog_key(ACCT, "eu-west-1", "fl-0abc123", T, prefix=prefix, hive=hive, per_hour=per_hour)
    assert key == expected
    info = keys.parse_key(key)
    assert info is not None
    assert (info.kind, info.account, info.region, info.flow_log_id) == (
        "flowlog",
        ACCT,
        "eu-west-1",
        "fl-0abc123",
    )
    assert (info.hive, info.per_hour, info.time) == (hive, per_hour, T)
    assert info.base == keys.flowlog_base(prefix)
    # the narrowest listing prefix is a prefix of the key and ends at the flow log id
    narrow = keys.flowlog_file_prefix(
        ACCT, "eu-west-1", "fl-0abc123", T, prefix=prefix, hive=hive, per_hour=per_hour
    )
    assert key.startswith(narrow) and narrow.endswith(f"{ACCT}_vpcflowlogs_eu-west-1_fl-0abc123_")
    # and the key maps back to its source (only to it)
    source = LogSource(
        kind="flowlog",
        account=ACCT,
        region="eu-west-1",
        bucket="b",
        prefix=prefix,
        flow_log_id="fl-0abc123",
        hive=hive,
        per_hour=per_hour,
    )
    other = source.model_copy(update={"flow_log_id": "fl-0def456"})
    assert source_for_key([other, source], key) == (source, T)
    assert source_for_key([source.model_copy(update={"hive": not hive})], key) is None


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("prefix", ["", "firewall-logs"])
def test_firewall_layouts_both_timestamp_forms(compact: bool, prefix: str) -> None:
    key = keys.firewall_key(ACCT, "us-east-2", "edge-fw", "alert", T, prefix=prefix, compact_time=compact)
    stamp = "202603070935" if compact else "20260307T0935Z"
    base = f"{prefix}/" if prefix else ""
    assert key == (
        f"{base}AWSLogs/{ACCT}/network-firewall/alert/us-east-2/edge-fw/2026/03/07/09/"
        f"{ACCT}_network-firewall_alert_us-east-2_edge-fw_{stamp}_0a1b2c3d.log.gz"
    )
    info = keys.parse_key(key)
    assert info is not None
    assert (info.kind, info.firewall_name, info.log_type, info.region, info.time) == (
        "firewall",
        "edge-fw",
        "alert",
        "us-east-2",
        T,
    )
    source = LogSource(
        kind="firewall",
        account=ACCT,
        region="us-east-2",
        bucket="b",
        prefix=prefix,
        firewall_name="edge-fw",
        log_type="alert",
    )
    assert source_for_key([source], key) == (source, T)
    assert source_for_key([source.model_copy(update={"log_type": "flow"})], key) is None


def test_compact_cursor_never_skips_the_t_form() -> None:
    """A StartAfter built from the short form sorts before both forms of the same or later minute."""
    head = keys.firewall_file_prefix(ACCT, "us-east-2", "fw", "flow", T)
    cursor = head + keys.compact_time_token(T)
    for compact in (True, False):
        same = keys.firewall_key(ACCT, "us-east-2", "fw", "flow", T, compact_time=compact)
        assert same > cursor


def test_firewall_slash_prefix_is_kept_as_aws_writes_it() -> None:
    key = keys.firewall_key(ACCT, "us-east-2", "fw", "flow", T, prefix="/")
    assert key.startswith("//AWSLogs/")
    info = keys.parse_key(key)
    assert info is not None and info.base == "//"


@pytest.mark.parametrize(
    "key",
    [
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/07/notes.txt",
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/07/"
        "999999999999_vpcflowlogs_eu-west-1_fl-1_20260307T0935Z_x.log.gz",  # account differs from folder
        "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/03/07/x.log.gz",
        "AWSLogs/123456789012/network-firewall/alert/us-east-2/fw/2026/03/07/09/"
        "123456789012_network-firewall_flow_us-east-2_fw_202603070935_x.log.gz",  # type differs
        "",
    ],
)
def test_unrelated_keys_do_not_parse(key: str) -> None:
    assert keys.parse_key(key) is None


def test_parquet_key_is_recognised() -> None:
    key = keys.flowlog_key(ACCT, "eu-west-1", "fl-1", T, parquet=True)
    assert key.endswith(".log.parquet")
    info = keys.parse_key(key)
    assert info is not None and info.parquet


def test_partition_starts_span_days_and_hours() -> None:
    lower = datetime(2026, 3, 6, 23, 50, tzinfo=timezone.utc)
    upper = datetime(2026, 3, 7, 0, 10, tzinfo=timezone.utc)
    assert [p.day for p in keys.partition_starts(lower, upper, hourly=False)] == [6, 7]
    assert [p.hour for p in keys.partition_starts(lower, upper, hourly=True)] == [23, 0]
    assert len(keys.partition_starts(upper, upper, hourly=True)) == 1
