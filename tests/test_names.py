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
    template_problems_anywhere,
    validate_bucket_name,
    validate_template,
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


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Bad_Name", "Character rule"),
        ("a..b", "Adjacent-dots rule"),
        ("-xy", "First-character rule"),
        ("xy-", "Last-character rule"),
        ("ab", "Length rule"),
    ],
)
def test_existing_bucket_name_problem_names_the_broken_rule(name: str, rule: str) -> None:
    problem = existing_bucket_name_problem(name) or ""
    assert problem.startswith(f"{name!r} is not a valid bucket name. {rule}: "), problem


def test_existing_bucket_name_rules_are_the_ones_new_names_obey() -> None:
    """One validator per rule: the message for an existing bucket quotes validate_bucket_name's own."""
    assert existing_bucket_name_problem("-x-") == "'-x-' is not a valid bucket name. " + " ".join(
        validate_bucket_name("-x-")
    )


# -- bucket name templates: one check for both strategies ------------------------------------------------

TWO_REGIONS = ["us-east-1", "eu-west-1"]


def test_regional_template_without_region_suggests_a_valid_one() -> None:
    assert validate_template("logs", TWO_REGIONS, per_region=True) == [
        "Regional buckets need one name per region: put {region} in the name (e.g. logs-{region})."
    ]


@pytest.mark.parametrize("name", ["My_Bucket", "kentik-{regoin}", "k" * 60])
def test_regional_template_never_suggests_an_invalid_name(name: str) -> None:
    problems = validate_template(name, TWO_REGIONS, per_region=True)
    assert not any("e.g." in p for p in problems), problems


def test_regional_template_reports_the_broken_naming_rule() -> None:
    problems = validate_template("My_Bucket", TWO_REGIONS, per_region=True)
    assert problems[0].startswith("Character rule"), problems


def test_regional_template_flags_an_unknown_placeholder_as_central_does() -> None:
    central = validate_template("kentik-{regoin}", ["us-east-1"])
    assert central[0] in validate_template("kentik-{regoin}", TWO_REGIONS, per_region=True)


def test_one_region_needs_no_region_placeholder() -> None:
    assert validate_template("logs", ["us-east-1"], per_region=True) == []


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        ("My_Bucket", "Character rule"),
        ("-x{region}", "First-character rule"),
        ("k" * 55 + "{region}", "Length"),
    ],
)
def test_template_problems_anywhere_finds_what_no_region_fixes(template: str, rule: str) -> None:
    assert template_problems_anywhere(template)[0].startswith(rule)


def test_template_problems_anywhere_leaves_length_in_longer_regions_to_the_full_check() -> None:
    """63 characters in us-east-1 (the shortest region name), longer elsewhere: not refused before the
    regions are known."""
    assert template_problems_anywhere("k" * 54 + "{region}") == []
