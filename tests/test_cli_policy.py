"""`flowlogs policy`: offline mode, exit codes, apply/rollback against moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from member_accounts import member_session

from aws.errors import AccessDeniedError
from aws.iam.diff import pretty_json
from aws.iam.eval import Access, evaluate
from aws.iam.merge import merge_policy
from aws.iam.requirements import READ_SID, Requirements
from aws.sandbox.seed import KENTIK_EXTERNAL_ID, KENTIK_PRINCIPAL, METADATA_POLICY_VERSIONS
from aws.session import AwsSession
from tui import cli

META = {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}


def write(tmp_path: Path, doc: Any, name: str = "policy.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["policy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def refuse(*_: Any, **__: Any) -> AwsSession:
    raise AssertionError("offline mode created an AWS session")


def offline(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`run`, failing the test if an AWS session is created: offline mode must not create one."""
    code = cli.main(["policy", *argv], session_factory=refuse)
    out, err = capsys.readouterr()
    return code, out, err


def test_offline_json_is_exactly_the_merged_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = {"Version": "2008-10-17", "Statement": META}
    path = write(tmp_path, current)
    code, out, err = offline(capsys, "--current", path, "--bucket", "logs-a", "--bucket", "logs-b", "--json")
    assert code == 0 and err == ""
    expected = merge_policy(current, Requirements(buckets=("logs-a", "logs-b"))).proposed
    assert out == pretty_json(expected) + "\n"
    merged = json.loads(out)
    assert merged["Version"] == "2008-10-17" and merged["Statement"][0] == META
    assert evaluate(merged, Access("s3:List*", "arn:aws:s3:::logs-b")).allowed
    # feeding the output back is a no-op
    code, out2, _ = run(
        capsys,
        "--current",
        write(tmp_path, out, "merged.json"),
        "--bucket",
        "logs-a",
        "--bucket",
        "logs-b",
        "--json",
    )
    assert code == 0 and out2 == out


def test_offline_text_shows_summary_diff_and_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"Version": "2012-10-17", "Statement": [META]})
    code, out, _ = run(
        capsys,
        "--current",
        path,
        "--bucket",
        "logs-a",
        "--kms-key",
        "arn:aws:kms:eu-west-1:123456789012:key/k1",
    )
    assert code == 0
    assert "adds 2 statements, changes 0, removes 0" in out
    assert f'+      "Sid": "{READ_SID}",' in out and "--- current" in out
    assert "GenerateDataKey" in out  # the KMS note
    assert "of 6,144 characters" in out


def test_offline_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    doc = {
        "Version": "2012-10-17",
        "Statement": [META, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(doc)))
    code, out, _ = offline(capsys, "--current", "-", "--bucket", "logs-a")
    assert code == 0 and "No change needed" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Version": "2012-10-17", "Statement": [', "is not valid JSON"),
        ('["not", "a", "policy"]', "is not an IAM policy"),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}',
            "resource policy",
        ),
    ],
)
def test_offline_bad_documents_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    code, out, err = offline(capsys, "--current", write(tmp_path, content), "--bucket", "logs-a")
    assert code == 2 and out == "" and message in err and "flowlogs policy:" in err


def test_offline_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"Statement": META})
    assert offline(capsys, "--current", str(tmp_path / "missing.json"), "--bucket", "logs-a")[0] == 2
    code, _, err = offline(capsys, "--current", path)
    assert code == 2 and "--bucket" in err
    code, _, err = offline(capsys, "--current", path, "--bucket", "logs-a", "--apply", "--yes")
    assert code == 2 and "offline" in err
    code, _, err = offline(capsys, "--current", path, "--bucket", "Bad_Name")
    assert (code, err.strip()) == (
        2,
        "flowlogs policy: 'Bad_Name' is not a valid bucket name. Character rule: only lowercase letters, "
        "digits, dots (.) and hyphens (-) are allowed (found 'B', 'N', '_'). First-character rule: a bucket "
        "name must begin with a lowercase letter or a digit.",
    )
    with pytest.raises(SystemExit):  # argparse: the delete options exclude each other
        cli.main(
            ["policy", "--current", path, "--bucket", "b-1", "--allow-delete", "--allow-delete-objects"],
            session_factory=refuse,
        )


def test_offline_deny_and_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::logs-a/*"}
    code, out, err = run(
        capsys, "--current", write(tmp_path, {"Statement": [META, deny]}), "--bucket", "logs-a", "--json"
    )
    assert code == 1 and "BLOCKING" in err and json.loads(out)["Statement"][1] == deny
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["x:" + "A" * 6000], "Resource": "*"}],
    }
    code, out, err = offline(capsys, "--current", write(tmp_path, big), "--bucket", "logs-a")
    assert code == 2 and out == "" and "too large" in err and "of 6,144 characters" in err


# -- online (moto) ---------------------------------------------------------------------------------


def seed_kentik_role(session: AwsSession) -> str:
    """The demo sandbox's Kentik role: trusts Kentik with an external id, managed policy with 4 versions."""
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": KENTIK_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": KENTIK_EXTERNAL_ID}},
            }
        ],
    }
    iam.create_role(RoleName="kentik-metadata-role", AssumeRolePolicyDocument=json.dumps(trust))
    first, *later = METADATA_POLICY_VERSIONS
    arn: str = iam.create_policy(
        PolicyName="kentik-metadata-policy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": first}),
    )["Policy"]["Arn"]
    for statements in later:
        iam.create_policy_version(
            PolicyArn=arn,
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            SetAsDefault=True,
        )
    iam.attach_role_policy(RoleName="kentik-metadata-role", PolicyArn=arn)
    return arn


def default_version(session: AwsSession, arn: str) -> str:
    return str(session.client("iam").get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"])


def test_apply_rollback_reapply_with_rotation(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = seed_kentik_role(session)
    role = ["--role", "kentik-metadata-role", "--bucket", "logs-a"]
    # preview only
    code, out, _ = run(capsys, *role)
    assert code == 0 and "adds 1 statement" in out and "CreatePolicyVersion" in out
    assert default_version(session, arn) == "v4"
    # --apply without --yes, not interactive: refused after showing the diff
    code, out, err = run(capsys, *role, "--apply")
    assert code == 2 and "needs --yes" in err and f'"Sid": "{READ_SID}"' in out
    code, out, err = run(capsys, *role, "--apply", "--json")
    assert code == 2 and "needs --yes" in err and json.loads(out)["summary"].startswith("adds 1 statement")
    assert "applied" not in json.loads(out)
    assert default_version(session, arn) == "v4"
    code, out, _ = run(capsys, *role, "--apply", "--yes")
    assert code == 0 and "applied" in out and "--rollback --role kentik-metadata-role" in out
    assert default_version(session, arn) == "v5"
    # rollback from the saved record
    code, out, _ = run(capsys, "--role", "kentik-metadata-role", "--rollback", "--yes")
    assert code == 0 and "make v4 the default again" in out
    assert default_version(session, arn) == "v4"
    # re-apply: 5 versions exist, so the plan rotates the oldest non-default one (v1); but the identical
    # version v5 exists, so it is made default again and nothing is deleted or created
    code, out, _ = run(capsys, *role, "--apply", "--yes", "--json")
    data = json.loads(out)
    assert code == 0 and data["target"]["default_version"] == "v4"
    ops = [c["operation"] for c in data["changes"]]
    assert (
        ops == ["DeletePolicyVersion", "CreatePolicyVersion"]
        and data["changes"][0]["params"]["VersionId"] == "v1"
    )
    assert [r["status"] for r in data["applied"]["results"]] == ["satisfied", "applied"]
    versions = session.client("iam").list_policy_versions(PolicyArn=arn)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v1", "v2", "v3", "v4", "v5"]
    assert default_version(session, arn) == "v5"
    # and now nothing is left to do
    code, out, _ = run(capsys, "--policy-arn", arn, "--bucket", "logs-a")
    assert code == 0 and "No change needed" in out


def test_rollback_after_the_policy_moved_on_exits_2(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = seed_kentik_role(session)
    assert run(capsys, "--role", "kentik-metadata-role", "--bucket", "logs-a", "--apply", "--yes")[0] == 0
    session.client("iam").set_default_policy_version(PolicyArn=arn, VersionId="v2")  # someone else's change
    code, _, _ = run(capsys, "--role", "kentik-metadata-role", "--rollback", "--yes")
    assert (code, default_version(session, arn)) == (2, "v2")


def test_online_choice_needed_and_missing_role(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = session.client("iam")
    kentik = {"Effect": "Allow", "Principal": {"AWS": KENTIK_PRINCIPAL}, "Action": "sts:AssumeRole"}
    iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [kentik]})
    )
    for name in ("a", "b"):
        iam.put_role_policy(
            RoleName="r",
            PolicyName=name,
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [META]}),
        )
    code, _, err = run(capsys, "--role", "r", "--bucket", "logs-a")
    assert code == 2 and "--policy-name" in err
    code, out, _ = run(capsys, "--role", "r", "--policy-name", "b", "--bucket", "logs-a", "--apply", "--yes")
    assert code == 0
    doc = iam.get_role_policy(RoleName="r", PolicyName="b")["PolicyDocument"]
    assert doc["Statement"][1]["Sid"] == READ_SID
    assert iam.get_role_policy(RoleName="r", PolicyName="a")["PolicyDocument"]["Statement"] == [META]
    # inline rollback restores the previous document
    code, out, _ = run(capsys, "--role", "r", "--policy-name", "b", "--rollback", "--yes")
    assert code == 0 and "Roll back inline policy b of role r" in out
    assert iam.get_role_policy(RoleName="r", PolicyName="b")["PolicyDocument"]["Statement"] == [META]
    code, _, err = run(capsys, "--role", "nobody", "--bucket", "logs-a")
    assert code == 2 and "Role nobody was not found" in err


def test_nested_accounts_each_get_their_own_diff_and_apply(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """--accounts: a spoke role in each member account, reached through an assumed role."""
    import json as _json

    member = member_session(session, "111111111111")
    iam = member.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                # Kentik, and the hub account (the app assumes the spoke role itself by default)
                "Principal": {
                    "AWS": [
                        "arn:aws:iam::834693425129:role/eks-ingest-node",
                        "arn:aws:iam::123456789012:root",
                    ]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="KentikSpoke", AssumeRolePolicyDocument=_json.dumps(trust))
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="spoke-metadata", PolicyDocument=_json.dumps(doc))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="KentikSpoke", PolicyArn=arn)
    args = [
        "policy",
        "--role",
        "KentikSpoke",
        "--accounts",
        "111111111111,222222222222",
        "--bucket",
        "logs-a",
        "--json",
    ]

    def factory(*_: Any, **__: Any) -> AwsSession:
        return session

    assert cli.main(args, session_factory=factory) == 1  # the second account has no such role: reported

    out = _json.loads(capsys.readouterr().out)
    first, second = out["accounts"]
    assert first["account"] == "111111111111" and first["target"]["policy_arn"] == arn
    assert "error" in second and "KentikSpoke" in second["error"]
    assert cli.main([*args, "--apply", "--yes"], session_factory=factory) == 1  # the first still done
    applied = _json.loads(capsys.readouterr().out)["accounts"][0]["applied"]
    assert applied["results"][0]["status"] == "applied"
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    assert default == "v2"
    bad_id = ["policy", "--role", "KentikSpoke", "--accounts", "12345", "--bucket", "logs-a"]
    assert cli.main(bad_id, session_factory=factory) == 2


def test_read_existing_grants_only_the_awslogs_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {"Version": "2012-10-17", "Statement": META})
    code, out, _ = offline(
        capsys, "--current", path, "--bucket", "logs-a", "--read-existing", "old-logs/security/", "--json"
    )
    merged = json.loads(out)
    inside = Access("s3:GetObject", "arn:aws:s3:::old-logs/security/AWSLogs/123456789012/x.log.gz")
    outside = Access("s3:GetObject", "arn:aws:s3:::old-logs/payroll/export.csv")
    assert (code, evaluate(merged, inside).allowed, evaluate(merged, outside).allowed) == (0, True, False)


def test_nested_accounts_all_denied_exit_3(
    session: AwsSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(role_arn: str, **_: object) -> AwsSession:
        raise AccessDeniedError(f"Access denied: sts:AssumeRole on {role_arn}", action="sts:AssumeRole")

    monkeypatch.setattr(session, "assume_role", denied)
    args = [
        "policy",
        "--role",
        "KentikSpoke",
        "--accounts",
        "111111111111,222222222222",
        "--bucket",
        "logs-a",
    ]
    assert cli.main(args, session_factory=lambda *_, **__: session) == 3  # every account denied


# -- --document: the merged document instead of the diff ----------------------------------------------


def test_offline_document_is_exactly_the_merged_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = {"Version": "2012-10-17", "Statement": [META]}
    code, out, _ = offline(capsys, "--current", write(tmp_path, current), "--bucket", "logs-a", "--document")
    expected = merge_policy(current, Requirements(buckets=("logs-a",))).proposed
    assert (code, out) == (0, pretty_json(expected) + "\n")


def test_online_document_is_the_merged_document_of_the_role_policy(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = session.client("iam")
    iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    current = {"Version": "2012-10-17", "Statement": [META]}
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(current))
    code, out, _ = run(capsys, "--role", "r", "--bucket", "logs-a", "--document")
    expected = merge_policy(current, Requirements(buckets=("logs-a",))).proposed
    assert (code, json.loads(out)) == (0, expected)


@pytest.mark.parametrize("other", [["--apply", "--yes"], ["--rollback"], ["--accounts", "111122223333"]])
def test_document_with_a_change_is_refused_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], other: list[str]
) -> None:
    code, _, err = offline(capsys, "--role", "r", "--bucket", "logs-a", "--document", *other)
    assert (code, "--document prints the merged document" in err) == (2, True)
