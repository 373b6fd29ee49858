"""Network Firewall logging: one destination change per UpdateLoggingConfiguration call (under moto made
strict by aws.sandbox.moto_fixes), FLOW+ALERT to S3, other destinations untouched, destructive choices."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.errors import FlowlogsError, ValidationFailed
from aws.logs.firewall import (
    REMOVE_KIND,
    S3_KIND,
    FirewallOptions,
    FirewallTarget,
    assess_firewall,
    firewall_changes,
)
from aws.logs.firewall_executors import S3LogDestinationExecutor
from aws.plans.change import Plan, apply_plan
from aws.session import AwsSession

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "kentik-flow-logs-use1"
OTHER_BUCKET = "security-team-logs"
OPTIONS = FirewallOptions(buckets={REGION: BUCKET}, prefix="firewall-logs/")

CW_TLS = {
    "LogType": "TLS",
    "LogDestinationType": "CloudWatchLogs",
    "LogDestination": {"logGroup": "tls-group"},
}
CW_ALERT = {
    "LogType": "ALERT",
    "LogDestinationType": "CloudWatchLogs",
    "LogDestination": {"logGroup": "alerts"},
}
FH_FLOW = {
    "LogType": "FLOW",
    "LogDestinationType": "KinesisDataFirehose",
    "LogDestination": {"deliveryStream": "s"},
}
OTHER_FLOW = {"LogType": "FLOW", "LogDestinationType": "S3", "LogDestination": {"bucketName": OTHER_BUCKET}}


def s3(log_type: str, bucket: str = BUCKET, prefix: str = "firewall-logs") -> dict[str, Any]:
    dest = {"bucketName": bucket, **({"prefix": prefix} if prefix else {})}
    return {"LogType": log_type, "LogDestinationType": "S3", "LogDestination": dest}


@pytest.fixture
def nfw(moto: None) -> Any:
    """A plain network-firewall client for set-up and inspection; the buckets exist."""
    s3_client = boto3.client("s3", region_name=REGION)
    for bucket in (BUCKET, OTHER_BUCKET):
        s3_client.create_bucket(Bucket=bucket)
    return boto3.client("network-firewall", region_name=REGION)


def make_firewall(
    nfw: Any, name: str = "fw-1", configs: list[dict[str, Any]] | tuple[()] = ()
) -> FirewallTarget:
    arn = nfw.create_firewall(
        FirewallName=name,
        FirewallPolicyArn=f"arn:aws:network-firewall:{REGION}:{ACCOUNT}:firewall-policy/p",
        VpcId="vpc-12345678",
        SubnetMappings=[{"SubnetId": "subnet-12345678"}],
    )["Firewall"]["FirewallArn"]
    for config in configs:  # one change per call, as AWS requires
        current = logging_of(nfw, arn)
        nfw.update_logging_configuration(
            FirewallArn=arn, LoggingConfiguration={"LogDestinationConfigs": [*current, config]}
        )
    described = nfw.describe_logging_configuration(FirewallArn=arn)
    return FirewallTarget(name=name, arn=arn, region=REGION, logging=described.get("LoggingConfiguration"))


def logging_of(nfw: Any, arn: str) -> list[dict[str, Any]]:
    logging = nfw.describe_logging_configuration(FirewallArn=arn).get("LoggingConfiguration") or {}
    return list(logging.get("LogDestinationConfigs") or [])


def updates(session: AwsSession) -> int:
    return session.stats.calls[("network-firewall", "UpdateLoggingConfiguration")]


def by_type(configs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["LogType"]: c for c in configs}


# -- the strict fake itself --------------------------------------------------------------------------------


def test_strict_fake_rejects_two_changes_in_one_call(nfw: Any) -> None:
    target = make_firewall(nfw)
    with pytest.raises(ClientError) as caught:
        nfw.update_logging_configuration(
            FirewallArn=target.arn, LoggingConfiguration={"LogDestinationConfigs": [s3("FLOW"), s3("ALERT")]}
        )
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "multiple log destination configs" in caught.value.response["Error"]["Message"]
    assert logging_of(nfw, target.arn) == []


# -- planning ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/firewall-logs/", "AWSLogs", "AWSLogs/x", "x/AWSLogs/", "a//b", "a b"])
def test_firewall_changes_refuse_a_bad_prefix(prefix: str) -> None:
    target = FirewallTarget(name="fw", arn="arn:aws:network-firewall:us-east-1:1:firewall/fw", region=REGION)
    with pytest.raises(ValidationFailed):
        firewall_changes([target], FirewallOptions(buckets={REGION: BUCKET}, prefix=prefix), ACCOUNT)


def test_plan_one_change_per_missing_type_chained() -> None:
    target = FirewallTarget(name="fw", arn="arn:aws:network-firewall:us-east-1:1:firewall/fw", region=REGION)
    changes = firewall_changes([target], OPTIONS, ACCOUNT)
    assert [c.id.rsplit(":", 1)[1] for c in changes] == ["FLOW", "ALERT"]
    assert all(
        c.kind == S3_KIND and not c.destructive and c.operation == "UpdateLoggingConfiguration"
        for c in changes
    )
    assert changes[1].depends_on == [changes[0].id]
    # Each step's parameters show the whole configuration after that step: one more config each time.
    assert changes[0].params["LoggingConfiguration"]["LogDestinationConfigs"] == [s3("FLOW")]
    assert changes[1].params["LoggingConfiguration"]["LogDestinationConfigs"] == [s3("FLOW"), s3("ALERT")]
    tls = firewall_changes(
        [target],
        FirewallOptions(
            buckets={REGION: BUCKET}, prefix="firewall-logs/", log_types=("TLS", "FLOW", "ALERT")
        ),
        ACCOUNT,
    )
    assert [c.id.rsplit(":", 1)[1] for c in tls] == ["FLOW", "ALERT", "TLS"]


def test_region_without_bucket_is_refused() -> None:
    target = FirewallTarget(
        name="fw", arn="arn:aws:network-firewall:eu-west-1:1:firewall/fw", region="eu-west-1"
    )
    with pytest.raises(ValidationFailed, match="eu-west-1"):
        firewall_changes([target], OPTIONS, ACCOUNT)


def test_assessment_and_conflicts_without_choices() -> None:
    target = FirewallTarget(
        name="fw",
        arn="arn:aws:network-firewall:us-east-1:1:firewall/fw",
        region=REGION,
        logging={"LogDestinationConfigs": [OTHER_FLOW, CW_ALERT, CW_TLS]},
    )
    assessment = assess_firewall(target, OPTIONS)
    assert [(t.log_type, t.status) for t in assessment.types] == [("FLOW", "other-s3"), ("ALERT", "non-s3")]
    assert OTHER_BUCKET in assessment.types[0].note and "alerts" in assessment.types[1].note
    assert not assessment.compliant and len(assessment.conflicts) == 2
    assert firewall_changes([target], OPTIONS, ACCOUNT) == []  # shown, never changed without a choice
    done = target.model_copy(update={"logging": {"LogDestinationConfigs": [s3("FLOW"), s3("ALERT"), CW_TLS]}})
    assert assess_firewall(done, OPTIONS).compliant
    assert firewall_changes([done], OPTIONS, ACCOUNT) == []


# -- applying under the strict fake -----------------------------------------------------------------------------


def test_enable_flow_and_alert_takes_two_calls_and_reapply_is_quiet(session: AwsSession, nfw: Any) -> None:
    targets = [make_firewall(nfw, "fw-1"), make_firewall(nfw, "fw-2")]
    plan = Plan(changes=firewall_changes(targets, OPTIONS, ACCOUNT))
    report = apply_plan(plan, session)
    assert report.ok, report.results
    assert updates(session) == 4
    for target in targets:
        assert by_type(logging_of(nfw, target.arn)) == {"FLOW": s3("FLOW"), "ALERT": s3("ALERT")}
    before = session.stats.mutating()
    assert apply_plan(plan, session).counts() == {"satisfied": 4}
    assert session.stats.mutating() == before


def test_sending_both_at_once_would_fail(session: AwsSession, nfw: Any) -> None:
    """The planned params of the last step hold both configs; sent as is to a fresh firewall they fail."""
    target = make_firewall(nfw)
    last = firewall_changes([target], OPTIONS, ACCOUNT)[-1]
    with pytest.raises(ClientError, match="InvalidRequestException"):
        session.client("network-firewall", REGION).update_logging_configuration(**last.params)


def test_existing_non_s3_destinations_untouched(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw, configs=[CW_TLS])
    report = apply_plan(Plan(changes=firewall_changes([target], OPTIONS, ACCOUNT)), session)
    assert report.ok
    assert by_type(logging_of(nfw, target.arn)) == {"TLS": CW_TLS, "FLOW": s3("FLOW"), "ALERT": s3("ALERT")}


def test_configuration_changed_since_planning_is_refused_as_stale(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw)
    plan = Plan(changes=firewall_changes([target], OPTIONS, ACCOUNT))
    nfw.update_logging_configuration(
        FirewallArn=target.arn, LoggingConfiguration={"LogDestinationConfigs": [CW_TLS]}
    )
    report = apply_plan(plan, session)
    assert [(r.status, r.refusal) for r in report.results] == [("refused", "stale"), ("not-run", "")]
    assert by_type(logging_of(nfw, target.arn)) == {"TLS": CW_TLS}  # their change is kept, nothing sent


def test_other_s3_bucket_repointed_only_when_chosen_and_confirmed(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw, configs=[OTHER_FLOW])
    assert [c.id.rsplit(":", 1)[1] for c in firewall_changes([target], OPTIONS, ACCOUNT)] == ["ALERT"]

    options = OPTIONS.model_copy(update={"repoint_existing": True})
    plan = Plan(changes=firewall_changes([target], options, ACCOUNT))
    assert [(c.id.rsplit(":", 1)[1], c.destructive) for c in plan.changes] == [
        ("FLOW", True),
        ("ALERT", False),
    ]
    refused = apply_plan(plan, session)
    assert [r.status for r in refused.results] == ["refused", "skipped"]
    assert logging_of(nfw, target.arn) == [OTHER_FLOW]

    assert apply_plan(plan, session, confirm_destructive=True).ok
    assert by_type(logging_of(nfw, target.arn)) == {"FLOW": s3("FLOW"), "ALERT": s3("ALERT")}
    assert updates(session) == 2


def test_non_s3_type_switched_only_when_chosen(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw, configs=[CW_ALERT, FH_FLOW, CW_TLS])
    assert firewall_changes([target], OPTIONS, ACCOUNT) == []

    options = OPTIONS.model_copy(update={"replace_non_s3": True})
    plan = Plan(changes=firewall_changes([target], options, ACCOUNT))
    assert [(c.kind, c.id.rsplit(":", 1)[1], c.destructive) for c in plan.changes] == [
        (REMOVE_KIND, "FLOW", True),
        (S3_KIND, "FLOW", False),
        (REMOVE_KIND, "ALERT", True),
        (S3_KIND, "ALERT", False),
    ]
    assert apply_plan(plan, session, confirm_destructive=True).ok
    assert updates(session) == 4  # a destination's type can't change in place: remove, then add
    assert by_type(logging_of(nfw, target.arn)) == {"TLS": CW_TLS, "FLOW": s3("FLOW"), "ALERT": s3("ALERT")}
    before = session.stats.mutating()
    assert apply_plan(plan, session, confirm_destructive=True).counts() == {"satisfied": 4}
    assert session.stats.mutating() == before


def test_add_never_overwrites_a_destination_set_meanwhile(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw)
    [flow, _alert] = firewall_changes([target], OPTIONS, ACCOUNT)
    nfw.update_logging_configuration(
        FirewallArn=target.arn, LoggingConfiguration={"LogDestinationConfigs": [OTHER_FLOW]}
    )
    with pytest.raises(FlowlogsError, match=OTHER_BUCKET):
        S3LogDestinationExecutor().apply(session, flow)
    assert logging_of(nfw, target.arn) == [OTHER_FLOW]
    assert updates(session) == 0


def test_no_prefix_and_tls(session: AwsSession, nfw: Any) -> None:
    target = make_firewall(nfw)
    options = FirewallOptions(buckets={REGION: BUCKET}, log_types=("FLOW", "ALERT", "TLS"))
    assert apply_plan(Plan(changes=firewall_changes([target], options, ACCOUNT)), session).ok
    assert by_type(logging_of(nfw, target.arn)) == {t: s3(t, prefix="") for t in ("FLOW", "ALERT", "TLS")}
