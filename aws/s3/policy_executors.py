"""Executors of the policy Changes: log delivery's statements in a bucket policy and in a KMS key policy.

Both derive the policy at apply time (the current policy merged with the delivery statements, see
`aws.s3.bucket_policy`: every existing statement kept) and send it only when it is the previewed one, so
a concurrent edit makes the change stale (`StaleChange`) instead of being overwritten. `check` refuses,
without AWS, a planned policy that is not JSON, is over AWS's size limit, has a statement of ours (by
Sid) that the engine does not write, or lacks the statement the change exists to add; a bucket the plan
creates may only get the delivery statements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from aws.errors import ValidationFailed
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan
from aws.s3 import bucket_policy as bp
from aws.s3 import org_policy as op
from aws.s3.executors import OwnedBucket, PrefixesBasis, bucket_problems, created_here, expected_owner
from aws.s3.state import read_if_exists
from aws.s3.strategy import key_arn_problem
from aws.session import AwsSession, partition_of

PERMISSIONS = declare(
    __name__,
    read=["s3:GetBucketPolicy", "kms:GetKeyPolicy"],
    apply=["s3:PutBucketPolicy", "kms:PutKeyPolicy"],
)


class BucketPolicyParams(OwnedBucket):
    Policy: str


class KeyPolicyParams(Params):
    KeyId: str
    PolicyName: Literal["default"]
    Policy: str


def _document(text: str, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        doc = json.loads(text)
    except ValueError:
        return None, [f"its {what} is not JSON"]
    if not isinstance(doc, dict):
        return None, [f"its {what} is not a JSON object"]
    return doc, []


def bucket_document(
    change: Change, plan: Plan, created: Callable[[], Mapping[str, Any]]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The bucket policy document a change would write, and what is wrong with it on its own: not a JSON
    object, over S3's size limit, or (for a bucket the plan creates) anything but `created()`, the
    delivery statements alone. The one-account and the org kinds check their documents this way."""
    doc, bad = _document(change.params["Policy"], "bucket policy")
    if doc is None:
        return None, bad
    problems = []
    if bp.policy_size(doc) > bp.BUCKET_POLICY_LIMIT:
        problems.append(f"its bucket policy is over AWS's {bp.BUCKET_POLICY_LIMIT} byte limit")
    if created_here(change, plan) and doc != created():
        problems.append(
            "the bucket is created by this plan, so its policy can only be the delivery statements"
        )
    return doc, problems


def _not_engine_statements(
    doc: Mapping[str, Any],
    template: Sequence[Mapping[str, Any]],
    what: str,
    org_form: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Our one-account statements (by Sid) in a planned policy must be the engine's, and the engine's must
    be granted (by them, or by org statements that already grant `org_form`, the same access). The org
    statements of a plan across accounts (`aws.s3.org_policy`) on the same bucket or key are kept as the
    policy has them: apply derives the document from the live policy again and refuses any other one."""
    problems = [
        f"its {what} has a statement {st.get('Sid')!r} that is not one flowlogs writes"
        for st in bp.ours(doc)
        if not op.is_org_statement(st)
        and not any(bp.equivalent({**st, "Sid": t.get("Sid")}, t) for t in template)
    ]
    if bp.missing(doc, org_form):
        problems += [
            f"its {what} lacks the statement {w.get('Sid')!r} that the change exists to add"
            for w in bp.missing(doc, template)
        ]
    return problems


def _get_policy(session: AwsSession, change: Change) -> dict[str, Any] | None:
    s3 = session.client("s3", change.region)
    got = read_if_exists(
        s3.get_bucket_policy,
        ["NoSuchBucketPolicy"],
        Bucket=change.params["Bucket"],
        ExpectedBucketOwner=expected_owner(session, change),
    )
    return bp.parse_policy((got or {}).get("Policy"))


def _delivery_template(change: Change, account: str) -> list[bp.Statement]:
    return bp.bucket_log_delivery_statements(
        change.params["Bucket"],
        account,
        prefixes=PrefixesBasis.model_validate(change.basis).prefixes,
        partition=partition_of(change.region),
    )


def _org_form(change: Change, account: str) -> list[bp.Statement]:
    """The same access as `_delivery_template`, as org statements of a plan across accounts grant it."""
    return op.bucket_grant_for(
        change.params["Bucket"],
        account,
        prefixes=PrefixesBasis.model_validate(change.basis).prefixes,
        partition=partition_of(change.region),
    )


def _bucket_merge(session: AwsSession, change: Change) -> bp.MergeResult:
    account = expected_owner(session, change)
    return op.merge_one_account(
        _get_policy(session, change), _delivery_template(change, account), _org_form(change, account)
    )


def send_policy(
    executor: Executor, session: AwsSession, change: Change, merged: Any, limit: int, what: str
) -> int:
    """Send the policy derived now (`merged.policy` / `.text`, within AWS's size `limit`) with the
    change's one call, in place of the planned text it equals; returns its size."""
    bp.check_size(merged.policy, limit, what)
    executor.call(session, change.model_copy(update={"params": {**change.params, "Policy": merged.text}}))
    return bp.policy_size(merged.policy)


class PutBucketPolicyExecutor(Executor):
    """Derives the policy at apply time (the current policy plus the delivery statements of the basis'
    prefixes) and sends it only when it is the previewed one (a concurrent edit makes it stale)."""

    kind = "s3.put-bucket-policy"
    service, operation = "s3", "PutBucketPolicy"
    Params, Basis = BucketPolicyParams, PrefixesBasis

    def details(self, change: Change) -> list[str]:
        prefixes = PrefixesBasis.model_validate(change.basis).prefixes
        where = ", ".join(f"{p}/AWSLogs/" for p in prefixes) or "AWSLogs/"
        return [
            f"lets {bp.LOG_DELIVERY_SERVICE} (account {change.params['ExpectedBucketOwner']} only) write "
            f"below {where}; the bucket's other statements are kept as they are now"
        ]

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        doc = bp.parse_policy(str(params.get("Policy", "")))
        write = next((s for s in bp.ours(doc) if s.get("Action") == "s3:PutObject"), None)
        if write is None:
            raise ValidationFailed("its bucket policy has no log delivery statement of flowlogs")
        resources = write.get("Resource")
        prefixes = []
        for resource in resources if isinstance(resources, list) else [resources]:
            key = str(resource).split(":::", 1)[-1].split("/", 1)[-1]  # bucket/PREFIX/AWSLogs/* -> PREFIX/...
            prefix = key.removesuffix("AWSLogs/*").strip("/")
            if prefix:
                prefixes.append(prefix)
        return {"prefixes": prefixes}

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan)
        try:
            template = _delivery_template(change, plan.account_of(change))
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        doc, bad = bucket_document(change, plan, lambda: bp.merge_statements(None, template).policy)
        problems += bad
        if doc is None:
            return problems
        org_form = _org_form(change, plan.account_of(change))
        return problems + _not_engine_statements(doc, template, "bucket policy", org_form)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not _bucket_merge(session, change).changed

    def checked(self, session: AwsSession, change: Change) -> bp.MergeResult:
        merged = _bucket_merge(session, change)
        if merged.changed:
            what = f"bucket policy of {change.params['Bucket']}"
            self.expect(change, what, merged.policy, json.loads(change.params["Policy"]))
        return merged

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merged = self.checked(session, change)
        if not merged.changed:
            return {"added": []}
        what = f"bucket policy of {change.params['Bucket']}"
        size = send_policy(self, session, change, merged, bp.BUCKET_POLICY_LIMIT, what)
        return {"added": [s.get("Sid", "") for s in merged.added], "bytes": size}


class PutKeyPolicyExecutor(Executor):
    kind = "kms.put-key-policy"
    service, operation = "kms", "PutKeyPolicy"
    Params = KeyPolicyParams

    def details(self, change: Change) -> list[str]:
        return [f"lets {bp.LOG_DELIVERY_SERVICE} encrypt with the key; the key's other statements are kept"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        key = change.params["KeyId"]
        problems = [] if change.target == key else [f"its target {change.target!r} is not the key it changes"]
        wrong = key_arn_problem(key, region=change.region, account=plan.account_of(change))
        if wrong:
            return [*problems, wrong]
        doc, bad = _document(change.params["Policy"], "key policy")
        if doc is None:
            return problems + bad
        if bp.policy_size(doc) > bp.KEY_POLICY_LIMIT:
            problems.append(f"its key policy is over AWS's {bp.KEY_POLICY_LIMIT} byte limit")
        account = plan.account_of(change)
        org_form = op.key_grant_for(account, partition=partition_of(change.region))
        return problems + _not_engine_statements(doc, self._template(change, account), "key policy", org_form)

    @staticmethod
    def _template(change: Change, account: str) -> list[bp.Statement]:
        return [bp.key_log_delivery_statement(account, partition=partition_of(change.region))]

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any] | None:
        kms = session.client("kms", change.region)
        text = kms.get_key_policy(KeyId=change.params["KeyId"], PolicyName=change.params["PolicyName"])[
            "Policy"
        ]
        return bp.parse_policy(text)

    def _account(self, session: AwsSession, change: Change) -> str:
        return change.account or session.identity().account

    def _merge(self, session: AwsSession, change: Change) -> bp.MergeResult:
        account = self._account(session, change)
        org_form = op.key_grant_for(account, partition=partition_of(change.region))
        return op.merge_one_account(self._current(session, change), self._template(change, account), org_form)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not self._merge(session, change).changed

    def checked(self, session: AwsSession, change: Change) -> bp.MergeResult:
        merged = self._merge(session, change)
        if merged.changed:
            what = f"key policy of {change.params['KeyId']}"
            self.expect(change, what, merged.policy, json.loads(change.params["Policy"]))
        return merged

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merged = self.checked(session, change)
        if not merged.changed:
            return {"added": []}
        send_policy(
            self, session, change, merged, bp.KEY_POLICY_LIMIT, f"key policy of {change.params['KeyId']}"
        )
        return {"added": [s.get("Sid", "") for s in merged.added]}
