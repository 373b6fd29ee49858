"""Kentik's view of a cloud export in the demo: the `currentStatus` the Kentik fake answers, from the sandbox.

    status_for = sandbox_status_for(endpoint_url, access_key="demo", secret_key="demo", account_id=...)
    KentikFake(status_for=status_for)

For an export (camelCase, as the fake stores it) Kentik checks three things in order, each only when the
one before holds (Kentik reads the bucket as the role, and looks for files by reading it):

* `apiAccess`: the role `aws.iamRoleArn` exists in the sandbox account and its trust policy lets Kentik's
  ingest principal (`KENTIK_PRINCIPAL`, as an assumed-role session, with the demo Kentik account's
  external id) perform sts:AssumeRole: `aws.sandbox.strict_sts.trust_allows`, the rule the strict
  sandbox's AssumeRole applies.
* `storageAccountAccess`: the bucket exists in the export's `aws.region`, the role's identity policies (attached managed, default version, and inline)
  allow s3:ListBucket on the bucket and s3:GetObject on `[prefix/]AWSLogs/*`, with kms:Decrypt on the
  bucket's customer-managed SSE-KMS key and a key policy that lets an IAM grant count
  (`aws.reader.RoleReaderCheck`, the verify step's reader check, on `aws.iam.eval`); and no Deny of the
  bucket policy applies to the role for those reads (`aws.iam.deny`, conditions evaluated against the
  keys a request of the role's session carries).
* `flowFound`: a delivered `.log.gz` file (a flow log's; a firewall's too when `collectFirewallLogs`)
  is under `[prefix/]AWSLogs/` (ListObjectsV2, at most `MAX_LIST_PAGES` pages).

`status` is "OK" when all three hold, else "ERROR" with `errorMessage` saying the first thing wrong.
Nothing raises out of a status: a sandbox failure is an ERROR naming it. The AWS session (read-only, its
clients cached) is made on the first status, so starting the sandbox does not wait for it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from aws.coverage import BucketMissing, named_bucket_region
from aws.iam.deny import DenyingStatement, explicit_denies
from aws.iam.documents import decode_document
from aws.iam.eval import Access
from aws.kentik_roles import KENTIK_ACCOUNT
from aws.logs.keys import parse_key
from aws.names import log_folder, s3_arn
from aws.reader import RoleReaderCheck, role_name
from aws.sandbox.seed import KENTIK_EXTERNAL_ID, KENTIK_PRINCIPAL
from aws.sandbox.strict_sts import principal_names, trust_allows, trust_context
from aws.session import AwsSession, SessionOptions

OK, ERROR = "OK", "ERROR"
# Kentik's ingest nodes call AWS as a session of their role; the trust policy names the role (or account).
KENTIK_SESSION_NAME = "kentik-cloud-export"
KENTIK_SESSION_ARN = (
    f"arn:aws:sts::{KENTIK_ACCOUNT}:assumed-role/{role_name(KENTIK_PRINCIPAL)}/{KENTIK_SESSION_NAME}"
)
LIST_PAGE_SIZE = 1000
MAX_LIST_PAGES = 3  # a bucket with thousands of files of another kind: look a little further, not forever


def _status(*, api: bool, storage: bool, flow: bool, problem: str) -> dict[str, Any]:
    return {
        "status": OK if api and storage and flow and not problem else ERROR,
        "errorMessage": problem,
        "flowFound": flow,
        "apiAccess": api,
        "storageAccountAccess": storage,
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def bucket_policy_denial(
    policy: Any, requests: list[tuple[Access, Mapping[str, Any]]], *, session_arn: str, account: str
) -> str | None:
    """The first Deny of a bucket policy that applies when the role's session (`session_arn`, of
    `account`) makes one of `requests` (an access and the condition keys its request carries), described;
    None when none does. A statement applies when its Principal names the session (`*`, the account, its
    root, the role) or its NotPrincipal does not; its Action, Resource and Condition are then decided by
    `aws.iam.deny` (an unknown condition operator is taken as met)."""
    doc = decode_document(policy) if policy else {}
    for index, st in enumerate(_as_list(doc.get("Statement"))):
        if not isinstance(st, Mapping) or st.get("Effect") != "Deny":
            continue
        if "NotPrincipal" in st:
            applies = not principal_names(st["NotPrincipal"], session_arn, account)
        else:
            applies = principal_names(st.get("Principal"), session_arn, account)
        if not applies:
            continue
        # The principal is decided: the Deny evaluator decides the rest, for anyone.
        anyone = {k: v for k, v in st.items() if k not in ("Principal", "NotPrincipal")} | {"Principal": "*"}
        for access, context in requests:
            found = explicit_denies({"Statement": [anyone]}, access.action, access.resource, context)
            if found:
                deny: DenyingStatement = dataclasses.replace(found[0], index=index)
                return deny.describe(access.action, access.resource, policy="the bucket policy")
    return None


class SandboxKentikStatus:
    """`status_for` of the demo's Kentik fake (see the module docstring). Thread-safe."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        access_key: str,
        secret_key: str,
        account_id: str,
        external_id: str = KENTIK_EXTERNAL_ID,
        region: str = "us-east-1",
    ) -> None:
        self.endpoint_url = endpoint_url
        self.account_id = account_id
        self.external_id = external_id
        self._credentials = (access_key, secret_key)
        self._region = region
        self._session: AwsSession | None = None
        self._lock = threading.Lock()

    def session(self) -> AwsSession:
        """The read-only session on the sandbox, made once (its clients are cached per service and region)."""
        with self._lock:
            if self._session is None:
                import boto3
                import botocore.session

                core = botocore.session.Session()
                core.set_config_variable("profile", None)  # not the shell's AWS_PROFILE: the sandbox's keys
                boto = boto3.Session(
                    aws_access_key_id=self._credentials[0],
                    aws_secret_access_key=self._credentials[1],
                    region_name=self._region,
                    botocore_session=core,
                )
                options = SessionOptions(  # read-only; a local endpoint: fail fast rather than retry
                    region=self._region,
                    endpoint_url=self.endpoint_url,
                    read_only=True,
                    max_attempts=2,
                    throttle_attempts=2,
                    connect_timeout=2.0,
                    read_timeout=10.0,
                    call_deadline=15.0,
                )
                self._session = AwsSession(options, boto_session=boto)
            return self._session

    def __call__(self, export: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.status(export)
        except Exception as err:  # never out of the fake's handler: Kentik reports what went wrong
            return _status(api=False, storage=False, flow=False, problem=f"sandbox error: {err}")

    # -- the checks ---------------------------------------------------------------------------------
    def status(self, export: Mapping[str, Any]) -> dict[str, Any]:
        aws = export.get("aws") or {}
        role_arn = str(aws.get("iamRoleArn") or "")
        problem = self.api_problem(role_arn)
        if problem:
            return _status(api=False, storage=False, flow=False, problem=problem)
        bucket = str(aws.get("bucket") or "")
        if not bucket:
            return _status(api=True, storage=False, flow=False, problem="the export names no bucket")
        base = log_folder(str(aws.get("bucketPrefix") or ""))
        logs = f"{base}/AWSLogs/" if base else "AWSLogs/"
        region = str(aws.get("region") or self._region)
        problem = self.storage_problem(role_arn, bucket, logs, region)
        if problem:
            problem = f"Kentik's role cannot read s3://{bucket}/{logs}: {problem}"
            return _status(api=True, storage=False, flow=False, problem=problem)
        if aws.get("metadataOnly"):
            problem = "the export reads metadata only (metadataOnly), not the logs"
            return _status(api=True, storage=True, flow=False, problem=problem)
        kinds = {"flowlog"} if aws.get("collectFlowLogs", True) else set()
        if aws.get("collectFirewallLogs", False):
            kinds.add("firewall")
        if not kinds:
            problem = "the export collects neither flow logs nor firewall logs"
            return _status(api=True, storage=True, flow=False, problem=problem)
        if not self.logs_found(bucket, logs, region, kinds):
            what = "flow logs" if kinds == {"flowlog"} else "flow or firewall logs"
            problem = f"no {what} found yet in s3://{bucket}/{logs}"
            return _status(api=True, storage=True, flow=False, problem=problem)
        return _status(api=True, storage=True, flow=True, problem="")

    def api_problem(self, role_arn: str) -> str:
        """Why Kentik cannot assume the role ('' when it can)."""
        if not role_arn:
            return "the export names no IAM role"
        try:
            role = self.session().client("iam").get_role(RoleName=role_name(role_arn))["Role"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise
            role = None
        if role is None or role.get("Arn") != role_arn:
            return f"Kentik cannot assume the role {role_arn}: there is no such role in account {self.account_id}"
        if not trust_allows(
            decode_document(role.get("AssumeRolePolicyDocument") or {}),
            caller_arn=KENTIK_SESSION_ARN,
            caller_account=KENTIK_ACCOUNT,
            external_id=self.external_id,
            session_name=KENTIK_SESSION_NAME,
        ):
            return (
                f"Kentik cannot assume the role {role_arn}: its trust policy does not let {KENTIK_PRINCIPAL} "
                f"assume it (external id {self.external_id})"
            )
        return ""

    def storage_problem(self, role_arn: str, bucket: str, logs: str, region: str) -> str:
        """Why the role cannot list the bucket and read its log files ('' when it can)."""
        session = self.session()
        try:
            located = named_bucket_region(session, bucket)
        except BucketMissing:
            return "the bucket does not exist"
        if located != region:  # Kentik reads the bucket in the export's region
            return f"the bucket is in {located}, not in the export's region {region}"
        try:
            policy = session.client("s3", region).get_bucket_policy(Bucket=bucket).get("Policy")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "NoSuchBucketPolicy":
                raise
            policy = None
        account = role_arn.split(":")[4]
        partition = role_arn.split(":")[1]
        verdict = RoleReaderCheck(session, role_arn).check(bucket, f"{logs}*", region=region, account=account)
        if not verdict.ok:  # the failed accesses come first; a key policy's problem alone comes last
            reasons = [r for r in verdict.reasons if ": allowed by " not in r]
            return reasons[0] if reasons else "the role's policies do not allow it"
        session_arn = (
            f"arn:{partition}:sts::{account}:assumed-role/{role_name(role_arn)}/{KENTIK_SESSION_NAME}"
        )
        context = trust_context(session_arn, account, None, None) | {
            "aws:SecureTransport": True,
            "aws:PrincipalType": "AssumedRole",
            "aws:PrincipalIsAWSService": False,
        }
        requests: list[tuple[Access, Mapping[str, Any]]] = [
            (Access("s3:ListBucket", s3_arn(bucket, partition=partition)), context | {"s3:prefix": logs}),
            (Access("s3:GetObject", s3_arn(bucket, f"{logs}*", partition=partition)), context),
        ]
        denial = bucket_policy_denial(policy, requests, session_arn=session_arn, account=account)
        return denial or ""

    def logs_found(self, bucket: str, logs: str, region: str, kinds: set[str]) -> bool:
        """Is a delivered `.log.gz` file of one of `kinds` under `logs`?"""
        s3 = self.session().client("s3", region)
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": logs, "MaxKeys": LIST_PAGE_SIZE}
        for _ in range(MAX_LIST_PAGES):
            page = s3.list_objects_v2(**params)
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                info = parse_key(key)
                if info is not None and info.kind in kinds and key.endswith(".log.gz"):
                    return True
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                return False
            params["ContinuationToken"] = page["NextContinuationToken"]
        return False


def sandbox_status_for(
    endpoint_url: str,
    *,
    access_key: str,
    secret_key: str,
    account_id: str,
    external_id: str = KENTIK_EXTERNAL_ID,
) -> SandboxKentikStatus:
    """The Kentik fake's `status_for`, bound to the sandbox at `endpoint_url` (see the module docstring)."""
    return SandboxKentikStatus(
        endpoint_url,
        access_key=access_key,
        secret_key=secret_key,
        account_id=account_id,
        external_id=external_id,
    )
