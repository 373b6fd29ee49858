"""Loose ends a new user hit in the CLI: one way to give region lists, values starting with '-', the
bucket name refused by its rule before any AWS call, the regional bucket suggestion, demo-server's help.

Per-command behaviour lives beside each command's tests (test_cli_scan, test_cli_verify, test_cli_policy);
these are the claims that hold across commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from aws.s3.strategy import BucketChoice, validate_choice
from aws.session import AwsSession
from tui import cli
from tui.cli import build_parser, split_list

REGIONS = ["us-east-1", "eu-west-1"]


def _no_session(*_: Any, **__: Any) -> AwsSession:
    raise AssertionError("an AWS session was made")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# -- region lists: one way for every command ------------------------------------------------------------


def _region_list_options() -> list[tuple[str, argparse.Action]]:
    return [
        (name, action)
        for name, sub in _subparsers().items()
        for action in sub._actions
        if action.dest in ("regions", "skip")
    ]


def test_region_list_options_exist_in_scan_plan_verify_and_register() -> None:
    assert {name for name, _ in _region_list_options()} == {"scan", "plan", "verify", "register"}


@pytest.mark.parametrize(("command", "action"), _region_list_options(), ids=lambda v: str(v))
def test_every_region_list_takes_spaces_and_repeats(command: str, action: argparse.Action) -> None:
    assert (action.nargs, type(action)) == ("+", argparse._ExtendAction)


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["plan", "--strategy", "central", "--bucket", "b"],
        ["verify", "--bucket", "b"],
        ["register", "--plan-id", "1", "--kentik-spoke-role", "spoke"],
    ],
    ids=lambda argv: argv[0],
)
def test_commas_spaces_and_repeats_give_one_list(argv: list[str]) -> None:
    parser, _ = build_parser()
    args = parser.parse_args(
        [*argv, "--regions", "us-east-1,eu-west-1", "ap-south-1", "--regions", "sa-east-1"]
    )
    assert split_list(args.regions) == ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"]


def test_split_list_strips_and_drops_blanks() -> None:
    assert split_list([" a , b", ",", "c"]) == ["a", "b", "c"]


# -- a value starting with '-' -------------------------------------------------------------------------


def test_a_value_read_as_an_option_gets_the_equals_form_in_the_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["verify", "--bucket", "-leading-dash"], session_factory=_no_session)
    assert "write --bucket=-leading-dash" in capsys.readouterr().err


def test_that_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["plan", "--strategy", "central", "--bucket", "-x"], session_factory=_no_session)
    assert exc.value.code == 2


def _policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    path.write_text('{"Version": "2012-10-17", "Statement": []}', encoding="utf-8")
    return str(path)


def _bucket_commands(tmp_path: Path) -> dict[str, list[str]]:
    """Every command taking --bucket, with what else it needs."""
    return {
        "plan": ["plan", "--strategy", "central"],
        "verify": ["verify", "--once"],
        "policy --current": ["policy", "--current", _policy_file(tmp_path)],
        "policy --role": ["policy", "--role", "kentik"],
        "register": ["register", "--plan-id", "11467", "--role", "kentik"],
    }


def test_every_command_taking_bucket_is_listed(tmp_path: Path) -> None:
    takes = {name for name, sub in _subparsers().items() if any(a.dest == "bucket" for a in sub._actions)}
    assert takes == {argv[0] for argv in _bucket_commands(tmp_path).values()}


@pytest.mark.parametrize("command", ["plan", "verify", "policy --current", "policy --role", "register"])
def test_bucket_with_a_leading_dash_is_refused_by_its_rule_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [*_bucket_commands(tmp_path)[command], "--bucket=-leading-dash"]
    code = cli.main(argv, session_factory=_no_session)
    err = capsys.readouterr().err
    assert (code, "First-character rule: a bucket name must begin" in err) == (2, True), err


# -- the regional bucket suggestion -------------------------------------------------------------------------


def test_plan_refuses_a_bad_bucket_name_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["plan", "--strategy", "regional", "--bucket", "My_Bucket"], session_factory=_no_session)
    err = capsys.readouterr().err
    assert (code, "Character rule" in err) == (2, True), err


def test_plan_flags_an_unknown_placeholder_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["plan", "--strategy", "regional", "--bucket", "kentik-{regoin}"], session_factory=_no_session)
    assert "Unknown placeholder(s) in the bucket name template 'kentik-{regoin}': {regoin}." in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("name", ["My_Bucket", "kentik-{regoin}"])
def test_the_bucket_step_check_suggests_no_invalid_name(name: str) -> None:
    """validate_choice is what the TUI's bucket step and `flowlogs plan` (after its scan) both call."""
    problems = validate_choice(BucketChoice(strategy="regional", bucket=name, regions=REGIONS))
    assert not any(f"{name}-{{region}}" in p for p in problems), problems


def test_the_bucket_step_check_flags_an_unknown_placeholder_for_regional_buckets() -> None:
    problems = validate_choice(BucketChoice(strategy="regional", bucket="kentik-{regoin}", regions=REGIONS))
    assert any(p.startswith("Unknown placeholder(s)") for p in problems), problems


# -- demo-server --------------------------------------------------------------------------------------


def test_demo_server_help_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo-server", "--help"])
    assert cli.DEMO_SERVER_HELP.split(" (", 1)[0] in " ".join(capsys.readouterr().out.split())
