"""The demo's Kentik: the sandbox runs the Cloud Export fake, whose `currentStatus` is Kentik's view of the
sandbox (aws/sandbox/kentik_status.py), and exports the env the Kentik client needs. Loopback only.

The sandbox here is started without its seed (moto's state is the process's: other modules' `mock_aws`
may reset it between tests), so every test makes its own role, bucket and files first.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.iam.merge import merge_policy
from aws.iam.requirements import Requirements
from aws.kentik.access import KentikCredentials, KentikRejected
from aws.kentik.api import KentikClient
from aws.kentik.models import AwsProperties, CloudExport
from aws.logs.keys import firewall_key, flowlog_key
from aws.sandbox.kentik_status import SandboxKentikStatus
from aws.sandbox.seed import KENTIK_EXTERNAL_ID, KENTIK_PRINCIPAL
from aws.sandbox.server import (
    DEFAULT_ACCOUNT_ID,
    DEMO_KENTIK_EMAIL,
    DEMO_KENTIK_TOKEN,
    Sandbox,
    start_sandbox,
)

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
T0 = datetime(2026, 3, 7, 9, 0, tzinfo=timezone.utc)
KENTIK_VARS = ("KENTIK_API_URL", "KENTIK_V5_API_URL", "KENTIK_EMAIL", "KENTIK_API_TOKEN")
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with start_sandbox(cadence=3600, seed=False) as sb:  # the delivery thread stays idle: tests tick()
        yield sb


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def env(sandbox: Sandbox) -> dict[str, str]:
    exported: dict[str, str] = {}
    sandbox.export_env(exported)
    return exported


@pytest.fixture
def kentik(sandbox: Sandbox, env: dict[str, str]) -> Iterator[KentikClient]:
    client = KentikClient(KentikCredentials.from_env(env), env=env, timeout=10)
    yield client
    assert sandbox.kentik is not None
    sandbox.kentik.exports.clear()  # each test sees its own exports only


def _client(sb: Sandbox, service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=sb.endpoint_url,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )


def _trust(principal: str = KENTIK_PRINCIPAL, external_id: str = KENTIK_EXTERNAL_ID) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def _drop_role(sb: Sandbox, name: str) -> None:
    iam = _client(sb, "iam")
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_role_policy(RoleName=name, PolicyName="kentik-read")
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_role(RoleName=name)


def _make_role(sb: Sandbox, name: str, trust: dict[str, Any] | None = None) -> str:
    _drop_role(sb, name)
    document = json.dumps(trust or _trust())
    return str(
        _client(sb, "iam").create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"]
    )


def _read_policy(bucket: str, *, kms_key: str | None = None) -> dict[str, Any]:
    """The policy flowlogs' IAM step writes for Kentik's role (aws.iam.merge), from its metadata policy."""
    need = Requirements(buckets=(bucket,), kms_keys=(kms_key,) if kms_key else ())
    metadata = {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
    current = {"Version": "2012-10-17", "Statement": [metadata]}
    proposed: dict[str, Any] = merge_policy(current, need, kind="inline").proposed
    return proposed


def _grant(sb: Sandbox, role: str, document: dict[str, Any]) -> None:
    _client(sb, "iam").put_role_policy(
        RoleName=role, PolicyName="kentik-read", PolicyDocument=json.dumps(document)
    )


def _make_bucket(sb: Sandbox, name: str) -> str:
    s3 = _client(sb, "s3")
    try:
        s3.create_bucket(Bucket=name)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket_policy(Bucket=name)
    return name


def _put_log(sb: Sandbox, bucket: str, key: str) -> None:
    _client(sb, "s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"version account-id\n"))


def _export(role_arn: str, bucket: str, **aws: Any) -> dict[str, Any]:
    return {"aws": {"iamRoleArn": role_arn, "bucket": bucket, "region": REGION, **aws}}


def _flags(status: dict[str, Any]) -> tuple[bool, bool, bool, str]:
    return (status["apiAccess"], status["storageAccountAccess"], status["flowFound"], status["status"])


def _status_for(sb: Sandbox) -> Any:
    assert sb.kentik is not None
    return sb.kentik.status_for


def _ready(sb: Sandbox, role: str, bucket: str) -> str:
    """A role Kentik can assume, with flowlogs' read policy on `bucket` (made empty)."""
    arn = _make_role(sb, role)
    _grant(sb, role, _read_policy(_make_bucket(sb, bucket)))
    return arn


# -- currentStatus follows the sandbox ------------------------------------------------------------------


def test_status_follows_the_sandbox_from_no_access_to_flows_found(
    sandbox: Sandbox, kentik: KentikClient
) -> None:
    bucket = _make_bucket(sandbox, "kentik-demo-progress")
    role, role_arn = "kentik-demo-progress", f"arn:aws:iam::{ACCOUNT}:role/kentik-demo-progress"
    _drop_role(sandbox, role)  # no such role yet
    props = AwsProperties(iam_role_arn=role_arn, region=REGION, bucket=bucket)
    made = kentik.create_export(CloudExport(name=bucket, enabled=True, plan_id="11467", aws=props))
    assert made.id is not None

    def seen() -> tuple[bool | None, bool | None, bool | None, str | None]:
        status = kentik.get_export(str(made.id)).current_status
        assert status is not None
        return (status.api_access, status.storage_account_access, status.flow_found, status.status)

    steps = [seen()]
    _make_role(sandbox, role)  # trusts Kentik's principal, with the demo's external id
    steps.append(seen())
    _grant(sandbox, role, _read_policy(bucket))
    steps.append(seen())
    ec2 = _client(sandbox, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
    )
    first_delay = timedelta(seconds=sandbox.delivery.first_delay)
    sandbox.delivery.tick(T0)
    sandbox.delivery.tick(T0 + first_delay)  # the sandbox's log delivery writes the first file
    steps.append(seen())
    assert steps == [
        (False, False, False, "ERROR"),
        (True, False, False, "ERROR"),
        (True, True, False, "ERROR"),
        (True, True, True, "OK"),
    ]


def test_each_error_message_says_the_first_thing_wrong(sandbox: Sandbox) -> None:
    status_for = _status_for(sandbox)
    bucket = _make_bucket(sandbox, "kentik-demo-messages")
    missing = status_for(_export(f"arn:aws:iam::{ACCOUNT}:role/kentik-demo-nobody", bucket))
    role_arn = _make_role(sandbox, "kentik-demo-messages")
    unreadable = status_for(_export(role_arn, bucket))
    _grant(sandbox, "kentik-demo-messages", _read_policy(bucket))
    empty = status_for(_export(role_arn, bucket))
    assert [missing["errorMessage"], unreadable["errorMessage"], empty["errorMessage"]] == [
        f"Kentik cannot assume the role arn:aws:iam::{ACCOUNT}:role/kentik-demo-nobody: there is no such "
        f"role in account {ACCOUNT}",
        f"Kentik's role cannot read s3://{bucket}/AWSLogs/: role kentik-demo-messages has no policy",
        f"no flow logs found yet in s3://{bucket}/AWSLogs/",
    ]


@pytest.mark.parametrize(
    ("trust", "assumable"),
    [
        (_trust(), True),
        (_trust(principal="834693425129"), True),  # Kentik's whole account
        (_trust(external_id="someone-else"), False),
        (_trust(principal=f"arn:aws:iam::{ACCOUNT}:root"), False),  # only this account
        (
            {
                "Version": "2012-10-17",
                "Statement": [
                    _trust()["Statement"][0],
                    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
                ],
            },
            False,
        ),
    ],
    ids=["kentik-role", "kentik-account", "wrong-external-id", "own-account", "explicit-deny"],
)
def test_api_access_is_whether_the_trust_policy_lets_kentik_assume_the_role(
    sandbox: Sandbox, trust: dict[str, Any], assumable: bool
) -> None:
    role_arn = _make_role(sandbox, "kentik-demo-trust", trust)
    status = _status_for(sandbox)(_export(role_arn, _make_bucket(sandbox, "kentik-demo-trust")))
    assert status["apiAccess"] is assumable


def test_explicit_deny_in_the_role_policy_means_no_bucket_access(sandbox: Sandbox) -> None:
    role_arn = _ready(sandbox, "kentik-demo-role-deny", "kentik-demo-role-deny")
    policy = _read_policy("kentik-demo-role-deny")
    deny = {"Sid": "NoLogs", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}
    before = _status_for(sandbox)(_export(role_arn, "kentik-demo-role-deny"))
    _grant(sandbox, "kentik-demo-role-deny", {**policy, "Statement": [*policy["Statement"], deny]})
    after = _status_for(sandbox)(_export(role_arn, "kentik-demo-role-deny"))
    assert (before["storageAccountAccess"], after["storageAccountAccess"]) == (True, False)
    assert "denied by policy kentik-read statement 3 (Sid NoLogs)" in after["errorMessage"]


@pytest.mark.parametrize(
    ("principal", "denied"),
    [
        ("*", True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/kentik-demo-bucket-deny"}, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/someone-else"}, False),
    ],
    ids=["everyone", "the-role", "the-account", "another-role"],
)
def test_explicit_deny_in_the_bucket_policy_means_no_bucket_access(
    sandbox: Sandbox, principal: Any, denied: bool
) -> None:
    bucket = "kentik-demo-bucket-deny"
    role_arn = _ready(sandbox, "kentik-demo-bucket-deny", bucket)
    deny = {
        "Sid": "NoReading",
        "Effect": "Deny",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [deny]}
    _client(sandbox, "s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    status = _status_for(sandbox)(_export(role_arn, bucket))
    assert status["storageAccountAccess"] is not denied
    if denied:
        assert (
            "the bucket policy statement 1 (Sid NoReading) explicitly denies s3:GetObject"
            in (status["errorMessage"])
        )


def test_bucket_policy_deny_without_tls_does_not_stop_kentik(sandbox: Sandbox) -> None:
    """Kentik reads over TLS: "Deny if aws:SecureTransport is false" is met by no request of its."""
    bucket = "kentik-demo-tls-only"
    role_arn = _ready(sandbox, "kentik-demo-tls-only", bucket)
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = {"Version": "2012-10-17", "Statement": [deny]}
    _client(sandbox, "s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert _status_for(sandbox)(_export(role_arn, bucket))["storageAccountAccess"] is True


def test_sse_kms_bucket_needs_kms_decrypt_on_its_key(sandbox: Sandbox) -> None:
    bucket = "kentik-demo-kms"
    role_arn = _ready(sandbox, "kentik-demo-kms", bucket)
    key_arn = _client(sandbox, "kms").create_key(Description="kentik demo")["KeyMetadata"]["Arn"]
    _client(sandbox, "s3").put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )
    without = _status_for(sandbox)(_export(role_arn, bucket))
    _grant(sandbox, "kentik-demo-kms", _read_policy(bucket, kms_key=key_arn))
    with_decrypt = _status_for(sandbox)(_export(role_arn, bucket))
    assert (without["storageAccountAccess"], with_decrypt["storageAccountAccess"]) == (False, True)
    assert f"kms:Decrypt on {key_arn}" in without["errorMessage"]


def test_bucket_access_is_judged_below_the_exports_prefix(sandbox: Sandbox) -> None:
    bucket = "kentik-demo-prefix"
    role_arn = _make_role(sandbox, "kentik-demo-prefix")
    _make_bucket(sandbox, bucket)
    only_flows = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/flows/AWSLogs/*",
            },
        ],
    }
    _grant(sandbox, "kentik-demo-prefix", only_flows)
    status_for = _status_for(sandbox)
    inside = status_for(_export(role_arn, bucket, bucketPrefix="flows"))
    outside = status_for(_export(role_arn, bucket, bucketPrefix="other"))
    assert (inside["storageAccountAccess"], outside["storageAccountAccess"]) == (True, False)


def test_bucket_access_needs_the_bucket_in_the_exports_region(sandbox: Sandbox) -> None:
    bucket = "kentik-demo-eu-bucket"
    s3 = _client(sandbox, "s3", "eu-west-1")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    role_arn = _make_role(sandbox, "kentik-demo-eu-bucket")
    _grant(sandbox, "kentik-demo-eu-bucket", _read_policy(bucket))
    status_for = _status_for(sandbox)
    wrong = status_for(_export(role_arn, bucket))  # the export says us-east-1
    right = status_for(_export(role_arn, bucket, region="eu-west-1"))
    assert (wrong["storageAccountAccess"], right["storageAccountAccess"]) == (False, True)
    assert wrong["errorMessage"].endswith("the bucket is in eu-west-1, not in the export's region us-east-1")


def test_a_missing_bucket_means_no_bucket_access(sandbox: Sandbox) -> None:
    role_arn = _make_role(sandbox, "kentik-demo-no-bucket")
    _grant(sandbox, "kentik-demo-no-bucket", _read_policy("kentik-demo-never-made"))
    status = _status_for(sandbox)(_export(role_arn, "kentik-demo-never-made"))
    assert (status["storageAccountAccess"], status["errorMessage"]) == (
        False,
        "Kentik's role cannot read s3://kentik-demo-never-made/AWSLogs/: the bucket does not exist",
    )


def test_only_log_files_below_the_prefix_count_as_flows(sandbox: Sandbox) -> None:
    bucket = "kentik-demo-flows-prefix"
    role_arn = _ready(sandbox, "kentik-demo-flows-prefix", bucket)
    _put_log(sandbox, bucket, flowlog_key(ACCOUNT, REGION, "fl-0123456789abcdef0", T0))  # no prefix
    _put_log(sandbox, bucket, "flows/AWSLogs/notes.txt")  # not a delivered log file
    status_for = _status_for(sandbox)
    with_prefix = status_for(_export(role_arn, bucket, bucketPrefix="flows/"))
    without = status_for(_export(role_arn, bucket))
    assert (with_prefix["flowFound"], without["flowFound"]) == (False, True)


def test_firewall_logs_count_only_when_the_export_collects_them(sandbox: Sandbox) -> None:
    bucket = "kentik-demo-firewall"
    role_arn = _ready(sandbox, "kentik-demo-firewall", bucket)
    _put_log(sandbox, bucket, firewall_key(ACCOUNT, REGION, "egress", "flow", T0))
    status_for = _status_for(sandbox)
    flows_only = status_for(_export(role_arn, bucket))
    with_firewall = status_for(_export(role_arn, bucket, collectFirewallLogs=True))
    assert (flows_only["flowFound"], with_firewall["flowFound"]) == (False, True)
    assert with_firewall["status"] == "OK"


def test_a_sandbox_failure_is_an_error_status_not_an_exception() -> None:
    with socket.socket() as s:  # a loopback port nothing listens on once it is closed
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    status_for = SandboxKentikStatus(url, access_key="demo", secret_key="demo", account_id=ACCOUNT)
    status = status_for(_export(f"arn:aws:iam::{ACCOUNT}:role/kentik", "any-bucket"))
    assert _flags(status) == (False, False, False, "ERROR")
    assert status["errorMessage"].startswith("sandbox error: ")


# -- the client against the sandbox's fake --------------------------------------------------------------


def test_export_env_points_the_kentik_client_at_the_fake(sandbox: Sandbox, env: dict[str, str]) -> None:
    assert sandbox.kentik is not None
    assert {k: env[k] for k in KENTIK_VARS} == {
        "KENTIK_API_URL": sandbox.kentik.url,
        "KENTIK_V5_API_URL": sandbox.kentik.url,
        "KENTIK_EMAIL": DEMO_KENTIK_EMAIL,
        "KENTIK_API_TOKEN": DEMO_KENTIK_TOKEN,
    }


def test_the_exported_env_lets_the_client_list_exports_and_plans(
    sandbox: Sandbox, kentik: KentikClient
) -> None:
    assert sandbox.kentik is not None
    role_arn = _ready(sandbox, "kentik-demo-listing", "kentik-demo-listing")
    sandbox.kentik.seed(
        {
            "name": "portal-made",
            "enabled": True,
            "planId": "11467",
            "cloudProvider": "CLOUD_PROVIDER_AWS",
            "aws": {"iamRoleArn": role_arn, "region": REGION, "bucket": "kentik-demo-listing"},
        }
    )
    [listed] = kentik.list_exports()
    assert listed.name == "portal-made" and listed.current_status is not None
    assert (listed.current_status.api_access, listed.current_status.storage_account_access) == (True, True)
    assert [p.id for p in kentik.list_plans()] == ["11467"]


def test_the_fake_still_refuses_unknown_fields_through_the_sandbox(kentik: KentikClient) -> None:
    export = CloudExport.model_validate(
        {
            "name": "typo",
            "enabled": True,
            "planId": "11467",
            "aws": {"iamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/kentik", "region": REGION, "bucketName": "x"},
        }
    )
    with pytest.raises(KentikRejected) as caught:
        kentik.create_export(export)
    assert caught.value.field == "export.aws.bucketName"


def test_the_fake_refuses_other_credentials(sandbox: Sandbox) -> None:
    assert sandbox.kentik is not None
    request = urllib.request.Request(
        sandbox.kentik.url + "/api/v5/plans",
        headers={"X-CH-Auth-Email": DEMO_KENTIK_EMAIL, "X-CH-Auth-API-Token": "not-the-demo-token"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401


# -- the CLI ----------------------------------------------------------------------------------------------


def test_a_headless_demo_command_gets_the_kentik_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.cli import main

    for var in (*KENTIK_VARS, "AWS_ENDPOINT_URL", "FLOWLOGS_DEMO_ENDPOINT"):
        monkeypatch.setenv(var, "before")  # restored after the test: main() exports into os.environ
    seen: dict[str, str] = {}

    def permissions_run(ctx: Any) -> int:
        creds = KentikCredentials.from_env()
        seen.update({k: os.environ[k] for k in KENTIK_VARS})
        plans = KentikClient(creds, timeout=10).list_plans()
        seen["plans"] = ",".join(p.id for p in plans)
        return 0

    monkeypatch.setattr("tui.commands.permissions.run", permissions_run)
    assert main(["--demo", "permissions"]) == 0
    assert seen["KENTIK_EMAIL"] == DEMO_KENTIK_EMAIL
    assert seen["KENTIK_API_URL"].startswith("http://127.0.0.1:")
    assert seen["plans"] == "11467"


def test_demo_server_prints_the_kentik_env_to_use(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("flowlogs")
    proc = subprocess.Popen(
        [str(exe), "demo-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines: list[str] = []

    def read() -> None:
        for _ in range(3):
            lines.append(proc.stdout.readline() if proc.stdout else "")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        reader.join(timeout=120)  # a guard against hanging, not a timing assertion
        assert len(lines) == 3, lines
        assert lines[2].startswith("# demo Kentik Cloud Export API"), lines
        printed = dict(word.split("=", 1) for word in lines[2].split() if "=" in word)
        assert set(printed) == set(KENTIK_VARS)
        client = KentikClient(KentikCredentials.from_env(printed), env=printed, timeout=10)
        assert len(client.list_exports()) == 0 and [p.id for p in client.list_plans()] == ["11467"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
