"""The one module for names, ARNs and log prefixes: each rule, stated once."""

from __future__ import annotations

import pytest

from aws.errors import ValidationFailed
from aws.names import (
    check_log_prefix,
    delivery_folder,
    existing_bucket_name_problem,
    firewall_prefix,
    flowlog_prefix,
    kms_key_arn,
    log_folder,
    parse_kms_key_arn,
    parse_s3_arn,
    s3_arn,
)

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", ""),
        ("vpc-logs", "vpc-logs/"),
        ("vpc-logs/", "vpc-logs/"),
        ("a/b/", "a/b/"),
        ("my-AWSLogs/", "my-AWSLogs/"),
    ],
)
def test_flowlog_prefix_ends_with_a_slash(prefix: str, expected: str) -> None:
    assert flowlog_prefix(prefix) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"), [("", ""), ("firewall-logs/", "firewall-logs"), ("a/b", "a/b")]
)
def test_firewall_prefix_has_no_trailing_slash(prefix: str, expected: str) -> None:
    assert firewall_prefix(prefix) == expected


@pytest.mark.parametrize(
    "prefix", ["/vpc", "AWSLogs", "AWSLogs/", "AWSLogsX/", "a/AWSLogs/", "x/AWSLogs/", "a//b", "a b/", "a\tb"]
)
def test_check_log_prefix_refuses_what_aws_refuses(prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        check_log_prefix(prefix, what="Prefix", example="logs/")


@pytest.mark.parametrize("prefix", ["/vpc", "AWSLogs/", "a//b"])
def test_both_api_forms_apply_the_same_rule(prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        flowlog_prefix(prefix)
    with pytest.raises(ValidationFailed):
        firewall_prefix(prefix)


@pytest.mark.parametrize(
    ("prefix", "expected"), [("fw", "fw"), ("/fw/", "fw"), ("a/b/", "a/b"), ("", ""), (" x/ ", "x")]
)
def test_log_folder_strips_slashes(prefix: str, expected: str) -> None:
    assert log_folder(prefix) == expected


def test_s3_arn_of_a_bucket_and_of_its_keys() -> None:
    assert s3_arn("b-1") == "arn:aws:s3:::b-1"
    assert s3_arn("b-1", "AWSLogs/*", partition="aws-cn") == "arn:aws-cn:s3:::b-1/AWSLogs/*"


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:s3:::bucket", ("bucket", "")),
        ("arn:aws:s3:::bucket/a/b/", ("bucket", "a/b/")),
        ("arn:aws-cn:s3:::b/p", ("b", "p")),
        ("arn:aws:logs:us-east-1:111122223333:log-group:x", None),
        ("bucket/prefix", None),
    ],
)
def test_parse_s3_arn(arn: str, expected: tuple[str, str] | None) -> None:
    assert parse_s3_arn(arn) == expected


def test_parse_kms_key_arn() -> None:
    assert parse_kms_key_arn(KEY) == (
        "aws",
        "eu-west-1",
        "111122223333",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
    )


@pytest.mark.parametrize(
    "text", ["alias/logs", "1234abcd-12ab", "arn:aws:kms:eu-west-1:111122223333:alias/logs"]
)
def test_parse_kms_key_arn_refuses_aliases_and_ids(text: str) -> None:
    assert parse_kms_key_arn(text) is None


def test_kms_key_arn_from_an_id_or_an_arn() -> None:
    assert kms_key_arn("k-1", region="us-east-1", account="111122223333") == (
        "arn:aws:kms:us-east-1:111122223333:key/k-1"
    )
    assert kms_key_arn(KEY, region="us-east-1", account="999999999999") == KEY


@pytest.mark.parametrize(("prefix", "expected"), [("fw", "fw"), ("/fw/", "fw"), ("a/b/", "a/b"), ("", "")])
def test_delivery_folder_of_a_prefix(prefix: str, expected: str) -> None:
    assert delivery_folder(prefix) == expected


@pytest.mark.parametrize("prefix", ["AWSLogs", "AWSLogs/x", "/AWSLogs/", "x/AWSLogs/", "a//b"])
def test_delivery_folder_refuses_what_aws_refuses(prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        delivery_folder(prefix)


@pytest.mark.parametrize("name", ["acme-flow-logs-an", "xn--legacy-logs", "old-logs-s3alias", "a.b-c"])
def test_existing_bucket_names_made_before_todays_rules_pass(name: str) -> None:
    assert existing_bucket_name_problem(name) is None


@pytest.mark.parametrize("name", ["Bad_Name", "a..b", "-x-", "ab"])
def test_existing_bucket_name_needs_the_shape_of_one(name: str) -> None:
    assert existing_bucket_name_problem(name) == (
        f"{name!r} is not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, "
        "beginning and ending with a letter or digit, no two dots in a row."
    )
