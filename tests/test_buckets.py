"""Bucket naming, strategy comparison, and the bucket Changes (planned and applied under moto)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from aws.audit import AuditLog
from aws.errors import ValidationFailed
from aws.names import (
    account_regional_name,
    expand_template,
    is_account_regional,
    validate_bucket_name,
    validate_template,
)
from aws.plans.change import Plan, apply_plan
from aws.s3 import bucket_policy as bp
from aws.s3.executors import CreateBucketExecutor
from aws.s3.kms import list_customer_managed_keys
from aws.s3.settings import lifecycle_rules, merge_lifecycle_rules
from aws.s3.setup import plan_buckets
from aws.s3.strategy import (
    MANY_VPCS,
    BucketChoice,
    BucketTarget,
    RegionResources,
    bucket_targets,
    compare_strategies,
    key_arn_problem,
    validate_choice,
)
from aws.session import AwsSession, SessionOptions

# -- naming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["abc", "a" * 63, "kentik-flow-logs-prod", "logs.example.com", "1bucket9", "192.168.5", "my-xn--bucket"],
)
def test_valid_names(name: str) -> None:
    assert validate_bucket_name(name) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "Length rule"),
        ("a" * 64, "Length rule"),
        ("my_bucket", "Character rule"),
        ("-bucket", "First-character rule"),
        ("bucket-", "Last-character rule"),
        ("my..bucket", "Adjacent-dots rule"),
        ("192.168.5.4", "IP-address rule"),
        ("xn--bucket", "Reserved-prefix rule: a bucket name must not start with 'xn--'"),
        ("sthree-bucket", "Reserved-prefix rule: a bucket name must not start with 'sthree-'"),
        ("amzn-s3-demo-bucket", "Reserved-prefix rule: a bucket name must not start with 'amzn-s3-demo-'"),
        ("bucket-s3alias", "Reserved-suffix rule: a bucket name must not end with '-s3alias'"),
        ("bucket--ol-s3", "Reserved-suffix rule: a bucket name must not end with '--ol-s3'"),
        ("bucket.mrap", "Reserved-suffix rule: a bucket name must not end with '.mrap'"),
        ("bucket--x-s3", "Reserved-suffix rule: a bucket name must not end with '--x-s3'"),
        ("bucket--table-s3", "Reserved-suffix rule: a bucket name must not end with '--table-s3'"),
    ],
)
def test_each_naming_rule(name: str, rule: str) -> None:
    problems = validate_bucket_name(name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(rule)


def test_several_rules_broken_at_once() -> None:
    problems = validate_bucket_name("My_Bucket-")
    assert [p.split(":")[0] for p in problems] == [
        "Character rule",
        "First-character rule",
        "Last-character rule",
    ]
    assert "'B', 'M', '_'" in problems[0]


def test_expand_template() -> None:
    assert expand_template("logs-{region}", ["us-east-1", "eu-west-1"]) == {
        "us-east-1": "logs-us-east-1",
        "eu-west-1": "logs-eu-west-1",
    }
    assert expand_template("logs-{account}-{region}", ["us-east-1"], account="123456789012") == {
        "us-east-1": "logs-123456789012-us-east-1"
    }
    with pytest.raises(ValidationFailed, match=r"\{base\}"):
        expand_template("{base}-{region}", ["us-east-1"])
    with pytest.raises(ValidationFailed, match="account id"):
        expand_template("logs-{account}", ["us-east-1"])


def test_template_validated_for_every_region_longest_decides() -> None:
    template = "k" * 50 + "-{region}"  # 60 chars in us-east-1, 65 in ap-southeast-2
    assert validate_template(template, ["us-east-1"]) == []
    problems = validate_template(template, ["us-east-1", "ap-southeast-2", "eu-west-1"])
    assert len(problems) == 1
    assert problems[0].startswith("Length rule") and "ap-southeast-2" in problems[0]
    assert "us-east-1" not in problems[0]


def test_template_problem_in_every_region_is_reported_once() -> None:
    problems = validate_template("Logs-{region}", ["us-east-1", "eu-west-1"])
    assert len(problems) == 2  # character rule and first-character rule, each once
    assert all("us-east-1, eu-west-1" in p for p in problems)


# -- strategy --------------------------------------------------------------------------------------


def test_central_recommended_for_few_vpcs_and_cross_region_named() -> None:
    resources = {
        "us-east-1": RegionResources(vpcs=4, firewalls=1),
        "eu-west-1": RegionResources(vpcs=2),
        "us-west-2": RegionResources(vpcs=1),
        "ap-south-1": RegionResources(),  # nothing there
    }
    cmp = compare_strategies(resources, "us-east-1", bucket="logs-{region}")
    assert cmp.recommended == "central"
    assert cmp.central.cross_region == ["eu-west-1", "us-west-2"]
    assert "eu-west-1, us-west-2" in cmp.central.cost and "bills" in cmp.central.cost
    assert "eu-west-1" in cmp.central.residency and "another geography" in cmp.central.residency
    assert [(b.name, b.vpcs, b.firewalls) for b in cmp.central.buckets] == [("logs-us-east-1", 7, 1)]
    assert cmp.central.devices == 1
    assert [b.name for b in cmp.regional.buckets] == ["logs-eu-west-1", "logs-us-east-1", "logs-us-west-2"]
    assert cmp.regional.cross_region == [] and cmp.regional.devices == 3
    assert cmp.reasons == [
        "7 VPC(s) in 3 regions is well below the hundreds where Kentik advises splitting: one bucket and one "
        "Kentik device is simplest to manage.",
        "Trade-off: logs from eu-west-1, us-west-2 cross into us-east-1, and AWS bills that transfer.",
        "Choose regional instead if logs must stay in their region (data residency) or traffic is heavy.",
    ]


def test_regional_recommended_for_hundreds_of_vpcs() -> None:
    resources = {"us-east-1": RegionResources(vpcs=MANY_VPCS - 20), "eu-west-1": RegionResources(vpcs=20)}
    cmp = compare_strategies(resources, "us-east-1")
    assert cmp.recommended == "regional"
    assert "device" in cmp.reasons[0] and str(MANY_VPCS) in cmp.reasons[0]
    assert "hundreds" in cmp.central.rate_limit
    assert cmp.central.max_vpcs_per_bucket == MANY_VPCS and cmp.regional.max_vpcs_per_bucket == MANY_VPCS - 20
    assert [b.name for b in cmp.central.buckets] == [""]  # no name given yet
    fewer = compare_strategies({**resources, "eu-west-1": RegionResources(vpcs=19)}, "us-east-1")
    assert fewer.recommended == "central"


def test_single_region_and_no_resources() -> None:
    one = compare_strategies({"eu-west-1": RegionResources(vpcs=3)}, "us-east-1")
    assert one.recommended == "regional"
    assert one.central.cross_region == ["eu-west-1"]
    same = compare_strategies({"eu-west-1": RegionResources(vpcs=3)}, "eu-west-1")
    assert same.central.cross_region == [] and "same single bucket" in same.reasons[1]
    none = compare_strategies({}, "us-east-1")
    assert none.recommended == "central" and none.regional.buckets == [] and none.central.cross_region == []


# -- choice validation -----------------------------------------------------------------------------

KEY_EU = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
KEY_US = "arn:aws:kms:us-east-1:123456789012:key/66666666-2222-3333-4444-555555555555"


def test_choice_problems() -> None:
    regional = BucketChoice(strategy="regional", bucket="logs", regions=["us-east-1", "eu-west-1"])
    assert validate_choice(regional) == [
        "Regional buckets need one name per region: put {region} in the name (e.g. logs-{region})."
    ]
    assert validate_choice(regional.model_copy(update={"bucket": "logs-{region}"})) == []
    central = BucketChoice(strategy="central", bucket="logs", regions=["us-east-1"])
    assert validate_choice(central) == ["The central strategy needs a region for the bucket."]
    assert validate_choice(central.model_copy(update={"central_region": "mars"})) == [
        "'mars' is not an AWS region name (like us-east-1)."
    ]
    assert validate_choice(central.model_copy(update={"bucket": "ab", "central_region": "us-east-1"})) == [
        "Length rule: a bucket name must be 3 to 63 characters long (this one has 2)."
    ]
    assert validate_choice(regional.model_copy(update={"bucket": "l-{region}", "prefixes": ["AWSLogs"]})) == [
        "Log prefix 'AWSLogs' uses 'AWSLogs', which AWS reserves for the folder it writes below the prefix."
    ]


def test_kms_key_choice_problems() -> None:
    base = BucketChoice(
        strategy="regional", bucket="logs-{region}", regions=["us-east-1", "eu-west-1"], encryption="SSE-KMS"
    )
    assert validate_choice(base) == ["SSE-KMS needs a customer-managed KMS key ARN for each bucket region."]
    one_key = base.model_copy(update={"kms_key_arns": [KEY_EU]})
    assert validate_choice(one_key) == [
        "No KMS key ARN in us-east-1 was given for the bucket there (KMS keys are regional)."
    ]
    assert (
        validate_choice(base.model_copy(update={"kms_key_arns": [KEY_EU, KEY_US]}), account="123456789012")
        == []
    )
    assert validate_choice(one_key, account="210987654321") == [
        f"The KMS key {KEY_EU} belongs to account 123456789012, not 210987654321: its key policy has to be "
        "changed in its own account. Use a key of this account."
    ]


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("alias/aws/s3", "AWS-managed key aws/s3"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/aws/s3", "AWS-managed key aws/s3"),
        ("11111111-2222-3333-4444-555555555555", "is a key id"),
        ("alias/my-key", "is an alias"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/my-key", "is an alias"),
        (KEY_US, "in us-east-1, but the bucket is in eu-west-1"),
    ],
)
def test_key_arn_refused(key: str, words: str) -> None:
    problem = key_arn_problem(key, region="eu-west-1", account="123456789012")
    assert problem is not None and words in problem


def test_key_arn_accepted() -> None:
    assert key_arn_problem(KEY_EU, region="eu-west-1", account="123456789012") is None


def test_bucket_targets() -> None:
    central = BucketChoice(
        strategy="central",
        bucket="logs-{region}",
        regions=["eu-west-1", "us-east-1"],
        central_region="eu-west-1",
    )
    assert bucket_targets(central, "123456789012") == [
        BucketTarget(name="logs-eu-west-1", region="eu-west-1", sources=["eu-west-1", "us-east-1"])
    ]
    regional = BucketChoice(
        strategy="regional",
        bucket="logs-{account}-{region}",
        regions=["us-east-1", "eu-west-1"],
        encryption="SSE-KMS",
        kms_key_arns=[KEY_US, KEY_EU],
    )
    targets = bucket_targets(regional, "123456789012")
    assert [(t.name, t.region, t.sources, t.kms_key_arn) for t in targets] == [
        ("logs-123456789012-eu-west-1", "eu-west-1", ["eu-west-1"], KEY_EU),
        ("logs-123456789012-us-east-1", "us-east-1", ["us-east-1"], KEY_US),
    ]
    assert targets[0].arn == "arn:aws:s3:::logs-123456789012-eu-west-1"
    single = BucketChoice(strategy="regional", bucket="kentik-logs", regions=["eu-west-1"])
    assert [t.name for t in bucket_targets(single, "123456789012")] == ["kentik-logs"]
    with pytest.raises(ValidationFailed, match="cannot be planned") as err:
        bucket_targets(single.model_copy(update={"bucket": "Bad_Name"}), "123456789012")
    assert "Character rule" in err.value.message and "First-character rule" in err.value.message


# -- lifecycle merge -------------------------------------------------------------------------------


def test_lifecycle_merge_keeps_existing_rules() -> None:
    theirs = {
        "ID": "archive",
        "Filter": {"Prefix": "data/"},
        "Status": "Enabled",
        "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
    }
    wanted = lifecycle_rules(90, ["fw"])
    assert [r["Filter"]["Prefix"] for r in wanted] == ["AWSLogs/", "fw/AWSLogs/"]
    merge = merge_lifecycle_rules([theirs], wanted)
    assert (
        merge.rules == [theirs, *wanted] and merge.added == [r["ID"] for r in wanted] and not merge.replaced
    )
    again = merge_lifecycle_rules(merge.rules, wanted)
    assert not again.changed and again.rules == merge.rules
    changed = merge_lifecycle_rules(merge.rules, lifecycle_rules(30, ["fw"]))
    assert changed.replaced == [r["ID"] for r in wanted] and changed.rules[0] == theirs
    assert [r["Expiration"]["Days"] for r in changed.rules[1:]] == [30, 30]


def test_lifecycle_rule_of_the_user_with_same_effect_is_recognised() -> None:
    theirs = {"ID": "mine", "Filter": {"Prefix": "AWSLogs/"}, "Status": "Enabled", "Expiration": {"Days": 90}}
    assert not merge_lifecycle_rules([theirs], lifecycle_rules(90)).changed
    assert merge_lifecycle_rules([{**theirs, "Status": "Disabled"}], lifecycle_rules(90)).added


# -- planning and applying under moto --------------------------------------------------------------


_BOTO: list[boto3.Session] = []


@pytest.fixture
def session(moto: None, audit: AuditLog) -> AwsSession:
    """As conftest's `session`, but sharing one boto3 session (and its loaded service models) across
    this module's tests: creating clients then takes milliseconds instead of ~0.3 s per test."""
    if not _BOTO:
        _BOTO.append(boto3.Session(region_name="us-east-1"))
    return AwsSession(SessionOptions(region="us-east-1"), audit=audit, boto_session=_BOTO[0])


@pytest.fixture
def account(session: AwsSession) -> str:
    return session.identity().account


def central(bucket: str, region: str, **kw: Any) -> BucketChoice:
    return BucketChoice(
        strategy="central", bucket=bucket, regions=["us-east-1", "eu-west-1"], central_region=region, **kw
    )


def by_kind(changes: list) -> dict[str, Any]:
    return {c.kind: c for c in changes}


def record_calls(
    session: AwsSession, region: str, operation: str, service: str = "s3"
) -> list[dict[str, Any]]:
    """Parameters of every `operation` call the session's client for `region` sends."""
    seen: list[dict[str, Any]] = []
    client = session.client(service, region)
    client.meta.events.register(
        f"provide-client-params.{service}.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


def test_create_in_us_east_1_omits_location_constraint(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("kentik-logs-use1", "us-east-1"), account)
    create = by_kind(setup.changes)["s3.create-bucket"]
    assert create.params == {"Bucket": "kentik-logs-use1"}
    assert create.region == "us-east-1" and create.target == "arn:aws:s3:::kentik-logs-use1"
    sent = record_calls(session, "us-east-1", "CreateBucket")
    report = apply_plan(Plan(account=account, changes=setup.changes), session)
    assert report.ok, report.failed
    assert sent == [{"Bucket": "kentik-logs-use1"}]


def test_create_elsewhere_sends_location_constraint(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("kentik-logs-euw1", "eu-west-1"), account)
    create = by_kind(setup.changes)["s3.create-bucket"]
    assert create.params == {
        "Bucket": "kentik-logs-euw1",
        "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
    }
    assert create.region == "eu-west-1"
    sent = record_calls(session, "eu-west-1", "CreateBucket")
    assert apply_plan(Plan(account=account, changes=setup.changes), session).ok
    assert sent == [create.params]
    location = session.client("s3", "eu-west-1").get_bucket_location(Bucket="kentik-logs-euw1")
    assert location["LocationConstraint"] == "eu-west-1"


def test_every_change_depends_on_create(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("kentik-logs-deps", "eu-west-1", lifecycle_days=7), account)
    kinds = [c.kind for c in setup.changes]
    assert kinds == [
        "s3.create-bucket",
        "s3.put-encryption",
        "s3.put-public-access-block",
        "s3.put-bucket-policy",
        "s3.put-lifecycle",
        "s3.tag-bucket",
    ]
    assert all(c.depends_on == ["s3.create-bucket:kentik-logs-deps"] for c in setup.changes[1:])
    assert all(c.group == "bucket" and not c.destructive for c in setup.changes)
    enc = by_kind(setup.changes)["s3.put-encryption"]
    assert enc.params["ServerSideEncryptionConfiguration"] == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    pab = by_kind(setup.changes)["s3.put-public-access-block"]
    assert all(pab.params["PublicAccessBlockConfiguration"].values())


def test_apply_end_to_end_then_rerun_makes_no_mutating_call(session: AwsSession, account: str) -> None:
    choice = BucketChoice(
        strategy="regional",
        bucket="kentik-{account}-{region}",
        regions=["us-east-1", "eu-west-1", "eu-west-1"],
        prefixes=["fw/"],
        lifecycle_days=30,
    )
    setup = plan_buckets(session, choice, account)
    names = [b.name for b in setup.buckets]
    assert names == [f"kentik-{account}-eu-west-1", f"kentik-{account}-us-east-1"]
    plan = Plan(account=account, changes=setup.changes)
    report = apply_plan(plan, session)
    assert report.ok and report.counts() == {"applied": 12}  # 5 changes and the tags, per bucket
    for bucket, region in zip(names, ["eu-west-1", "us-east-1"], strict=True):
        s3 = session.client("s3", region)
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == (
            None if region == "us-east-1" else region
        )
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert bp.missing(policy, bp.bucket_log_delivery_statements(bucket, account, prefixes=["fw"])) == []
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert sorted(r["Filter"]["Prefix"] for r in rules) == ["AWSLogs/", "fw/AWSLogs/"]
    before = session.stats.mutating()
    again = apply_plan(plan, session)
    assert again.counts() == {"satisfied": 12}
    assert session.stats.mutating() == before
    replanned = plan_buckets(session, choice, account)
    assert replanned.changes == [] and replanned.warnings == []
    assert replanned.notes == [
        note
        for bucket, region in zip(names, ["eu-west-1", "us-east-1"], strict=True)
        for note in [
            f"Bucket {bucket} already exists in your account in {region}: it will be reused.",
            f"{bucket} already uses SSE-S3.",
            f"Bucket {bucket} already blocks all public access.",
            f"The bucket policy of {bucket} already lets log delivery write.",
            f"{bucket} already expires log files after 30 days.",
        ]
    ]


def test_planning_works_in_read_only_mode(session: AwsSession, account: str) -> None:
    session.client("s3", "eu-west-1").create_bucket(
        Bucket="kentik-ro", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    session.read_only = True
    setup = plan_buckets(session, central("kentik-ro", "eu-west-1", lifecycle_days=5), account)
    assert [c.kind for c in setup.changes] == [
        "s3.put-encryption",
        "s3.put-public-access-block",
        "s3.put-bucket-policy",
        "s3.put-lifecycle",
    ]
    assert not session.stats.blocked


def test_reuse_own_bucket_checks_region_and_settings(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "eu-west-1")
    s3.create_bucket(Bucket="kentik-mine", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_encryption(
        Bucket="kentik-mine",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    setup = plan_buckets(session, central("kentik-mine", "eu-west-1"), account)
    assert [c.kind for c in setup.changes] == ["s3.put-public-access-block", "s3.put-bucket-policy"]
    assert all(c.depends_on == [] for c in setup.changes)
    assert setup.notes == [
        "Bucket kentik-mine already exists in your account in eu-west-1: it will be reused.",
        "kentik-mine already uses SSE-S3.",
    ]
    # The same bucket planned in another region is an error, naming where it is.
    with pytest.raises(ValidationFailed, match="already exists in eu-west-1, not in us-east-1"):
        plan_buckets(session, central("kentik-mine", "us-east-1"), account)


def test_someone_elses_bucket_is_refused_at_plan_time(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error(
            "head_bucket", service_error_code="403", service_message="Forbidden", http_status_code=403
        )
        with pytest.raises(ValidationFailed) as err:
            plan_buckets(session, central("taken-name", "us-east-1"), account)
    assert "is taken" in err.value.message and "another AWS account" in err.value.message


def test_bucket_already_exists_at_apply_is_refused(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("raced-name", "us-east-1"), account)
    s3 = session.client("s3", "us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        stub.add_client_error(
            "create_bucket",
            service_error_code="BucketAlreadyExists",
            service_message="The requested bucket name is not available.",
            http_status_code=409,
        )
        report = apply_plan(Plan(account=account, changes=setup.changes), session)
    failed = report.failed
    assert failed is not None and failed.change_id == "s3.create-bucket:raced-name"
    assert "already used by another AWS account" in failed.detail
    assert [(r.status, r.blocked_by) for r in report.results[1:]] == [
        ("skipped", "s3.create-bucket:raced-name")
    ] * (len(report.results) - 1)


def test_bucket_already_owned_by_you_at_apply_is_reused(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("raced-mine", "eu-west-1"), account)
    session.client("s3", "eu-west-1").create_bucket(
        Bucket="raced-mine", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    create = setup.changes[0]
    assert CreateBucketExecutor().apply(session, create) == {"bucket": "raced-mine", "reused": True}


def make_key(session: AwsSession, region: str, alias: str = "") -> str:
    kms = session.client("kms", region)
    meta = kms.create_key(Description="logs")["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return str(meta["Arn"])


def test_sse_kms_with_customer_managed_key(session: AwsSession, account: str) -> None:
    key = make_key(session, "eu-west-1", "alias/flowlogs")
    choice = central("kentik-kms", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[key])
    setup = plan_buckets(session, choice, account)
    kinds = [c.kind for c in setup.changes]
    assert kinds[:3] == ["s3.create-bucket", "kms.put-key-policy", "s3.put-encryption"]
    enc = by_kind(setup.changes)["s3.put-encryption"]
    assert enc.params["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"
    ] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }
    assert f"kms.put-key-policy:{key}" in enc.depends_on
    kp = by_kind(setup.changes)["kms.put-key-policy"]
    assert kp.target == key and kp.region == "eu-west-1" and kp.params["PolicyName"] == "default"
    kms = session.client("kms", "eu-west-1")
    original = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    before = session.stats.mutating()
    assert apply_plan(Plan(account=account, changes=setup.changes), session).ok
    assert session.stats.mutating() > before
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert policy["Statement"][: len(original["Statement"])] == original["Statement"]
    assert bp.missing(policy, [bp.key_log_delivery_statement(account)]) == []
    rule = session.client("s3", "eu-west-1").get_bucket_encryption(Bucket="kentik-kms")
    assert (
        rule["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
            "KMSMasterKeyID"
        ]
        == key
    )
    mutating = session.stats.mutating()
    assert apply_plan(Plan(account=account, changes=setup.changes), session).counts() == {
        "satisfied": len(setup.changes)
    }
    assert session.stats.mutating() == mutating


def test_list_customer_managed_keys_leaves_out_aws_managed_and_disabled(session: AwsSession) -> None:
    kms = session.client("kms", "eu-west-1")
    mine = make_key(session, "eu-west-1", "alias/logs")
    plain = make_key(session, "eu-west-1")
    disabled = make_key(session, "eu-west-1")
    kms.disable_key(KeyId=disabled.rsplit("/", 1)[1])
    aws_s3 = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    keys = list_customer_managed_keys(session, "eu-west-1")
    assert [k.arn for k in keys] == [mine, plain]
    assert keys[0].aliases == ("alias/logs",) and keys[0].region == "eu-west-1"
    assert aws_s3 not in [k.arn for k in keys]
    assert list_customer_managed_keys(session, "us-east-1") == []


def test_aws_managed_key_refused(session: AwsSession, account: str) -> None:
    # moto reports aws/s3 as KeyManager CUSTOMER; its alias still gives it away.
    aws_s3 = session.client("kms", "eu-west-1").describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    choice = central("kentik-awskey", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[aws_s3])
    with pytest.raises(ValidationFailed, match="managed by AWS"):
        plan_buckets(session, choice, account)


def test_key_manager_aws_refused(session: AwsSession, account: str) -> None:
    key = make_key(session, "eu-west-1")
    kms = session.client("kms", "eu-west-1")
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    with Stubber(kms) as stub:
        stub.add_response("describe_key", {"KeyMetadata": {**meta, "KeyManager": "AWS"}})
        stub.add_response("list_aliases", {"Aliases": [], "Truncated": False})
        with pytest.raises(ValidationFailed, match="managed by AWS"):
            plan_buckets(
                session,
                central("kentik-awskey2", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[key]),
                account,
            )


def test_missing_key_refused(session: AwsSession, account: str) -> None:
    ghost = f"arn:aws:kms:eu-west-1:{account}:key/11111111-2222-3333-4444-555555555555"
    with pytest.raises(ValidationFailed, match="no KMS key"):
        plan_buckets(
            session, central("kentik-ghost", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[ghost]), account
        )


def test_switching_existing_sse_s3_to_kms_is_destructive(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "eu-west-1")
    s3.create_bucket(Bucket="kentik-switch", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_encryption(
        Bucket="kentik-switch",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    key = make_key(session, "eu-west-1")
    setup = plan_buckets(
        session, central("kentik-switch", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[key]), account
    )
    enc = by_kind(setup.changes)["s3.replace-encryption"]
    assert enc.destructive and "Replaces the bucket's current default encryption (SSE-S3)" in enc.reason
    report = apply_plan(Plan(account=account, changes=setup.changes), session)
    assert [r.status for r in report.results][:2] == ["applied", "refused"]
    rule = s3.get_bucket_encryption(Bucket="kentik-switch")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # not replaced
    assert apply_plan(Plan(account=account, changes=setup.changes), session, confirm_destructive=True).ok


def test_existing_key_id_in_encryption_warns_and_is_renamed_to_arn(session: AwsSession, account: str) -> None:
    key = make_key(session, "eu-west-1")
    key_id = key.rsplit("/", 1)[1]
    s3 = session.client("s3", "eu-west-1")
    s3.create_bucket(Bucket="kentik-keyid", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_encryption(
        Bucket="kentik-keyid",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}
            ]
        },
    )
    setup = plan_buckets(
        session, central("kentik-keyid", "eu-west-1", encryption="SSE-KMS", kms_key_arns=[key]), account
    )
    assert setup.warnings == [
        f"kentik-keyid: the default encryption names its KMS key as {key_id!r} (a key id or alias, not an "
        "ARN): log delivery can fail silently with that."
    ]
    enc = by_kind(setup.changes)["s3.put-encryption"]
    assert not enc.destructive and "named by its ARN" in enc.reason


def test_kms_bucket_switched_to_sse_s3_warns_and_is_destructive(session: AwsSession, account: str) -> None:
    key = make_key(session, "eu-west-1")
    s3 = session.client("s3", "eu-west-1")
    s3.create_bucket(Bucket="kentik-was-kms", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_encryption(
        Bucket="kentik-was-kms",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
            ]
        },
    )
    setup = plan_buckets(session, central("kentik-was-kms", "eu-west-1"), account)
    assert by_kind(setup.changes)["s3.replace-encryption"].destructive
    assert setup.warnings == [
        f"kentik-was-kms uses SSE-KMS with key {key}. To keep it, choose SSE-KMS with that key's ARN (it must "
        "be a customer-managed key) instead of SSE-S3."
    ]


def test_sse_c_bucket_refused(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-ssec")
    s3.put_bucket_policy(
        Bucket="kentik-ssec",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "RequireSSEC",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::kentik-ssec/*",
                        "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "true"}},
                    }
                ],
            }
        ),
    )
    with pytest.raises(ValidationFailed, match="SSE-C") as err:
        plan_buckets(session, central("kentik-ssec", "us-east-1"), account)
    assert "Kentik cannot read" in err.value.message


EXISTING = [
    {
        "Sid": "DenyInsecure",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::kentik-shared", "arn:aws:s3:::kentik-shared/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    {
        "Sid": "Reader",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::kentik-shared/*",
    },
]


def test_existing_bucket_policy_kept_and_concurrent_edit_refused_as_stale(
    session: AwsSession, account: str
) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-shared")
    s3.put_bucket_policy(
        Bucket="kentik-shared", Policy=json.dumps({"Version": "2012-10-17", "Statement": EXISTING})
    )
    setup = plan_buckets(session, central("kentik-shared", "us-east-1"), account)
    put = by_kind(setup.changes)["s3.put-bucket-policy"]
    assert not put.destructive and "keeps the 2 existing" in put.title
    assert json.loads(put.params["Policy"])["Statement"][:2] == EXISTING
    # Someone edits the policy between plan and apply: their statement must survive.
    late = {
        "Sid": "Late",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::kentik-shared",
    }
    s3.put_bucket_policy(
        Bucket="kentik-shared", Policy=json.dumps({"Version": "2012-10-17", "Statement": [*EXISTING, late]})
    )
    report = apply_plan(Plan(account=account, changes=setup.changes), session)
    assert next(r for r in report.results if r.change_id == put.id).refusal == "stale"  # not as previewed
    assert json.loads(s3.get_bucket_policy(Bucket="kentik-shared")["Policy"])["Statement"] == [
        *EXISTING,
        late,
    ]
    again = plan_buckets(session, central("kentik-shared", "us-east-1"), account)  # planned again: both kept
    assert apply_plan(Plan(account=account, changes=again.changes), session).ok
    final = json.loads(s3.get_bucket_policy(Bucket="kentik-shared")["Policy"])["Statement"]
    assert final[:3] == [*EXISTING, late]
    assert [s["Sid"] for s in final[3:]] == [bp.SID_WRITE, bp.SID_ACL_CHECK]


def test_policy_over_20_kb_refused_with_the_figure(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-big")
    existing: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}
    while bp.policy_size(existing) < bp.BUCKET_POLICY_LIMIT - 300:  # fits now; ours (~600 bytes) do not
        i = len(existing["Statement"])
        existing["Statement"].append(
            {
                "Sid": f"S{i}",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::kentik-big/{i:0>200}/*",
            }
        )
    assert bp.policy_size(existing) < bp.BUCKET_POLICY_LIMIT
    s3.put_bucket_policy(Bucket="kentik-big", Policy=json.dumps(existing))
    with pytest.raises(ValidationFailed, match="20,480 bytes") as err:
        plan_buckets(session, central("kentik-big", "us-east-1"), account)
    merged = bp.merge_statements(existing, bp.bucket_log_delivery_statements("kentik-big", account)).policy
    assert f"{bp.policy_size(merged):,} bytes" in err.value.message


def test_acl_condition_on_bucket_owner_enforced_is_not_a_warning(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-acl")
    s3.put_bucket_ownership_controls(
        Bucket="kentik-acl", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    statement = {
        "Sid": "AWSLogDeliveryWrite",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::kentik-acl/AWSLogs/{account}/*",
        "Condition": {
            "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": account}
        },
    }
    s3.put_bucket_policy(
        Bucket="kentik-acl", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    setup = plan_buckets(session, central("kentik-acl", "us-east-1"), account)
    assert setup.warnings == []  # in particular none about the s3:x-amz-acl condition
    # Our statement (without the ACL condition) is still added next to the old one.
    assert len(bp.ours(json.loads(by_kind(setup.changes)["s3.put-bucket-policy"].params["Policy"]))) == 2


def test_public_access_partly_open_is_destructive(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-open")
    s3.put_public_access_block(
        Bucket="kentik-open",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    pab = by_kind(plan_buckets(session, central("kentik-open", "us-east-1"), account).changes)[
        "s3.replace-public-access-block"
    ]
    assert pab.destructive and "BlockPublicPolicy, RestrictPublicBuckets" in pab.reason


def test_lifecycle_merged_with_existing_rules(session: AwsSession, account: str) -> None:
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket="kentik-life")
    theirs = {
        "ID": "archive",
        "Filter": {"Prefix": "data/"},
        "Status": "Enabled",
        "Expiration": {"Days": 365},
    }
    s3.put_bucket_lifecycle_configuration(Bucket="kentik-life", LifecycleConfiguration={"Rules": [theirs]})
    setup = plan_buckets(session, central("kentik-life", "us-east-1", lifecycle_days=14), account)
    life = by_kind(setup.changes)["s3.put-lifecycle"]
    assert not life.destructive and "Cost control" in life.reason and "keeps the 1 existing" in life.title
    assert apply_plan(Plan(account=account, changes=setup.changes), session).ok
    rules = s3.get_bucket_lifecycle_configuration(Bucket="kentik-life")["Rules"]
    assert [r["ID"] for r in rules] == ["archive", "flowlogs-tui-expire-AWSLogs/"]
    assert rules[1]["Expiration"] == {"Days": 14} and rules[1]["Filter"] == {"Prefix": "AWSLogs/"}
    # A later plan with other days replaces our rule only, and says so.
    longer = by_kind(
        plan_buckets(session, central("kentik-life", "us-east-1", lifecycle_days=60), account).changes
    )
    assert longer["s3.replace-lifecycle"].destructive
    assert [r["ID"] for r in longer["s3.replace-lifecycle"].params["LifecycleConfiguration"]["Rules"]] == [
        "archive",
        "flowlogs-tui-expire-AWSLogs/",
    ]


def test_no_lifecycle_by_default(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("kentik-nolife", "us-east-1"), account)
    assert "s3.put-lifecycle" not in by_kind(setup.changes)


# -- the account-regional namespace ----------------------------------------------------------------

ACCT = "123456789012"


def test_account_regional_name_is_prefix_account_region_an() -> None:
    assert account_regional_name("logs", ACCT, "eu-west-1") == f"logs-{ACCT}-eu-west-1-an"


def test_account_regional_name_is_detected() -> None:
    assert is_account_regional(f"logs-{ACCT}-ap-southeast-2-an")


@pytest.mark.parametrize(
    "name", ["logs-an", f"logs-{ACCT}-us-east-1", f"logs-{ACCT}-an", f"{ACCT}-us-east-1-an"]
)
def test_global_names_are_not_account_regional(name: str) -> None:
    assert not is_account_regional(name)


def test_account_regional_name_is_valid() -> None:
    assert validate_bucket_name(f"logs-{ACCT}-us-east-1-an", account=ACCT, region="us-east-1") == []


def test_other_names_ending_in_an_break_the_suffix_rule() -> None:
    [problem] = validate_bucket_name("my-logs-an")
    assert problem.startswith("Account-regional suffix rule")


def test_account_regional_length_counts_the_suffix() -> None:
    name = account_regional_name("p" * 38, ACCT, "ap-southeast-2")  # the suffix takes 31: 69 characters
    [problem] = validate_bucket_name(name)
    assert problem.startswith("Length rule") and "prefix may have at most 32" in problem


def test_account_regional_suffix_of_another_account_is_refused() -> None:
    [problem] = validate_bucket_name("logs-111122223333-us-east-1-an", account=ACCT)
    assert problem.startswith("Account-regional rule") and "111122223333" in problem


def test_account_regional_suffix_must_name_each_buckets_region() -> None:
    [problem] = validate_template(f"logs-{ACCT}-us-east-1-an", ["us-east-1", "eu-west-1"], account=ACCT)
    assert problem.startswith("Account-regional rule") and "names us-east-1" in problem


def regional_ns(bucket: str, **kw: Any) -> BucketChoice:
    return BucketChoice(
        strategy="regional", bucket=bucket, account_regional=True, regions=["us-east-1", "eu-west-1"], **kw
    )


def test_account_regional_choice_builds_one_name_per_region() -> None:
    names = {t.region: t.name for t in bucket_targets(regional_ns("kentik"), ACCT)}
    assert names == {"eu-west-1": f"kentik-{ACCT}-eu-west-1-an", "us-east-1": f"kentik-{ACCT}-us-east-1-an"}


def test_account_regional_central_choice_is_named_after_the_bucket_region() -> None:
    choice = central("kentik", "eu-west-1", account_regional=True)
    assert [t.name for t in bucket_targets(choice, ACCT)] == [f"kentik-{ACCT}-eu-west-1-an"]


def test_account_regional_prefix_with_placeholder_is_refused() -> None:
    problems = validate_choice(regional_ns("kentik-{region}"), account=ACCT)
    assert len(problems) == 1 and "is a prefix" in problems[0]


def test_account_regional_empty_prefix_asks_for_one() -> None:
    assert validate_choice(regional_ns(" "), account=ACCT) == [
        "Enter a bucket name prefix (-ACCOUNT-REGION-an is added to it)."
    ]


def test_account_regional_create_sends_the_namespace(session: AwsSession, account: str) -> None:
    setup = plan_buckets(session, central("kentik-ns", "eu-west-1", account_regional=True), account)
    create = by_kind(setup.changes)["s3.create-bucket"]
    assert create.params == {
        "Bucket": f"kentik-ns-{account}-eu-west-1-an",
        "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
        "BucketNamespace": "account-regional",
    }


def test_account_regional_buckets_are_created_under_the_strict_sandbox(
    session: AwsSession, account: str
) -> None:
    # The sandbox refuses an account-regional name without the header (MissingNamespaceHeader).
    setup = plan_buckets(session, regional_ns("kentik-ns"), account)
    report = apply_plan(Plan(account=account, changes=setup.changes), session)
    assert report.ok, report.failed


def test_typed_account_regional_template_also_sends_the_namespace(session: AwsSession, account: str) -> None:
    choice = central("kentik-typed-{account}-{region}-an", "us-east-1")
    create = by_kind(plan_buckets(session, choice, account).changes)["s3.create-bucket"]
    assert create.params.get("BucketNamespace") == "account-regional"


def test_global_create_sends_no_namespace(session: AwsSession, account: str) -> None:
    create = by_kind(plan_buckets(session, central("kentik-global", "us-east-1"), account).changes)[
        "s3.create-bucket"
    ]
    assert "BucketNamespace" not in create.params


def test_unreadable_account_regional_bucket_is_not_called_someone_elses(
    session: AwsSession, account: str
) -> None:
    s3 = session.client("s3", "us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error(
            "head_bucket", service_error_code="403", service_message="Forbidden", http_status_code=403
        )
        with pytest.raises(ValidationFailed) as err:
            plan_buckets(session, central("kentik-ro", "us-east-1", account_regional=True), account)
    assert "no other account owns it" in err.value.message


def test_bucket_already_exists_for_own_account_regional_name_is_reused(
    session: AwsSession, account: str
) -> None:
    name = f"kentik-raced-{account}-us-east-1-an"
    create = by_kind(
        plan_buckets(session, central("kentik-raced", "us-east-1", account_regional=True), account).changes
    )["s3.create-bucket"]
    s3 = session.client("s3", "us-east-1")
    s3.create_bucket(Bucket=name, BucketNamespace="account-regional")
    with Stubber(s3) as stub:
        stub.add_client_error("create_bucket", service_error_code="BucketAlreadyExists", http_status_code=409)
        stub.add_response("head_bucket", {})
        stub.add_response("get_bucket_location", {})
        assert CreateBucketExecutor().apply(session, create) == {"bucket": name, "reused": True}


def test_cli_account_regional_flag_makes_bucket_a_prefix(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    args = ["plan", "--strategy", "regional", "--account-regional", "--bucket", "kentik-cli"]
    assert main([*args, "--regions", "us-east-1,eu-west-1", "--no-firewalls", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    creates = {c["params"]["Bucket"] for c in plan["changes"] if c["kind"] == "s3.create-bucket"}
    assert creates == {f"kentik-cli-{ACCT}-us-east-1-an", f"kentik-cli-{ACCT}-eu-west-1-an"}


# -- KMS keys whose policy refuses DescribeKey -----------------------------------------------------


def refused_key(session: AwsSession, region: str, account: str) -> str:
    """A key whose key policy denies everyone kms:DescribeKey (moto enforces explicit denies)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["kms:DescribeKey"], "Resource": "*"},
        ],
    }
    meta = session.client("kms", region).create_key(Policy=json.dumps(policy))["KeyMetadata"]
    return str(meta["Arn"])


def test_key_refusing_describe_key_does_not_fail_the_list(session: AwsSession, account: str) -> None:
    usable = make_key(session, "eu-west-1", "alias/logs")
    refused_key(session, "eu-west-1", account)
    keys = list_customer_managed_keys(session, "eu-west-1")
    assert [k.arn for k in keys if k.usable] == [usable]


def test_key_refusing_describe_key_is_listed_unusable_with_the_reason(
    session: AwsSession, account: str
) -> None:
    arn = refused_key(session, "eu-west-1", account)
    [key] = list_customer_managed_keys(session, "eu-west-1")
    assert key.arn == arn and not key.usable
    assert "DescribeKey was refused (AccessDeniedException)" in key.problem


def test_lifecycle_rules_refuse_a_prefix_aws_refuses() -> None:
    with pytest.raises(ValidationFailed, match="AWSLogs"):
        lifecycle_rules(30, ["AWSLogs/x"])
