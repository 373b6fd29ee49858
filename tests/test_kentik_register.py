"""The registration engine (aws.kentik.register, aws.kentik.executors): which exports a setup needs, the
changes that make them so, and how those changes check, apply and refuse. Kentik is the local fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aws.coverage import ReadLocation
from aws.errors import ValidationFailed
from aws.kentik.access import KentikCredentials, KentikCredentialsMissing
from aws.kentik.api import KentikClient
from aws.kentik.executors import CreateExport, UpdateExport
from aws.kentik.models import CloudExport, ExportList
from aws.kentik.register import (
    AmbiguousExports,
    ExportTarget,
    Nested,
    Registration,
    deliveries,
    plan_registration,
    registration_plan,
    targets_for,
)
from aws.plans.change import Change, Plan, StaleChange, validate_plan
from aws.sandbox.kentik_fake import KentikFake

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kentik"
REG = Registration.parse(plan_id="11467", role_arn=ROLE)


@pytest.fixture
def fake() -> Iterator[KentikFake]:
    with KentikFake(email="a@example.com", token="t0ken") as running:
        yield running


@pytest.fixture
def client(fake: KentikFake) -> KentikClient:
    return KentikClient(KentikCredentials("a@example.com", "t0ken"), api_url=fake.url, v5_api_url=fake.url)


def flow_log(bucket: str, prefix: str = "") -> Change:
    return Change(
        id=f"ec2.create-flow-logs:vpc-1:{prefix}",
        kind="ec2.create-flow-logs",
        title="flow log",
        reason="test",
        target="arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1",
        region="us-east-1",
        params={"LogDestination": f"arn:aws:s3:::{bucket}/{prefix}" if prefix else f"arn:aws:s3:::{bucket}"},
    )


def firewall_log(bucket: str, prefix: str = "") -> Change:
    destination: dict[str, Any] = {"bucketName": bucket, **({"prefix": prefix} if prefix else {})}
    config = {"LogType": "ALERT", "LogDestinationType": "S3", "LogDestination": destination}
    return Change(
        id="network-firewall.s3-log-destination:fw:ALERT",
        kind="network-firewall.s3-log-destination",
        title="firewall log",
        reason="test",
        target="arn:aws:network-firewall:us-east-1:123456789012:firewall/fw",
        region="us-east-1",
        params={"LoggingConfiguration": {"LogDestinationConfigs": [config]}},
    )


def plan_of(*changes: Change) -> Plan:
    return Plan(account=ACCOUNT, changes=list(changes))


def target(prefix: str = "", **kw: Any) -> ExportTarget:
    return ExportTarget(bucket="logs", prefix=prefix, region="us-east-1", account=ACCOUNT, **kw)


# -- what to register -------------------------------------------------------------------------------
def test_flow_and_firewall_logs_under_one_prefix_share_one_export() -> None:
    delivered = deliveries([plan_of(flow_log("logs"), firewall_log("logs"))])
    [only] = targets_for([ReadLocation(bucket="logs", region="us-east-1")], delivered)
    assert (only.prefix, only.flow, only.firewall) == ("", True, True)


def test_different_prefixes_in_one_bucket_get_one_export_each_and_say_why() -> None:
    delivered = deliveries([plan_of(flow_log("logs", "flow"), firewall_log("logs", "fw"))])
    found = targets_for([ReadLocation(bucket="logs", region="us-east-1")], delivered)
    assert [(t.prefix, t.flow, t.firewall) for t in found] == [("flow", True, False), ("fw", False, True)]
    assert "a Kentik export reads one prefix" in found[0].why


def test_an_existing_buckets_location_is_read_at_its_own_prefix_only() -> None:
    delivered = deliveries([plan_of(flow_log("logs", "other"))])
    location = ReadLocation(bucket="logs", prefix="vpc", kentik=False, region="us-east-1")
    assert [t.prefix for t in targets_for([location], delivered)] == ["vpc"]


def test_deliveries_to_buckets_kentik_does_not_read_are_not_registered() -> None:
    delivered = deliveries([plan_of(flow_log("elsewhere"))])
    assert [t.bucket for t in targets_for([ReadLocation(bucket="logs")], delivered)] == ["logs"]


# -- validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"plan_id": ""}, "no Kentik plan id"),
        ({"role_arn": "arn:aws:iam::12:role/x"}, "not an IAM role ARN"),
        ({"name_template": "{bucket!r}"}, "without formats"),
        ({"name_template": "{nope}"}, "nope"),
        ({"name_template": "{bucket"}, "not valid"),
        ({"nested": Nested(accounts=["12"], suffix="spoke")}, "not account ids: 12"),
        ({"nested": Nested(suffix="arn:aws:iam::1:role/x")}, "not a role name"),
    ],
)
def test_registration_refuses_bad_input(kwargs: dict[str, Any], problem: str) -> None:
    args: dict[str, Any] = {"plan_id": "11467", "role_arn": ROLE, **kwargs}
    with pytest.raises(ValidationFailed, match="Cannot register") as err:
        Registration.parse(**args)
    assert problem in err.value.message


def test_the_name_template_fills_every_field() -> None:
    reg = Registration.parse(plan_id="1", role_arn=ROLE, name_template="{account}-{region}-{bucket}-{prefix}")
    assert reg.name_for(target("fw")) == f"{ACCOUNT}-us-east-1-logs-fw"


def test_a_target_without_a_region_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="region of s3://logs/"):
        plan_registration([], [ExportTarget(bucket="logs")], REG, account=ACCOUNT)


# -- against Kentik's exports ----------------------------------------------------------------------
def seeded(fake: KentikFake, name: str = "portal name", **aws: Any) -> str:
    body = {"iamRoleArn": ROLE, "region": "us-east-1", "bucket": "logs", **aws}
    return str(
        fake.seed(
            {
                "name": name,
                "enabled": True,
                "planId": "11467",
                "cloudProvider": "CLOUD_PROVIDER_AWS",
                "type": "CLOUD_EXPORT_TYPE_KENTIK_MANAGED",
                "aws": body,
            }
        )["id"]
    )


def test_two_differing_exports_of_one_bucket_are_not_guessed_between(fake: KentikFake, client) -> None:
    seeded(fake, "first", iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/a")
    seeded(fake, "second", iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/b")
    with pytest.raises(AmbiguousExports):
        plan_registration(client.list_exports(), [target()], REG, account=ACCOUNT)


def test_absent_fields_compare_as_kentiks_defaults(fake: KentikFake, client) -> None:
    seeded(fake)  # no collect switches: Kentik collects flow logs and not firewall logs
    found = plan_registration(client.list_exports(), [target()], REG, account=ACCOUNT)
    assert (found.changes, len(found.unchanged)) == ([], 1)


def test_a_nested_setup_owns_the_secondary_fields(fake: KentikFake, client) -> None:
    seeded(fake, secondaryAwsAccounts=["210987654321"], secondaryAwsSuffix="spoke")
    reg = Registration.parse(
        plan_id="11467",
        role_arn=ROLE,
        nested=Nested(accounts=["210987654321", "111111111111"], regions=["us-east-1"], suffix="spoke"),
    )
    [change] = plan_registration(client.list_exports(), [target()], reg, account=ACCOUNT).changes
    assert change.params["set"]["aws.secondaryAwsAccounts"] == ["111111111111", "210987654321"]


def test_a_plain_setup_leaves_nested_fields_set_in_the_portal_alone(fake: KentikFake, client) -> None:
    seeded(fake, secondaryAwsAccounts=["210987654321"], secondaryAwsSuffix="spoke")
    found = plan_registration(client.list_exports(), [target()], REG, account=ACCOUNT)
    assert found.changes == []


def test_a_second_prefix_of_one_bucket_gets_a_name_of_its_own(fake: KentikFake, client) -> None:
    plan, _ = registration_plan([], [target(""), target("fw")], REG, account=ACCOUNT)  # validated too
    assert [c.params["export"]["name"] for c in plan.changes] == ["logs", "logs (fw/)"]


def update_plan(fake: KentikFake, client: KentikClient) -> tuple[str, Plan]:
    export_id = seeded(fake, iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/old")
    plan, _ = registration_plan(client.list_exports(), [target()], REG, account=ACCOUNT)
    return export_id, plan


def test_an_update_is_refused_when_the_export_changed_since_the_plan(fake: KentikFake, client) -> None:
    export_id, plan = update_plan(fake, client)
    fake.exports[export_id]["aws"]["iamRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    with pytest.raises(StaleChange, match="changed since the plan"):
        UpdateExport().bind({"kentik": client}).checked(None, plan.changes[0])  # type: ignore[arg-type]


def test_an_update_edited_to_another_export_id_is_refused(fake: KentikFake, client) -> None:
    _, plan = update_plan(fake, client)
    other = seeded(fake, name="fra (portal)", bucket="fra-logs", region="eu-central-1")
    plan.changes[0].params["id"] = other  # the basis copied from it too: only Kentik knows what it reads
    plan.changes[0].basis["was"] = {"aws.bucket": "fra-logs", "aws.region": "eu-central-1"}
    with pytest.raises(StaleChange, match=f"export {other} reads s3://fra-logs/, not s3://logs/"):
        UpdateExport().bind({"kentik": client}).checked(None, plan.changes[0])  # type: ignore[arg-type]
    assert fake.exports[other]["aws"]["bucket"] == "fra-logs"


def test_an_update_is_satisfied_once_applied(fake: KentikFake, client) -> None:
    _, plan = update_plan(fake, client)
    executor = UpdateExport().bind({"kentik": client})
    executor.apply(None, plan.changes[0])  # type: ignore[arg-type]
    assert executor.satisfied(None, plan.changes[0])  # type: ignore[arg-type]


def test_a_create_rerun_after_a_crash_finds_its_export(fake: KentikFake, client) -> None:
    plan, _ = registration_plan([], [target()], REG, account=ACCOUNT)
    executor = CreateExport().bind({"kentik": client})
    executor.apply(None, plan.changes[0])  # type: ignore[arg-type]  # Kentik made it; the answer was lost
    assert executor.satisfied(None, plan.changes[0])  # type: ignore[arg-type]


def test_a_create_is_refused_when_another_export_took_the_bucket(fake: KentikFake, client) -> None:
    plan, _ = registration_plan([], [target()], REG, account=ACCOUNT)
    seeded(fake, iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/other")
    with pytest.raises(StaleChange, match="other settings"):
        CreateExport().bind({"kentik": client}).satisfied(None, plan.changes[0])  # type: ignore[arg-type]


def test_a_kentik_change_without_a_client_needs_credentials() -> None:
    with pytest.raises(KentikCredentialsMissing, match="Kentik credentials"):
        CreateExport().bind({})


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("export", "type"), "CLOUD_EXPORT_TYPE_CUSTOMER_MANAGED", "params.export.type"),
        (("export", "aws", "region"), "eu-west-1", "region 'us-east-1' is not the bucket's region"),
        (("export", "aws", "extra"), True, "is not a parameter"),
        (("export", "aws", "iamRoleArn"), "arn:aws:iam::1:user/x", "is not an IAM role ARN"),
        # values this setup never sends
        (("export", "enabled"), False, "enabled must be True"),
        (("export", "aws", "metadataOnly"), True, "aws.metadataOnly must be False"),
        (("export", "aws", "secondaryAwsAccounts"), ["999999999999"], "need a spoke role name"),
        (("export", "aws", "awsIamRoleArnIsOrg"), True, "need a spoke role name"),
        (("export", "aws", "bucketPrefix"), "/logs/", "without leading or trailing"),
        (("export", "aws", "collectFlowLogs"), False, "neither flow logs nor firewall logs"),
    ],
)
def test_an_edited_create_is_refused_by_plan_validation(
    path: tuple[str, ...], value: Any, problem: str
) -> None:
    plan, _ = registration_plan([], [target()], REG, account=ACCOUNT)
    where = plan.changes[0].params
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    with pytest.raises(ValidationFailed) as err:
        validate_plan(plan)
    assert problem in err.value.message


def _edited(plan: Plan, **aws: Any) -> None:
    plan.changes[0].params["export"]["aws"].update(aws)


OTHER_ROLE = "arn:aws:iam::999999999999:role/attacker"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda p: _edited(p, iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/x"),
            "not the plan's Kentik settings'",
        ),
        (lambda p: p.changes[0].params["export"].update(planId="99"), "planId is '99', not the plan's"),
        (
            lambda p: _edited(p, secondaryAwsSuffix="spoke", secondaryAwsAccounts=["999999999999"]),
            "aws.secondaryAwsAccounts is [999999999999], not the plan's Kentik settings' []",
        ),
        (lambda p: p.read_set.clear(), "s3://logs/ is not in the plan's read set"),
        (lambda p: p.settings.pop("kentik"), "the plan has no Kentik settings"),
        (lambda p: _edited(p, iamRoleArn=OTHER_ROLE), f"aws.iamRoleArn is '{OTHER_ROLE}', not the plan's"),
        (
            lambda p: (_edited(p, region="eu-west-1"), setattr(p.changes[0], "region", "eu-west-1")),
            "'eu-west-1' is not the bucket's region in the plan's read set (us-east-1)",
        ),
    ],
)
def test_a_create_that_disagrees_with_the_plan_it_is_in_is_refused(edit: Any, problem: str) -> None:
    plan, _ = registration_plan([], [target()], REG, account=ACCOUNT)
    edit(plan)
    with pytest.raises(ValidationFailed) as err:
        validate_plan(plan)
    assert problem in err.value.message


def test_two_read_locations_of_one_bucket_say_why_they_are_two_exports() -> None:
    locations = [
        ReadLocation(bucket="logs", kentik=False, region="us-east-1"),
        ReadLocation(bucket="logs", prefix="network-firewall", kentik=False, region="us-east-1"),
    ]
    found = targets_for(locations, deliveries([plan_of(firewall_log("logs", "network-firewall"))]))
    assert [(t.prefix, t.firewall, bool(t.why)) for t in found] == [
        ("", None, True),
        ("network-firewall", True, True),
    ]


def test_a_nested_create_with_bad_member_ids_is_refused() -> None:
    reg = Registration.parse(
        plan_id="11467",
        role_arn=ROLE,
        nested=Nested(accounts=["210987654321"], regions=["us-east-1"], suffix="s"),
    )
    plan, _ = registration_plan([], [target()], reg, account=ACCOUNT)
    plan.changes[0].params["export"]["aws"]["secondaryAwsAccounts"] = ["not-an-account"]
    with pytest.raises(ValidationFailed, match="not account ids: not-an-account"):
        validate_plan(plan)


def test_the_preview_shows_every_field_a_create_sends() -> None:
    reg = Registration.parse(
        plan_id="11467",
        role_arn=ROLE,
        nested=Nested(accounts=["210987654321"], regions=["us-east-1"], suffix="s"),
    )
    plan, _ = registration_plan([], [target()], reg, account=ACCOUNT)
    shown = CreateExport().preview(plan.changes[0])
    assert "aws.secondaryAwsAccounts: [210987654321]" in shown and "enabled: true" in shown


def test_a_metadata_only_export_is_updated_to_read_the_logs(fake: KentikFake, client) -> None:
    seeded(fake, metadataOnly=True)
    [change] = plan_registration(client.list_exports(), [target()], REG, account=ACCOUNT).changes
    assert (change.kind, change.params["set"]["aws.metadataOnly"]) == ("kentik.update-export", False)


def test_new_exports_never_share_a_name(fake: KentikFake, client) -> None:
    reg = Registration.parse(plan_id="11467", role_arn=ROLE, name_template="kentik-{region}")
    two = [target(), ExportTarget(bucket="logs2", region="us-east-1", account=ACCOUNT)]
    found = plan_registration(client.list_exports(), two, reg, account=ACCOUNT)
    assert [c.params["export"]["name"] for c in found.changes] == [
        "kentik-us-east-1",
        "kentik-us-east-1 (logs2/)",
    ]


def test_the_fake_refuses_a_name_another_export_has(fake: KentikFake, client) -> None:
    from aws.kentik.access import KentikRejected

    seeded(fake)
    plan, _ = registration_plan([], [ExportTarget(bucket="logs2", region="us-east-1")], REG, account=ACCOUNT)
    export = CloudExport.model_validate({**plan.changes[0].params["export"], "name": "portal name"})
    with pytest.raises(KentikRejected) as err:
        client.create_export(export)
    assert err.value.field == "export.name"


def test_nested_regions_default_to_the_regions_of_the_log_sources() -> None:
    from aws.kentik.register import source_regions

    moved = flow_log("logs").model_copy(update={"region": "eu-west-1"})
    assert source_regions([plan_of(moved, firewall_log("logs"))]) == ["eu-west-1", "us-east-1"]


def test_an_extra_export_of_a_bucket_already_read_is_named(fake: KentikFake, client) -> None:
    seeded(fake, name="kentik")
    extra = seeded(fake, name="old copy", iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/old")
    found = plan_registration(client.list_exports(), [target()], REG, account=ACCOUNT)
    assert found.changes == []
    assert (
        f"s3://logs/ is also read by Kentik export {extra} (old copy): remove it in the portal."
        in found.notes
    )


def test_exports_kentik_leaves_out_as_invalid_are_mentioned() -> None:
    found = plan_registration(ExportList([], invalid_count=2), [target()], REG, account=ACCOUNT)
    assert "Kentik left 2 export(s) it finds invalid out of its list" in found.notes[0]


def test_an_update_of_an_export_deleted_since_the_plan_is_refused_as_stale(fake: KentikFake, client) -> None:
    export_id, plan = update_plan(fake, client)
    del fake.exports[export_id]
    with pytest.raises(StaleChange, match=f"export {export_id} no longer exists"):
        UpdateExport().bind({"kentik": client}).satisfied(None, plan.changes[0])  # type: ignore[arg-type]
