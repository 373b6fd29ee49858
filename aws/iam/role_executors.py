"""The executors that make Kentik's role from nothing (registered with aws.plans.change; planned by
aws.iam.kentik_role). The S3 read statement is the IAM step's own kind, `iam.put-role-policy`.

* `iam.create-role` (CreateRole): the role, trusted by Kentik's principal with the external id.
* `iam.create-policy` (CreatePolicy): the customer-managed metadata policy (Kentik's describe permissions).
* `iam.attach-role-policy` (AttachRolePolicy): that policy, attached to that role.
* `iam.put-role-read-policy` (PutRolePolicy): the S3 read statement in the role's inline policy
  `kentik-flowlogs-read`, which need not exist yet (its precondition's DocumentSha256 is then null). It is
  the IAM step's `iam.put-role-policy` (same checks, size limit and no lost update) but can create the
  inline policy; the document must be the one derived from the requirements (its basis).

`check()` refuses a change read from a plan file whose parameters are not exactly what the engine derives
(the trust document for the basis' external id, the metadata document, the policy named after the role,
flowlogs' tags, a target in the plan's account and partition): an edited plan file cannot make the role
trust someone else or attach another policy. The attachment and the S3 read statement only change what
the plan itself creates (`_made_by_the_plan`): the role of one of its `iam.create-role` changes (and,
attached, the policy of one of its `iam.create-policy` changes) in the same account, which they depend on,
so an edited plan file cannot give an existing role the S3 read statement or the metadata policy.
`satisfied()` reads only. `apply()` is idempotent: a role or policy already there as planned is left
alone (also when it appears between the check and the call).

A role or policy of that name that exists with another trust policy or document is never overwritten:
`checked()` (run before the first change of the plan) and `satisfied()` raise `ExistingRoleDiffers` /
`ExistingPolicyDiffers` (StaleChange: the change is refused, nothing is sent), naming what differs.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from aws.errors import error_code
from aws.iam.documents import iam_client, list_versions
from aws.iam.executors import STALE, PutRolePolicyExecutor
from aws.iam.kentik_role import (
    ATTACH,
    CREATE_POLICY,
    CREATE_ROLE,
    KENTIK_PARTITION,
    KENTIK_PRINCIPAL,
    POLICY_DESCRIPTION,
    PUT_READ_POLICY,
    READ_POLICY_NAME,
    ROLE_DESCRIPTION,
    ExistingPolicyDiffers,
    ExistingRoleDiffers,
    current_policy,
    current_trust,
    input_problems,
    is_role_name,
    metadata_document,
    metadata_policy_name,
    policy_arn,
    policy_differences,
    read_policy_document,
    role_arn,
    trust_differences,
    trust_document,
)
from aws.iam.requirements import MANAGED_POLICY_LIMIT, RequirementsBasis, document_sha256, policy_size
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.session import AwsSession
from aws.tags import our_tags

PERMISSIONS = declare(
    __name__,
    read=[
        "iam:GetRole",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
        "iam:ListAttachedRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListRolePolicies",
    ],
    apply=["iam:CreateRole", "iam:CreatePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy"],
    implied={
        "iam:TagRole": "CreateRole with Tags: IAM authorizes tagging on create as iam:TagRole (flowlogs "
        "tags the role it creates)",
        "iam:TagPolicy": "CreatePolicy with Tags: IAM authorizes tagging on create as iam:TagPolicy "
        "(flowlogs tags the policy it creates)",
    },
    notes="iam:CreateRole, iam:CreatePolicy, iam:AttachRolePolicy, iam:TagRole and iam:TagPolicy only to "
    "create Kentik's role (policy --create-role, or the IAM step's 'Create a Kentik role').",
)


class _Tag(Params):
    Key: str
    Value: str


class CreateRoleParams(Params):
    RoleName: str
    AssumeRolePolicyDocument: str
    Description: str
    Tags: list[_Tag]


class TrustBasis(Params):
    """What the trust document is derived from: Kentik's external id."""

    external_id: str


class CreatePolicyParams(Params):
    PolicyName: str
    PolicyDocument: str
    Description: str
    Tags: list[_Tag]


class MetadataBasis(Params):
    """The role the metadata policy is named after."""

    role_name: str


class AttachRolePolicyParams(Params):
    RoleName: str
    PolicyArn: str


def _json(text: str, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        doc = json.loads(text)
    except ValueError:
        return None, [f"its {what} is not JSON"]
    return (doc, []) if isinstance(doc, dict) else (None, [f"its {what} is not a JSON object"])


def _where(change: Change, plan: Plan) -> tuple[str, str, list[str]]:
    """(partition, account) of the change, and the problem when that is not Kentik's partition."""
    problems = []
    if plan.partition != KENTIK_PARTITION:
        problems.append(f"it is in partition {plan.partition}, where Kentik's role {KENTIK_PRINCIPAL} is not")
    return plan.partition, plan.account_of(change), problems


def _made_by_the_plan(change: Change, plan: Plan, kind: str, what: str, **params: str) -> list[str]:
    """[] when the plan itself creates `change`'s resource `what` (an ARN): it holds a change of `kind` with
    that target and `params`, in the same account, that `change` depends on; else the problem."""
    made = [
        c.id
        for c in plan.changes
        if c.kind == kind
        and c.target == what
        and plan.account_of(c) == plan.account_of(change)
        and all(c.params.get(key) == value for key, value in params.items())
    ]
    kinds = {CREATE_ROLE: "role", CREATE_POLICY: "policy"}
    name = what.rsplit("/", 1)[-1]
    if not made:
        return [
            f"the plan does not create {kinds[kind]} {name} ({kind}): this change may only change what the "
            "plan creates (the plan file was edited)"
        ]
    if not set(made) & set(change.depends_on):
        return [f"it does not depend on {made[0]}, which creates {kinds[kind]} {name}"]
    return []


def _tag_problems(change: Change) -> list[str]:
    tags = [dict(t) for t in change.params["Tags"]]
    return [] if tags == our_tags() else ["its Tags are not flowlogs' (managed-by = flowlogs-tui)"]


class CreateRoleExecutor(Executor):
    """Creates the role Kentik assumes; one of that name with another trust policy is refused."""

    kind = CREATE_ROLE
    service, operation = "iam", "CreateRole"
    Params, Basis = CreateRoleParams, TrustBasis

    def details(self, change: Change) -> list[str]:
        return [
            "trusted by Kentik's role with sts:ExternalId "
            f"{change.basis['external_id']}; no permissions of its own yet"
        ]

    def check(self, change: Change, plan: Plan) -> list[str]:
        partition, account, problems = _where(change, plan)
        name, external_id = change.params["RoleName"], change.basis["external_id"]
        problems += input_problems(name, external_id)
        if change.target != role_arn(partition, account, name):
            problems.append(f"its target {change.target!r} is not the role it creates")
        doc, bad = _json(change.params["AssumeRolePolicyDocument"], "AssumeRolePolicyDocument")
        problems += bad
        if doc is not None and doc != trust_document(external_id):
            problems.append(
                "its trust policy is not the one flowlogs derives for Kentik with external id "
                f"{external_id} (the plan file was edited)"
            )
        if change.params["Description"] != ROLE_DESCRIPTION:
            problems.append("its Description is not flowlogs'")
        return problems + _tag_problems(change)

    def checked(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        """The role's current trust policy (None: no such role); ExistingRoleDiffers when it is not ours."""
        name = change.params["RoleName"]
        trust = current_trust(session, name)
        if trust is not None:
            differs = trust_differences(trust, change.basis["external_id"])
            if differs:
                raise ExistingRoleDiffers(name, differs)
        return trust

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return self.checked(session, change) is not None

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        name = change.params["RoleName"]
        if self.checked(session, change) is None:
            try:
                made = iam_client(session).create_role(**change.params)["Role"]
                return {"RoleArn": made["Arn"], "Created": True}
            except ClientError as err:
                if error_code(err) != "EntityAlreadyExists":
                    raise
                self.checked(session, change)  # made meanwhile: ours (no-op) or refused
        return {"RoleArn": change.target, "Created": False, "RoleName": name}


class CreatePolicyExecutor(Executor):
    """Creates the customer-managed metadata policy; one of that name with another document is refused."""

    kind = CREATE_POLICY
    service, operation = "iam", "CreatePolicy"
    Params, Basis = CreatePolicyParams, MetadataBasis

    def details(self, change: Change) -> list[str]:
        doc = json.loads(change.params["PolicyDocument"])
        actions = [a for st in doc["Statement"] for a in st["Action"]]
        return [f"grants {len(actions)} describe/list actions on every resource (Kentik's metadata access)"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        partition, account, problems = _where(change, plan)
        role, name = change.basis["role_name"], change.params["PolicyName"]
        if not is_role_name(role):
            problems.append(f"{role!r} is not a role name")
        if name != metadata_policy_name(role):
            problems.append(
                f"its PolicyName is not {metadata_policy_name(role)}, the one named after the role"
            )
        if change.target != policy_arn(partition, account, name):
            problems.append(f"its target {change.target!r} is not the policy it creates")
        doc, bad = _json(change.params["PolicyDocument"], "PolicyDocument")
        problems += bad
        if doc is not None and doc != metadata_document():
            problems.append("its PolicyDocument is not Kentik's metadata policy (the plan file was edited)")
        if doc is not None and policy_size(doc) > MANAGED_POLICY_LIMIT:
            problems.append(f"its PolicyDocument is over IAM's {MANAGED_POLICY_LIMIT} characters")
        if change.params["Description"] != POLICY_DESCRIPTION:
            problems.append("its Description is not flowlogs'")
        return problems + _tag_problems(change)

    def checked(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        """The policy's default document (None: no such policy); ExistingPolicyDiffers when not ours."""
        document = current_policy(session, change.target)
        if document is not None:
            differs = policy_differences(document)
            if differs:
                raise ExistingPolicyDiffers(change.target, differs)
        return document

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return self.checked(session, change) is not None

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        if self.checked(session, change) is None:
            try:
                made = iam_client(session).create_policy(**change.params)["Policy"]
                return {"PolicyArn": made["Arn"], "VersionId": made["DefaultVersionId"], "Created": True}
            except ClientError as err:
                if error_code(err) != "EntityAlreadyExists":
                    raise
                self.checked(session, change)
        versions = list_versions(iam_client(session), change.target)
        default = next((v.version_id for v in versions if v.is_default), "")
        return {"PolicyArn": change.target, "VersionId": default, "Created": False}


class AttachRolePolicyExecutor(Executor):
    """Attaches the metadata policy named after the role (never another policy) to the role."""

    kind = ATTACH
    service, operation = "iam", "AttachRolePolicy"
    Params: ClassVar[type[BaseModel] | None] = AttachRolePolicyParams

    def details(self, change: Change) -> list[str]:
        return [f"attaches {change.params['PolicyArn']}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        partition, account, problems = _where(change, plan)
        role = change.params["RoleName"]
        if not is_role_name(role):
            return [*problems, f"{role!r} is not a role name"]
        arn = role_arn(partition, account, role)
        if change.target != arn:
            problems.append(f"its target {change.target!r} is not the role it changes")
        wanted = policy_arn(partition, account, metadata_policy_name(role))
        if change.params["PolicyArn"] != wanted:
            problems.append(
                f"it attaches {change.params['PolicyArn']}, not the role's metadata policy {wanted}"
            )
        problems += _made_by_the_plan(change, plan, CREATE_ROLE, arn, RoleName=role)
        name = metadata_policy_name(role)
        return problems + _made_by_the_plan(change, plan, CREATE_POLICY, wanted, PolicyName=name)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        iam = iam_client(session)
        attached: list[str] = []
        for page in iam.get_paginator("list_attached_role_policies").paginate(
            RoleName=change.params["RoleName"]
        ):
            attached += [p["PolicyArn"] for p in page["AttachedPolicies"]]
        return change.params["PolicyArn"] in attached

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        iam_client(session).attach_role_policy(**change.params)  # attaching twice changes nothing
        return {"RoleName": change.params["RoleName"], "PolicyArn": change.params["PolicyArn"]}


class PutRoleReadPolicyExecutor(PutRolePolicyExecutor):
    """The S3 read statement in Kentik's new role: its inline policy, created (or merged into, on a
    rerun) with the requirements' statements."""

    kind = PUT_READ_POLICY

    def check(self, change: Change, plan: Plan) -> list[str]:
        """The IAM step's checks, the inline policy's name, and the role: the one the plan creates."""
        problems = super().check(change, plan)
        if change.params["PolicyName"] != READ_POLICY_NAME:
            problems.append(f"its PolicyName is not {READ_POLICY_NAME}")
        role = change.params["RoleName"]
        arn = role_arn(plan.partition, plan.account_of(change), role)
        return problems + _made_by_the_plan(change, plan, CREATE_ROLE, arn, RoleName=role)

    def derived(self, current: dict[str, Any] | None, change: Change) -> dict[str, Any]:
        need = RequirementsBasis.model_validate(change.basis).requirements()
        return read_policy_document(current, need)[0]

    def checked(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        """The current document (None: absent), refused (StaleChange) when it is not the one the plan was
        made from (absent included) or the planned document is not derived from it."""
        role, name = change.params["RoleName"], change.params["PolicyName"]
        wanted = json.loads(change.params["PolicyDocument"])
        current = self._current(session, change)
        if current != wanted:
            actual = document_sha256(current) if current is not None else None
            if change.params["Precondition"]["DocumentSha256"] != actual:
                raise StaleChange(f"Inline policy {name} of role {role}: {STALE}. Nothing was changed.")
            self.expect(change, f"inline policy {name} of role {role}", self.derived(current, change), wanted)
        return current
