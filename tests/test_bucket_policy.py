"""Log-delivery statements and merging them into existing bucket and key policies."""

from __future__ import annotations

import copy
import json

import pytest

from aws.errors import ValidationFailed
from aws.s3 import bucket_policy as bp

ACCOUNT = "123456789012"
BUCKET = "kentik-logs"


def required(prefixes: tuple[str, ...] = ()) -> list[dict]:
    return bp.bucket_log_delivery_statements(BUCKET, ACCOUNT, prefixes=prefixes)


def user_policy() -> dict:
    return {
        "Version": "2012-10-17",
        "Id": "user-policy",
        "Statement": [
            {
                "Sid": "DenyInsecure",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
                "Action": ["s3:GetObject"],
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            },
        ],
    }


def test_write_statement_is_bucket_wide_and_scoped_to_the_account() -> None:
    write, acl = required(("fw/",))
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == [f"arn:aws:s3:::{BUCKET}/AWSLogs/*", f"arn:aws:s3:::{BUCKET}/fw/AWSLogs/*"]
    for statement in (write, acl):
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:logs:*:{ACCOUNT}:*"},
        }
    assert acl["Action"] == ["s3:GetBucketAcl", "s3:ListBucket"]
    assert acl["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert "s3:x-amz-acl" not in json.dumps(write)


def test_partition_is_used_in_arns() -> None:
    write, _ = bp.bucket_log_delivery_statements(BUCKET, ACCOUNT, partition="aws-cn")
    assert write["Resource"] == f"arn:aws-cn:s3:::{BUCKET}/AWSLogs/*"
    assert write["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws-cn:logs:*:{ACCOUNT}:*"


def test_merge_into_no_policy() -> None:
    result = bp.merge_statements(None, required())
    assert result.changed
    assert result.policy == {"Version": "2012-10-17", "Statement": required()}


def test_merge_keeps_every_existing_statement_unchanged_and_in_order() -> None:
    original = user_policy()
    snapshot = copy.deepcopy(original)
    result = bp.merge_statements(original, required())
    assert original == snapshot  # input not mutated
    merged = result.policy
    assert merged["Id"] == "user-policy" and merged["Version"] == "2012-10-17"
    assert merged["Statement"][:2] == snapshot["Statement"]
    assert merged["Statement"][2:] == required()
    assert [s["Sid"] for s in result.added] == [bp.SID_WRITE, bp.SID_ACL_CHECK]


def test_merge_twice_gives_the_same_document() -> None:
    once = bp.merge_statements(user_policy(), required(("fw",)))
    twice = bp.merge_statements(json.loads(once.text), required(("fw",)))
    assert not twice.changed
    assert twice.text == once.text
    assert twice.already == [bp.SID_WRITE, bp.SID_ACL_CHECK]


def test_equivalent_statement_with_other_sid_and_shape_is_recognised() -> None:
    write, acl = required()
    # Same meaning: other Sids, lists instead of strings, condition keys in another case.
    same_write = {
        "Sid": "AWSLogDeliveryWrite",
        "Effect": "Allow",
        "Principal": {"Service": ["delivery.logs.amazonaws.com"]},
        "Action": ["s3:PutObject"],
        "Resource": [write["Resource"]],
        "Condition": {
            "ArnLike": {"AWS:SourceArn": [f"arn:aws:logs:*:{ACCOUNT}:*"]},
            "StringEquals": {"aws:sourceaccount": ACCOUNT},
        },
    }
    same_acl = {
        **copy.deepcopy(acl),
        "Sid": "AWSLogDeliveryAclCheck",
        "Action": ["s3:ListBucket", "s3:GetBucketAcl"],
    }
    policy = {"Version": "2012-10-17", "Statement": [same_write, same_acl]}
    result = bp.merge_statements(policy, required())
    assert not result.changed
    assert result.policy == policy


def test_broader_statement_covers_ours() -> None:
    broader = {
        "Effect": "Allow",
        "Principal": {"Service": ["delivery.logs.amazonaws.com", "cloudtrail.amazonaws.com"]},
        "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    assert bp.covers(broader, required()[0]) and bp.covers(broader, required()[1])
    assert not bp.merge_statements({"Statement": [broader]}, required()).changed


def test_aws_auto_statements_do_not_cover_other_regions() -> None:
    """AWS's automatic statements are per region and per account prefix: ours are still added."""
    auto = {
        "Sid": "AWSLogDeliveryWrite",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/{ACCOUNT}/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT, "s3:x-amz-acl": "bucket-owner-full-control"},
            "ArnLike": {"aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:*"},
        },
    }
    policy = {"Version": "2012-10-17", "Statement": [auto]}
    result = bp.merge_statements(policy, required())
    assert result.policy["Statement"][0] == auto
    assert [s["Sid"] for s in result.added] == [bp.SID_WRITE, bp.SID_ACL_CHECK]


@pytest.mark.parametrize(
    "change",
    [
        {
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT, "s3:x-amz-acl": "bucket-owner-full-control"}
            }
        },
        {"Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:*"}}},
        {"Effect": "Deny"},
        {"Principal": {"Service": "cloudtrail.amazonaws.com"}},
        {"Resource": f"arn:aws:s3:::{BUCKET}/other/*"},
        {"Action": "s3:GetObject"},
    ],
)
def test_narrower_or_different_statement_does_not_cover(change: dict) -> None:
    write = required()[0]
    other = {**copy.deepcopy(write), **change}
    assert not bp.covers(other, write)


def test_sid_collision_gets_a_new_sid_and_keeps_the_users_statement() -> None:
    theirs = {
        "Sid": bp.SID_WRITE,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "*",
    }
    result = bp.merge_statements({"Statement": [theirs]}, required())
    assert result.policy["Statement"][0] == theirs
    assert [s["Sid"] for s in result.added] == [f"{bp.SID_WRITE}2", bp.SID_ACL_CHECK]
    # Merging again recognises the renamed statement.
    assert not bp.merge_statements(result.policy, required()).changed


def test_single_statement_object_policy_is_kept_when_nothing_is_added() -> None:
    write = required()[0]
    policy = {"Version": "2012-10-17", "Statement": {**write, "Sid": "Mine"}}  # one object, not a list
    result = bp.merge_statements(policy, [write])
    assert not result.changed and result.policy == policy


def test_size_limit_names_the_figures() -> None:
    filler = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::b/{i:0>300}",
        }
        for i in range(60)
    ]
    policy = {"Version": "2012-10-17", "Statement": filler}
    merged = bp.merge_statements(policy, required()).policy
    size = bp.policy_size(merged)
    assert size > bp.BUCKET_POLICY_LIMIT
    with pytest.raises(ValidationFailed) as err:
        bp.check_size(merged, bp.BUCKET_POLICY_LIMIT, "bucket policy of b")
    assert "20,480 bytes" in err.value.message and f"{size:,} bytes" in err.value.message
    bp.check_size({"Statement": filler[:10]}, bp.BUCKET_POLICY_LIMIT, "bucket policy")  # fits: no error


def test_key_statement_and_merge_into_default_key_policy() -> None:
    statement = bp.key_log_delivery_statement(ACCOUNT)
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert set(statement["Action"]) == {
        "kms:GenerateDataKey*",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:DescribeKey",
    }
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:logs:*:{ACCOUNT}:*"}
    default = {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    result = bp.merge_statements(default, [statement])
    assert result.policy["Statement"] == [*default["Statement"], statement]
    assert not bp.merge_statements(result.policy, [statement]).changed


def test_ours_and_missing() -> None:
    merged = bp.merge_statements(user_policy(), required()).policy
    assert bp.ours(merged) == required()
    assert bp.missing(merged, required()) == []
    assert bp.missing(user_policy(), required()) == required()


def test_warnings_for_not_action_and_not_principal() -> None:
    policy = {
        "Statement": [
            {
                "Sid": "A",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:*",
                "Resource": "*",
            },
            {"Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "*"},
        ]
    }
    warnings = bp.bucket_policy_warnings(policy, object_ownership="BucketOwnerEnforced")
    assert warnings == [
        "The bucket policy's statement 'A' uses NotPrincipal: AWS's automatic log-delivery set-up fails on "
        "such a policy, and it may deny delivery.logs.amazonaws.com without an error. Check it does not "
        "exclude log delivery.",
        "The bucket policy's statement #2 uses NotAction: AWS's automatic log-delivery set-up fails on such "
        "a policy, and it may deny delivery.logs.amazonaws.com without an error. Check it does not exclude "
        "log delivery.",
    ]
    assert bp.bucket_policy_warnings(user_policy(), object_ownership="BucketOwnerEnforced") == []


def test_acl_condition_is_no_warning_on_bucket_owner_enforced() -> None:
    """Log delivery sends x-amz-acl: bucket-owner-full-control, which BucketOwnerEnforced accepts; AWS's
    own statement has this condition (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/
    AWS-logs-and-resource-policy.html#AWS-logs-infrastructure-S3)."""
    statement = {
        "Sid": "Old",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
    }
    policy = {"Statement": [statement]}
    assert bp.bucket_policy_warnings(policy, object_ownership="BucketOwnerEnforced") == []


def test_warning_for_deny_requiring_an_encryption_header() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
            }
        ]
    }
    warnings = bp.bucket_policy_warnings(policy, object_ownership=None)
    assert warnings == [
        "The bucket policy's statement #1 denies uploads without a specific encryption header; log delivery "
        "relies on the bucket's default encryption and may be denied. Check the statement against the chosen "
        "encryption."
    ]


def test_requires_sse_c() -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "*",
        "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "true"}},
    }
    assert bp.requires_sse_c({"Statement": [deny]})
    assert not bp.requires_sse_c({"Statement": [{**deny, "Effect": "Allow"}]})
    assert not bp.requires_sse_c({"Statement": [{**deny, "Action": "s3:GetObject"}]})
    assert not bp.requires_sse_c(user_policy())
    assert not bp.requires_sse_c(None)


def test_parse_policy() -> None:
    assert bp.parse_policy(None) is None
    assert bp.parse_policy("  ") is None
    assert bp.parse_policy('{"Statement": []}') == {"Statement": []}
    with pytest.raises(ValidationFailed):
        bp.parse_policy("[1]")
    with pytest.raises(ValidationFailed):
        bp.parse_policy("{not json")


def test_key_policy_deny_for_log_delivery_is_named_by_sid() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
    policy = {
        "Statement": [
            {
                "Sid": "NoServices",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}},
            }
        ]
    }
    text = bp.key_delivery_denial(policy, key, BUCKET, ACCOUNT, "us-east-1", "aws")
    assert text == (
        "delivery to kentik-logs will fail: key policy statement 1 (Sid NoServices) explicitly denies "
        f"kms:GenerateDataKey on {key} for delivery.logs.amazonaws.com; change that statement before applying"
    )


def test_key_policy_without_deny_blocks_nothing() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    assert bp.key_delivery_denial(policy, key, BUCKET, ACCOUNT, "us-east-1", "aws") is None


@pytest.mark.parametrize("prefix", ["AWSLogs", "x/AWSLogs/", "a//b"])
def test_delivery_statements_refuse_a_prefix_aws_refuses(prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        bp.bucket_log_delivery_statements(BUCKET, ACCOUNT, prefixes=[prefix])
