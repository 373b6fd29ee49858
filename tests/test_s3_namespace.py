"""The sandbox follows S3's account-regional namespace rules (aws/sandbox/s3_namespace.py).

Plain moto 5.2.5 creates `{prefix}-{account}-{region}-an` names without the namespace header, so any
account could take another account's name; AWS refuses that."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
OTHER = "111122223333"
NS = {"BucketNamespace": "account-regional"}


@pytest.fixture(scope="module")
def boto() -> boto3.Session:
    import moto.core.models  # noqa: F401  (hooks botocore before the session copies its handlers)

    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture
def s3(moto: None, boto: boto3.Session) -> Any:
    return boto.client("s3", region_name="us-east-1")


@pytest.fixture
def s3_eu(moto: None, boto: boto3.Session) -> Any:
    return boto.client("s3", region_name="eu-west-1")


def code_of(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_account_regional_name_with_the_header_is_created(s3: Any) -> None:
    name = f"logs-{ACCOUNT}-us-east-1-an"
    s3.create_bucket(Bucket=name, **NS)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_account_regional_name_in_another_region_is_created_there(s3_eu: Any) -> None:
    name = f"logs-{ACCOUNT}-eu-west-1-an"
    s3_eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}, **NS)
    assert s3_eu.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


def test_account_regional_name_without_the_header_is_refused(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=f"logs-{ACCOUNT}-us-east-1-an")
    assert code_of(err) == "MissingNamespaceHeader"


def test_global_namespace_header_does_not_allow_an_account_regional_name(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=f"logs-{ACCOUNT}-us-east-1-an", BucketNamespace="global")
    assert code_of(err) == "MissingNamespaceHeader"


def test_another_accounts_name_cannot_be_taken_without_the_header(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=f"logs-{OTHER}-us-east-1-an")
    assert code_of(err) == "MissingNamespaceHeader"


def test_another_accounts_suffix_is_refused_with_the_header(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=f"logs-{OTHER}-us-east-1-an", **NS)
    assert code_of(err) == "InvalidNamespaceHeader"


def test_suffix_naming_another_region_is_refused(s3_eu: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3_eu.create_bucket(
            Bucket=f"logs-{ACCOUNT}-us-east-1-an",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            **NS,
        )
    assert code_of(err) == "InvalidNamespaceHeader"


def test_other_names_ending_in_an_are_refused(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="my-logs-an")
    assert code_of(err) == "InvalidBucketName"


def test_names_merely_containing_an_are_still_global(s3: Any) -> None:
    s3.create_bucket(Bucket="an-logs-and-more")
    assert "an-logs-and-more" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_no_other_account_can_take_an_account_regional_name(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"logs-{ACCOUNT}-us-east-1-an"
    monkeypatch.setenv("MOTO_ACCOUNT_ID", OTHER)
    for extra in ({}, NS):
        with pytest.raises(ClientError) as err:
            s3.create_bucket(Bucket=name, **extra)
        assert code_of(err) in ("MissingNamespaceHeader", "InvalidNamespaceHeader")
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    s3.create_bucket(Bucket=name, **NS)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
