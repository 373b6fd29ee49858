"""Executors of the organization policy Changes: a central bucket's (and its KMS key's) statements letting
log delivery write for every member account (`aws.s3.org_policy`).

Like the one-account policy executors (`aws.s3.policy_executors`) they derive the policy again at apply
time and send it only when it is the previewed one (`StaleChange` otherwise). The basis names every
account (and log folder) the org statements cover once applied: the accounts the plan adds and those the
policy already named (these also in `kept`). `check` refuses, without AWS, a planned policy that is not
JSON, is over AWS's size limit, whose org statements are not exactly the ones the basis derives, or whose
basis names an account that is neither one of the plan's (`aws.plans.org_settings.plan_accounts`) nor
kept; apply refuses (`StaleChange`) to add a kept account the live policy no longer lists.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from aws.errors import ValidationFailed
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.plans.org_settings import plan_accounts
from aws.s3 import bucket_policy as bp
from aws.s3 import org_policy as op
from aws.s3.executors import bucket_problems
from aws.s3.policy_executors import (
    BucketPolicyParams,
    KeyPolicyParams,
    _document,
    _get_policy,
    bucket_document,
    send_policy,
)
from aws.s3.strategy import key_arn_problem
from aws.session import AwsSession, partition_of

PERMISSIONS = declare(
    __name__,
    read=["s3:GetBucketPolicy", "kms:GetKeyPolicy"],
    apply=["s3:PutBucketPolicy", "kms:PutKeyPolicy"],
)


_KEPT = "Accounts the policy already listed when planned that are not the plan's (kept, never added)"


class OrgKeyBasis(Params):
    accounts: list[str] = Field(min_length=1, description="Every account log delivery may use the key for")
    kept: list[str] = Field(default_factory=list, description=_KEPT)


class OrgBucketBasis(OrgKeyBasis):
    prefixes: list[str] = Field(default_factory=list, description="Log folders ('' = the bucket's top)")


def _org_problems(doc: dict[str, Any], template: list[bp.Statement], what: str) -> list[str]:
    if op.same_org_statements(doc, template):
        return []
    return [f"its {what}'s organization statements are not the ones flowlogs derives from its basis"]


def _account_problems(basis: OrgKeyBasis, plan: Plan) -> list[str]:
    """Every account the basis lets log delivery write for is one of the plan's, or one the policy
    already listed (`kept`, which apply checks against the live policy): a plan file cannot grant an
    outside account delivery into the bucket."""
    allowed = plan_accounts(plan) | set(basis.kept)
    foreign = sorted(set(basis.accounts) - allowed)
    if not foreign:
        return []
    return [
        f"it lets log delivery write for {', '.join(foreign)}, which is not one of the plan's accounts "
        "(nor one the policy already listed)"
    ]


def _refuse_new_kept(merged: op.OrgMerge, basis: OrgKeyBasis, what: str) -> None:
    """At apply: an account the plan only keeps (it was in the policy when planned) must still be there;
    the plan never adds it (StaleChange otherwise: nothing is sent)."""
    added = sorted(set(merged.added) & set(basis.kept))
    if added:
        raise StaleChange(
            f"{what}: the plan would add {', '.join(added)}, which it only keeps (the policy listed it when "
            "the plan was made, and does not now). Nothing was sent for this change.",
            hint="Make the plan again and review the new preview.",
        )


class _OrgPolicyExecutor(Executor):
    """What the two org policy kinds share: the live policy merged with the basis' accounts, compared with
    the previewed document, and written only when it changes (within the kind's size limit)."""

    limit: ClassVar[int]
    basis_class: ClassVar[type[OrgKeyBasis]]

    def _merge(self, session: AwsSession, change: Change) -> op.OrgMerge:
        raise NotImplementedError

    def _what(self, change: Change) -> str:
        raise NotImplementedError

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not self._merge(session, change).changed

    def checked(self, session: AwsSession, change: Change) -> op.OrgMerge:
        merged = self._merge(session, change)
        if merged.changed:
            what = self._what(change)
            _refuse_new_kept(merged, self.basis_class.model_validate(change.basis), what)
            self.expect(change, what, merged.policy, json.loads(change.params["Policy"]))
        return merged

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merged = self.checked(session, change)
        if not merged.changed:
            return {"added": []}
        size = send_policy(self, session, change, merged, self.limit, self._what(change))
        return {"accounts_added": merged.added, "bytes": size}


class PutOrgBucketPolicyExecutor(_OrgPolicyExecutor):
    """The central bucket's policy: every statement kept, the org statements rewritten for the basis'
    accounts and folders (a superset of what they named before)."""

    kind = "s3.put-org-bucket-policy"
    service, operation = "s3", "PutBucketPolicy"
    Params, Basis = BucketPolicyParams, OrgBucketBasis
    limit, basis_class = bp.BUCKET_POLICY_LIMIT, OrgBucketBasis

    def details(self, change: Change) -> list[str]:
        basis = OrgBucketBasis.model_validate(change.basis)
        shown = ", ".join(basis.accounts)  # every one: an account granted here is never hidden
        return [
            f"lets {bp.LOG_DELIVERY_SERVICE} write for {len(basis.accounts)} account(s) ({shown}) below "
            "AWSLogs/ACCOUNT/; the bucket's other statements are kept as they are now"
        ]

    @staticmethod
    def _template(change: Change) -> list[bp.Statement]:
        basis = OrgBucketBasis.model_validate(change.basis)
        return op.org_bucket_statements(
            change.params["Bucket"],
            basis.accounts,
            prefixes=basis.prefixes,
            partition=partition_of(change.region),
        )

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan)
        problems += _account_problems(OrgBucketBasis.model_validate(change.basis), plan)
        try:
            template = self._template(change)
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        doc, bad = bucket_document(change, plan, lambda: op.merge_org_statements(None, template).policy)
        problems += bad
        if doc is None:
            return problems
        return problems + _org_problems(doc, template, "bucket policy")

    def _merge(self, session: AwsSession, change: Change) -> op.OrgMerge:
        basis = OrgBucketBasis.model_validate(change.basis)
        return op.bucket_merge(
            _get_policy(session, change),
            change.params["Bucket"],
            basis.accounts,
            prefixes=basis.prefixes,
            partition=partition_of(change.region),
        )

    def _what(self, change: Change) -> str:
        return f"bucket policy of {change.params['Bucket']}"


class PutOrgKeyPolicyExecutor(_OrgPolicyExecutor):
    """The central bucket's KMS key policy: the org statements rewritten for the basis' accounts."""

    kind = "kms.put-org-key-policy"
    service, operation = "kms", "PutKeyPolicy"
    Params, Basis = KeyPolicyParams, OrgKeyBasis
    limit, basis_class = bp.KEY_POLICY_LIMIT, OrgKeyBasis

    def details(self, change: Change) -> list[str]:
        n = len(OrgKeyBasis.model_validate(change.basis).accounts)
        return [
            f"lets {bp.LOG_DELIVERY_SERVICE} encrypt with the key for {n} account(s); other statements kept"
        ]

    @staticmethod
    def _template(change: Change) -> list[bp.Statement]:
        accounts = OrgKeyBasis.model_validate(change.basis).accounts
        return op.org_key_statements(accounts, partition=partition_of(change.region))

    def check(self, change: Change, plan: Plan) -> list[str]:
        key = change.params["KeyId"]
        problems = [] if change.target == key else [f"its target {change.target!r} is not the key it changes"]
        wrong = key_arn_problem(key, region=change.region, account=plan.account_of(change))
        if wrong:
            return [*problems, wrong]
        problems += _account_problems(OrgKeyBasis.model_validate(change.basis), plan)
        try:
            template = self._template(change)
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        doc, bad = _document(change.params["Policy"], "key policy")
        if doc is None:
            return problems + bad
        if bp.policy_size(doc) > bp.KEY_POLICY_LIMIT:
            problems.append(f"its key policy is over AWS's {bp.KEY_POLICY_LIMIT} byte limit")
        return problems + _org_problems(doc, template, "key policy")

    def _merge(self, session: AwsSession, change: Change) -> op.OrgMerge:
        kms = session.client("kms", change.region)
        text = kms.get_key_policy(KeyId=change.params["KeyId"], PolicyName="default")["Policy"]
        accounts = OrgKeyBasis.model_validate(change.basis).accounts
        return op.key_merge(bp.parse_policy(text), accounts, partition=partition_of(change.region))

    def _what(self, change: Change) -> str:
        return f"key policy of {change.params['KeyId']}"
