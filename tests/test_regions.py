"""Region names and partitions (aws.regions): botocore's partition data, usage errors that name the
closest valid region, and regions the account has not enabled. No test reaches the network."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import InvalidRegionError

from aws.errors import RegionNotEnabled, UnknownRegion, explain
from aws.iam.documents import PolicyTarget
from aws.iam.merge import merge_policy
from aws.iam.proposal import changes_for
from aws.iam.requirements import Requirements
from aws.regions import closest_region, known_regions, partition_of, validate_region, validate_regions
from aws.session import AwsSession, SessionOptions
from tui.cli import main

META = {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    _, err = capsys.readouterr()
    return code, err


# -- partitions --------------------------------------------------------------------------------------
def test_eusc_region_is_in_the_aws_eusc_partition() -> None:
    assert partition_of("eusc-de-east-1") == "aws-eusc"


def test_iso_region_is_in_the_aws_iso_partition() -> None:
    assert partition_of("us-iso-east-1") == "aws-iso"


def test_isob_region_is_in_the_aws_iso_b_partition() -> None:
    assert partition_of("us-isob-east-1") == "aws-iso-b"


def test_china_region_is_in_the_aws_cn_partition() -> None:
    assert partition_of("cn-north-1") == "aws-cn"


def test_govcloud_region_is_in_the_aws_us_gov_partition() -> None:
    assert partition_of("us-gov-west-1") == "aws-us-gov"


def test_unlisted_region_of_a_partition_shape_gets_that_partition() -> None:
    assert partition_of("cn-south-9") == "aws-cn"  # by the partition's regionRegex


def test_a_name_of_no_partition_falls_back_to_aws() -> None:
    assert partition_of("moon") == "aws"


def test_global_pseudo_regions_are_not_regions() -> None:
    assert "aws-global" not in known_regions("aws")


def test_eusc_region_is_a_known_region() -> None:
    assert validate_region("eusc-de-east-1") == "eusc-de-east-1"


# -- closest region ----------------------------------------------------------------------------------
def test_closest_region_keeps_the_stem_of_a_wrong_number() -> None:
    assert closest_region("us-east-7", known_regions("aws")) == "us-east-1"


def test_closest_region_forgives_case_and_spaces() -> None:
    assert closest_region("US East 1", known_regions("aws")) == "us-east-1"


def test_closest_region_is_none_when_nothing_is_close() -> None:
    assert closest_region("moon", known_regions("aws")) is None


# -- validation --------------------------------------------------------------------------------------
def test_unknown_region_names_the_closest_one() -> None:
    with pytest.raises(
        UnknownRegion, match=r"Unknown region 'us-east-7' \(--regions\)\. Did you mean us-east-1\?"
    ):
        validate_region("us-east-7", what="--regions")


def test_region_of_another_partition_is_refused() -> None:
    with pytest.raises(UnknownRegion, match="in the aws-cn partition"):
        validate_region("cn-north-1", partition="aws")


def test_known_region_not_enabled_is_refused() -> None:
    with pytest.raises(RegionNotEnabled, match=r"ap-east-1 \(--region\) is not enabled for this account"):
        validate_region("ap-east-1", partition="aws", enabled=["us-east-1"])


def test_not_enabled_hint_says_how_to_enable_it() -> None:
    with pytest.raises(RegionNotEnabled) as caught:
        validate_region("ap-east-1", partition="aws", enabled=["us-east-1"])
    assert "aws account enable-region --region-name ap-east-1" in caught.value.hint


def test_several_bad_names_are_reported_at_once() -> None:
    with pytest.raises(UnknownRegion, match=r"'us-east-7'.*'eu-wst-1'"):
        validate_regions(["us-east-1", "us-east-7", "eu-wst-1"])


def test_region_names_are_stripped_and_deduplicated() -> None:
    assert validate_regions([" us-east-1", "us-east-1 ", "", "eu-west-1"]) == ["us-east-1", "eu-west-1"]


def test_botocore_invalid_region_error_is_explained_as_a_usage_error() -> None:
    assert isinstance(explain(InvalidRegionError(region_name="us east 1")), UnknownRegion)


def test_session_refuses_a_mistyped_environment_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-wst-1")
    with pytest.raises(UnknownRegion, match="Did you mean eu-west-1"):
        AwsSession(SessionOptions())


def test_session_partition_of_an_eusc_home_region() -> None:
    assert AwsSession(SessionOptions(region="eusc-de-east-1")).partition == "aws-eusc"


# -- the CLI -----------------------------------------------------------------------------------------
def test_cli_unknown_region_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--region", "us-east-7", "scan")[0] == 2


def test_cli_unknown_region_names_the_closest_one(capsys: pytest.CaptureFixture[str]) -> None:
    _, err = cli(capsys, "--region", "us-east-7", "scan")
    assert "Unknown region 'us-east-7' (--region). Did you mean us-east-1?" in err


def test_cli_malformed_region_gives_no_traceback_or_botocore_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, err = cli(capsys, "--region", "us east 1", "scan")
    assert "Traceback" not in err and "supported format" not in err and "Did you mean us-east-1?" in err


def test_cli_unknown_region_exits_2_for_an_offline_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--region", "xx-nowhere-9", "policy", "--current", "-")[0] == 2


def test_tui_is_not_started_with_an_unknown_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_app(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("the TUI must not start")

    monkeypatch.setattr("tui.factory.run_app", no_app)
    assert cli(capsys, "--region", "eu-wst-1")[0] == 2


def test_cli_unknown_bucket_region_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(
        capsys, "plan", "--strategy", "central", "--bucket", "kentik-logs", "--bucket-region", "eu-wst-1"
    )
    assert code == 2 and "Did you mean eu-west-1?" in err


def test_cli_unknown_verify_region_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "verify", "--bucket", "kentik-logs", "--regions", "us-west-9", "--once")
    assert code == 2 and "Did you mean us-west-1?" in err


def test_cli_scan_not_enabled_region_exits_2(moto: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "scan", "--regions", "us-east-1,af-south-1")
    assert code == 2 and "af-south-1 (--regions) is not enabled for this account" in err


def test_cli_verify_not_enabled_region_exits_2(moto: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "verify", "--bucket", "kentik-logs", "--regions", "af-south-1", "--once")
    assert code == 2 and "not enabled for this account" in err


def test_cli_plan_not_enabled_bucket_region_exits_2(moto: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--strategy", "central", "--bucket", "kentik-logs", "--bucket-region", "af-south-1"]
    code, err = cli(capsys, *argv)
    assert code == 2 and "af-south-1 (--bucket-region) is not enabled for this account" in err


def test_cli_scan_lists_a_not_enabled_region_it_was_not_asked_for(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--regions", "us-east-1"]) == 0
    assert "af-south-1" in capsys.readouterr().out


# -- ARNs use the partition --------------------------------------------------------------------------
def test_inline_policy_change_targets_an_arn_of_the_partition() -> None:
    target = PolicyTarget(
        kind="inline",
        policy_name="metadata",
        document={"Version": "2012-10-17", "Statement": [META]},
        role_name="kentik",
        account="123456789012",
    )
    need = Requirements(buckets=("logs",), partition="aws-cn")
    merge = merge_policy(target.document, need, kind="inline")
    changes = changes_for(target, merge, need, region="cn-north-1", partition="aws-cn")
    assert changes[0].target == "arn:aws-cn:iam::123456789012:role/kentik"
