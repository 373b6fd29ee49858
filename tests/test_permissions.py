"""`flowlogs permissions`: the IAM policies generated from the modules' declarations, the README section
generated from them, and the check the API recorder (tests/api_recorder.py) runs over the suite's calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import api_recorder
import pytest

from aws import permissions
from aws.discovery import describe_regions
from aws.iam.requirements import MANAGED_POLICY_LIMIT, policy_size
from aws.permissions import (
    Uncovered,
    document_actions,
    iam_action,
    make_permissions,
    policy_documents,
    uncovered_calls,
)
from aws.plans.change import Change, Executor
from aws.session import AwsSession, is_mutating
from tui import cli

ROOT = Path(__file__).resolve().parents[1]
# IAM actions that change nothing although their names do not start with a read prefix.
READ_ACTIONS_BY_NAME = {"kms:Decrypt"}


def refuse(*_: Any, **__: Any) -> AwsSession:
    raise AssertionError("flowlogs permissions created an AWS session")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["permissions", *argv], session_factory=refuse)
    out, err = capsys.readouterr()
    return code, out, err


def read_only() -> set[str]:
    return document_actions(policy_documents()["read_only"])


def apply() -> set[str]:
    return document_actions(policy_documents()["apply"])


# -- the CLI ------------------------------------------------------------------------------------------


def test_json_is_exactly_the_two_policy_documents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == policy_documents()
    assert set(json.loads(out)) == {"read_only", "apply"}


def test_each_document_is_one_allow_statement_on_every_resource() -> None:
    for doc in policy_documents().values():
        assert doc["Version"] == "2012-10-17"
        [statement] = doc["Statement"]
        assert (statement["Effect"], statement["Resource"]) == ("Allow", "*")
        assert statement["Action"] == sorted(set(statement["Action"]))


def test_text_output_says_why_per_action_without_a_session(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if line.strip().startswith("s3:ListBucket "))
    assert "HeadBucket (aws.logs.sources, aws.s3.state)" in line and "ListObjectsV2 (aws.logs.watch)" in line
    assert 'Resource "*"' in out


def test_markdown_output_is_the_readme_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--markdown")
    assert code == 0 and out == permissions.permissions_markdown()


# -- the documents ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["s3:GetBucketPolicyStatus", "iam:GetRole", "ec2:DescribeTransitGateways", "sts:AssumeRole"]
)
def test_actions_the_old_list_missed_are_in_read_only(action: str) -> None:
    assert action in read_only()


def test_read_only_has_no_action_that_changes_anything() -> None:
    changing = sorted(
        a for a in read_only() if is_mutating(a.split(":", 1)[1]) and a not in READ_ACTIONS_BY_NAME
    )
    assert changing == []


def test_apply_holds_every_read_only_action() -> None:
    assert read_only() <= apply()


@pytest.mark.parametrize(
    "action", ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "s3:PutBucketPolicy", "kms:PutKeyPolicy"]
)
def test_log_delivery_set_up_actions_are_in_apply_only(action: str) -> None:
    assert action in apply() and action not in read_only()


@pytest.mark.parametrize("action", ["ec2:CreateTags", "s3:PutBucketTagging"])
def test_tagging_what_flowlogs_creates_is_in_apply_only(action: str) -> None:
    assert action in apply() and action not in read_only()


def test_reading_a_buckets_tags_is_in_read_only() -> None:
    assert "s3:GetBucketTagging" in read_only()


def test_text_output_says_why_flowlogs_needs_ec2_create_tags(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(capsys)
    line = next(line for line in out.splitlines() if line.strip().startswith("ec2:CreateTags "))
    assert "TagSpecifications" in line


def test_verify_may_decrypt_sse_kms_log_files_in_read_only() -> None:
    assert "kms:Decrypt" in read_only()


def test_apply_document_fits_one_managed_policy() -> None:
    assert policy_size(policy_documents()["apply"]) <= MANAGED_POLICY_LIMIT


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("s3", "HeadBucket", "s3:ListBucket"),
        ("s3", "ListObjectsV2", "s3:ListBucket"),
        ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
        ("s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration"),
        ("s3", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        ("s3", "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("s3", "GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
        ("network-firewall", "UpdateLoggingConfiguration", "network-firewall:UpdateLoggingConfiguration"),
        ("ec2", "DescribeTransitGateways", "ec2:DescribeTransitGateways"),
    ],
)
def test_operations_map_to_iam_actions(service: str, operation: str, action: str) -> None:
    assert iam_action(service, operation) == action


# -- the declarations ---------------------------------------------------------------------------------


def test_declarations_name_real_operations_at_the_right_level() -> None:
    assert permissions.declaration_problems() == []


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_every_declaring_module_is_collected() -> None:
    declaring = {
        _module_name(p)
        for d in ("aws", "screens", "tui")
        for p in (ROOT / d).rglob("*.py")
        if "PERMISSIONS = declare(" in p.read_text(encoding="utf-8") and p.name != "permissions.py"
    }
    assert declaring == set(permissions.ENGINE_MODULES)


def _makes_aws_client(line: str) -> bool:
    """A line making a client that is not Kentik's (`access.client(...)` of tui.kentik / aws.kentik)."""
    return ".client(" in line and "kentik" not in line.lower() and "access.client(" not in line


def test_every_module_making_aws_clients_declares() -> None:
    # aws.plans.change's Executor.call makes the call a Change names; the Change's module declares it.
    generic = {"aws.plans.change"}
    making = {
        _module_name(p)
        for d in ("aws", "screens", "tui")
        for p in (ROOT / d).rglob("*.py")
        if "sandbox" not in p.parts
        and any(_makes_aws_client(line) for line in p.read_text("utf-8").splitlines())
    }
    assert making - generic <= set(permissions.ENGINE_MODULES)


def test_collecting_every_declaration_does_not_import_textual() -> None:
    code = (
        "import sys\nfrom aws import permissions\n"
        "assert {'aws.discovery', 'aws.logs.watch'} <= {p.module for p in permissions.declarations()}\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the README -----------------------------------------------------------------------------------------


def test_readme_section_is_generated_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert permissions.readme_section(readme) == permissions.permissions_markdown(), (
        f"README.md's '{permissions.README_HEADING}' section differs from the declarations; "
        f"regenerate it with `{permissions.REGENERATE}`"
    )


def test_readme_section_ends_at_the_next_heading() -> None:
    readme = f"# x\n\n{permissions.README_HEADING}\n\nold\n\n## Next\n\nkept\n"
    updated = permissions.replace_readme_section(readme, f"{permissions.README_HEADING}\n\nnew\n\n")
    assert updated == f"# x\n\n{permissions.README_HEADING}\n\nnew\n\n## Next\n\nkept\n"


# -- the check ------------------------------------------------------------------------------------------


def test_checker_reports_an_undeclared_operation() -> None:
    calls = [("s3", "PutObject"), ("ec2", "DescribeVpcs")]
    assert uncovered_calls(calls) == [Uncovered("s3", "PutObject", "s3:PutObject", "apply")]


def test_checker_wants_read_calls_in_the_read_only_document() -> None:
    only_apply = make_permissions("fake", implied={"s3:ListBucket": "granted for apply only"})
    assert uncovered_calls([("s3", "HeadBucket")], [only_apply]) == [
        Uncovered("s3", "HeadBucket", "s3:ListBucket", "read_only")
    ]


def test_checker_accepts_an_operation_covered_through_its_iam_action() -> None:
    assert uncovered_calls([("s3", "HeadBucket"), ("s3", "ListObjectsV2")]) == []


def test_report_names_the_call_the_action_and_where_it_was_made() -> None:
    [line] = api_recorder.report(
        uncovered_calls([("s3", "PutObject")]), {("s3", "PutObject"): "aws/logs/watch.py:1"}
    )[2:]
    assert "s3:PutObject -> s3:PutObject (missing from apply)" in line and "aws/logs/watch.py:1" in line


# -- the recorder ---------------------------------------------------------------------------------------


def test_recorder_counts_flowlogs_calls_not_the_tests_own(
    session: AwsSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_recorder, "CALLS", {})
    session.client("ec2").describe_key_pairs()  # a test's own call
    describe_regions(session)  # flowlogs' call
    assert list(api_recorder.CALLS) == [("ec2", "DescribeRegions")]
    assert api_recorder.CALLS[("ec2", "DescribeRegions")].startswith("aws/discovery.py:")


def test_recorder_leaves_a_tests_own_executor_call_to_the_test(
    session: AwsSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_recorder, "CALLS", {})

    class DescribeKeyPairs(Executor):
        kind = "test.describe-key-pairs"
        service, operation = "ec2", "DescribeKeyPairs"

    change = Change(id="t", kind=DescribeKeyPairs.kind, title="t", reason="r", target="t", region="us-east-1")
    DescribeKeyPairs().call(session, change)  # aws/plans/change.py makes the call, for this test
    assert api_recorder.CALLS == {}


def test_recorder_merges_every_process_file(tmp_path: Path) -> None:
    (tmp_path / "gw0.json").write_text(json.dumps([["s3", "GetObject", "aws/logs/watch.py:1"]]))
    (tmp_path / "gw1.json").write_text(json.dumps([["ec2", "DescribeVpcs", "aws/discovery.py:2"]]))
    (tmp_path / "controller.json").write_text("[]")
    assert api_recorder.merge(tmp_path) == {
        ("ec2", "DescribeVpcs"): "aws/discovery.py:2",
        ("s3", "GetObject"): "aws/logs/watch.py:1",
    }
