"""The proposal for one policy: its merge, its diff, and the plan Changes that apply it.

* `propose()` / `prepare()`: merge `Requirements` into a found `PolicyTarget` (`prepare` finds it first)
  and build the Changes; `policy_changes()` is the same for `flowlogs plan`.
* `changes_for()`: nothing for a no-op; for a managed policy a CreatePolicyVersion (made the default),
  preceded, when the policy already has 5 versions, by a separate destructive DeletePolicyVersion of the
  oldest non-default one; for an inline policy a PutRolePolicy. Each Change carries a Precondition (the
  document's SHA-256, the default version) so the executors refuse a policy that changed since the diff,
  and the requirements as its basis. Refuses (`ValidationFailed`) a document over IAM's size limit.

No AWS calls of its own beyond `find_policy()` (aws.iam.documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws.errors import ValidationFailed
from aws.iam.diff import DiffLine, policy_diff, pretty_json
from aws.iam.documents import PolicyTarget, find_policy, oldest_non_default
from aws.iam.executors import (
    CreatePolicyVersionExecutor,
    DeletePolicyVersionExecutor,
    PutRolePolicyExecutor,
)
from aws.iam.merge import MergeResult, merge_policy
from aws.iam.requirements import (
    MAX_POLICY_VERSIONS,
    ExistingBasis,
    Requirements,
    RequirementsBasis,
    document_sha256,
)
from aws.plans.change import Change, Plan
from aws.session import AwsSession, partition_of


@dataclass
class PolicyProposal:
    """Everything the viewer shows for one policy: target, merge, diff, and the Changes to apply."""

    target: PolicyTarget
    merge: MergeResult
    changes: list[Change]

    @property
    def diff(self) -> list[DiffLine]:
        return policy_diff(self.merge.current, self.merge.proposed)

    @property
    def rotation(self) -> Change | None:
        return next((c for c in self.changes if c.kind == DeletePolicyVersionExecutor.kind), None)

    def plan(self) -> Plan:
        """The Changes as a Plan for the policy's account (what the CLI applies and the viewer reviews)."""
        return Plan(account=self.target.account, changes=list(self.changes))


def requirements_basis(need: Requirements) -> dict[str, Any]:
    """The basis of a policy change: the requirements its document is derived from."""
    return RequirementsBasis(
        buckets=list(need.buckets),
        kms_keys=list(need.kms_keys),
        allow_delete=need.allow_delete,
        allow_delete_objects=need.allow_delete_objects,
        partition=need.partition,
        keep_existing=need.keep_existing,
        existing=[ExistingBasis(bucket=b, prefix=p) for b, p in need.existing],
    ).model_dump()


def changes_for(
    target: PolicyTarget, merge: MergeResult, need: Requirements, *, region: str, partition: str | None = None
) -> list[Change]:
    """The Changes that turn `target` into `merge.proposed` (none for a no-op). Refuses when too large.
    `partition`: of the ARNs built here (default: the region's)."""
    if merge.noop:
        return []
    partition = partition or partition_of(region)
    merge.size.require_ok()
    document = pretty_json(merge.proposed)
    basis = requirements_basis(need)
    reason = "Spec 'Update IAM Permissions for S3': " + merge.summary()
    if target.kind == "inline":
        assert target.role_name
        return [
            Change(
                id=f"iam.put-role-policy:{target.role_name}/{target.policy_name}",
                kind=PutRolePolicyExecutor.kind,
                title=f"Update inline policy {target.policy_name} of role {target.role_name}",
                reason=reason,
                target=f"arn:{partition}:iam::{target.account}:role/{target.role_name}",
                service="iam",
                region=region,
                operation="PutRolePolicy",
                params={
                    "RoleName": target.role_name,
                    "PolicyName": target.policy_name,
                    "PolicyDocument": document,
                    "Precondition": {"DocumentSha256": target.sha256},
                },
                basis=basis,
                group="iam",
            )
        ]
    assert target.policy_arn and target.version_id
    out: list[Change] = []
    depends: list[str] = []
    if len(target.versions) >= MAX_POLICY_VERSIONS:
        oldest = oldest_non_default(target.versions)
        if oldest is None:
            raise ValidationFailed(
                f"{target.policy_arn} has {len(target.versions)} versions, none deletable."
            )
        created = f", created {oldest.created:%Y-%m-%d %H:%M}" if oldest.created else ""
        rotate = Change(
            id=f"iam.delete-policy-version:{target.policy_arn}:{oldest.version_id}",
            kind=DeletePolicyVersionExecutor.kind,
            title=f"Delete version {oldest.version_id} (oldest non-default{created}) of {target.policy_name}",
            reason=f"A managed policy keeps at most {MAX_POLICY_VERSIONS} versions; the new version needs a free slot.",
            target=target.policy_arn,
            service="iam",
            region=region,
            operation="DeletePolicyVersion",
            params={
                "PolicyArn": target.policy_arn,
                "VersionId": oldest.version_id,
                "Precondition": {
                    "DefaultVersionId": target.version_id,
                    "DocumentSha256": target.sha256,
                    # no slot is needed when a version with the new document already exists (reused)
                    "WantedDocumentSha256": document_sha256(merge.proposed),
                },
            },
            group="iam",
        )
        out.append(rotate)
        depends.append(rotate.id)
    out.append(
        Change(
            id=f"iam.create-policy-version:{target.policy_arn}",
            kind=CreatePolicyVersionExecutor.kind,
            title=f"New default version of {target.policy_name} (replacing {target.version_id})",
            reason=reason,
            target=target.policy_arn,
            service="iam",
            region=region,
            operation="CreatePolicyVersion",
            params={
                "PolicyArn": target.policy_arn,
                "PolicyDocument": document,
                "SetAsDefault": True,
                "Precondition": {"DefaultVersionId": target.version_id, "DocumentSha256": target.sha256},
            },
            basis=basis,
            depends_on=depends,
            group="iam",
        )
    )
    return out


def propose(session: AwsSession, target: PolicyTarget, need: Requirements) -> PolicyProposal:
    merge = merge_policy(
        target.document, need, kind=target.kind, other_inline_chars=target.other_inline_chars
    )
    changes = changes_for(target, merge, need, region=session.home_region, partition=session.partition)
    return PolicyProposal(target, merge, changes)


def prepare(
    session: AwsSession,
    need: Requirements,
    *,
    role_name: str | None = None,
    policy_arn: str | None = None,
    policy_name: str | None = None,
) -> PolicyProposal:
    """Find the policy and compute its proposal (merge, diff, Changes)."""
    return propose(
        session,
        find_policy(session, role_name=role_name, policy_arn=policy_arn, policy_name=policy_name),
        need,
    )


def policy_changes(
    session: AwsSession,
    need: Requirements,
    *,
    role_name: str | None = None,
    policy_arn: str | None = None,
    policy_name: str | None = None,
) -> list[Change]:
    """The policy Changes for `flowlogs plan --role/--policy-arn` (empty when nothing is needed)."""
    return prepare(session, need, role_name=role_name, policy_arn=policy_arn, policy_name=policy_name).changes
