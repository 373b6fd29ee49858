"""IAM-style evaluation: parsing, wildcard matching and coverage, Allow/Deny, Not*, conditions."""

from __future__ import annotations

from typing import Any

import pytest

from aws.errors import ValidationFailed
from aws.iam.eval import (
    Access,
    PatternSet,
    PolicyError,
    action_granted,
    action_matches,
    covers,
    duplicate_sids,
    evaluate,
    glob_match,
    grants,
    intersects,
    load_policy_text,
    parse_policy,
    pattern_covers,
    resource_matches,
)

BUCKET = "arn:aws:s3:::logs-a"
OBJECTS = "arn:aws:s3:::logs-a/*"


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# -- matching --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("s3:get*", "S3:GETOBJECT", True),  # actions: case-insensitive
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get?", "s3:GetObject", False),
        ("*", "iam:PassRole", True),
        ("s3:List*", "s3:GetObject", False),
    ],
)
def test_action_matches(pattern: str, value: str, expected: bool) -> None:
    assert action_matches(pattern, value) is expected


def test_resource_matching_is_case_sensitive_and_crosses_slashes() -> None:
    assert resource_matches("arn:aws:s3:::logs-a/*", "arn:aws:s3:::logs-a/AWSLogs/1/x.log.gz")
    assert not resource_matches("arn:aws:s3:::Logs-A/*", "arn:aws:s3:::logs-a/x")
    assert resource_matches("arn:aws:s3:::*", "arn:aws:s3:::logs-a/deep/key")
    assert not resource_matches("arn:aws:s3:::logs-?", "arn:aws:s3:::logs-ab")


@pytest.mark.parametrize(
    ("patterns", "target", "expected"),
    [
        (["s3:*"], "s3:Get*", True),
        (["s3:Get*"], "s3:Get*", True),
        (["S3:GET*"], "s3:Get*", True),
        (["s3:GetObject"], "s3:Get*", False),
        (["s3:Get?"], "s3:Get*", False),  # ? is one character; s3:GetObject is not covered
        (["s3:Get*Acl", "s3:GetObject"], "s3:Get*", False),
        (["*Get*"], "s3:Get*", True),
        (["s3:G*", "s3:L*"], "s3:Get*", True),
        (["*"], "kms:Decrypt", True),
        (["s3:GetObject*"], "s3:GetObject", True),
    ],
)
def test_action_pattern_coverage(patterns: list[str], target: str, expected: bool) -> None:
    assert pattern_covers(patterns, target, case_sensitive=False) is expected


def test_resource_pattern_coverage() -> None:
    assert pattern_covers(["arn:aws:s3:::*"], OBJECTS, case_sensitive=True)
    assert pattern_covers(["arn:aws:s3:::logs-*"], OBJECTS, case_sensitive=True)
    assert pattern_covers(["arn:aws:s3:::logs-a*"], BUCKET, case_sensitive=True)
    assert not pattern_covers(["arn:aws:s3:::logs-a/AWSLogs/*"], OBJECTS, case_sensitive=True)
    assert not pattern_covers(["arn:aws:s3:::LOGS-A/*"], OBJECTS, case_sensitive=True)
    assert not pattern_covers([BUCKET], OBJECTS, case_sensitive=True)
    # a union of patterns can cover what neither covers alone
    assert pattern_covers(["a*", "b*", "?"], "?", case_sensitive=True)
    assert not pattern_covers(["a*", "b*"], "*", case_sensitive=True)


def test_negated_sets_and_intersection() -> None:
    not_iam = PatternSet(("iam:*",), negated=True)
    assert covers([not_iam], "s3:Get*", case_sensitive=False)
    assert not covers([PatternSet(("s3:*",), negated=True)], "s3:Get*", case_sensitive=False)
    assert intersects(PatternSet(("s3:GetObject",)), "s3:Get*", case_sensitive=False)
    assert not intersects(PatternSet(("s3:Delete*",)), "s3:Get*", case_sensitive=False)
    assert intersects(PatternSet(("s3:Get*",), negated=True), "s3:*", case_sensitive=False)
    assert not intersects(PatternSet(("s3:*",), negated=True), "s3:Get*", case_sensitive=False)


# -- evaluation ------------------------------------------------------------------------------------


def test_allow_through_wildcards_and_split_statements() -> None:
    split = doc(allow("s3:GetObject*", OBJECTS), allow(["s3:Get*"], [OBJECTS, BUCKET]))
    assert evaluate(split, Access("s3:Get*", OBJECTS)).allowed
    assert not evaluate(split, Access("s3:List*", OBJECTS)).allowed
    two = doc(allow("s3:G*", "arn:aws:s3:::*"), allow("s3:L*", "arn:aws:s3:::logs-*"))
    assert grants(two, [Access(a, r) for a in ("s3:Get*", "s3:List*") for r in (BUCKET, OBJECTS)])
    # a statement naming the resource only partly does not grant it
    assert not evaluate(
        doc(allow("s3:*", "arn:aws:s3:::logs-a/AWSLogs/*")), Access("s3:Get*", OBJECTS)
    ).allowed


def test_explicit_deny_wins() -> None:
    policy = doc(
        allow("s3:*"), {"Sid": "NoReads", "Effect": "Deny", "Action": "s3:GetObject", "Resource": OBJECTS}
    )
    decision = evaluate(policy, Access("s3:Get*", OBJECTS))
    assert decision.allowed_by and decision.denied and not decision.allowed
    assert decision.denied_by[0].sid == "NoReads"
    # the Deny touches objects only, not the bucket itself
    assert evaluate(policy, Access("s3:Get*", BUCKET)).allowed
    assert evaluate(policy, Access("s3:List*", OBJECTS)).allowed


def test_deny_with_not_action_and_not_resource() -> None:
    everything_but_ec2 = {"Effect": "Deny", "NotAction": "ec2:*", "Resource": "*"}
    assert evaluate(doc(allow("*"), everything_but_ec2), Access("s3:Get*", OBJECTS)).denied
    other_buckets = {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::logs-*"]}
    assert evaluate(doc(allow("*"), other_buckets), Access("s3:Get*", OBJECTS)).allowed
    assert evaluate(doc(allow("*"), other_buckets), Access("s3:Get*", "arn:aws:s3:::other/*")).denied


def test_not_action_and_not_resource_allows() -> None:
    assert evaluate(
        doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), Access("s3:Get*", OBJECTS)
    ).allowed
    assert not evaluate(
        doc({"Effect": "Allow", "NotAction": ["s3:*"], "Resource": "*"}), Access("s3:Get*", OBJECTS)
    ).allowed
    secret = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}
    assert evaluate(doc(secret), Access("s3:Get*", OBJECTS)).allowed
    assert not evaluate(doc(secret), Access("s3:Get*", "arn:aws:s3:::secret/*")).allowed
    assert not evaluate(doc(secret), Access("s3:Get*", "arn:aws:s3:::*")).allowed


def test_conditions_are_reported_not_evaluated() -> None:
    cond = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    decision = evaluate(doc(allow("s3:Get*", OBJECTS, Condition=cond)), Access("s3:Get*", OBJECTS))
    assert not decision.allowed and len(decision.conditional_allows) == 1
    decision = evaluate(
        doc(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": cond}),
        Access("s3:Get*", OBJECTS),
    )
    assert decision.allowed and len(decision.conditional_denies) == 1


def test_skip_sids_and_action_granted() -> None:
    policy = doc({"Sid": "Ours", **allow("s3:Get*", OBJECTS)}, allow("ec2:Describe*"))
    assert evaluate(policy, Access("s3:Get*", OBJECTS)).allowed
    assert not evaluate(policy, Access("s3:Get*", OBJECTS), skip_sids=["Ours"]).allowed
    assert action_granted(policy, "ec2:Describe*")
    assert not action_granted(policy, "network-firewall:List*")


# -- parsing ---------------------------------------------------------------------------------------


def test_parse_shapes() -> None:
    single = parse_policy({"Version": "2008-10-17", "Statement": allow("s3:GetObject", OBJECTS)})
    assert not single.statement_is_list and single.version == "2008-10-17"
    assert single.statements[0].actions == ("s3:GetObject",)
    listed = parse_policy({"Statement": [allow(["a:b", "c:d"], [BUCKET, OBJECTS])]})
    assert listed.version is None and listed.statement_is_list
    assert listed.statements[0].resources == (BUCKET, OBJECTS)
    dup = parse_policy(doc({"Sid": "A", **allow("a:b")}, {"Sid": "A", **allow("c:d")}, allow("e:f")))
    assert duplicate_sids(dup) == ["A"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not an IAM policy"),
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Version": "2010-01-01", "Statement": []}, "Version must be"),
        ({"Statement": []}, "empty"),
        ({"Statement": [allow("s3:*")], "Extra": 1}, "unknown top-level"),
        ({"Statement": ["s3:*"]}, "must be a JSON object"),
        ({"Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Action or NotAction"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "x:y", "Resource": "*"}]},
            "exactly one",
        ),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}, "Resource or NotResource"),
        ({"Statement": [allow([], "*")]}, "non-empty"),
        ({"Statement": [allow("GetObject")]}, "not an action"),
        ({"Statement": [{**allow("s3:*"), "Principal": "*"}]}, "resource policy"),
        ({"Statement": [{**allow("s3:*"), "Sid": "has space"}]}, "Sid"),
        ({"Statement": [{**allow("s3:*"), "Condition": "x"}]}, "Condition"),
    ],
)
def test_not_a_policy(document: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(document)


def test_load_policy_text() -> None:
    with pytest.raises(ValidationFailed, match=r"not valid JSON: .* line 1"):
        load_policy_text('{"Version": "2012-10-17", "Statement": [}', source="policy.json")
    assert load_policy_text('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}')["Statement"]


def test_coverage_and_intersection_agree_with_brute_force() -> None:
    """The exact search against enumeration of every string up to length 7 over {a, b, c}."""
    import itertools
    import random

    rng = random.Random(6)
    words = ["".join(p) for n in range(8) for p in itertools.product("abc", repeat=n)]

    def pattern() -> str:
        return "".join(rng.choice("ab*?") for _ in range(rng.randint(0, 3)))

    for _ in range(300):
        target, others = pattern(), [pattern() for _ in range(rng.randint(1, 2))]
        negated = rng.random() < 0.3
        pset = PatternSet(tuple(others), negated)
        in_target = [w for w in words if glob_match(target, w, case_sensitive=True)]
        member = [any(glob_match(p, w, case_sensitive=True) for p in others) != negated for w in in_target]
        assert covers([pset], target, case_sensitive=True) == all(member), (target, pset)
        assert intersects(pset, target, case_sensitive=True) == any(member), (target, pset)
