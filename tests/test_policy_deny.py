"""aws.iam.deny: explicit Deny in bucket and key policies, as AWS evaluates it for log delivery.

AWS: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html (an explicit
Deny wins) and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
(a key absent from the request: positive operators false, negated ones true, `...IfExists` true).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aws.iam.deny import (
    DELIVERY_SERVICE,
    DenyingStatement,
    condition_met,
    delivery_context,
    delivery_denied_by,
    explicit_denies,
    principal_matches,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
OBJECT = f"arn:aws:s3:::logs-bucket/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/03/07/x.log.gz"
CTX = delivery_context(ACCOUNT, REGION)

ALLOW = {
    "Sid": "AWSLogDeliveryWrite",
    "Effect": "Allow",
    "Principal": {"Service": DELIVERY_SERVICE},
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::logs-bucket/AWSLogs/{ACCOUNT}/*",
}


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [ALLOW, *statements]}


def _deny(sid: str = "DenyIt", **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::logs-bucket/*",
    }
    st.update(extra)
    return st


def _denying_sid(deny: DenyingStatement | None) -> str | None:
    """The Sid of the Deny that applies ("" for one without a Sid, None when none applies)."""
    return None if deny is None else deny.sid or ""


def test_principal_star_deny_on_put_object_names_the_sid() -> None:
    deny = delivery_denied_by(_policy(_deny("DenyEveryone")), "s3:PutObject", OBJECT, CTX)
    assert deny is not None and deny.sid == "DenyEveryone" and deny.index == 1
    assert "Sid DenyEveryone" in deny.describe("s3:PutObject", OBJECT, policy="bucket policy")


def test_deny_unless_source_vpce_denies_delivery_because_the_key_is_absent() -> None:
    st = _deny("OnlyFromVpce", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}})
    deny = delivery_denied_by(json.dumps(_policy(st)), "s3:PutObject", OBJECT, CTX)
    assert deny is not None and deny.sid == "OnlyFromVpce"


def test_deny_insecure_transport_does_not_touch_delivery() -> None:
    st = _deny("DenyInsecureTransport", Action="s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    assert delivery_denied_by(_policy(st), "s3:PutObject", OBJECT, CTX) is None


def test_deny_scoped_to_another_principal_does_not_touch_delivery() -> None:
    st = _deny("DenyContractor", Principal={"AWS": "arn:aws:iam::999999999999:role/contractor"})
    assert delivery_denied_by(_policy(st), "s3:PutObject", OBJECT, CTX) is None
    other_service = _deny("DenyCloudTrail", Principal={"Service": "cloudtrail.amazonaws.com"})
    assert delivery_denied_by(_policy(other_service), "s3:PutObject", OBJECT, CTX) is None


def test_not_principal_deny_excluding_the_service_does_not_touch_delivery() -> None:
    st = _deny("OnlyDelivery", NotPrincipal={"Service": DELIVERY_SERVICE})
    st.pop("Principal")
    assert delivery_denied_by(_policy(st), "s3:PutObject", OBJECT, CTX) is None
    # a NotPrincipal that excludes only an account applies to the service
    st["NotPrincipal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert _denying_sid(delivery_denied_by(_policy(st), "s3:PutObject", OBJECT, CTX)) == "OnlyDelivery"


def test_deny_on_another_resource_or_action_does_not_touch_delivery() -> None:
    other = _deny("DenyConfig", Resource="arn:aws:s3:::logs-bucket/config/*")
    assert delivery_denied_by(_policy(other), "s3:PutObject", OBJECT, CTX) is None
    not_resource = _deny("DenyOutsideLogs", Resource=None, NotResource="arn:aws:s3:::logs-bucket/AWSLogs/*")
    not_resource.pop("Resource")
    assert delivery_denied_by(_policy(not_resource), "s3:PutObject", OBJECT, CTX) is None
    delete = _deny("NoDeletes", Action="s3:DeleteObject")
    assert delivery_denied_by(_policy(delete), "s3:PutObject", OBJECT, CTX) is None


def test_deny_unless_principal_org_denies_the_service_principal() -> None:
    """A service principal's request carries no aws:PrincipalOrgID: the usual "data perimeter" Deny
    blocks log delivery unless it exempts AWS services (aws:PrincipalIsAWSService)."""
    perimeter = _deny("Perimeter", Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}})
    assert _denying_sid(delivery_denied_by(_policy(perimeter), "s3:PutObject", OBJECT, CTX)) == "Perimeter"
    exempt = _deny(
        "Perimeter",
        Condition={
            "StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    )
    assert delivery_denied_by(_policy(exempt), "s3:PutObject", OBJECT, CTX) is None


def test_source_account_conditions_use_the_delivery_context() -> None:
    mine = _deny("OthersOnly", Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})
    assert delivery_denied_by(_policy(mine), "s3:PutObject", OBJECT, CTX) is None
    theirs = _deny("NotTheirs", Condition={"StringNotEquals": {"aws:SourceAccount": "111111111111"}})
    assert _denying_sid(delivery_denied_by(_policy(theirs), "s3:PutObject", OBJECT, CTX)) == "NotTheirs"
    arn = _deny(
        "WrongRegion", Condition={"ArnNotLike": {"aws:SourceArn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:*"}}
    )
    assert _denying_sid(delivery_denied_by(_policy(arn), "s3:PutObject", OBJECT, CTX)) == "WrongRegion"
    # without any context nothing is known about the request: the key is absent, so the Deny applies
    assert _denying_sid(delivery_denied_by(_policy(mine), "s3:PutObject", OBJECT)) == "OthersOnly"


def test_kms_key_policy_deny_with_wildcard_action() -> None:
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policy = {
        "Statement": [
            {
                "Sid": "Admins",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "NoDataKeysForServices",
                "Effect": "Deny",
                "Principal": {"Service": DELIVERY_SERVICE},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
            },
        ]
    }
    ctx = delivery_context(ACCOUNT, REGION, action="kms:GenerateDataKey", bucket="logs-bucket")
    deny = delivery_denied_by(policy, "kms:GenerateDataKey", key_arn, ctx)
    assert deny is not None and deny.sid == "NoDataKeysForServices"
    assert delivery_denied_by(policy, "kms:Decrypt", key_arn, ctx) is None


def test_patterns_ask_about_any_matching_request() -> None:
    """The planner asks before apply about a whole prefix: a Deny on part of it is reported."""
    st = _deny("DenyVpcLogs", Resource=f"arn:aws:s3:::logs-bucket/AWSLogs/{ACCOUNT}/vpcflowlogs/*")
    prefix = f"arn:aws:s3:::logs-bucket/AWSLogs/{ACCOUNT}/*"
    assert _denying_sid(delivery_denied_by(_policy(st), "s3:PutObject", prefix, CTX)) == "DenyVpcLogs"
    firewall = f"arn:aws:s3:::logs-bucket/AWSLogs/{ACCOUNT}/network-firewall/*"
    assert delivery_denied_by(_policy(st), "s3:PutObject", firewall, CTX) is None


@pytest.mark.parametrize(
    ("condition", "met"),
    [
        ({"Null": {"aws:SourceVpce": "true"}}, True),
        ({"Null": {"aws:SourceAccount": "true"}}, False),
        ({"StringEquals": {"aws:SourceAccount": ["111111111111", ACCOUNT]}}, True),
        ({"StringLike": {"s3:x-amz-acl": "bucket-owner-*"}}, True),
        ({"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}, True),
        ({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}, True),
        ({"StringEquals": {"aws:SourceVpce": "vpce-1"}}, False),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
        ({"ForAnyValue:StringEquals": {"aws:PrincipalTag/team": "net"}}, False),
        ({"ForAllValues:StringEquals": {"aws:PrincipalTag/team": "net"}}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:logs:*:123456789012:*"}}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:logs:*:999999999999:*"}}, False),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:logs:us-*:123456789012:*"}}, True),
        ({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceAccount": "1"}}, False),
        ({"SomeFutureOperator": {"aws:SourceAccount": "x"}}, True),  # unknown: taken as met
    ],
)
def test_condition_operators(condition: dict[str, Any], met: bool) -> None:
    assert condition_met(condition, CTX) is met


def test_unknown_operator_is_reported_on_the_deny() -> None:
    st = _deny("Odd", Condition={"SomeFutureOperator": {"aws:SourceAccount": "x"}})
    [deny] = explicit_denies(_policy(st), "s3:PutObject", OBJECT, CTX)
    assert deny.unknown_operators == ("SomeFutureOperator",)
    assert "not evaluated" in deny.describe("s3:PutObject", OBJECT)


def test_principal_forms_and_unparseable_policies() -> None:
    assert principal_matches({"Principal": {"AWS": "*"}})
    assert principal_matches({"Principal": {"Service": [DELIVERY_SERVICE, "logs.amazonaws.com"]}})
    assert not principal_matches({"Principal": {"Service": "logs.amazonaws.com"}})
    assert not principal_matches({"NotPrincipal": "*"})
    assert delivery_denied_by(None, "s3:PutObject", OBJECT, CTX) is None
    assert delivery_denied_by("not json", "s3:PutObject", OBJECT, CTX) is None
    single = {"Statement": _deny("Single")}  # a single statement object, not a list
    deny = delivery_denied_by(single, "s3:PutObject", OBJECT, CTX)
    assert deny is not None and deny.label == "statement 1 (Sid Single)"
