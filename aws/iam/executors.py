"""The executors that change the Kentik role's policy, and undo the change (registered with aws.plans.change).

* CreatePolicyVersion (managed): makes a version with the planned document the default; an identical
  existing version is reused instead of creating another, and a request without a response is never
  blindly retried (it may have created a version), so a retry, a concurrent apply or a re-apply after a
  rollback leaves one such version.
* DeletePolicyVersion (destructive rotation): frees a slot when the policy has 5 versions.
* PutRolePolicy (inline): puts the planned document, refusing when the role's inline total would
  exceed IAM's limit.
* Rollbacks, built from a saved record and never read from a plan file: SetDefaultPolicyVersion (make
  the previous default the default again) and RestoreRolePolicy (put the previous inline document back).

Every executor re-reads the policy right before applying and refuses (`StaleChange`, "policy changed
since the diff was shown") when it moved on since the diff was computed, or when the planned document
is not the one derived from the current one and the change's requirements: no lost update. `check()`
validates a Change read from a plan file (ARNs, version ids, SHA-256s, size, partition).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from aws.errors import FlowlogsError, ValidationFailed, error_code
from aws.iam.diff import pretty_json
from aws.iam.documents import (
    PolicyVersionInfo,
    decode_document,
    iam_client,
    inline_documents,
    list_versions,
    version_order,
)
from aws.iam.merge import merge_policy
from aws.iam.requirements import (
    INLINE_ROLE_TOTAL_LIMIT,
    MANAGED_POLICY_LIMIT,
    MAX_POLICY_VERSIONS,
    Requirements,
    RequirementsBasis,
    SizeReport,
    compact_json,
    document_sha256,
    policy_size,
)
from aws.kentik_roles import KENTIK_ACCOUNT, trust_match
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.session import AwsSession, partition_of

PERMISSIONS = declare(
    __name__,
    read=[
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:GetRolePolicy",
        "iam:GetRole",
        "iam:ListEntitiesForPolicy",
    ],
    apply=[
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:PutRolePolicy",
    ],
    notes="iam:DeletePolicyVersion only when a managed policy already has 5 versions and you confirm.",
)

STALE = "policy changed since the diff was shown; refresh"
KENTIKS_ROLE = (
    "a role is Kentik's when its trust policy names Kentik's account ({account}), requires an sts:ExternalId, "
    "or names another account (a nested setup's primary role, or that account)"
)
_POLICY_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):policy/[\w+=,.@/-]{1,512}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_VERSION_ID = re.compile(r"^v[1-9]\d{0,5}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _ManagedPrecondition(Params):
    DefaultVersionId: str
    DocumentSha256: str


class _RotationPrecondition(_ManagedPrecondition):
    WantedDocumentSha256: str


class _InlinePrecondition(Params):
    DocumentSha256: str | None


class CreatePolicyVersionParams(Params):
    PolicyArn: str
    PolicyDocument: str
    SetAsDefault: Literal[True]
    Precondition: _ManagedPrecondition


class DeletePolicyVersionParams(Params):
    PolicyArn: str
    VersionId: str
    Precondition: _RotationPrecondition


class SetDefaultPolicyVersionParams(Params):
    PolicyArn: str
    VersionId: str
    Precondition: dict[str, str]


class PutRolePolicyParams(Params):
    RoleName: str
    PolicyName: str
    PolicyDocument: str
    Precondition: _InlinePrecondition


def _need(change: Change) -> Requirements:
    return RequirementsBasis.model_validate(change.basis).requirements()


def _policy_details(change: Change) -> list[str]:
    basis = RequirementsBasis.model_validate(change.basis)
    existing = [
        f"{e.bucket}/{e.prefix}/AWSLogs/" if e.prefix else f"{e.bucket}/AWSLogs/" for e in basis.existing
    ]
    lines = [f"Kentik's role may read {', '.join(basis.buckets) or 'no bucket'} (whole bucket)"]
    if existing:
        lines.append(f"and, read only, {', '.join(existing)}")
    if basis.kms_keys:
        lines.append(f"and decrypt with {len(basis.kms_keys)} KMS key(s)")
    if basis.allow_delete:
        lines.append(
            "and do anything (s3:*) to those buckets, deleting them and changing their policy included"
        )
    elif basis.allow_delete_objects:
        lines.append("and delete objects (s3:DeleteObject) in those buckets")
    if not basis.keep_existing:
        lines.append("and no other bucket: buckets and keys in its earlier flowlogs statements are dropped")
    return lines


def _kentiks(session: AwsSession, role_name: str) -> bool:
    """Whether Kentik assumes this role: it trusts Kentik's account, or requires an external id (how
    discovery finds Kentik's role), or trusts another account (a spoke, assumed by the primary's role)."""
    role = iam_client(session).get_role(RoleName=role_name)["Role"]
    trusts, external_ids, principals = trust_match(role.get("AssumeRolePolicyDocument"))
    own = str(role["Arn"]).split(":")[4]
    accounts = {p if p.isdigit() else p.split(":")[4] for p in principals if p.isdigit() or p.count(":") >= 5}
    spoke = bool(accounts - {own})  # a spoke trusts the primary's account (its role, or its root)
    return trusts or bool(external_ids) or spoke


def require_kentiks_role(session: AwsSession, role_name: str) -> None:
    """A plan file changes the policy of Kentik's role only (StaleChange, nothing sent, otherwise)."""
    if not _kentiks(session, role_name):
        raise StaleChange(
            f"Role {role_name} is not Kentik's ({KENTIKS_ROLE.format(account=KENTIK_ACCOUNT)}). Nothing was "
            "changed.",
            hint="Plan again against the role Kentik assumes (flowlogs policy --role NAME).",
        )


def require_kentiks_policy(session: AwsSession, policy_arn: str) -> None:
    """A managed policy is changed only when every role it is attached to is Kentik's and no user or group
    holds it (they would get the S3 access too). One attached to nothing grants nothing yet: allowed."""
    others: list[str] = []
    pages = iam_client(session).get_paginator("list_entities_for_policy")
    for page in pages.paginate(PolicyArn=policy_arn):
        others += [
            f"role {r['RoleName']}"
            for r in page.get("PolicyRoles", [])
            if not _kentiks(session, r["RoleName"])
        ]
        others += [f"user {u['UserName']}" for u in page.get("PolicyUsers", [])]
        others += [f"group {g['GroupName']}" for g in page.get("PolicyGroups", [])]
    if others:
        raise StaleChange(
            f"Policy {policy_arn} is also attached to {', '.join(others)}, which would get Kentik's S3 access "
            f"too ({KENTIKS_ROLE.format(account=KENTIK_ACCOUNT)}). Nothing was changed.",
            hint="Give Kentik's role a policy of its own (or an inline one), then plan again.",
        )


def _managed_problems(change: Change, plan: Plan) -> list[str]:
    arn = str(change.params["PolicyArn"])
    problems = [] if change.target == arn else [f"its target {change.target!r} is not the policy it changes"]
    match = _POLICY_ARN.match(arn)
    if not match:
        return [*problems, f"{arn!r} is not a customer-managed IAM policy ARN"]
    if match.groups() != (plan.partition, plan.account_of(change)):
        problems.append(f"the policy {arn} is not in the change's partition and account")
    pre = change.params["Precondition"]
    if not _VERSION_ID.match(str(pre.get("DefaultVersionId", ""))):
        problems.append("its Precondition names no default version")
    problems += [
        f"its Precondition {k} is not a SHA-256"
        for k, v in pre.items()
        if k.endswith("Sha256") and not _SHA256.match(str(v))
    ]
    return problems


def _document_problems(change: Change, limit: int) -> list[str]:
    try:
        doc = json.loads(change.params["PolicyDocument"])
    except ValueError:
        return ["its PolicyDocument is not JSON"]
    if not isinstance(doc, dict):
        return ["its PolicyDocument is not a JSON object"]
    size = policy_size(doc)
    problems = [f"its PolicyDocument is {size} characters, over IAM's {limit}"] if size > limit else []
    try:
        need = _need(change)
    except ValidationFailed as err:
        return [*problems, f"basis: {err.message}"]
    if need.partition != partition_of(change.region):
        problems.append(f"its requirements are for partition {need.partition}, not the change's")
    return problems


def _sent(change: Change) -> dict[str, Any]:
    """The API parameters, without our Precondition."""
    return {k: v for k, v in change.params.items() if k != "Precondition"}


def _default(session: AwsSession, arn: str) -> tuple[str, dict[str, Any]]:
    iam = iam_client(session)
    version_id = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]["Document"]
    return version_id, decode_document(doc)


def _check_managed(change: Change, version_id: str, doc: dict[str, Any]) -> None:
    pre = change.params.get("Precondition") or {}
    if "DefaultVersionId" in pre and pre["DefaultVersionId"] != version_id:
        raise StaleChange(
            f"{change.params['PolicyArn']}: {STALE} (default version is now {version_id}, "
            f"the diff was computed from {pre['DefaultVersionId']}). Nothing was changed."
        )
    if "DocumentSha256" in pre and pre["DocumentSha256"] != document_sha256(doc):
        raise StaleChange(f"{change.params['PolicyArn']}: {STALE}. Nothing was changed.")


CREATE_ATTEMPTS = 3  # CreatePolicyVersion sends, each after looking for a version a lost one made


class _LostResponse(Exception):
    """A CreatePolicyVersion request got no response (connection dropped, timeout): it may have been
    applied. Raised instead of botocore's blind retry, which would create a second version."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def _no_blind_retry(caught_exception: Exception | None = None, **_: Any) -> None:
    if caught_exception is not None:
        raise _LostResponse(caught_exception)


def _guard_create(iam: Any) -> Any:
    """The IAM client, with botocore's retry of a CreatePolicyVersion without a response turned into
    `_LostResponse` (retries after an error response, such as throttling, are kept: nothing was made)."""
    iam.meta.events.register_first(
        "needs-retry.iam.CreatePolicyVersion", _no_blind_retry, unique_id="flowlogs-no-blind-retry"
    )
    return iam


def version_with_document(session: AwsSession, arn: str, wanted: dict[str, Any]) -> PolicyVersionInfo | None:
    """The version of `arn` whose document equals `wanted` (compared as parsed JSON), default first."""
    iam = iam_client(session)
    versions = sorted(list_versions(iam, arn), key=lambda v: (not v.is_default, version_order(v)))
    for version in versions:
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=version.version_id)["PolicyVersion"]["Document"]
        if decode_document(doc) == wanted:
            return version
    return None


def _make_default(session: AwsSession, arn: str, version: PolicyVersionInfo) -> None:
    if not version.is_default:
        iam_client(session).set_default_policy_version(PolicyArn=arn, VersionId=version.version_id)


class CreatePolicyVersionExecutor(Executor):
    """Makes a version with the wanted document the default: an existing identical version is reused
    (made default) instead of creating another, before sending and again after any error or lost
    response, so a retry, a concurrent apply or a re-apply after a rollback leaves one such version."""

    kind = "iam.create-policy-version"
    service, operation = "iam", "CreatePolicyVersion"
    Params, Basis = CreatePolicyVersionParams, RequirementsBasis

    def details(self, change: Change) -> list[str]:
        return _policy_details(change)

    def check(self, change: Change, plan: Plan) -> list[str]:
        return _managed_problems(change, plan) + _document_problems(change, MANAGED_POLICY_LIMIT)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        _, doc = _default(session, change.params["PolicyArn"])
        return doc == json.loads(change.params["PolicyDocument"])

    def checked(self, session: AwsSession, change: Change) -> tuple[str, dict[str, Any]]:
        """The default version and its document, refused (StaleChange) when the policy moved on since the
        plan or the planned document is not the one derived from it."""
        arn = change.params["PolicyArn"]
        wanted = json.loads(change.params["PolicyDocument"])
        version_id, doc = _default(session, arn)
        if doc != wanted:
            _check_managed(change, version_id, doc)
            self.expect(change, f"policy {arn}", merge_policy(doc, _need(change)).proposed, wanted)
            require_kentiks_policy(session, arn)
        return version_id, doc

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn = change.params["PolicyArn"]
        wanted = json.loads(change.params["PolicyDocument"])
        version_id, doc = self.checked(session, change)
        if doc == wanted:
            return {"PolicyArn": arn, "VersionId": version_id}
        out = {
            "PolicyArn": arn,
            "PreviousDefaultVersionId": version_id,
            "PreviousDocumentSha256": document_sha256(doc),
        }
        existing = version_with_document(session, arn, wanted)
        if existing is not None:
            _make_default(session, arn, existing)
            return {**out, "VersionId": existing.version_id, "Reused": True}
        return {**out, "VersionId": self._create(session, change, wanted)}

    def _create(self, session: AwsSession, change: Change, wanted: dict[str, Any]) -> str:
        arn = change.params["PolicyArn"]
        iam = _guard_create(iam_client(session))
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                sent = {**_sent(change), "PolicyDocument": pretty_json(wanted)}  # the checked document
                return str(iam.create_policy_version(**sent)["PolicyVersion"]["VersionId"])
            except (ClientError, _LostResponse) as err:
                made = version_with_document(session, arn, wanted)  # by a lost attempt, or concurrently
                if made is not None:
                    _make_default(session, arn, made)
                    return made.version_id
                if isinstance(err, _LostResponse):
                    if attempt < CREATE_ATTEMPTS:
                        continue  # it was not applied: send again
                    raise err.original from err
                if error_code(err) == "LimitExceeded":
                    raise FlowlogsError(
                        f"{arn} already has {MAX_POLICY_VERSIONS} versions.",
                        hint="Refresh the diff: the oldest non-default version must be deleted first (confirm it).",
                    ) from err
                raise
        raise AssertionError("unreachable")  # pragma: no cover


class DeletePolicyVersionExecutor(Executor):
    """Rotation: frees a slot for the new version. Unneeded (satisfied) when there is a free slot, the
    version is gone, or a version with the wanted document already exists (it is reused)."""

    kind = "iam.delete-policy-version"
    service, operation = "iam", "DeletePolicyVersion"
    destructive = True
    Params = DeletePolicyVersionParams

    def details(self, change: Change) -> list[str]:
        return [f"deletes version {change.params['VersionId']} (not the default) to free a slot"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = _managed_problems(change, plan)
        if not _VERSION_ID.match(change.params["VersionId"]):
            problems.append(f"{change.params['VersionId']!r} is not a policy version id")
        elif change.params["VersionId"] == change.params["Precondition"]["DefaultVersionId"]:
            problems.append("it deletes the default version")
        creates = [
            c
            for c in plan.changes
            if c.kind == CreatePolicyVersionExecutor.kind and change.id in c.depends_on
        ]
        if not any(c.params.get("PolicyArn") == change.params["PolicyArn"] for c in creates):
            problems.append("no new version of the policy needs the slot it frees")
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        arn = change.params["PolicyArn"]
        versions = list_versions(iam_client(session), arn)
        gone = all(v.version_id != change.params["VersionId"] for v in versions)
        if gone or len(versions) < MAX_POLICY_VERSIONS:
            return True
        wanted = str((change.params.get("Precondition") or {}).get("WantedDocumentSha256") or "")
        return bool(wanted) and self._has_document(session, arn, versions, wanted)

    @staticmethod
    def _has_document(session: AwsSession, arn: str, versions: list[PolicyVersionInfo], sha: str) -> bool:
        iam = iam_client(session)
        for version in versions:
            doc = iam.get_policy_version(PolicyArn=arn, VersionId=version.version_id)["PolicyVersion"]
            if document_sha256(decode_document(doc["Document"])) == sha:
                return True
        return False

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn, victim = change.params["PolicyArn"], change.params["VersionId"]
        version_id, doc = _default(session, arn)
        _check_managed(change, version_id, doc)
        if victim == version_id:
            raise ValidationFailed(f"{arn}: version {victim} is the default version and can't be deleted.")
        iam = iam_client(session)
        try:
            deleted = iam.get_policy_version(PolicyArn=arn, VersionId=victim)["PolicyVersion"]["Document"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return {"DeletedVersionId": victim}
            raise
        iam.delete_policy_version(**_sent(change))
        return {"DeletedVersionId": victim, "DeletedDocument": compact_json(decode_document(deleted))}


class SetDefaultPolicyVersionExecutor(Executor):
    """Rollback of a managed policy: make the previous default version the default again."""

    kind = "iam.set-default-policy-version"
    service, operation = "iam", "SetDefaultPolicyVersion"
    in_plan_files = False  # rollbacks are built from the saved record, never read from a plan file
    Params = SetDefaultPolicyVersionParams

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        version_id, _ = _default(session, change.params["PolicyArn"])
        return bool(version_id == change.params["VersionId"])

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        arn = change.params["PolicyArn"]
        version_id, doc = _default(session, arn)
        if version_id == change.params["VersionId"]:
            return {"PolicyArn": arn, "VersionId": version_id}
        _check_managed(change, version_id, doc)
        iam_client(session).set_default_policy_version(**_sent(change))
        return {
            "PolicyArn": arn,
            "VersionId": change.params["VersionId"],
            "PreviousDefaultVersionId": version_id,
        }


class PutRolePolicyExecutor(Executor):
    """Inline policy: put the proposed document (or, for a rollback, the previous one)."""

    kind = "iam.put-role-policy"
    service, operation = "iam", "PutRolePolicy"
    Params = PutRolePolicyParams
    Basis: ClassVar[type[BaseModel] | None] = RequirementsBasis

    def details(self, change: Change) -> list[str]:
        return _policy_details(change)

    def check(self, change: Change, plan: Plan) -> list[str]:
        role = str(change.params["RoleName"])
        problems = [] if _ROLE_NAME.match(role) else [f"{role!r} is not a role name"]
        arn = f"arn:{plan.partition}:iam::{plan.account_of(change)}:role/{role}"
        if change.target != arn:
            problems.append(f"its target {change.target!r} is not the role it changes ({arn})")
        if not _ROLE_NAME.match(str(change.params["PolicyName"])):
            problems.append("its PolicyName is not a policy name")
        sha = change.params["Precondition"].get("DocumentSha256")
        if sha is not None and not _SHA256.match(sha):
            problems.append("its Precondition DocumentSha256 is not a SHA-256")
        return problems + _document_problems(change, INLINE_ROLE_TOTAL_LIMIT)

    def derived(self, current: dict[str, Any] | None, change: Change) -> dict[str, Any]:
        return merge_policy(
            current or {"Version": "2012-10-17", "Statement": []}, _need(change), kind="inline"
        ).proposed

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        try:
            doc = iam_client(session).get_role_policy(
                RoleName=change.params["RoleName"], PolicyName=change.params["PolicyName"]
            )["PolicyDocument"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return None
            raise
        return decode_document(doc)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return self._current(session, change) == json.loads(change.params["PolicyDocument"])

    def checked(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        """The current document, refused (StaleChange) when it changed since the plan or the planned one
        is not derived from it."""
        role, name = change.params["RoleName"], change.params["PolicyName"]
        wanted = json.loads(change.params["PolicyDocument"])
        current = self._current(session, change)
        if current != wanted:
            pre = change.params.get("Precondition") or {}
            actual = document_sha256(current) if current is not None else "absent"
            if "DocumentSha256" in pre and pre["DocumentSha256"] != actual:
                raise StaleChange(f"Inline policy {name} of role {role}: {STALE}. Nothing was changed.")
            self.expect(change, f"inline policy {name} of role {role}", self.derived(current, change), wanted)
            require_kentiks_role(session, role)
        return current

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        role, name = change.params["RoleName"], change.params["PolicyName"]
        wanted = json.loads(change.params["PolicyDocument"])
        current = self.checked(session, change)
        if current != wanted:
            docs = inline_documents(session, role)
            size = SizeReport(
                policy_size(wanted), "inline", sum(policy_size(d) for n, d in docs.items() if n != name)
            )
            size.require_ok()
            iam_client(session).put_role_policy(**{**_sent(change), "PolicyDocument": pretty_json(wanted)})
        return {
            "RoleName": role,
            "PolicyName": name,
            "PreviousDocument": compact_json(current) if current is not None else None,
            "DocumentSha256": document_sha256(wanted),
        }


class RestoreRolePolicyExecutor(PutRolePolicyExecutor):
    """Rollback of an inline policy: put its previous document back (destructive; built from the saved
    rollback record, never read from a plan file)."""

    kind = "iam.restore-role-policy"
    destructive = True
    in_plan_files = False
    Basis = None

    def derived(self, current: dict[str, Any] | None, change: Change) -> dict[str, Any]:
        return dict(json.loads(change.params["PolicyDocument"]))  # the saved previous document
