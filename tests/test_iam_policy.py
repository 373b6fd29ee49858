"""The Kentik policy change: merge corpus, size, diff, finding the policy, applying, rotation, concurrent
edits, inline policies, rollback, nested accounts (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from member_accounts import member_session, trust_account

from aws.errors import FlowlogsError, ValidationFailed, error_code
from aws.iam.accounts import NestedInput, RoleTrust, nested_proposals, nested_targets, role_trust
from aws.iam.diff import DiffLine, hunk_ranges, policy_diff, side_by_side, unified_text
from aws.iam.documents import PolicyChoiceNeeded, PolicyVersionInfo, find_policy, oldest_non_default
from aws.iam.eval import Access, PolicyError, evaluate, parse_policy
from aws.iam.executors import STALE
from aws.iam.merge import merge_policy
from aws.iam.proposal import PolicyProposal, changes_for, policy_changes, prepare, propose
from aws.iam.requirements import (
    DELETE_RISK,
    DELETE_SID,
    INLINE_ROLE_TOTAL_LIMIT,
    KMS_FALLBACK_SID,
    KMS_NOTE,
    KMS_SID,
    MANAGED_POLICY_LIMIT,
    READ_SID,
    Requirements,
    SizeReport,
    policy_size,
)
from aws.iam.rollback import (
    RollbackRecord,
    apply_proposal,
    infer_rollback,
    load_record,
    records_path,
    rollback,
    rollback_changes,
    rollback_plan,
    save_record,
    save_rollback,
)
from aws.kentik_roles import KENTIK_ACCOUNT
from aws.plans.change import Plan, apply_plan
from aws.session import AwsSession

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NEED = Requirements(buckets=("logs-a", "logs-b"))
NEED_KMS = Requirements(buckets=("logs-a",), kms_keys=(KEY,))
META = {"Effect": "Allow", "Action": ["ec2:Describe*", "elasticloadbalancing:Describe*"], "Resource": "*"}


def pol(statements: Any, version: str | None = "2012-10-17") -> dict[str, Any]:
    out: dict[str, Any] = {"Version": version} if version else {}
    out["Statement"] = statements
    return out


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    body = doc["Statement"]
    return body if isinstance(body, list) else [body]


def granted(doc: dict[str, Any], need: Requirements) -> bool:
    return all(evaluate(doc, a).allowed for a in need.accesses())


def preserved(original: dict[str, Any], merged: dict[str, Any]) -> bool:
    """Every original statement is in the merged document, unchanged and in the same order."""
    merged_statements = statements(merged)
    positions = []
    for st in statements(original):
        if st.get("Sid") in (READ_SID, DELETE_SID, KMS_SID, KMS_FALLBACK_SID):
            continue
        matches = [i for i, m in enumerate(merged_statements) if m == st and i not in positions]
        if not matches:
            return False
        positions.append(matches[0])
    return positions == sorted(positions)


COND = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}

# name -> (document, requirements, expected statement-level change counts (add, change, remove))
CORPUS: dict[str, tuple[dict[str, Any], Requirements, tuple[int, int, int]]] = {
    "statement-object": (pol(META), NEED, (1, 0, 0)),
    "statement-list-strings": (
        pol([{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]),
        NEED,
        (1, 0, 0),
    ),
    "not-action-covering": (
        pol([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]),
        NEED,
        (0, 0, 0),
    ),
    "not-action-excluding-s3": (
        pol([{"Effect": "Allow", "NotAction": ["s3:*", "iam:*"], "Resource": "*"}]),
        NEED,
        (1, 0, 0),
    ),
    "not-resource-elsewhere": (
        pol([META, {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}]),
        NEED,
        (0, 0, 0),
    ),
    "conditional-allow": (
        pol(
            [META, {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*", "Condition": COND}]
        ),
        NEED,
        (1, 0, 0),
    ),
    "s3-star-present": (pol([META, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]), NEED, (0, 0, 0)),
    "resource-star-get-list": (
        pol([META, {"Effect": "Allow", "Action": ["s3:get*", "S3:LIST*"], "Resource": "*"}]),
        NEED,
        (0, 0, 0),
    ),
    "all-buckets-arn": (
        pol([META, {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::*"}]),
        NEED,
        (0, 0, 0),
    ),
    "only-get-granted": (
        pol([META, {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::*"}]),
        NEED,
        (1, 0, 0),
    ),
    "one-bucket-granted": (
        pol(
            [META, {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::logs-a*"}]
        ),
        NEED,
        (1, 0, 0),
    ),
    "duplicate-sids": (pol([{"Sid": "Meta", **META}, {"Sid": "Meta", **META}]), NEED, (1, 0, 0)),
    "missing-sids": (
        pol([META, {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]),
        NEED,
        (1, 0, 0),
    ),
    "version-2008": (pol([META], version="2008-10-17"), NEED, (1, 0, 0)),
    "no-version": (pol([META], version=None), NEED, (1, 0, 0)),
    "wildcard-star-everything": (
        pol({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        NEED_KMS,
        (0, 0, 0),
    ),
    "kms-needed": (pol([META]), NEED_KMS, (2, 0, 0)),
    "kms-sid-taken": (
        pol(
            [
                META,
                {
                    "Sid": "KMSAccess",
                    "Effect": "Allow",
                    "Action": "kms:*",
                    "Resource": "*",
                    "Condition": COND,
                },
            ]
        ),
        NEED_KMS,
        (2, 0, 0),
    ),
    "spec-kms-already-there": (
        pol(
            [
                META,
                {
                    "Sid": "KMSAccess",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:DescribeKey"],
                    "Resource": KEY,
                },
            ]
        ),
        NEED_KMS,
        (1, 0, 0),
    ),
    "our-statement-other-bucket": (
        pol(
            [
                META,
                {
                    "Sid": READ_SID,
                    "Effect": "Allow",
                    "Action": ["s3:Get*", "s3:List*"],
                    "Resource": ["arn:aws:s3:::old", "arn:aws:s3:::old/*"],
                },
            ]
        ),
        NEED,
        (0, 1, 0),
    ),
    "deny-elsewhere": (
        pol([META, {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::other-bucket/*"}]),
        NEED,
        (1, 0, 0),
    ),
    "delete-objects": (pol([META]), Requirements(buckets=("logs-a",), allow_delete_objects=True), (2, 0, 0)),
    "delete-all": (pol([META]), Requirements(buckets=("logs-a",), allow_delete=True), (2, 0, 0)),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_merge_corpus(name: str) -> None:
    current, need, expected = CORPUS[name]
    snapshot = json.dumps(current)
    result = merge_policy(current, need)
    assert json.dumps(current) == snapshot, "the input document must not be modified"
    assert (result.count("add"), result.count("change"), result.count("remove")) == expected
    assert result.noop == (expected == (0, 0, 0))
    if result.noop:
        assert result.proposed == current
    merged = result.proposed
    assert granted(merged, need), f"{name}: required access not granted after merge"
    assert preserved(current, merged)
    assert merged.get("Version") == current.get("Version")
    assert ("Version" in merged) == ("Version" in current)
    parse_policy(merged)
    again = merge_policy(merged, need)
    assert again.noop, f"{name}: merge of the merged document changed {again.changes}"
    assert again.proposed == merged
    assert result.size.chars == policy_size(merged) and result.size.ok


def test_merge_statement_content_and_explanations() -> None:
    result = merge_policy(pol(META), NEED_KMS)
    read = next(s for s in statements(result.proposed) if s.get("Sid") == READ_SID)
    assert read == {
        "Sid": READ_SID,
        "Effect": "Allow",
        "Action": ["s3:Get*", "s3:List*"],
        "Resource": ["arn:aws:s3:::logs-a", "arn:aws:s3:::logs-a/*"],
    }
    kms = next(s for s in statements(result.proposed) if s.get("Sid") == KMS_SID)
    assert kms == {
        "Sid": "KMSAccess",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": KEY,
    }
    assert result.summary() == "adds 2 statements, changes 0, removes 0"
    assert result.explanations() == [
        f"{READ_SID}: lets Kentik read the flow/firewall logs in logs-a (s3:Get*, s3:List*), the spec's "
        "'Update IAM Permissions for S3' statement",
        f"KMSAccess: lets Kentik decrypt SSE-KMS log objects with {KEY} (kms:Decrypt, kms:DescribeKey), "
        "the spec's 'KMSAccess' statement",
    ]
    assert KMS_NOTE in result.notes and "GenerateDataKey" in KMS_NOTE


def test_merge_kms_fallback_sid_when_taken() -> None:
    current = CORPUS["kms-sid-taken"][0]
    result = merge_policy(current, NEED_KMS)
    sids = [s.get("Sid") for s in statements(result.proposed)]
    assert sids.count("KMSAccess") == 1 and KMS_FALLBACK_SID in sids


def test_merge_rerun_with_other_buckets_updates_in_place() -> None:
    first = merge_policy(pol([META]), Requirements(buckets=("logs-a",))).proposed
    second = merge_policy(first, Requirements(buckets=("logs-b",)))
    assert second.summary() == "adds 0 statements, changes 1, removes 0"
    reads = [s for s in statements(second.proposed) if s.get("Sid") == READ_SID]
    assert len(reads) == 1 and len(statements(second.proposed)) == 2
    assert reads[0]["Resource"] == [
        "arn:aws:s3:::logs-a",
        "arn:aws:s3:::logs-a/*",
        "arn:aws:s3:::logs-b",
        "arn:aws:s3:::logs-b/*",
    ]
    replaced = merge_policy(second.proposed, Requirements(buckets=("logs-b",), keep_existing=False))
    assert statements(replaced.proposed)[1]["Resource"] == ["arn:aws:s3:::logs-b", "arn:aws:s3:::logs-b/*"]
    # our delete statement is removed only when our statements are to be exactly the request
    with_delete = merge_policy(
        pol([META]), Requirements(buckets=("logs-a",), allow_delete_objects=True)
    ).proposed
    assert merge_policy(with_delete, Requirements(buckets=("logs-a",))).noop
    dropped = merge_policy(with_delete, Requirements(buckets=("logs-a",), keep_existing=False))
    assert [c.action for c in dropped.changes] == ["remove"] and dropped.changes[0].sid == DELETE_SID


def test_merge_delete_options() -> None:
    least = merge_policy(pol([META]), Requirements(buckets=("logs-a",), allow_delete_objects=True))
    stmt = next(s for s in statements(least.proposed) if s.get("Sid") == DELETE_SID)
    assert stmt["Action"] == "s3:DeleteObject" and stmt["Resource"] == "arn:aws:s3:::logs-a/*"
    full = merge_policy(pol([META]), Requirements(buckets=("logs-a",), allow_delete=True))
    stmt = next(s for s in statements(full.proposed) if s.get("Sid") == DELETE_SID)
    assert stmt["Action"] == "s3:*"
    assert full.explanations()[1] == (
        f"{DELETE_SID}: lets Kentik delete old logs (the spec's deletion option, s3:*). Risk: {DELETE_RISK}"
    )
    assert full.notes == [f"Deletion with s3:* was requested. {DELETE_RISK}"]
    assert DELETE_RISK.startswith("s3:* also lets Kentik's role delete the bucket")
    with pytest.raises(ValidationFailed):
        Requirements(buckets=("logs-a",), allow_delete=True, allow_delete_objects=True)


def test_merge_explicit_deny_is_blocking() -> None:
    deny = {"Sid": "NoLogs", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs-a/*"}
    current = pol([META, deny])
    result = merge_policy(current, NEED)
    assert len(result.blocking) == 1
    assert "NoLogs" in result.blocking[0].message and "cannot override" in result.blocking[0].message
    assert preserved(current, result.proposed)
    # everything not touched by the Deny is granted; the denied access stays denied
    assert not evaluate(result.proposed, Access("s3:Get*", "arn:aws:s3:::logs-a/*")).allowed
    assert evaluate(result.proposed, Access("s3:Get*", "arn:aws:s3:::logs-b/*")).allowed
    assert merge_policy(result.proposed, NEED).noop


def test_merge_conditional_deny_and_duplicate_sid_reported() -> None:
    cond_deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": COND}
    result = merge_policy(pol([{"Sid": "X", **META}, {"Sid": "X", **META}, cond_deny]), NEED)
    messages = [p.message for p in result.problems]
    assert messages == [
        "Sid 'X' is used by more than one statement; IAM rejects duplicate Sids when the policy is saved, "
        "so fix that first.",
        *(
            f"statement 3 denies {action} on arn:aws:s3:::{resource} under a condition (not evaluated): "
            "check it."
            for resource in ("logs-a", "logs-a/*", "logs-b", "logs-b/*")
            for action in ("s3:Get*", "s3:List*")
        ),
    ]
    assert not result.blocking


@pytest.mark.parametrize("text", ["{not json", "[]", '{"Version": "2012-10-17"}', '"policy"'])
def test_merge_refuses_what_is_not_a_policy(text: str) -> None:
    with pytest.raises(PolicyError):
        merge_policy(json.loads(text) if text != "{not json" else text, NEED)


def test_requirements_validation() -> None:
    for bad in ("*", "Logs", "a", "logs..a", "arn:aws:s3:::x"):
        with pytest.raises(ValidationFailed):
            Requirements(buckets=(bad,))
    with pytest.raises(ValidationFailed):
        Requirements(buckets=())
    for key in (
        "*",
        "arn:aws:kms:us-east-1:123456789012:alias/logs",
        "arn:aws:kms:us-east-1:123456789012:key/*",
    ):
        with pytest.raises(ValidationFailed, match="KMS key ARN"):
            Requirements(buckets=("logs-a",), kms_keys=(key,))
    assert Requirements(buckets=("a-1", "a-1")).buckets == ("a-1",)
    china = Requirements(buckets=("logs-a",), partition="aws-cn")
    assert china.read_accesses()[0].resource == "arn:aws-cn:s3:::logs-a"


# -- size ------------------------------------------------------------------------------------------


def _padded(chars: int) -> dict[str, Any]:
    """A policy of exactly `chars` characters as IAM counts them."""
    doc = pol([{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}])
    pad = chars - policy_size(doc) - len(',"x:"')
    doc["Statement"][0]["Action"].append("x:" + "A" * pad)
    assert policy_size(doc) == chars
    return doc


def test_size_counts_without_whitespace() -> None:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:b c", "Resource": "*"}]}
    assert policy_size(doc) == len(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:b c","Resource":"*"}]}'
    )
    pretty = json.dumps(doc, indent=4)
    assert policy_size(json.loads(pretty)) == policy_size(doc)


def test_size_near_the_managed_limit() -> None:
    added = policy_size(merge_policy(pol([META]), NEED).proposed) - policy_size(pol([META]))
    fits = merge_policy(_padded(MANAGED_POLICY_LIMIT - added), NEED)
    assert fits.size.total == MANAGED_POLICY_LIMIT and fits.size.ok
    fits.size.require_ok()
    over = merge_policy(_padded(MANAGED_POLICY_LIMIT - added + 1), NEED)
    assert not over.size.ok
    with pytest.raises(ValidationFailed, match="6,145 of 6,144 characters"):
        over.size.require_ok()
    assert merge_policy(over.proposed, NEED).noop


def test_inline_size_counts_the_role_total() -> None:
    report = SizeReport(4000, "inline", other_inline_chars=6241)
    assert report.total == 10241 and report.limit == INLINE_ROLE_TOTAL_LIMIT and not report.ok
    assert "10,241 of 10,240" in report.describe()
    assert SizeReport(4000, "managed", other_inline_chars=6241).ok


# -- diff ------------------------------------------------------------------------------------------


def test_policy_diff_and_side_by_side() -> None:
    current = pol([META])
    result = merge_policy(current, NEED)
    lines = policy_diff(current, result.proposed)
    assert [ln.text for ln in lines if ln.marker != "+"] == json.dumps(current, indent=2).splitlines()
    assert [ln.text for ln in lines if ln.marker != "-"] == json.dumps(result.proposed, indent=2).splitlines()
    added = [ln for ln in lines if ln.marker == "+"]
    assert [ln.text for ln in added] == [  # a comma after META's statement, then the new statement
        "    },",
        "    {",
        f'      "Sid": "{READ_SID}",',
        '      "Effect": "Allow",',
        '      "Action": [',
        '        "s3:Get*",',
        '        "s3:List*"',
        "      ],",
        '      "Resource": [',
        '        "arn:aws:s3:::logs-a",',
        '        "arn:aws:s3:::logs-a/*",',
        '        "arn:aws:s3:::logs-b",',
        '        "arn:aws:s3:::logs-b/*"',
        "      ]",
    ]
    assert not any(ln.marker == "-" for ln in lines)
    assert all(ln.kind == "add" and ln.old_no is None and ln.new_no for ln in added)
    rows = side_by_side(lines)
    assert len(rows) == len(lines)  # only additions: one row per line
    assert all(left is None for left, right in rows if right and right.marker == "+")
    text = unified_text(lines)
    assert text.startswith("--- current\n+++ proposed\n@@ ")
    assert f'+      "Sid": "{READ_SID}",' in text
    assert unified_text(policy_diff(current, current)) == ""


def test_side_by_side_pairs_changes() -> None:
    old = pol([{"Sid": READ_SID, "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::a"}])
    new = pol([{"Sid": READ_SID, "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b"}])
    rows = side_by_side(policy_diff(old, new))
    changed = [(left, right) for left, right in rows if left is not right]
    assert len(changed) == 1
    left, right = changed[0]
    assert left and right and left.marker == "-" and right.marker == "+"
    assert "arn:aws:s3:::a" in left.text and "arn:aws:s3:::b" in right.text


# -- AWS: finding, applying, rotating, concurrent edits, rollback (moto) -------------------------------

TRUST_KENTIK = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KENTIK_ACCOUNT}:role/eks-ingest-node"},
            "Action": "sts:AssumeRole",
        }
    ],
}
TRUST_EXTERNAL_ID = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "kentik-1234"}},
        }
    ],
}


def make_role(iam: Any, name: str, trust: dict[str, Any] = TRUST_KENTIK) -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def make_managed(
    iam: Any, name: str, doc: dict[str, Any], *, versions: int = 1, role: str | None = None
) -> str:
    arn: str = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    for i in range(versions - 1):
        body = pol(
            [
                META,
                {"Sid": f"Extra{i}", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
            ]
        )
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(body), SetAsDefault=True)
    if role:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return arn


def default_doc(iam: Any, arn: str) -> tuple[str, dict[str, Any]]:
    vid = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return vid, iam.get_policy_version(PolicyArn=arn, VersionId=vid)["PolicyVersion"]["Document"]


def version_ids(iam: Any, arn: str) -> list[str]:
    return sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])


def test_find_policy_picks_the_metadata_policy(session: AwsSession) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    other = pol([{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}])
    make_managed(iam, "logs-policy", other, role="kentik")
    meta_arn = make_managed(iam, "meta-policy", pol([META]), role="kentik")
    target = find_policy(session, role_name="kentik")
    assert target.kind == "managed" and target.policy_arn == meta_arn and target.version_id == "v1"
    assert target.account == "123456789012" and target.document == pol([META])
    # two equally plausible policies: the user must choose
    make_role(iam, "ambiguous")
    make_managed(iam, "meta-a", pol([META]), role="ambiguous")
    iam.put_role_policy(
        RoleName="ambiguous", PolicyName="inline-meta", PolicyDocument=json.dumps(pol([META]))
    )
    with pytest.raises(PolicyChoiceNeeded) as info:
        find_policy(session, role_name="ambiguous")
    assert len(info.value.candidates) == 2 and "--policy-arn" in str(info.value)
    assert find_policy(session, role_name="ambiguous", policy_name="inline-meta").kind == "inline"
    make_role(iam, "empty")
    with pytest.raises(PolicyChoiceNeeded, match="no customer-managed or inline policy"):
        find_policy(session, role_name="empty")
    with pytest.raises(ValidationFailed, match="no inline policy named"):
        find_policy(session, role_name="empty", policy_name="nope")


def test_apply_managed_then_rollback(session: AwsSession, tmp_path: Any) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    arn = make_managed(iam, "meta", pol([META]), role="kentik")
    proposal = prepare(session, NEED, role_name="kentik")
    assert [c.operation for c in proposal.changes] == ["CreatePolicyVersion"]
    assert proposal.rotation is None
    change = proposal.changes[0]
    assert change.params["SetAsDefault"] is True and change.params["Precondition"]["DefaultVersionId"] == "v1"
    report, record = apply_proposal(session, proposal)
    assert report.ok, report
    vid, doc = default_doc(iam, arn)
    assert vid == "v2" and doc == proposal.merge.proposed and granted(doc, NEED)
    assert record and record.previous_version_id == "v1" and record.applied_version_id == "v2"
    # the same plan again converges: satisfied, nothing new
    again = apply_plan(Plan(account="123456789012", changes=proposal.changes), session)
    assert [r.status for r in again.results] == ["satisfied"]
    assert prepare(session, NEED, role_name="kentik").changes == []
    # rollback through a saved record
    path = tmp_path / "records.jsonl"
    save_record(path, record)
    loaded = load_record(path, proposal.target.key, "123456789012")
    assert loaded == record
    back = rollback(session, loaded)
    assert back.ok, back
    assert default_doc(iam, arn) == ("v1", pol([META]))
    assert version_ids(iam, arn) == ["v1", "v2"]  # rollback keeps the newer version
    # re-apply after the rollback: the identical version is made default again, no new one
    report, _ = apply_proposal(session, prepare(session, NEED, role_name="kentik"))
    assert report.ok and default_doc(iam, arn)[0] == "v2"


def test_rollback_refuses_when_policy_moved_on(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]))
    proposal = prepare(session, NEED, policy_arn=arn)
    _, record = apply_proposal(session, proposal)
    assert record
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(pol([META])), SetAsDefault=True)
    report = rollback(session, record)
    assert not report.ok and STALE in report.results[0].detail
    assert default_doc(iam, arn)[0] == "v3"


def test_infer_rollback_without_record(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]), versions=3)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    target = find_policy(session, policy_arn=arn)
    record = infer_rollback(session, target)
    assert (record.applied_version_id, record.previous_version_id) == ("v2", "v1")
    assert rollback(session, record).ok
    assert default_doc(iam, arn)[0] == "v1"
    with pytest.raises(ValidationFailed, match="no version older"):
        infer_rollback(session, find_policy(session, policy_arn=arn))


def test_version_rotation_at_five(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]), versions=5)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v3")
    # moto, like AWS, refuses a sixth version
    with pytest.raises(iam.exceptions.LimitExceededException):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(pol([META])))
    proposal = prepare(session, NEED, policy_arn=arn)
    rotate, create = proposal.changes
    assert proposal.rotation is rotate
    assert rotate.destructive and rotate.operation == "DeletePolicyVersion"
    assert (
        rotate.params["VersionId"] == "v1" and "v1" in rotate.title and "oldest non-default" in rotate.title
    )
    assert create.depends_on == [rotate.id] and not create.destructive
    # not confirmed: refused, nothing deleted or created
    report, record = apply_proposal(session, proposal)
    assert [r.status for r in report.results] == ["refused", "skipped"] and record is None
    assert version_ids(iam, arn) == ["v1", "v2", "v3", "v4", "v5"]
    report, record = apply_proposal(session, proposal, confirm_destructive=True)
    assert report.ok, report
    assert report.results[0].outputs["DeletedVersionId"] == "v1"
    assert json.loads(report.results[0].outputs["DeletedDocument"]) == pol([META])
    assert version_ids(iam, arn) == ["v2", "v3", "v4", "v5", "v6"]
    assert default_doc(iam, arn) == ("v6", proposal.merge.proposed)
    assert record and record.previous_version_id == "v3"


def applied_then_rolled_back(session: AwsSession, versions: int) -> tuple[str, PolicyProposal]:
    """A policy with `versions` versions whose proposal was applied and rolled back: the identical version
    exists, not default. Returns the ARN and the proposal of the re-apply."""
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]), versions=versions - 1)
    _, record = apply_proposal(session, prepare(session, NEED, policy_arn=arn))
    assert record is not None and rollback(session, record).ok
    return arn, prepare(session, NEED, policy_arn=arn)


def test_reapply_after_rollback_reuses_the_identical_version(session: AwsSession) -> None:
    arn, proposal = applied_then_rolled_back(session, versions=2)
    apply_proposal(session, proposal)
    assert (version_ids(session.client("iam"), arn), default_doc(session.client("iam"), arn)[0]) == (
        ["v1", "v2"],
        "v2",
    )


def test_reuse_makes_no_create_call(session: AwsSession) -> None:
    _, proposal = applied_then_rolled_back(session, versions=2)
    before = session.stats.calls[("iam", "CreatePolicyVersion")]
    apply_proposal(session, proposal)
    assert session.stats.calls[("iam", "CreatePolicyVersion")] == before


def test_reuse_keeps_a_rollback_record_to_the_previous_default(session: AwsSession) -> None:
    _, proposal = applied_then_rolled_back(session, versions=2)
    _, record = apply_proposal(session, proposal)
    assert record is not None and (record.applied_version_id, record.previous_version_id) == ("v2", "v1")


def test_reapply_after_rollback_at_five_versions_deletes_nothing(session: AwsSession) -> None:
    arn, proposal = applied_then_rolled_back(session, versions=5)
    assert proposal.rotation is not None  # planned from version metadata only
    report, _ = apply_proposal(session, proposal, confirm_destructive=True)
    assert [r.status for r in report.results] == ["satisfied", "applied"]
    assert version_ids(session.client("iam"), arn) == ["v1", "v2", "v3", "v4", "v5"]


def test_reapply_after_rollback_at_five_needs_no_confirmation(session: AwsSession) -> None:
    _, proposal = applied_then_rolled_back(session, versions=5)
    report, _ = apply_proposal(session, proposal)
    assert report.ok, report


def created_meanwhile(session: AwsSession, arn: str, document: str, code: str) -> None:
    """The next CreatePolicyVersion through the session is answered with error `code` after the version
    was made (as when a response was lost and the retry failed, or another machine applied it)."""
    iam = session.client("iam")

    def hook(**_: Any) -> tuple[Any, dict[str, Any]]:
        iam.meta.events.unregister("before-call.iam.CreatePolicyVersion", hook)
        boto3.client("iam", region_name="us-east-1").create_policy_version(
            PolicyArn=arn, PolicyDocument=document, SetAsDefault=True
        )
        error = {
            "Error": {"Code": code, "Message": "from the test"},
            "ResponseMetadata": {"HTTPStatusCode": 409},
        }
        return type("Http", (), {"status_code": 409})(), error

    iam.meta.events.register("before-call.iam.CreatePolicyVersion", hook)


def test_error_after_the_version_was_made_reuses_it(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]), versions=4)
    proposal = prepare(session, NEED, policy_arn=arn)
    created_meanwhile(session, arn, proposal.changes[0].params["PolicyDocument"], "LimitExceeded")
    report, _ = apply_proposal(session, proposal)
    assert report.ok and version_ids(iam, arn) == ["v1", "v2", "v3", "v4", "v5"]


def test_error_without_a_matching_version_still_fails(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]))
    proposal = prepare(session, NEED, policy_arn=arn)
    created_meanwhile(
        session,
        arn,
        json.dumps(pol([META, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])),
        "LimitExceeded",
    )
    report, _ = apply_proposal(session, proposal)
    assert report.results[0].status == "failed" and "already has 5 versions" in report.results[0].detail


def test_oldest_non_default_never_picks_the_default() -> None:
    from datetime import datetime, timezone

    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    versions = [PolicyVersionInfo(f"v{i}", i == 1, t) for i in range(1, 6)]
    picked = oldest_non_default(versions)
    assert picked is not None and picked.version_id == "v2"  # same timestamps: lowest number
    assert oldest_non_default([PolicyVersionInfo("v1", True, t)]) is None


def test_concurrent_edit_is_refused_managed(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]))
    proposal = prepare(session, NEED, policy_arn=arn)
    someone = pol([META, {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(someone), SetAsDefault=True)
    report, record = apply_proposal(session, proposal)
    assert not report.ok and record is None
    assert STALE in report.results[0].detail and report.results[0].refusal == "stale"
    assert default_doc(iam, arn) == ("v2", someone)
    assert version_ids(iam, arn) == ["v1", "v2"]


def test_concurrent_edit_is_refused_before_rotation(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]), versions=5)
    proposal = prepare(session, NEED, policy_arn=arn)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    report, _ = apply_proposal(session, proposal, confirm_destructive=True)
    assert report.results[0].refusal == "stale" and STALE in report.results[0].detail
    assert version_ids(iam, arn) == ["v1", "v2", "v3", "v4", "v5"]


def test_inline_apply_concurrency_and_rollback(session: AwsSession, tmp_path: Any) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    iam.put_role_policy(RoleName="kentik", PolicyName="metadata", PolicyDocument=json.dumps(pol(META)))
    proposal = prepare(session, NEED_KMS, role_name="kentik")
    assert proposal.target.kind == "inline" and proposal.merge.size.kind == "inline"
    assert [c.operation for c in proposal.changes] == ["PutRolePolicy"]
    # concurrent edit: refused
    edited = pol([META, {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}])
    iam.put_role_policy(RoleName="kentik", PolicyName="metadata", PolicyDocument=json.dumps(edited))
    report, _ = apply_proposal(session, proposal)
    assert not report.ok and STALE in report.results[0].detail
    # refreshed proposal applies
    proposal = prepare(session, NEED_KMS, role_name="kentik")
    report, record = apply_proposal(session, proposal)
    assert report.ok, report
    doc = iam.get_role_policy(RoleName="kentik", PolicyName="metadata")["PolicyDocument"]
    assert doc == proposal.merge.proposed and granted(doc, NEED_KMS) and preserved(edited, doc)
    assert record and record.kind == "inline" and record.previous_document == edited
    path = tmp_path / "r.jsonl"
    save_record(path, record)
    restored = load_record(path, proposal.target.key)
    assert restored
    refused = rollback(session, restored)  # inline rollback overwrites the document: destructive
    assert refused.results[0].status == "refused"
    assert rollback(session, restored, confirm_destructive=True).ok
    assert iam.get_role_policy(RoleName="kentik", PolicyName="metadata")["PolicyDocument"] == edited


def test_inline_total_size_is_refused(session: AwsSession) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    iam.put_role_policy(RoleName="kentik", PolicyName="metadata", PolicyDocument=json.dumps(pol([META])))
    added = policy_size(merge_policy(pol([META]), NEED).proposed)
    filler = _padded(INLINE_ROLE_TOTAL_LIMIT - added + 1)
    iam.put_role_policy(RoleName="kentik", PolicyName="filler", PolicyDocument=json.dumps(filler))
    target = find_policy(session, role_name="kentik", policy_name="metadata")
    assert target.other_inline_chars == policy_size(filler)
    with pytest.raises(ValidationFailed, match="10,241 of 10,240 characters"):
        policy_changes(session, NEED, role_name="kentik", policy_name="metadata")
    merge = merge_policy(target.document, NEED, kind="inline", other_inline_chars=target.other_inline_chars)
    with pytest.raises(ValidationFailed):
        changes_for(target, merge, NEED, region="us-east-1")


def test_policy_changes_noop_and_read_only(session: AwsSession) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]))
    assert policy_changes(session, NEED, policy_arn=arn) == []
    arn2 = make_managed(iam, "meta2", pol([META]))
    session.read_only = True
    changes = policy_changes(session, NEED, policy_arn=arn2)  # reading works in read-only mode
    report = apply_plan(Plan(changes=changes), session)
    assert report.results[0].status == "failed" and "Read-only" in report.results[0].detail
    assert version_ids(iam, arn2) == ["v1"]


def test_nested_accounts(session: AwsSession) -> None:
    member = member_session(session, "111111111111")
    iam1 = member.client("iam")
    # the spoke role trusts the hub account (with Kentik's external id), so the hub can assume it
    make_role(iam1, "KentikSpoke", trust_account("123456789012", external_id="kentik-1234"))
    spoke_arn = make_managed(iam1, "spoke-metadata", pol([META]), role="KentikSpoke")
    # the hub account's own role of the same name must not be picked up for a member
    hub_arn = make_managed(session.client("iam"), "hub-metadata", pol([META]))
    make_role(session.client("iam"), "KentikSpoke")
    session.client("iam").attach_role_policy(RoleName="KentikSpoke", PolicyArn=hub_arn)
    found = nested_targets(
        session, ["111111111111", "222222222222"], assume_role_name="KentikSpoke", external_id="kentik-1234"
    )
    assert [n.account for n in found] == ["111111111111", "222222222222"]
    first, missing = found
    assert first.target and first.session and not first.error
    assert first.target.policy_arn == spoke_arn == "arn:aws:iam::111111111111:policy/spoke-metadata"
    assert first.target.account == "111111111111" and first.session.identity().account == "111111111111"
    # each account gets its own outcome: the second has no spoke role
    # the second has no such role: AWS refuses the AssumeRole itself (it never says whether a role exists)
    assert missing.target is None and missing.error.startswith(
        "Could not assume arn:aws:iam::222222222222:role/KentikSpoke"
    )
    proposal = propose(first.session, first.target, NEED)
    assert proposal.changes[0].target == spoke_arn
    report, _ = apply_proposal(first.session, proposal)
    assert report.ok, report
    assert default_doc(iam1, spoke_arn)[0] == "v2"
    assert default_doc(session.client("iam"), hub_arn) == ("v1", pol([META]))
    # a plan for one account refuses to run with another account's credentials
    with pytest.raises(ValidationFailed, match="made for account 123456789012"):
        apply_plan(Plan(account="123456789012", changes=proposal.changes), first.session)


def test_replace_mode_never_drops_a_users_kmsaccess_statement() -> None:
    users = {
        "Sid": "KMSAccess",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": KEY,
    }
    current = pol([META, users])
    only_buckets = Requirements(buckets=("logs-a",), keep_existing=False)
    result = merge_policy(current, only_buckets)
    assert users in statements(result.proposed) and [c.sid for c in result.changes] == [READ_SID]
    other_key = KEY.replace("1234abcd", "9999abcd")
    extended = merge_policy(
        current, Requirements(buckets=("logs-a",), kms_keys=(other_key,), keep_existing=False)
    )
    kms = next(s for s in statements(extended.proposed) if s.get("Sid") == KMS_SID)
    assert kms["Resource"] == [KEY, other_key]


# -- what the viewer and `flowlogs policy` share ----------------------------------------------------


def test_role_trust_reads_the_arn_and_the_external_id(session: AwsSession) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    make_role(iam, "with-external-id", TRUST_EXTERNAL_ID)
    assert role_trust(session, "kentik") == RoleTrust(
        "arn:aws:iam::123456789012:role/kentik", "", kentik=True
    )
    assert role_trust(session, "with-external-id") == RoleTrust(
        "arn:aws:iam::123456789012:role/with-external-id", "kentik-1234"
    )
    with pytest.raises(FlowlogsError) as info:  # explained, not botocore's ClientError
        role_trust(session, "nobody")
    cause = info.value.__cause__
    assert isinstance(cause, ClientError) and error_code(cause) == "NoSuchEntity"


def test_apply_proposal_saves_the_rollback_record(session: AwsSession, tmp_path: Path) -> None:
    arn = make_managed(session.client("iam"), "meta", pol([META]))
    records = records_path(tmp_path / "audit.jsonl")
    assert records == tmp_path / "policy-rollback.jsonl"
    proposal = prepare(session, NEED, policy_arn=arn)
    assert proposal.plan() == Plan(account="123456789012", changes=proposal.changes)
    report, record = apply_proposal(session, proposal, records=records)
    assert report.ok, report
    assert record is not None
    assert (record.kind, record.key, record.account) == ("managed", arn, "123456789012")
    assert (record.previous_version_id, record.applied_version_id) == ("v1", "v2")
    assert records.read_text(encoding="utf-8").splitlines() == [record.to_json()]
    assert load_record(records, arn, "123456789012") == record
    # nothing to apply the second time: nothing more is saved
    report, again = apply_proposal(session, prepare(session, NEED, policy_arn=arn), records=records)
    assert (report.ok, report.results, again) == (True, [], None)
    assert records.read_text(encoding="utf-8").splitlines() == [record.to_json()]


def test_save_rollback_saves_nothing_for_a_refused_apply(session: AwsSession, tmp_path: Path) -> None:
    iam = session.client("iam")
    arn = make_managed(iam, "meta", pol([META]))
    proposal = prepare(session, NEED, policy_arn=arn)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(pol([META])), SetAsDefault=True)
    report = apply_plan(proposal.plan(), session)  # the policy moved on: refused
    assert [r.status for r in report.results] == ["refused"]
    records = tmp_path / "policy-rollback.jsonl"
    assert save_rollback(records, proposal.target, report) is None
    assert not records.exists()


def test_rollback_plan_from_the_given_record_the_saved_one_or_inferred(
    session: AwsSession, tmp_path: Path
) -> None:
    arn = make_managed(session.client("iam"), "meta", pol([META]))
    records = tmp_path / "policy-rollback.jsonl"
    _, record = apply_proposal(session, prepare(session, NEED, policy_arn=arn), records=records)
    assert record is not None
    target = find_policy(session, policy_arn=arn)  # its default is now v2
    undo = rollback_changes(session, record)
    assert [c.params["VersionId"] for c in undo] == ["v1"]
    assert rollback_plan(session, target, records) == Plan(account="123456789012", changes=undo)
    given = RollbackRecord(
        kind="managed",
        key=target.key,
        account="123456789012",
        applied_at="",
        policy_arn=arn,
        applied_version_id="v2",
        previous_version_id="v7",
    )
    assert [c.params["VersionId"] for c in rollback_plan(session, target, records, record=given).changes] == [
        "v7"
    ]
    # another account's record is not this one's; without a record the version before the default
    assert load_record(records, target.key, "111111111111") is None
    assert rollback_plan(session, target, records, account="111111111111").changes == undo
    records.unlink()
    assert rollback_plan(session, target, records).changes == undo


def test_rollback_plan_of_an_inline_policy_needs_its_record(session: AwsSession, tmp_path: Path) -> None:
    iam = session.client("iam")
    make_role(iam, "r")
    iam.put_role_policy(RoleName="r", PolicyName="meta", PolicyDocument=json.dumps(pol([META])))
    target = find_policy(session, role_name="r", policy_name="meta")
    with pytest.raises(ValidationFailed, match="can only be rolled back from the record"):
        rollback_plan(session, target, tmp_path / "policy-rollback.jsonl")
    _, record = apply_proposal(
        session, propose(session, target, NEED), records=tmp_path / "policy-rollback.jsonl"
    )
    assert record is not None and record.previous_document == pol([META])
    plan = rollback_plan(
        session, find_policy(session, role_name="r", policy_name="meta"), tmp_path / "policy-rollback.jsonl"
    )
    assert [(c.operation, json.loads(c.params["PolicyDocument"])) for c in plan.changes] == [
        ("PutRolePolicy", pol([META]))
    ]


def test_nested_proposals_one_per_account_with_its_error(session: AwsSession) -> None:
    member = member_session(session, "111111111111")
    iam = member.client("iam")
    make_role(iam, "Spoke", trust_account("123456789012"))
    arn = make_managed(iam, "spoke-metadata", pol([META]), role="Spoke")
    given = NestedInput.parse("111111111111, 222222222222", "Spoke", "", "")
    first, second = nested_proposals(session, given, NEED)
    assert (first.account, first.role_arn, first.error) == (
        "111111111111",
        "arn:aws:iam::111111111111:role/Spoke",
        "",
    )
    assert first.proposal is not None and first.proposal.target.policy_arn == arn and first.needs_change
    assert (second.account, second.proposal) == ("222222222222", None) and not second.needs_change
    assert second.error.startswith("Could not assume arn:aws:iam::222222222222:role/Spoke: access denied.")


def test_hunk_ranges_merge_changes_within_the_context() -> None:
    lines = [DiffLine("+" if i in (3, 6, 15) else " ", f"line {i}", i + 1, i + 1) for i in range(20)]
    assert hunk_ranges(lines, 3) == [(0, 10), (12, 19)]
    assert hunk_ranges(lines, 0) == [(3, 4), (6, 7), (15, 16)]
    assert hunk_ranges([DiffLine(" ", "same", 1, 1)], 3) == []


@pytest.mark.parametrize(
    ("chars", "near"), [(727, False), (4915, False), (4916, True), (6144, True), (6145, False)]
)
def test_a_size_is_near_the_limit_from_80_percent_until_it_is_over(chars: int, near: bool) -> None:
    assert SizeReport(chars).near_limit is near


EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def test_a_change_to_a_role_kentik_does_not_assume_is_refused(session: AwsSession) -> None:
    """A plan file aimed at another role's inline policy (here an EC2 instance role) sends nothing."""
    iam = session.client("iam")
    make_role(iam, "app", trust=EC2_TRUST)
    iam.put_role_policy(RoleName="app", PolicyName="meta", PolicyDocument=json.dumps(pol([META])))
    report, _ = apply_proposal(session, prepare(session, NEED, role_name="app"))
    assert not report.ok and "Role app is not Kentik's" in report.results[0].detail
    assert iam.get_role_policy(RoleName="app", PolicyName="meta")["PolicyDocument"] == pol([META])


def test_a_managed_policy_a_user_also_holds_is_not_given_kentiks_access(session: AwsSession) -> None:
    iam = session.client("iam")
    make_role(iam, "kentik")
    arn = make_managed(iam, "meta", pol([META]), role="kentik")
    iam.create_user(UserName="ops")
    iam.attach_user_policy(UserName="ops", PolicyArn=arn)
    report, _ = apply_proposal(session, prepare(session, NEED, policy_arn=arn))
    assert not report.ok and f"Policy {arn} is also attached to user ops" in report.results[0].detail
    assert default_doc(iam, arn)[0] == "v1"
