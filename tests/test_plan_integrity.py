"""Plan integrity: apply never runs what the engine would not.

A plan file is made by the real CLI against the seeded account, then tampered with the way an attacker or
a careless edit would. Requests are counted below botocore's endpoint (every request any client sends,
moto's in-process stub included), so "nothing was sent" is checked, not assumed.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest

from aws.errors import ValidationFailed
from aws.plans.change import Plan, PlanRejected, executor_for
from aws.sandbox.seed import SeedSummary
from tui.cli import main

BUCKET = "kentik-integrity-test"
ROLE_ARGS = ["--role", "kentik-metadata-role"]


class Requests:
    """Every HTTP request botocore sends, by operation name."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.ops.values())


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[Requests]:
    seen = Requests()
    original = botocore.endpoint.Endpoint.make_request

    def counting(self: Any, operation_model: Any, request_dict: Any) -> Any:
        seen.ops[operation_model.name] += 1
        return original(self, operation_model, request_dict)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", counting)
    yield seen


def make_plan(tmp_path: Path, *extra: str) -> dict[str, Any]:
    path = tmp_path / "made.json"
    args = ["plan", "--strategy", "central", "--bucket", BUCKET, "--regions", "us-east-1", *extra]
    assert main([*args, "-o", str(path)]) == 0
    data: dict[str, Any] = json.loads(path.read_text())
    return data


_MADE: list[str] = []  # the seeded account is the same in every test: plan it once per process


@pytest.fixture
def made(seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The plan `flowlogs plan` makes for the seeded account (with the IAM part), as its JSON."""
    if not _MADE:
        _MADE.append(json.dumps(make_plan(tmp_path, *ROLE_ARGS)))
        capsys.readouterr()
    data: dict[str, Any] = json.loads(_MADE[0])
    return data


def change_of(plan: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in plan["changes"] if c["kind"] == kind)
    return found


def apply_file(tmp_path: Path, plan: dict[str, Any] | str, *extra: str) -> int:
    path = tmp_path / "tampered.json"
    path.write_text(plan if isinstance(plan, str) else json.dumps(plan))
    return main(["apply", "--plan", str(path), "--yes", *extra])


def tampered(made: dict[str, Any], edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    plan = copy.deepcopy(made)
    edit(plan)
    return plan


def bucket_names() -> set[str]:
    return {b["Name"] for b in boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]}


# -- what the engine makes is accepted ----------------------------------------------------------------


def test_every_plan_the_engine_makes_reads_back_equal(made: dict[str, Any]) -> None:
    plan = Plan.from_json(json.dumps(made))
    assert plan.model_dump(mode="json") == made


def test_engine_plan_holds_every_kind_of_the_default_set_up(made: dict[str, Any]) -> None:
    kinds = {c["kind"] for c in made["changes"]}
    assert {
        "s3.create-bucket",
        "s3.put-bucket-policy",
        "ec2.create-flow-logs",
        "network-firewall.s3-log-destination",
        "iam.create-policy-version",
    } <= kinds


def test_plan_gives_each_change_its_account(made: dict[str, Any]) -> None:
    assert {c["account"] for c in made["changes"]} == {made["account"]}


def test_plan_is_written_in_format_3_with_none_for_no_include_list(made: dict[str, Any]) -> None:
    assert (made["format"], made["settings"]["logs"]["include"]) == (3, None)


def test_format_2_empty_include_list_is_read_as_all(made: dict[str, Any]) -> None:
    old = {
        **made,
        "format": 2,
        "settings": {**made["settings"], "logs": {**made["settings"]["logs"], "include": []}},
    }
    assert Plan.from_json(json.dumps(old)).settings["logs"]["include"] is None


# -- not a plan: plain messages, nothing sent ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{}", "an empty JSON object"),
        ("", "empty"),
        ("[1, 2]", "a JSON list"),
        ('{"format": 2, "changes": "x"}', "not a list of changes"),
        ('{"format": 99, "changes": []}', "format 99 is not supported"),
    ],
)
def test_a_file_that_is_not_a_plan_exits_2_with_a_plain_message(
    seeded: SeedSummary,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    requests: Requests,
    text: str,
    said: str,
) -> None:
    assert apply_file(tmp_path, text) == 2
    assert said in capsys.readouterr().err
    assert requests.total == 0


def test_scan_output_is_named_as_such(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    assert main(["scan", "--json"]) == 0
    scan_output = capsys.readouterr().out
    before = requests.total
    assert apply_file(tmp_path, scan_output) == 2
    assert "output of `flowlogs scan`" in capsys.readouterr().err
    assert requests.total == before


def test_truncated_plan_is_refused_as_cut_off(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    text = json.dumps(made, indent=2)
    assert apply_file(tmp_path, text[: len(text) // 2]) == 2
    assert "not complete JSON" in capsys.readouterr().err
    assert requests.total == 0


def test_messages_hold_no_pydantic_internals(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tampered(made, lambda p: p["changes"][0].pop("region"))
    assert apply_file(tmp_path, plan) == 2
    err = capsys.readouterr().err
    assert "region: is missing" in err
    assert "pydantic" not in err and "type=" not in err and "input_value" not in err


# -- tampered plans: refused whole, zero requests -----------------------------------------------------


def set_account(plan: dict[str, Any], account: str) -> None:
    plan["account"] = account


def drop_log_field(plan: dict[str, Any]) -> None:
    change = change_of(plan, "ec2.create-flow-logs")
    change["params"]["LogFormat"] = change["params"]["LogFormat"].replace(" ${pkt-srcaddr}", "")


def redirect_flow_logs(plan: dict[str, Any]) -> None:
    change_of(plan, "ec2.create-flow-logs")["params"]["LogDestination"] = "arn:aws:s3:::attacker-logs"


def widen_our_statement(plan: dict[str, Any]) -> None:
    change = change_of(plan, "s3.put-bucket-policy")
    policy = json.loads(change["params"]["Policy"])
    policy["Statement"][0]["Principal"] = "*"
    change["params"]["Policy"] = json.dumps(policy)


def swap_operation(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.create-bucket")["operation"] = "DeleteBucket"


def claim_not_destructive(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.put-encryption").update(kind="s3.replace-encryption", destructive=False)


def unknown_kind(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.create-bucket")["kind"] = "s3.delete-bucket"


def rollback_kind(plan: dict[str, Any]) -> None:
    change_of(plan, "iam.create-policy-version").update(
        kind="iam.set-default-policy-version", operation="SetDefaultPolicyVersion"
    )


def extra_parameter(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.create-bucket")["params"]["ACL"] = "public-read"


def other_bucket_than_target(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.put-bucket-policy")["params"]["Bucket"] = "someone-elses-bucket"


def other_region(plan: dict[str, Any]) -> None:
    change_of(plan, "s3.create-bucket")["region"] = "eu-west-1"


def string_for_number(plan: dict[str, Any]) -> None:
    change_of(plan, "ec2.create-flow-logs")["params"]["MaxAggregationInterval"] = "600"


def firewall_elsewhere(plan: dict[str, Any]) -> None:
    change = change_of(plan, "network-firewall.s3-log-destination")
    log_type = change["id"].rsplit(":", 1)[-1]
    for config in change["params"]["LoggingConfiguration"]["LogDestinationConfigs"]:
        if config["LogType"] == log_type:
            config["LogDestination"] = {"bucketName": "attacker-logs"}


def foreign_change_account(plan: dict[str, Any]) -> None:
    plan["changes"][0]["account"] = "210987654321"


def forward_dependency(plan: dict[str, Any]) -> None:
    plan["changes"][0]["depends_on"] = [plan["changes"][-1]["id"]]


TAMPERING = {
    "no account": (lambda p: set_account(p, ""), "names no AWS account"),
    "operation swapped": (swap_operation, "means operation 'CreateBucket'"),
    "destructive kind claimed safe": (claim_not_destructive, "means destructive True"),
    "unknown kind": (unknown_kind, "is not a kind of change a plan file may hold"),
    "rollback-only kind": (rollback_kind, "is not a kind of change a plan file may hold"),
    "extra parameter": (extra_parameter, "params.ACL: is not a parameter of this change"),
    "bucket other than the target": (other_bucket_than_target, "is not the bucket it changes"),
    "region other than the bucket's": (other_region, "LocationConstraint"),
    "loose type": (string_for_number, "MaxAggregationInterval"),
    "log field dropped": (drop_log_field, "LogFormat is not the engine's"),
    "flow logs redirected": (redirect_flow_logs, "not a bucket this plan has Kentik read"),
    "firewall logs redirected": (firewall_elsewhere, "not a bucket this plan has Kentik read"),
    "delivery statement widened": (widen_our_statement, "is not one flowlogs writes"),
    "change in another account": (foreign_change_account, "not the plan's"),
    "dependency on a later change": (forward_dependency, "which is not an earlier change"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_tampered_plan_is_refused_naming_the_problem(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    edit, said = TAMPERING[name]
    assert apply_file(tmp_path, tampered(made, edit)) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("name", list(TAMPERING))
def test_tampered_plan_sends_no_request(
    made: dict[str, Any], tmp_path: Path, requests: Requests, name: str
) -> None:
    apply_file(tmp_path, tampered(made, TAMPERING[name][0]))
    assert requests.ops == Counter()


def test_every_problem_is_listed_at_once(made: dict[str, Any]) -> None:
    plan = tampered(made, lambda p: (other_bucket_than_target(p), drop_log_field(p)))
    with pytest.raises(PlanRejected) as info:
        Plan.from_json(json.dumps(plan))
    named = {
        kind
        for kind in ("s3.put-bucket-policy", "ec2.create-flow-logs")
        for p in info.value.problems
        if kind in p
    }
    assert named == {"s3.put-bucket-policy", "ec2.create-flow-logs"}


def test_plan_for_another_account_is_refused_before_any_change(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    text = json.dumps(made).replace(made["account"], "210987654321")  # consistent: passes static checks
    assert apply_file(tmp_path, text) == 2
    assert "made for account 210987654321" in capsys.readouterr().err
    assert set(requests.ops) == {"GetCallerIdentity"}


# -- documents re-derived from live state at apply time ---------------------------------------------


def add_backdoor(plan: dict[str, Any]) -> None:
    change = change_of(plan, "s3.put-bucket-policy")
    policy = json.loads(change["params"]["Policy"])
    policy["Statement"].append(
        {
            "Sid": "Backdoor",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    )
    change["params"]["Policy"] = json.dumps(policy)


def test_altered_policy_of_a_new_bucket_is_refused_up_front(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    assert apply_file(tmp_path, tampered(made, add_backdoor)) == 2
    assert "created by this plan" in capsys.readouterr().err
    assert requests.total == 0


def reads_only(requests: Requests) -> bool:
    return all(op.startswith(("Get", "List", "Describe", "Head")) for op in requests.ops)


def grant_everything(plan: dict[str, Any]) -> None:
    change = change_of(plan, "iam.create-policy-version")
    doc = json.loads(change["params"]["PolicyDocument"])
    doc["Statement"].append({"Sid": "Extra", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    change["params"]["PolicyDocument"] = json.dumps(doc)


def test_altered_iam_document_refuses_the_plan_before_any_change(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    assert apply_file(tmp_path, tampered(made, grant_everything)) == 2
    assert "not the one this plan previewed" in capsys.readouterr().out
    assert requests.ops == {
        "DescribeLoggingConfiguration": 1,
        "GetCallerIdentity": 1,
        "GetPolicy": 1,
        "GetPolicyVersion": 1,
    }


def test_policy_changed_since_the_plan_refuses_the_plan_before_any_change(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    arn = change_of(made, "iam.create-policy-version")["params"]["PolicyArn"]
    iam = boto3.client("iam", region_name="us-east-1")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    older = next(v["VersionId"] for v in versions if not v["IsDefaultVersion"])
    iam.set_default_policy_version(PolicyArn=arn, VersionId=older)  # someone rolled it back meanwhile
    requests.ops.clear()
    assert apply_file(tmp_path, made) == 2
    assert "changed since the diff was shown" in capsys.readouterr().out
    assert reads_only(requests)


def test_bucket_policy_changed_since_the_plan_is_refused_as_stale(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], requests: Requests
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)  # someone made the bucket, with a policy, after the plan
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Ops",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:DeleteBucket",
                        "Resource": f"arn:aws:s3:::{BUCKET}",
                    }
                ],
            }
        ),
    )
    puts_before = requests.ops["PutBucketPolicy"]
    assert apply_file(tmp_path, made) == 2
    assert "not the one this plan previewed" in capsys.readouterr().out
    assert requests.ops["PutBucketPolicy"] == puts_before
    assert "Ops" in s3.get_bucket_policy(Bucket=BUCKET)["Policy"]  # their policy is untouched


def test_unaltered_plan_applies_and_converges(made: dict[str, Any], tmp_path: Path) -> None:
    assert apply_file(tmp_path, made) == 0
    assert apply_file(tmp_path, made) == 0
    assert BUCKET in bucket_names()


# -- the preview shows what runs ------------------------------------------------------------------------


def test_preview_is_derived_from_the_change_not_its_title(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tampered(made, lambda p: change_of(p, "s3.create-bucket").update(title="Harmless: reads nothing"))
    path = tmp_path / "titled.json"
    path.write_text(json.dumps(plan))
    main(["apply", "--plan", str(path)])  # no --yes and no terminal: preview, then refusal
    out = capsys.readouterr().out
    assert f"s3:CreateBucket on arn:aws:s3:::{BUCKET}" in out and "Harmless" not in out


def test_preview_flags_destructive_kinds(seeded: SeedSummary) -> None:
    preview = executor_for("ec2.delete-flow-logs").preview(
        Plan.model_validate(
            {
                "account": "123456789012",
                "changes": [
                    {
                        "id": "d",
                        "kind": "ec2.delete-flow-logs",
                        "title": "t",
                        "reason": "r",
                        "target": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-12345678",
                        "region": "us-east-1",
                        "params": {"FlowLogIds": ["fl-12345678"]},
                        "basis": {"resource_ids": ["vpc-12345678"]},
                    }
                ],
            }
        ).changes[0]
    )
    assert "[DESTRUCTIVE]" in preview and "fl-12345678" in preview


# -- format 1 (earlier versions) is still read ------------------------------------------------------


def as_format_1(plan: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(plan)
    old["format"] = 1
    for change in old["changes"]:
        for key in ("account", "provider", "basis"):
            change.pop(key, None)
    return old


def test_format_1_plan_without_iam_is_read_and_applies(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = as_format_1(make_plan(tmp_path))
    assert apply_file(tmp_path, old) == 0
    assert BUCKET in bucket_names()


def test_format_1_bucket_policy_gets_its_basis_back(seeded: SeedSummary, tmp_path: Path) -> None:
    new = make_plan(tmp_path, "--prefix", "vpc")
    plan = Plan.from_json(json.dumps(as_format_1(new)))
    ours = next(c for c in plan.changes if c.kind == "s3.put-bucket-policy")
    assert ours.basis == change_of(new, "s3.put-bucket-policy")["basis"]


def test_format_1_iam_change_is_refused_asking_for_a_new_plan(made: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed, match="format 1"):
        Plan.from_json(json.dumps(as_format_1(made)))


# -- found in review: downgrades, foreign buckets, odd input ----------------------------------------


def test_duplicate_keys_in_the_file_are_refused(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(made).replace('"format": 3', '"format": 3, "format": 3', 1)
    assert apply_file(tmp_path, text) == 2
    assert "names the key 'format' twice" in capsys.readouterr().err


def test_odd_but_schema_valid_input_is_a_plain_problem(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = make_plan(tmp_path, "--lifecycle-days", "30")
    change_of(plan, "s3.put-lifecycle")["params"]["LifecycleConfiguration"]["Rules"][0]["Expiration"] = None
    assert apply_file(tmp_path, plan) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_format_1_change_with_broken_params_is_a_plain_problem(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = as_format_1(made)
    change_of(old, "s3.put-bucket-policy")["params"] = ["x"]
    assert apply_file(tmp_path, old) == 2
    assert "refused" in capsys.readouterr().err


def downgrade_encryption_plan(seeded: SeedSummary, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """A plan for an existing SSE-KMS bucket whose (destructive) switch to SSE-S3 is relabelled safe."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
        "BucketKeyEnabled": True,
    }
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
    plan = make_plan(tmp_path)
    change_of(plan, "s3.replace-encryption").update(kind="s3.put-encryption", destructive=False)
    return plan, key


def test_destructive_encryption_relabelled_safe_is_refused(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, key = downgrade_encryption_plan(seeded, tmp_path)
    capsys.readouterr()
    assert apply_file(tmp_path, plan) == 2
    assert "would now replace its own" in capsys.readouterr().out
    rules = boto3.client("s3", region_name="us-east-1").get_bucket_encryption(Bucket=BUCKET)
    assert (
        rules["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
            "KMSMasterKeyID"
        ]
        == key
    )


def test_flow_logs_to_a_bucket_the_account_does_not_own_are_not_created(
    made: dict[str, Any], tmp_path: Path, requests: Requests
) -> None:
    def elsewhere(plan: dict[str, Any]) -> None:
        redirect_flow_logs(plan)
        plan["read_set"].append({**plan["read_set"][0], "bucket": "attacker-logs", "prefix": ""})

    assert apply_file(tmp_path, tampered(made, elsewhere)) == 2  # refused input: the only failures
    assert requests.ops["CreateFlowLogs"] == 0


def test_iam_preview_names_delete_permissions(seeded: SeedSummary, tmp_path: Path) -> None:
    plan = Plan.from_json(json.dumps(make_plan(tmp_path, *ROLE_ARGS, "--allow-delete")))
    change = next(c for c in plan.changes if c.kind == "iam.create-policy-version")
    assert "s3:*" in executor_for(change.kind).preview(change)


@pytest.mark.parametrize("days", ["0", "36501"])
def test_lifecycle_days_out_of_range_exit_2_before_any_call(
    days: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["plan", "--strategy", "central", "--bucket", BUCKET, "--regions", "us-east-1"]
    assert main([*args, "--lifecycle-days", days, "-o", str(tmp_path / "p.json")]) == 2
    assert "--lifecycle-days must be from 1 to 36500" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
