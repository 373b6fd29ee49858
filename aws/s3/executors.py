"""Executors of the bucket Changes: create a bucket, default encryption, public-access block, lifecycle,
and the tags of a bucket the plan creates (`s3.tag-bucket`, merged with the bucket's own at apply time).

Each executor declares its kind's parameter schema (`Params`, and the `Basis` a document is derived
from), checks a Change against its plan without AWS (`check`), says whether AWS already has it
(`satisfied`, read calls only) and applies it idempotently. One that writes a derived document (the
encryption rule, the lifecycle configuration) derives it again from the current state at apply time and
refuses the change (`StaleChange`) when the result is not the previewed one, or when it would replace
the owner's own settings and the change is not the destructive kind (`Replace...Executor`).

The helpers the policy executors (`aws.s3.policy_executors`) share are here: `OwnedBucket`,
`PrefixesBasis`, `bucket_problems` (name, target and owner of a bucket change), `created_here` (the plan
creates the bucket) and `expected_owner`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from aws.errors import ValidationFailed, error_code
from aws.limits import MAX_LIFECYCLE_DAYS
from aws.names import is_account_regional, s3_arn, validate_bucket_name
from aws.permissions import declare
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.s3.kms import resolve_key
from aws.s3.settings import (
    LIFECYCLE_ID_PREFIX,
    LifecycleMerge,
    describe_encryption,
    encryption_matches,
    encryption_rule,
    lifecycle_rules,
    merge_lifecycle_rules,
    rule_grants,
    rule_prefix,
)
from aws.s3.state import bucket_exists, in_own_namespace, read_if_exists
from aws.s3.strategy import key_arn_problem
from aws.session import AwsSession
from aws.tags import MAX_TAGS, TAG_BUCKET, has_tag_keys, merge_tags, planned_tag_problems, tag_problems

PERMISSIONS = declare(
    __name__,
    read=[
        "s3:GetBucketEncryption",
        "s3:GetPublicAccessBlock",
        "s3:GetBucketLifecycleConfiguration",
        "s3:GetBucketTagging",
    ],
    apply=[
        "s3:CreateBucket",
        "s3:PutBucketEncryption",
        "s3:PutPublicAccessBlock",
        "s3:PutBucketLifecycleConfiguration",
        "s3:PutBucketTagging",
    ],
)


def expected_owner(session: AwsSession, change: Change) -> str:
    """The account the change's bucket must belong to: its ExpectedBucketOwner, else the change's (or the
    session's) account."""
    return str(change.params.get("ExpectedBucketOwner") or change.account or session.identity().account)


# -- parameter schemas -----------------------------------------------------------------------------


class _LocationConfig(Params):
    LocationConstraint: str


class CreateBucketParams(Params):
    Bucket: str
    CreateBucketConfiguration: _LocationConfig | None = None
    BucketNamespace: Literal["account-regional"] | None = None


class OwnedBucket(Params):
    Bucket: str
    ExpectedBucketOwner: str


class PrefixesBasis(Params):
    prefixes: list[str] = Field(default_factory=list, description="Log prefixes (folders) of the bucket")


class LifecycleBasis(PrefixesBasis):
    days: int = Field(ge=1, le=MAX_LIFECYCLE_DAYS)


class _EncryptionDefault(Params):
    SSEAlgorithm: Literal["AES256", "aws:kms"]
    KMSMasterKeyID: str | None = None


class _EncryptionRule(Params):
    ApplyServerSideEncryptionByDefault: _EncryptionDefault
    BucketKeyEnabled: bool | None = None
    BlockedEncryptionTypes: dict[str, Any] | None = None


class _EncryptionConfig(Params):
    Rules: list[_EncryptionRule] = Field(min_length=1, max_length=1)


class EncryptionParams(OwnedBucket):
    ServerSideEncryptionConfiguration: _EncryptionConfig


class _AllBlocked(Params):
    BlockPublicAcls: Literal[True]
    IgnorePublicAcls: Literal[True]
    BlockPublicPolicy: Literal[True]
    RestrictPublicBuckets: Literal[True]


class PublicAccessBlockParams(OwnedBucket):
    PublicAccessBlockConfiguration: _AllBlocked


class _LifecycleConfig(Params):
    Rules: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class LifecycleParams(OwnedBucket):
    LifecycleConfiguration: _LifecycleConfig
    TransitionDefaultMinimumObjectSize: (
        Literal["varies_by_storage_class", "all_storage_classes_128K"] | None
    ) = None


# -- shared checks ---------------------------------------------------------------------------------


def bucket_problems(change: Change, plan: Plan, *, owned: bool = True) -> list[str]:
    """The bucket is a valid name, the change's target is its ARN, and it is the change's account's."""
    name = str(change.params["Bucket"])
    account = plan.account_of(change)
    problems = validate_bucket_name(name, account=account, region=change.region)
    arn = s3_arn(name, partition=plan.partition)
    if change.target != arn:
        problems.append(f"its target {change.target!r} is not the bucket it changes ({arn})")
    if owned and change.params.get("ExpectedBucketOwner") != account:
        problems.append(
            f"ExpectedBucketOwner {change.params.get('ExpectedBucketOwner')!r} is not the change's account {account}"
        )
    return problems


def created_here(change: Change, plan: Plan) -> bool:
    """Whether an earlier change of the plan creates the change's bucket (so it starts out empty)."""
    for other in plan.changes:
        if other is change:
            return False
        if other.kind == CreateBucketExecutor.kind and other.params.get("Bucket") == change.params["Bucket"]:
            return True
    return False


# -- executors -------------------------------------------------------------------------------------


class CreateBucketExecutor(Executor):
    kind = "s3.create-bucket"
    service, operation = "s3", "CreateBucket"
    Params = CreateBucketParams

    def details(self, change: Change) -> list[str]:
        namespace = " (account-regional namespace)" if change.params.get("BucketNamespace") else ""
        return [f"creates bucket {change.params['Bucket']}{namespace}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan, owned=False)
        name, config = change.params["Bucket"], change.params.get("CreateBucketConfiguration")
        location = (config or {}).get("LocationConstraint")
        if change.region == "us-east-1" and location:
            problems.append("a bucket in us-east-1 is created without a LocationConstraint")
        elif change.region != "us-east-1" and location != change.region:
            problems.append(f"its LocationConstraint {location!r} is not the change's region {change.region}")
        if bool(change.params.get("BucketNamespace")) != is_account_regional(name):
            problems.append(
                "BucketNamespace account-regional goes with a name ending -ACCOUNT-REGION-an, and only then"
            )
        return problems

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return bucket_exists(session, change.params["Bucket"], change.region, expected_owner(session, change))

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        name = change.params["Bucket"]
        try:
            response = self.call(session, change)
        except ClientError as err:
            code = error_code(err)
            account = expected_owner(session, change)
            if code == "BucketAlreadyOwnedByYou":
                bucket_exists(session, name, change.region, account)  # checks the region
                return {"bucket": name, "reused": True}
            if code == "BucketAlreadyExists" and in_own_namespace(name, account):
                # Nobody else can take a name in this account's namespace: the bucket is ours.
                if bucket_exists(session, name, change.region, account):
                    return {"bucket": name, "reused": True}
                raise
            if code == "BucketAlreadyExists":
                raise ValidationFailed(
                    f"The bucket name {name!r} is already used by another AWS account (bucket names are global). "
                    "Nothing was created; plan again with another name."
                ) from err
            raise
        return {"bucket": name, "location": response.get("Location", "")}


def _current_encryption(session: AwsSession, change: Change) -> dict[str, Any] | None:
    s3 = session.client("s3", change.region)
    got = read_if_exists(
        s3.get_bucket_encryption,
        ["ServerSideEncryptionConfigurationNotFoundError"],
        Bucket=change.params["Bucket"],
        ExpectedBucketOwner=expected_owner(session, change),
    )
    rules = (got or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    return dict(rules[0]) if rules else None


class PutEncryptionExecutor(Executor):
    """Default encryption where the bucket has none of its own (new buckets). The rule is derived again
    from the key and the current rule (settings it does not choose are kept) before it is sent."""

    kind = "s3.put-encryption"
    service, operation = "s3", "PutBucketEncryption"
    Params = EncryptionParams

    def details(self, change: Change) -> list[str]:
        rule = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        return [f"default encryption of {change.params['Bucket']}: {describe_encryption(rule)}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan)
        rule = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule["ApplyServerSideEncryptionByDefault"]
        key = default.get("KMSMasterKeyID") or ""
        if default["SSEAlgorithm"] == "aws:kms":
            wrong = key_arn_problem(key, region=change.region, account=plan.account_of(change))
            if wrong:
                problems.append(wrong)
        elif key:
            problems.append("SSE-S3 (AES256) takes no KMS key")
        if rule != encryption_rule(key, rule):
            problems.append(
                "its encryption rule is not one flowlogs writes (SSE-S3, or SSE-KMS by key ARN with a Bucket Key)"
            )
        return problems

    @staticmethod
    def _wanted(change: Change, current: Mapping[str, Any] | None) -> dict[str, Any]:
        key = change.params["ServerSideEncryptionConfiguration"]["Rules"][0][
            "ApplyServerSideEncryptionByDefault"
        ]
        return encryption_rule(str(key.get("KMSMasterKeyID") or ""), current)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        current = _current_encryption(session, change)
        return encryption_matches(current, self._wanted(change, current))

    def checked(self, session: AwsSession, change: Change) -> None:
        current = _current_encryption(session, change)
        wanted = self._wanted(change, current)
        planned = change.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.expect(change, f"default encryption of {change.params['Bucket']}", wanted, planned)
        if type(self).destructive or not current or encryption_matches(current, wanted):
            return
        default = current.get("ApplyServerSideEncryptionByDefault", {})
        key = str(wanted["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID") or "")
        if default == {"SSEAlgorithm": "AES256"} and not current.get("BucketKeyEnabled"):
            return  # S3's own default (every new bucket has it), not a choice of the bucket's owner
        existing = str(default.get("KMSMasterKeyID") or "")
        if key and existing and resolve_key(session, existing, change.region) == key:
            return  # the same key, named by its ARN now
        raise StaleChange(
            f"Setting the default encryption of {change.params['Bucket']} would now replace its own "
            f"({describe_encryption(current)}): that is destructive, and this change is not. Nothing was sent.",
            hint="Make the plan again and confirm the replacement if you want it.",
        )

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.checked(session, change)
        self.call(session, change)
        return {}


class ReplaceEncryptionExecutor(PutEncryptionExecutor):
    """The same call over a bucket's own default encryption (destructive: confirmed by the user)."""

    kind = "s3.replace-encryption"
    destructive = True


class PutPublicAccessBlockExecutor(Executor):
    kind = "s3.put-public-access-block"
    service, operation = "s3", "PutPublicAccessBlock"
    Params = PublicAccessBlockParams

    def details(self, change: Change) -> list[str]:
        return [f"blocks every kind of public access to {change.params['Bucket']}"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        return bucket_problems(change, plan)

    @staticmethod
    def current(session: AwsSession, change: Change) -> dict[str, Any]:
        """The bucket's public access block now ({} when it has none)."""
        got = read_if_exists(
            session.client("s3", change.region).get_public_access_block,
            ["NoSuchPublicAccessBlockConfiguration"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=expected_owner(session, change),
        )
        return dict((got or {}).get("PublicAccessBlockConfiguration", {}))

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        current = self.current(session, change)
        wanted = change.params["PublicAccessBlockConfiguration"]
        return all(current.get(k) == v for k, v in wanted.items())

    def checked(self, session: AwsSession, change: Change) -> None:
        if type(self).destructive:
            return
        off = [k for k, v in self.current(session, change).items() if v is False]
        if off:
            raise StaleChange(
                f"Blocking public access to {change.params['Bucket']} would now turn on {', '.join(off)}, "
                "which the bucket's owner turned off: that is destructive, and this change is not. Nothing was sent.",
                hint="Make the plan again and confirm the replacement if you want it.",
            )

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        self.checked(session, change)
        self.call(session, change)
        return {}


class ReplacePublicAccessBlockExecutor(PutPublicAccessBlockExecutor):
    """Turns on blocks that are off now, or stops public access a bucket policy grants (destructive)."""

    kind = "s3.replace-public-access-block"
    destructive = True


def _ours_in(rules: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rules if str(r.get("ID", "")).startswith(LIFECYCLE_ID_PREFIX)]


class PutLifecycleExecutor(Executor):
    """Derives the lifecycle configuration at apply time (the current rules plus the expiry rules of the
    basis) and sends it only when it is the previewed one."""

    kind = "s3.put-lifecycle"
    service, operation = "s3", "PutBucketLifecycleConfiguration"
    Params, Basis = LifecycleParams, LifecycleBasis

    def details(self, change: Change) -> list[str]:
        basis = LifecycleBasis.model_validate(change.basis)
        where = ", ".join(f"{p}/AWSLogs/" for p in basis.prefixes) or "AWSLogs/"
        return [f"deletes log files below {where} {basis.days} days after delivery; other rules are kept"]

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        ours = _ours_in((params.get("LifecycleConfiguration") or {}).get("Rules") or [])
        if not ours:
            raise ValidationFailed("its lifecycle configuration has no expiry rule of flowlogs")
        prefixes = [str(rule_prefix(r) or "").removesuffix("AWSLogs/").strip("/") for r in ours]
        return {"days": ours[0].get("Expiration", {}).get("Days", 0), "prefixes": [p for p in prefixes if p]}

    @staticmethod
    def _template(change: Change) -> list[dict[str, Any]]:
        basis = LifecycleBasis.model_validate(change.basis)
        return lifecycle_rules(basis.days, basis.prefixes)

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan)
        try:
            template = self._template(change)
        except ValidationFailed as err:
            return [*problems, f"basis: {err.message}"]
        rules = change.params["LifecycleConfiguration"]["Rules"]
        if created_here(change, plan) and rules != merge_lifecycle_rules(None, template).rules:
            problems.append(
                "the bucket is created by this plan, so its lifecycle can only be the expiry rules"
            )
        problems += [
            f"its lifecycle rule {r.get('ID')!r} is not one flowlogs writes"
            for r in _ours_in(rules)
            if r not in template
        ]
        problems += [
            f"its lifecycle configuration lacks the rule {w['ID']!r} the change exists to add"
            for w in template
            if not any(rule_grants(r, w) for r in rules)
        ]
        return problems

    def _current(self, session: AwsSession, change: Change) -> dict[str, Any]:
        s3 = session.client("s3", change.region)
        got = read_if_exists(
            s3.get_bucket_lifecycle_configuration,
            ["NoSuchLifecycleConfiguration"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=expected_owner(session, change),
        )
        return got or {}

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return not merge_lifecycle_rules(
            self._current(session, change).get("Rules"), self._template(change)
        ).changed

    def checked(self, session: AwsSession, change: Change) -> LifecycleMerge:
        current = self._current(session, change)
        merge = merge_lifecycle_rules(current.get("Rules"), self._template(change))
        if merge.changed:
            params = {**change.params, "LifecycleConfiguration": {"Rules": merge.rules}}
            params.update({k: v for k, v in current.items() if k != "Rules"})
            self.expect(
                change, f"lifecycle configuration of {change.params['Bucket']}", params, change.params
            )
        if merge.replaced and not type(self).destructive:
            raise StaleChange(
                f"The lifecycle change of {change.params['Bucket']} would now replace the settings of rule(s) "
                f"{', '.join(merge.replaced)}: that is destructive, and this change is not. Nothing was sent.",
                hint="Make the plan again and confirm the replacement if you want it.",
            )
        return merge

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        merge = self.checked(session, change)
        if not merge.changed:
            return {"added": []}
        self.call(session, change)
        return {"added": merge.added, "replaced": merge.replaced}


class ReplaceLifecycleExecutor(PutLifecycleExecutor):
    """The same call when it changes the settings of an earlier expiry rule of ours (destructive)."""

    kind = "s3.replace-lifecycle"
    destructive = True


# -- tags (aws.tags) -----------------------------------------------------------------------------------


class _Tag(Params):
    Key: str
    Value: str


class _TagSet(Params):
    TagSet: list[_Tag] = Field(min_length=1, max_length=MAX_TAGS)


class BucketTaggingParams(OwnedBucket):
    Tagging: _TagSet


class TagBucketExecutor(Executor):
    """Tags a bucket the plan creates as flowlogs' (`managed-by`, `flowlogs-plan`). PutBucketTagging
    replaces the whole tag set, so the planned tags are merged with the bucket's current ones at apply time
    (GetBucketTagging): every current tag is sent as it is, and a key the bucket already has keeps its
    value. Satisfied once the bucket has every planned key (whatever the plan id): see aws.tags."""

    kind = TAG_BUCKET
    service, operation = "s3", "PutBucketTagging"
    Params = BucketTaggingParams

    def details(self, change: Change) -> list[str]:
        tags = ", ".join(f"{t['Key']}={t['Value']}" for t in change.params["Tagging"]["TagSet"])
        return [f"tags {change.params['Bucket']} {tags}; every tag it already has is kept as it is"]

    def check(self, change: Change, plan: Plan) -> list[str]:
        problems = bucket_problems(change, plan)
        if not created_here(change, plan):
            problems.append("flowlogs only tags a bucket that an earlier change of the plan creates")
        return problems + planned_tag_problems(change.params["Tagging"]["TagSet"], plan)

    def _current(self, session: AwsSession, change: Change) -> list[dict[str, str]]:
        got = read_if_exists(
            session.client("s3", change.region).get_bucket_tagging,
            ["NoSuchTagSet"],
            Bucket=change.params["Bucket"],
            ExpectedBucketOwner=expected_owner(session, change),
        )
        return list((got or {}).get("TagSet") or [])

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        return has_tag_keys(self._current(session, change), change.params["Tagging"]["TagSet"])

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        name, current = change.params["Bucket"], self._current(session, change)
        merged = merge_tags(current, change.params["Tagging"]["TagSet"])
        added = [t["Key"] for t in merged[len(current) :]]
        if not added:
            return {"added": []}
        problems = tag_problems(merged)
        if problems:
            raise ValidationFailed(
                f"Tagging bucket {name} would give it a tag set AWS refuses ({'; '.join(problems)}). "
                "PutBucketTagging replaces every tag, so nothing was sent: its tags are as they were.",
                hint=f"Free a place for {', '.join(added)} (or tag the bucket yourself) and apply again.",
            )
        self.call(
            session, change.model_copy(update={"params": {**change.params, "Tagging": {"TagSet": merged}}})
        )
        return {"added": added, "kept": len(current)}
