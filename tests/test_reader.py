"""The reader check (engine): may Kentik's role read a delivered file? IAM policies and the KMS key
policy, evaluated locally."""

from __future__ import annotations

import json

import boto3

from aws.logs.sources import LogSource
from aws.reader import RoleReaderCheck, key_policy_problem
from aws.session import AwsSession

ROLE = "arn:aws:iam::123456789012:role/kentik"
TRUST_KENTIK = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::834693425129:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def kentik_role(iam: object) -> str:
    """A role named kentik that trusts Kentik's account; its ARN."""
    created = iam.create_role(RoleName="kentik", AssumeRolePolicyDocument=json.dumps(TRUST_KENTIK))  # type: ignore[attr-defined]
    return str(created["Role"]["Arn"])


def test_reader_check_evaluates_the_role_policies(session: AwsSession) -> None:
    """s3:GetObject on the file, s3:ListBucket on the bucket and, with SSE-KMS, kms:Decrypt on its key,
    over the role's managed and inline policies together (an explicit Deny anywhere wins)."""
    iam = session.client("iam")
    role = kentik_role(iam)
    s3_read = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::logs"},
        ],
    }
    arn = iam.create_policy(PolicyName="s3-read", PolicyDocument=json.dumps(s3_read))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="kentik", PolicyArn=arn)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    source = LogSource(
        kind="flowlog", account="123456789012", region="us-east-1", bucket="logs", flow_log_id="fl-1"
    )
    file_key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/05/04/x.log.gz"

    assert RoleReaderCheck(session, role, {})(source, file_key).ok
    verdict = RoleReaderCheck(session, role, {"logs": key})(source, file_key)
    assert not verdict.ok and verdict.reasons == [f"kms:Decrypt on {key}: no statement allows it"]

    kms = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}],
    }
    iam.put_role_policy(RoleName="kentik", PolicyName="kms", PolicyDocument=json.dumps(kms))
    verdict = RoleReaderCheck(session, role, {"logs": key})(source, file_key)
    assert verdict.ok and len(verdict.reasons) == 3
    assert (
        verdict.reasons[0]
        == f"s3:GetObject on arn:aws:s3:::logs/{file_key}: allowed by policy s3-read statement 1"
    )

    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoLogs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::logs/*"}
        ],
    }
    iam.put_role_policy(RoleName="kentik", PolicyName="deny", PolicyDocument=json.dumps(deny))
    verdict = RoleReaderCheck(session, role, {})(source, file_key)
    assert not verdict.ok
    assert verdict.reasons == [
        f"s3:GetObject on arn:aws:s3:::logs/{file_key}: denied by policy deny statement 1 (Sid NoLogs)"
    ]


def test_key_policy_delegating_to_iam_leaves_the_iam_grant_in_force() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    assert key_policy_problem(policy, ROLE) is None


def test_key_policy_naming_the_role_is_enough() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
        ]
    }
    assert key_policy_problem(policy, ROLE) is None


def test_key_policy_without_delegation_makes_the_iam_grant_useless() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    assert "neither delegates to IAM" in str(key_policy_problem(policy, ROLE))


def test_reader_check_reports_a_key_policy_that_ignores_iam(session: AwsSession) -> None:
    iam = boto3.client("iam")
    role = kentik_role(iam)
    kms = boto3.client("kms", region_name="us-east-1")
    only_admin = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms.create_key(Policy=json.dumps(only_admin), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"][
        "Arn"
    ]
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
            },
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key},
        ],
    }
    iam.put_role_policy(RoleName="kentik", PolicyName="read", PolicyDocument=json.dumps(grant))
    source = LogSource(
        kind="flowlog", account="123456789012", region="us-east-1", bucket="logs", flow_log_id="fl-1"
    )
    verdict = RoleReaderCheck(session, role, {"logs": key})(
        source, "AWSLogs/123456789012/vpcflowlogs/x.log.gz"
    )
    assert (verdict.ok, "neither delegates to IAM" in verdict.reasons[-1]) == (False, True)


def test_reader_check_finds_the_bucket_key_itself(session: AwsSession) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="kentik-reader-logs")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(
        Bucket="kentik-reader-logs",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
            ]
        },
    )
    assert RoleReaderCheck(session, ROLE).kms_key("kentik-reader-logs", "us-east-1", "123456789012") == key
