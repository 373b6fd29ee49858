"""Kentik's role from nothing (aws.iam.kentik_role, aws.iam.role_executors, `flowlogs policy
--create-role`), and the strict sandbox's IAM rules it relies on (aws/sandbox/strict_iam.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.errors import ValidationFailed
from aws.iam.documents import find_policy
from aws.iam.kentik_role import (
    KENTIK_PRINCIPAL,
    METADATA_ACTIONS,
    READ_POLICY_NAME,
    ExistingPolicyDiffers,
    ExistingRoleDiffers,
    KentikRoleInputInvalid,
    KentikRoleSpec,
    kentik_role_changes,
    metadata_document,
    plan_kentik_role,
    trust_document,
)
from aws.iam.proposal import prepare
from aws.iam.requirements import READ_SID, Requirements
from aws.kentik_roles import discover_roles
from aws.permissions import document_actions, policy_documents
from aws.plans.change import Plan, PlanRejected, apply_plan
from aws.session import AwsSession
from tui import cli

ROLE, EXTERNAL_ID, BUCKET = "kentik-ingest", "184372", "acme-flowlogs"
ACCOUNT = "123456789012"
NEED = Requirements(buckets=(BUCKET,))
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{ROLE}-metadata"


def plan(session: AwsSession, role: str = ROLE, external_id: str = EXTERNAL_ID) -> Plan:
    return plan_kentik_role(session, KentikRoleSpec(role, external_id), NEED).plan


def trust_of(session: AwsSession, role: str = ROLE) -> dict[str, Any]:
    doc = session.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return doc if isinstance(doc, dict) else json.loads(doc)


def make_role(session: AwsSession, trust: dict[str, Any], role: str = ROLE) -> None:
    session.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))


# -- inputs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "external_id", "said"),
    [
        ("r" * 65, EXTERNAL_ID, "65 characters, more than IAM's 64"),
        ("kentik role", EXTERNAL_ID, "not ' '"),
        ("", EXTERNAL_ID, "name the role"),
        (ROLE, "7", "1 characters; IAM takes 2-1224"),
        (ROLE, "x" * 1225, "1225 characters"),
        (ROLE, "id#1", "not '#'"),
        (ROLE, "", "give Kentik's external id"),
        ("rôle", EXTERNAL_ID, "not 'ô'"),
    ],
)
def test_a_role_name_or_external_id_iam_refuses_is_refused_saying_why(
    role: str, external_id: str, said: str
) -> None:
    with pytest.raises(KentikRoleInputInvalid, match=said):
        KentikRoleSpec(role, external_id)


def test_every_input_problem_is_listed_at_once() -> None:
    with pytest.raises(KentikRoleInputInvalid) as caught:
        KentikRoleSpec("bad name", "#")
    assert len(caught.value.problems) == 2


def test_the_longest_names_iam_takes_are_taken() -> None:
    spec = KentikRoleSpec("a" * 64, "arn:aws:x/" + "1" * 1214)
    assert len(spec.external_id) == 1224 and spec.policy_name == "a" * 64 + "-metadata"


# -- the documents -----------------------------------------------------------------------------------


def test_the_trust_policy_lets_only_kentiks_principal_assume_with_the_external_id() -> None:
    [statement] = trust_document("42")["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::834693425129:role/eks-ingest-node"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "42"}}


def test_the_metadata_policy_only_reads() -> None:
    """Kentik's Terraform module's describe statement: every action describes, lists, gets or searches."""
    actions = [a for st in metadata_document()["Statement"] for a in st["Action"]]
    assert actions == list(METADATA_ACTIONS) and len(actions) == 37
    verbs = {a.split(":", 1)[1].split("*")[0] for a in actions}
    assert all(v.startswith(("Describe", "List", "Get", "Search")) for v in verbs)
    assert {"ec2:DescribeFlowLogs", "network-firewall:Describe*", "directconnect:List*"} <= set(actions)


def test_another_partition_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="aws-cn"):
        kentik_role_changes(
            KentikRoleSpec(ROLE, EXTERNAL_ID), NEED, account=ACCOUNT, partition="aws-cn", region="cn-north-1"
        )


# -- the plan and its executors, on moto -----------------------------------------------------------------


def test_a_fresh_account_gets_four_changes_in_dependency_order(session: AwsSession) -> None:
    changes = plan(session).changes
    assert [c.kind for c in changes] == [
        "iam.create-role",
        "iam.create-policy",
        "iam.attach-role-policy",
        "iam.put-role-read-policy",
    ]
    assert changes[2].depends_on == [changes[0].id, changes[1].id]
    assert changes[3].depends_on == [changes[0].id]
    assert not any(c.destructive for c in changes)


def test_applied_the_role_trusts_kentik_holds_the_metadata_policy_and_reads_the_bucket(
    session: AwsSession,
) -> None:
    report = apply_plan(plan(session), session)
    assert report.ok and [r.status for r in report.results] == ["applied"] * 4
    assert trust_of(session) == trust_document(EXTERNAL_ID)
    iam = session.client("iam")
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [POLICY_ARN]
    inline = iam.get_role_policy(RoleName=ROLE, PolicyName=READ_POLICY_NAME)["PolicyDocument"]
    [read] = [st for st in inline["Statement"] if st["Sid"] == READ_SID]
    assert read["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]


def test_the_new_role_is_found_as_kentiks_and_the_iam_step_has_nothing_left_to_do(
    session: AwsSession,
) -> None:
    apply_plan(plan(session), session)
    [role] = discover_roles(session)[0]
    assert (role.name, role.trusts_kentik, role.external_ids) == (ROLE, True, [EXTERNAL_ID])
    assert find_policy(session, role_name=ROLE).policy_name == READ_POLICY_NAME
    assert prepare(session, NEED, role_name=ROLE).merge.noop


def test_a_rerun_converges(session: AwsSession) -> None:
    first = plan(session)
    apply_plan(first, session)
    again = plan(session)
    assert [c.id for c in again.changes] == [c.id for c in first.changes]
    assert [r.status for r in apply_plan(again, session).results] == ["satisfied"] * 4
    assert [r.status for r in apply_plan(first, session).results] == ["satisfied"] * 4


def test_a_rerun_with_another_bucket_adds_it_to_the_read_policy(session: AwsSession) -> None:
    apply_plan(plan(session), session)
    more = plan_kentik_role(
        session, KentikRoleSpec(ROLE, EXTERNAL_ID), Requirements(buckets=(BUCKET, "more-logs"))
    ).plan
    report = apply_plan(more, session)
    assert [r.status for r in report.results] == ["satisfied", "satisfied", "satisfied", "applied"]
    doc = session.client("iam").get_role_policy(RoleName=ROLE, PolicyName=READ_POLICY_NAME)["PolicyDocument"]
    assert "arn:aws:s3:::more-logs" in json.dumps(doc)


def test_an_existing_role_with_another_trust_is_refused_naming_what_differs(session: AwsSession) -> None:
    other = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    make_role(session, other)
    with pytest.raises(ExistingRoleDiffers) as caught:
        plan(session)
    said = " ".join(caught.value.differences)
    assert f"arn:aws:iam::{ACCOUNT}:root, not Kentik's {KENTIK_PRINCIPAL}" in said
    assert f"requires no sts:ExternalId, not {EXTERNAL_ID}" in said
    assert trust_of(session) == other


def test_the_same_role_with_another_external_id_is_refused(session: AwsSession) -> None:
    make_role(session, trust_document("999"))
    with pytest.raises(ExistingRoleDiffers, match=f"requires sts:ExternalId 999, not {EXTERNAL_ID}"):
        plan(session)


def test_a_role_made_with_another_trust_after_the_preview_refuses_the_whole_plan(session: AwsSession) -> None:
    planned = plan(session)
    make_role(session, trust_document("999"))
    report = apply_plan(planned, session)
    assert report.results[0].status == "refused" and report.results[0].refusal == "stale"
    assert "sts:ExternalId 999" in report.results[0].detail
    assert all(r.status == "not-run" for r in report.results[1:])
    assert session.client("iam").list_policies(Scope="Local")["Policies"] == []
    assert trust_of(session) == trust_document("999")


def test_an_existing_metadata_policy_with_another_document_is_refused(session: AwsSession) -> None:
    session.client("iam").create_policy(
        PolicyName=f"{ROLE}-metadata",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
        ),
    )
    others = [a for a in METADATA_ACTIONS if not a.startswith("ec2:")]
    with pytest.raises(ExistingPolicyDiffers, match=f"does not grant {len(others)} of Kentik's describe"):
        plan(session)


def test_read_only_mode_changes_nothing(session: AwsSession) -> None:
    planned = plan(session)
    session.read_only = True
    report = apply_plan(planned, session)
    assert report.results[0].status == "failed" and "Read-only" in report.results[0].detail
    with pytest.raises(ClientError):
        boto3.client("iam").get_role(RoleName=ROLE)


# -- the plan file ------------------------------------------------------------------------------------


def edited(planned: Plan, index: int, **params: Any) -> str:
    data = json.loads(planned.to_json())
    data["changes"][index]["params"].update(params)
    return json.dumps(data)


def test_the_plan_file_reads_back(session: AwsSession) -> None:
    planned = plan(session)
    assert Plan.from_json(planned.to_json()).changes == planned.changes


@pytest.mark.parametrize(
    ("index", "params", "said"),
    [
        (
            0,
            {
                "AssumeRolePolicyDocument": json.dumps(trust_document(EXTERNAL_ID)).replace(
                    "eks-ingest-node", "x"
                )
            },
            "not the one flowlogs derives for Kentik",
        ),
        (0, {"RoleName": "other"}, "is not the role it creates"),
        (
            1,
            {"PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": []})},
            "not Kentik's metadata",
        ),
        (2, {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "not the role's metadata policy"),
        (0, {"Tags": []}, "Tags are not flowlogs'"),
    ],
    ids=["trust", "role-name", "metadata", "attach-admin", "tags"],
)
def test_an_edited_plan_file_is_refused(
    session: AwsSession, index: int, params: dict[str, Any], said: str
) -> None:
    with pytest.raises(PlanRejected, match=said):
        Plan.from_json(edited(plan(session), index, **params))


def test_an_edited_external_id_in_the_basis_is_refused(session: AwsSession) -> None:
    data = json.loads(plan(session).to_json())
    data["changes"][0]["basis"]["external_id"] = "666"
    with pytest.raises(PlanRejected, match="external id 666"):
        Plan.from_json(json.dumps(data))


def test_an_edited_read_document_is_refused_before_anything_is_sent(session: AwsSession) -> None:
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    planned = Plan.from_json(edited(plan(session), 3, PolicyDocument=json.dumps(wide)))
    report = apply_plan(planned, session)
    assert [r.status for r in report.results][:3] == ["applied"] * 3
    assert report.results[3].status == "refused" and report.results[3].refusal == "stale"
    with pytest.raises(ClientError):
        session.client("iam").get_role_policy(RoleName=ROLE, PolicyName=READ_POLICY_NAME)


OTHER_ROLE = "kentik-metadata-role"  # a role that exists already, not the one the plan creates
OTHER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{OTHER_ROLE}"


def aimed_at_the_other_role(planned: Plan, index: int, **params: Any) -> dict[str, Any]:
    """The plan file with change `index` edited to change OTHER_ROLE instead of the role it creates."""
    data = json.loads(edited(planned, index, RoleName=OTHER_ROLE, **params))
    data["changes"][index]["target"] = OTHER_ARN
    return data


def test_a_read_policy_edited_onto_an_existing_role_is_refused(session: AwsSession) -> None:
    make_role(session, trust_document("999"), role=OTHER_ROLE)
    with pytest.raises(PlanRejected, match=f"the plan does not create role {OTHER_ROLE}"):
        Plan.from_json(json.dumps(aimed_at_the_other_role(plan(session), 3)))


def test_a_read_policy_that_does_not_wait_for_the_role_it_creates_is_refused(session: AwsSession) -> None:
    data = json.loads(plan(session).to_json())
    data["changes"][3]["depends_on"] = []
    with pytest.raises(PlanRejected, match=f"it does not depend on iam.create-role:{ROLE}"):
        Plan.from_json(json.dumps(data))


def test_an_attachment_edited_onto_an_existing_role_is_refused(session: AwsSession) -> None:
    make_role(session, trust_document("999"), role=OTHER_ROLE)
    other_policy = f"arn:aws:iam::{ACCOUNT}:policy/{OTHER_ROLE}-metadata"
    data = aimed_at_the_other_role(plan(session), 2, PolicyArn=other_policy)
    with pytest.raises(PlanRejected, match=f"the plan does not create role {OTHER_ROLE}"):
        Plan.from_json(json.dumps(data))


def test_an_attachment_that_does_not_wait_for_the_policy_it_attaches_is_refused(
    session: AwsSession,
) -> None:
    data = json.loads(plan(session).to_json())
    data["changes"][2]["depends_on"] = [data["changes"][0]["id"]]
    with pytest.raises(PlanRejected, match=f"it does not depend on iam.create-policy:{POLICY_ARN}"):
        Plan.from_json(json.dumps(data))


def test_a_role_name_iam_refuses_is_refused_in_a_plan_file_too(session: AwsSession) -> None:
    """IAM's rule (aws.org.ROLE_NAME) taken whole: no trailing newline, no letters outside ASCII."""
    data = json.loads(plan(session).to_json())
    data["changes"][1]["basis"]["role_name"] = f"{ROLE}\n"
    data["changes"][1]["params"]["PolicyName"] = f"{ROLE}\n-metadata"
    data["changes"][1]["target"] = f"arn:aws:iam::{ACCOUNT}:policy/{ROLE}\n-metadata"
    with pytest.raises(PlanRejected, match="is not a role name"):
        Plan.from_json(json.dumps(data))


def test_creating_the_role_and_policy_with_tags_needs_iam_tag_permissions() -> None:
    """IAM authorizes CreateRole / CreatePolicy with Tags as iam:TagRole / iam:TagPolicy too."""
    documents = policy_documents()
    assert {"iam:TagRole", "iam:TagPolicy"} <= document_actions(documents["apply"])
    assert not {"iam:TagRole", "iam:TagPolicy"} & document_actions(documents["read_only"])


# -- the strict sandbox's IAM rules (plain moto accepts every one of these) -------------------------------


def trust(principal: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
        }
    )


def refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_create_role_refuses_names_iam_refuses(moto: None) -> None:
    """moto creates a role of any name; IAM's RoleName is 1-64 characters of [\\w+=,.@-]."""
    iam = boto3.client("iam")
    code, message = refused(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=trust(ACCOUNT))
    assert code == "ValidationError" and "length less than or equal to 64" in message
    code, message = refused(iam.create_role, RoleName="a role", AssumeRolePolicyDocument=trust(ACCOUNT))
    assert code == "ValidationError" and "regular expression pattern" in message
    iam.create_role(RoleName="r" * 64, AssumeRolePolicyDocument=trust(ACCOUNT))


def test_create_policy_refuses_names_iam_refuses(moto: None) -> None:
    iam = boto3.client("iam")
    doc = json.dumps(metadata_document())
    code, message = refused(iam.create_policy, PolicyName="p" * 129, PolicyDocument=doc)
    assert code == "ValidationError" and "less than or equal to 128" in message


def test_create_role_refuses_a_trust_policy_that_is_not_json(moto: None) -> None:
    """moto stores any text as the trust policy."""
    code, message = refused(boto3.client("iam").create_role, RoleName="r", AssumeRolePolicyDocument="{nope")
    assert (code, message) == ("MalformedPolicyDocument", "This policy contains invalid Json")


def test_create_role_refuses_a_principal_that_does_not_exist(moto: None) -> None:
    """moto takes any principal; IAM resolves role and user principals when the policy is saved. Kentik's
    principal is in an account the sandbox does not have: it counts as existing."""
    iam = boto3.client("iam")
    ghost = f"arn:aws:iam::{ACCOUNT}:role/ghost"
    code, message = refused(iam.create_role, RoleName="r", AssumeRolePolicyDocument=trust(ghost))
    assert (code, message) == ("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{ghost}"')
    code, _ = refused(
        iam.create_role, RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/nobody")
    )
    assert code == "MalformedPolicyDocument"
    iam.create_role(RoleName="ghost", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust([ghost, KENTIK_PRINCIPAL]))
    code, _ = refused(
        iam.update_assume_role_policy, RoleName="r", PolicyDocument=trust("arn:aws:iam::111111111111:role/x")
    )
    assert code == "MalformedPolicyDocument"


def test_create_role_refuses_a_trust_policy_over_the_quota(moto: None) -> None:
    principals = [ACCOUNT] * 150  # about 2,300 characters
    code, message = refused(
        boto3.client("iam").create_role, RoleName="r", AssumeRolePolicyDocument=trust(principals)
    )
    assert (code, message) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")


def _padded(chars: int) -> str:
    base = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    pad = chars - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Sid"] = "x" * pad
    return json.dumps(base, indent=2)  # whitespace does not count


def test_managed_policies_over_6144_characters_are_refused(moto: None) -> None:
    """moto stores a managed policy (and a new version) of any size."""
    iam = boto3.client("iam")
    code, message = refused(iam.create_policy, PolicyName="p", PolicyDocument=_padded(6145))
    assert (code, message) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")
    arn = iam.create_policy(PolicyName="p", PolicyDocument=_padded(6144))["Policy"]["Arn"]
    code, _ = refused(iam.create_policy_version, PolicyArn=arn, PolicyDocument=_padded(6145))
    assert code == "LimitExceeded"


def test_inline_policies_over_10240_characters_in_total_are_refused(moto: None) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=_padded(6000))
    code, message = refused(iam.put_role_policy, RoleName="r", PolicyName="b", PolicyDocument=_padded(4241))
    assert (code, message) == ("LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role r")
    iam.put_role_policy(RoleName="r", PolicyName="b", PolicyDocument=_padded(4240))
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=_padded(6000))  # replacing counts once


# -- the command ----------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str, **kwargs: Any) -> tuple[int, str, str]:
    code = cli.main(list(argv), **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def create(*extra: str) -> list[str]:
    return ["policy", "--create-role", ROLE, "--external-id", EXTERNAL_ID, "--bucket", BUCKET, *extra]


def role_exists() -> bool:
    try:
        boto3.client("iam").get_role(RoleName=ROLE)
    except ClientError:
        return False
    return True


def no_session(*_: Any, **__: Any) -> AwsSession:
    raise AssertionError("an AWS session was made")


def test_the_command_previews_and_changes_nothing(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *create())
    assert code == 0 and not role_exists()
    assert f"arn:aws:iam::{ACCOUNT}:role/{ROLE} (to be created)" in out
    assert "iam:CreateRole on arn:aws:iam::" in out and "iam:AttachRolePolicy" in out
    assert "Nothing was changed" in out


def test_the_command_applies_with_yes_and_a_rerun_converges(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *create("--apply", "--yes"))
    assert code == 0 and role_exists() and "4 applied" in out
    code, out, _ = run(capsys, *create("--apply", "--yes"))
    assert code == 0 and "4 satisfied" in out and "(exists already, with Kentik's trust)" in out


def test_the_command_refuses_to_apply_without_yes_off_a_terminal(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *create("--apply"))
    assert code == 2 and "needs --yes" in err and not role_exists()


def test_the_command_refuses_to_apply_in_read_only_mode_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--read-only", *create("--apply", "--yes"), session_factory=no_session)
    assert code == 2 and "Read-only mode is on (--read-only)" in err


def test_the_command_refuses_bad_inputs_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["policy", "--create-role", "bad name", "--external-id", "#", "--bucket", BUCKET]
    code, _, err = run(capsys, *argv, session_factory=no_session)
    assert code == 2 and "the role name may only hold" in err and "the external id" in err


def test_the_command_writes_a_plan_that_apply_runs(
    session: AwsSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "role-plan.json"
    code, out, _ = run(capsys, *create("-o", str(path)))
    assert code == 0 and f"flowlogs apply --plan {path}" in out and not role_exists()
    code, out, _ = run(capsys, "apply", "--plan", str(path), "--yes")
    assert code == 0 and role_exists() and trust_of(session) == trust_document(EXTERNAL_ID)


def test_apply_refuses_a_role_plan_file_edited_onto_an_existing_role(
    session: AwsSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_role(session, trust_document("999"), role=OTHER_ROLE)
    path = tmp_path / "role-plan.json"
    run(capsys, *create("-o", str(path)))
    path.write_text(json.dumps(aimed_at_the_other_role(Plan.from_json(path.read_text()), 3)))
    code, _, err = run(capsys, "apply", "--plan", str(path), "--yes")
    assert code == 2 and "refused" in err
    assert session.client("iam").list_role_policies(RoleName=OTHER_ROLE)["PolicyNames"] == []
    assert not role_exists()


def test_the_command_json(session: AwsSession, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *create("--json", "--apply", "--yes"))
    data = json.loads(out)
    assert code == 0 and data["role"]["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    assert data["role"]["trusted_principal"] == KENTIK_PRINCIPAL and data["applied"]["ok"]
    assert [c["kind"] for c in data["plan"]["changes"]][:2] == ["iam.create-role", "iam.create-policy"]


def test_the_command_refuses_an_existing_role_with_another_trust(
    session: AwsSession, capsys: pytest.CaptureFixture[str]
) -> None:
    make_role(session, trust_document("999"))
    code, _, err = run(capsys, *create("--apply", "--yes"))
    assert code == 2 and "requires sts:ExternalId 999, not 184372" in err
    assert trust_of(session) == trust_document("999")


@pytest.mark.parametrize("extra", [["--accounts", "111111111111"], ["--rollback"], ["--document"]])
def test_the_command_refuses_flags_of_other_modes(
    capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    code, _, err = run(capsys, *create(*extra), session_factory=no_session)
    assert code == 2 and "--create-role makes Kentik's role in this account" in err


def test_an_output_file_without_create_role_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["policy", "--role", ROLE, "--bucket", BUCKET, "-o", str(tmp_path / "x.json")]
    code, _, err = run(capsys, *argv, session_factory=no_session)
    assert code == 2 and "-o writes the plan of --create-role" in err


def test_policy_help_names_create_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["policy", "--help"])
    out = capsys.readouterr().out
    assert "--create-role NAME" in out and "834693425129:role/eks-ingest" in out
