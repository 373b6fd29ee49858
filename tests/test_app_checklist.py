"""The checklist step: selection, filter, options, review and apply, driven through Textual's pilot.

Selection and options run on a small in-memory inventory (no seeding needed). Review and apply run on
the seeded demo account: the test creates a central bucket with the bucket engine, applies the plan
from the screen, then checks AWS with boto3 describe calls, and a second review has nothing to do.

Snapshots (pytest-textual-snapshot; several per test, so one seeded account serves more than one):
* test_snapshots_checklist_and_preview: .svg mixed verdicts 80x24, .1 mixed 120x40, .2 preview 80x24,
  .3 preview 120x40;
* test_snapshots_applying: .svg 80x24, .1 120x40 — a plan review with the first changes applied by the
  engine (their real results) and the next one running, the rest pending;
* test_apply_results_and_rerun: .svg results 80x24, .1 results 120x40.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
from app_fixtures import make_app, seeded_inventory
from rich.color import Color, ColorSystem
from rich.segment import Segment
from terminal_checks import AA, footer_keys, screen_lines, word_contrasts
from textual.binding import Binding
from textual.widgets import Checkbox, DataTable, Input, RadioButton, Static

from aws.assess import assess_firewall, assess_vpc
from aws.inventory import (
    CallerIdentity,
    Firewall,
    FlowLog,
    Inventory,
    RegionResult,
    RegionStatus,
    Vpc,
)
from aws.logs.format import REQUIRED_FIELDS, REQUIRED_LOG_FORMAT, V2_FIELDS, parse_log_format
from aws.plans.build import bucket_for_region, build_plan, resources_by_region
from aws.plans.change import Plan, apply_plan
from aws.plans.choices import LogChoices
from aws.s3.setup import plan_buckets
from aws.s3.strategy import BucketChoice
from aws.sandbox.seed import SeedSummary
from screens.checklist import ChecklistScreen
from screens.checklist_options import OptionsDialog
from screens.checklist_table import ChecklistRow, ChecklistTable
from screens.discovery import FullText
from tui.app import FlowlogsApp
from tui.cli import main
from tui.palette import INFO
from tui.plan_view import ChangeDone, PlanReview

ACCOUNT = "123456789012"
BUCKET = "kentik-checklist-test"


async def wait_idle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


# -- a small in-memory account --------------------------------------------------------------------------


def _flow_log(n: int, vpc_id: str, compliant: bool) -> FlowLog:
    return FlowLog(
        flow_log_id=f"fl-{n:017x}",
        resource_id=vpc_id,
        resource_type="VPC",
        status="ACTIVE",
        traffic_type="ALL",
        destination_type="s3",
        destination="arn:aws:s3:::old-logs",
        bucket="old-logs",
        log_format=REQUIRED_LOG_FORMAT if compliant else None,
        fields=list(REQUIRED_FIELDS if compliant else V2_FIELDS),
    )


def small_inventory() -> Inventory:
    """2 regions: per region a compliant, a default-format (needs-change) and a missing VPC; 1 firewall."""
    regions = []
    for r, name in enumerate(("eu-west-1", "us-east-1")):
        region = RegionResult(name=name, status=RegionStatus.SCANNED)
        for k, (team, state) in enumerate((("prod", "ok"), ("dev", "v2"), ("prod", "none"))):
            n = r * 10 + k
            vpc = Vpc(vpc_id=f"vpc-{n:017x}", name=f"{team}-{name}-{k}")
            if state != "none":
                vpc.flow_logs.append(_flow_log(n, vpc.vpc_id, state == "ok"))
            region.vpcs.append(assess_vpc(vpc))
        fw = Firewall(name=f"fw-{name}", arn=f"arn:aws:network-firewall:{name}:{ACCOUNT}:firewall/fw-{name}")
        region.firewalls.append(assess_firewall(fw))
        regions.append(region)
    return Inventory(
        identity=CallerIdentity(account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/t", partition="aws"),
        home_region="us-east-1",
        started_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        regions=regions,
        buckets=["old-logs"],  # the account's own bucket: complete flow logs there join the read set
    )


def small_app(tmp_path: Path, *, bucket: bool = True) -> FlowlogsApp:
    app = make_app(tmp_path, start_step="checklist")
    app.state.inventory = small_inventory()
    if bucket:
        choice = BucketChoice(
            strategy="regional", bucket="kentik-{region}", regions=["eu-west-1", "us-east-1"]
        )
        app.state.bucket_choice = choice
        app.state.buckets = bucket_for_region(choice, ACCOUNT)
    return app


def selected_names(screen: ChecklistScreen) -> set[str]:
    return {r.name for r in screen.rows if r.key in screen.selected}


def counts(screen: ChecklistScreen) -> str:
    return str(screen.query_one("#counts", Static).render())


async def test_selection_keys_and_filter(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        table = screen.query_one(ChecklistTable)
        needing = {"dev-eu-west-1-1", "prod-eu-west-1-2", "fw-eu-west-1"} | {
            "dev-us-east-1-1",
            "prod-us-east-1-2",
            "fw-us-east-1",
        }
        # Starts with what needs action selected; rows say what the plan would do.
        assert selected_names(screen) == needing
        by_name = {r.name: r for r in screen.rows}
        assert by_name["prod-eu-west-1-0"].action == "none" and by_name["prod-eu-west-1-0"].compliant
        assert by_name["dev-eu-west-1-1"].action == "add beside"
        assert by_name["prod-eu-west-1-2"].action == "create"
        assert by_name["fw-eu-west-1"].action == "+FLOW +ALERT"
        assert by_name["fw-eu-west-1"].ident == "FLOW off ALERT off"
        assert counts(screen).startswith(
            "Selected 6 (4 VPC, 2 FW) · needing action 6 · compliant 2 · shown 8/8"
        )

        await pilot.press("n")
        assert screen.selected == set() and counts(screen).startswith("Selected 0 ")
        await pilot.press("a")
        assert len(screen.selected) == 8
        await pilot.press("e")
        assert selected_names(screen) == needing

        # Space on a region row toggles the region; r on a row toggles its region.
        table.move_to(0)
        assert table.current is not None and table.current.key == "region:eu-west-1"
        eu = {"prod-eu-west-1-0", "dev-eu-west-1-1", "prod-eu-west-1-2", "fw-eu-west-1"}
        assert table.checkbox(table.current) == "[-]"  # partly selected
        await pilot.press("space")  # partly -> all
        assert eu <= selected_names(screen) and table.checkbox(table.current) == "[x]"
        await pilot.press("space")  # all -> none
        assert not eu & selected_names(screen) and table.checkbox(table.current) == "[ ]"
        await pilot.press("down", "space")  # one row: the compliant VPC
        assert selected_names(screen) & eu == {"prod-eu-west-1-0"}
        await pilot.press("end", "r")  # the last row is us-east-1's firewall: its region goes all on
        assert {"prod-us-east-1-0", "fw-us-east-1"} <= selected_names(screen)

        # The filter narrows the rows (under their region rows); a/n/e act on the rows shown only.
        await pilot.press("slash", *"prod", "enter")
        shown = [screen.rows[i] for i in table.shown]
        assert [r.kind for r in shown].count("region") == 2
        assert {r.name for r in shown if r.kind != "region"} == {
            "prod-eu-west-1-0",
            "prod-eu-west-1-2",
            "prod-us-east-1-0",
            "prod-us-east-1-2",
        }
        assert "shown 4/8" in counts(screen)
        await pilot.press("n")  # only the prod rows shown go off; us-east-1's others stay on
        assert selected_names(screen) == {"dev-us-east-1-1", "fw-us-east-1"}
        await pilot.press("slash", *"zzz")
        assert table.shown == [] and "shown 0/8" in counts(screen)
        await pilot.press("escape")
        assert len(table.shown) == len(screen.rows) and screen.filter_text == ""


async def test_no_bucket_is_read_only(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path, bucket=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        banner = "No bucket yet: choose it first (ctrl+b). Until then: view only, Review is off."
        assert banner in [line.strip() for line in screen_lines(app)]  # whole, on one line at 80x24
        fw = next(r for r in screen.rows if r.kind == "firewall")
        assert "choose the bucket first" in fw.action_text
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        assert app.screen is screen and screen.plan is None  # no review without a bucket
        assert [(n.title, n.message) for n in app._notifications] == [
            (
                "No bucket",
                "Choose the bucket first (ctrl+b): the flow logs and firewall logs need a destination.",
            )
        ]


async def test_options_dialog_validates_and_changes_actions(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        await pilot.press("o")
        dialog = app.screen
        assert isinstance(dialog, OptionsDialog)
        box = dialog.query_one("#fw-prefix", Input)
        problems = dialog.query_one("#problems", Static)
        for bad in ("/firewall-logs/", "AWSLogs/", "logs/AWSLogs"):
            box.value = bad
            await pilot.pause()
            await pilot.press("ctrl+s")
            assert app.screen is dialog, bad  # refused
            assert "Firewall log prefix" in str(problems.render())
        box.value = "firewall-logs/"
        dialog.query_one("#agg-60", RadioButton).value = True
        dialog.query_one("#replace", Checkbox).value = True
        dialog.query_one("#tls", Checkbox).value = True
        await pilot.pause()
        assert str(problems.render()) == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        choices = app.state.log_choices
        assert choices.firewall_prefix == "firewall-logs/" and choices.aggregation == 60
        assert choices.replace_existing and choices.firewall_logs == ["FLOW", "ALERT", "TLS"]
        by_name = {r.name: r for r in screen.rows}
        assert by_name["dev-eu-west-1-1"].action == "replace"  # the destructive option is explicit
        assert by_name["fw-eu-west-1"].action == "+FLOW +ALERT +TLS"
        await pilot.press("o", "escape")  # cancel keeps the saved options
        assert app.state.log_choices == choices


# -- the seeded demo account ----------------------------------------------------------------------------


def seeded_state(app: FlowlogsApp, *, create_bucket: bool = True) -> None:
    """Scan, choose a central bucket in us-east-1 for every region, and set it up with the bucket engine."""
    assert app.session is not None
    inventory = seeded_inventory(app.session)
    choice = BucketChoice(
        strategy="central",
        bucket=BUCKET,
        regions=sorted(resources_by_region(inventory)),
        central_region="us-east-1",
    )
    if create_bucket:
        setup = plan_buckets(app.session, choice, ACCOUNT)
        report = apply_plan(Plan(account=ACCOUNT, changes=setup.changes), app.session)
        assert report.ok, report
    app.state.inventory = inventory
    app.state.bucket_choice = choice
    app.state.buckets = bucket_for_region(choice, ACCOUNT)


async def cursor_to(pilot: Any, name: str) -> None:
    table = pilot.app.screen.query_one(ChecklistTable)
    table.move_to(next(n for n, i in enumerate(table.shown) if table.rows[i].name == name))
    await pilot.pause()


def copy_state(source: FlowlogsApp, target: FlowlogsApp) -> None:
    for name in ("inventory", "bucket_choice", "buckets", "log_choices", "applied"):
        setattr(target.state, name, getattr(source.state, name))


async def apply_from_screen(pilot: Any) -> PlanReview:
    """Move CloudWatch destinations too (options), review, apply with both confirmations, back."""
    app = pilot.app
    await pilot.press("o")
    app.screen.query_one("#move", Checkbox).value = True
    await pilot.press("ctrl+s")
    await wait_idle(pilot)
    await pilot.press("ctrl+r")
    await wait_idle(pilot)
    review = app.screen
    assert isinstance(review, PlanReview)
    await pilot.press("a", "y")  # apply, yes
    await pilot.pause()
    await pilot.press("y")  # and the destructive change (CloudWatch ALERT destination → S3)
    await wait_idle(pilot)
    assert review.report is not None and review.report.ok, review.report
    await pilot.press("escape")
    await wait_idle(pilot)
    app.clear_notifications()
    await pilot.pause()
    return review


def check_aws(seeded: SeedSummary, vpcs: dict[str, str]) -> None:
    """Every VPC (id -> region) has a flow log as the spec wants to our bucket; firewalls FLOW+ALERT to S3."""
    for vpc_id, region in vpcs.items():
        logs = boto3.client("ec2", region_name=region).describe_flow_logs(
            Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
        )["FlowLogs"]
        good = [
            fl
            for fl in logs
            if fl.get("LogDestinationType") == "s3"
            and fl.get("LogDestination") == f"arn:aws:s3:::{BUCKET}"
            and fl["TrafficType"] == "ALL"
            and parse_log_format(fl["LogFormat"]) == list(REQUIRED_FIELDS)
            and fl["MaxAggregationInterval"] == 600
            and fl.get("DestinationOptions", {}).get("FileFormat", "plain-text") == "plain-text"
        ]
        assert len(good) == 1, (vpc_id, logs)
    for name, arn in seeded.firewalls.items():
        region = arn.split(":")[3]
        configs = boto3.client("network-firewall", region_name=region).describe_logging_configuration(
            FirewallArn=arn
        )["LoggingConfiguration"]["LogDestinationConfigs"]
        types = {c["LogType"]: c["LogDestinationType"] for c in configs}
        assert types.get("FLOW") == "S3" and types.get("ALERT") == "S3", (name, configs)


def test_apply_results_and_rerun(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    initial = app.state.inventory
    assert isinstance(initial, Inventory)
    picked: dict[str, str] = {}
    plans: list[Plan] = []
    after: list[ChecklistRow] = []

    async def apply(pilot: Any) -> None:
        await wait_idle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ChecklistScreen)
        picked.update({r.key: r.region for r in screen.rows if r.kind == "vpc" and r.key in screen.selected})
        review = await apply_from_screen(pilot)
        plans.append(review.plan)
        assert pilot.app.screen is screen
        after.extend(screen.rows)
        assert screen.needing == 0
        await cursor_to(pilot, "prod-eu")

    assert snap_compare(app, terminal_size=(80, 24), run_before=apply)
    plan = plans[0]
    assert plan.changes and {c.group for c in plan.changes} == {"flowlogs", "firewall"}  # bucket was ready
    not_compliant = {v.vpc_id for _, v in initial.vpcs() if v.verdict.value != "compliant"}
    assert set(picked) == not_compliant  # selected by default: what needs action
    assert {seeded.vpcs[n].vpc_id for n in ("prod-eu", "shared-services", "prod-web-usw2")} <= not_compliant
    check_aws(seeded, picked)

    # The rows carry the ids AWS assigned; every row is now readable by Kentik: compliant in Kentik's
    # bucket, or (complete logs already going to another bucket of the account) in the read set.
    rows = {r.key: r for r in after}
    for vpc_id, region in picked.items():
        logs = boto3.client("ec2", region_name=region).describe_flow_logs(
            Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
        )["FlowLogs"]
        ours = next(fl["FlowLogId"] for fl in logs if fl.get("LogDestination") == f"arn:aws:s3:::{BUCKET}")
        assert rows[vpc_id].flow_log_id == ours and rows[vpc_id].new_flow_log
    assert {r.verdict for r in after if r.kind != "region"} == {"compliant", "read set"}

    # A new checklist (same wizard state) shows the same ids; a second review has nothing to do.
    again = make_app(tmp_path, start_step="checklist")
    copy_state(app, again)

    async def results(pilot: Any) -> None:
        await wait_idle(pilot)
        await cursor_to(pilot, "prod-eu")

    assert snap_compare(again, terminal_size=(120, 40), run_before=results)

    third = make_app(tmp_path, start_step="checklist")
    copy_state(app, third)

    async def second_review() -> Plan:
        async with third.run_test(size=(80, 24)) as pilot:
            await wait_idle(pilot)
            screen = third.screen
            assert isinstance(screen, ChecklistScreen)
            await pilot.press("a")  # everything, compliant or not
            third.screen.replace_non_s3 = True  # type: ignore[attr-defined]
            await pilot.press("ctrl+r")
            await wait_idle(pilot)
            review = third.screen
            assert isinstance(review, PlanReview)
            return review.plan

    assert app.session is not None
    before = app.session.stats.mutating()
    assert asyncio.run(second_review()).changes == []
    assert app.session.stats.mutating() == before


def test_snapshots_checklist_and_preview(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    first = make_app(tmp_path, start_step="checklist")
    seeded_state(first)

    def fresh() -> FlowlogsApp:
        app = make_app(tmp_path, start_step="checklist")
        copy_state(first, app)
        return app

    async def mixed(pilot: Any) -> None:
        await wait_idle(pilot)
        # The cursor on us-east-1's firewall that sends FLOW logs to another bucket: a detailed row.
        await cursor_to(pilot, "egress-inspection")

    async def preview(pilot: Any) -> None:
        await wait_idle(pilot)
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        assert isinstance(pilot.app.screen, PlanReview)

    results = [
        snap_compare(first, terminal_size=(80, 24), run_before=mixed),
        snap_compare(fresh(), terminal_size=(120, 40), run_before=mixed),
        snap_compare(fresh(), terminal_size=(80, 24), run_before=preview),
        snap_compare(fresh(), terminal_size=(120, 40), run_before=preview),
    ]
    assert all(results)


def test_snapshots_applying(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    """Mid-apply, made deterministic: the first 3 changes applied by the engine (their real results),
    the 4th shown running, the rest pending."""
    first = make_app(tmp_path, start_step="checklist")
    seeded_state(first)
    assert first.session is not None
    inventory = first.state.inventory
    assert isinstance(inventory, Inventory) and first.state.bucket_choice is not None
    needing = [
        (r.name, v) for r in inventory.scanned_regions for v in r.vpcs if v.verdict.value != "compliant"
    ]
    selection = first.state.log_choices.model_copy(
        update={
            "selected": [v.vpc_id for _, v in needing],
            "firewall_selected": [
                f"{r.name}/{fw.name}" for r in inventory.scanned_regions for fw in r.firewalls
            ],
        }
    )
    build = build_plan(first.session, inventory, first.state.bucket_choice, selection)
    plan = build.plan
    assert len(plan.changes) == 21  # the seeded account's flow log and firewall changes
    done = apply_plan(Plan(account=ACCOUNT, changes=plan.changes[:3]), first.session)
    assert done.ok

    async def applying(pilot: Any) -> None:
        await wait_idle(pilot)
        review = PlanReview(plan, title="Flow logs and firewall logging", step="checklist")
        pilot.app.push_screen(review)
        await pilot.pause()
        for change, result in zip(plan.changes, done.results, strict=False):
            review.post_message(ChangeDone(change, result))
        await pilot.pause()
        review.running = True
        review._set_status(plan.changes[3].id, "running")
        table = review.query_one("#changes", DataTable)
        table.move_cursor(row=1)
        await pilot.pause()

    second = make_app(tmp_path, start_step="checklist")
    copy_state(first, second)
    results = [
        snap_compare(first, terminal_size=(80, 24), run_before=applying),
        snap_compare(second, terminal_size=(120, 40), run_before=applying),
    ]
    assert all(results)


# -- other resource kinds: subnets ----------------------------------------------------------------------


async def switch_resources(pilot: Any, kind: str) -> None:
    await pilot.press("o")
    pilot.app.screen.query_one(f"#res-{kind}", RadioButton).value = True
    await pilot.press("ctrl+s")
    await wait_idle(pilot)


async def test_switching_to_subnets_lists_them_by_region_with_their_vpc(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    prod = seeded.vpcs["prod-eu"]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        await switch_resources(pilot, "subnet")
        assert app.state.log_choices.resources == "subnet"
        rows = {r.key: r for r in screen.rows if r.kind == "resource"}
        assert set(prod.subnet_ids) <= set(rows)
        assert not any(r.kind == "vpc" for r in screen.rows)
        for sid in prod.subnet_ids:  # grouped by region, named after their VPC
            assert rows[sid].region == prod.region and rows[sid].name.startswith("prod-eu")
            assert rows[sid].verdict == "missing" and rows[sid].key in screen.selected
        tokyo = seeded.vpcs["staging-tokyo"].subnet_ids[0]  # the seeded subnet-level flow log
        assert rows[tokyo].verdict == "compliant"
        assert "subnet" in str(screen.query_one("#counts", Static).render())


async def review_prod_eu_subnets(pilot: Any, prod: Any) -> PlanReview:
    """Switch to subnets, select prod-eu's only (filter, none, all shown), review."""
    screen = pilot.app.screen
    assert isinstance(screen, ChecklistScreen)
    await switch_resources(pilot, "subnet")
    await pilot.press("n")  # nothing (all rows shown)
    await pilot.press("slash", *"prod-eu", "enter")
    await pilot.press("a")
    await pilot.press("escape")
    await pilot.pause()
    assert {k for k in screen.selected if k in screen.vpc_keys} == set(prod.subnet_ids)
    await pilot.press("ctrl+r")
    await wait_idle(pilot)
    review = pilot.app.screen
    assert isinstance(review, PlanReview)
    return review


async def test_reviewing_selected_subnets_plans_one_flow_log_change_for_them(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    prod = seeded.vpcs["prod-eu"]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        review = await review_prod_eu_subnets(pilot, prod)
        creates = [c for c in review.plan.changes if c.kind == "ec2.create-flow-logs"]
        assert [(c.params["ResourceType"], sorted(c.params["ResourceIds"])) for c in creates] == [
            ("Subnet", sorted(prod.subnet_ids))
        ]


async def test_applying_the_subnet_plan_creates_exactly_those_flow_logs(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    prod = seeded.vpcs["prod-eu"]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        review = await review_prod_eu_subnets(pilot, prod)
        await pilot.press("a", "y")
        await wait_idle(pilot)
        assert review.report is not None and review.report.ok, review.report
        await pilot.press("escape")
        await wait_idle(pilot)
        assert isinstance(screen, ChecklistScreen)
        after = {r.key: r for r in screen.rows if r.kind == "resource"}
        for sid in prod.subnet_ids:
            assert after[sid].verdict == "compliant" and after[sid].flow_log_id.startswith("fl-")

    ec2 = boto3.client("ec2", region_name=prod.region)
    for sid in prod.subnet_ids:
        logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [sid]}])["FlowLogs"]
        assert len(logs) == 1, logs
        fl = logs[0]
        assert fl["LogDestinationType"] == "s3" and fl["LogDestination"] == f"arn:aws:s3:::{BUCKET}"
        assert fl["TrafficType"] == "ALL" and fl["MaxAggregationInterval"] == 600
        assert parse_log_format(fl["LogFormat"]) == list(REQUIRED_FIELDS)
        assert fl.get("DestinationOptions", {}).get("FileFormat", "plain-text") == "plain-text"
    # nothing else got a flow log: the other subnets of eu-west-1 are unchanged
    others = [r for r in ec2.describe_subnets()["Subnets"] if r["SubnetId"] not in prod.subnet_ids]
    assert others
    for sub in others:
        logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [sub["SubnetId"]]}])[
            "FlowLogs"
        ]
        assert not any(fl.get("LogDestination") == f"arn:aws:s3:::{BUCKET}" for fl in logs)


async def test_transit_gateways_listed_with_tgw_rules(seeded: SeedSummary, tmp_path: Path) -> None:
    tgw = boto3.client("ec2", region_name="us-east-1").create_transit_gateway(
        TagSpecifications=[{"ResourceType": "transit-gateway", "Tags": [{"Key": "Name", "Value": "hub"}]}]
    )["TransitGateway"]["TransitGatewayId"]
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        await switch_resources(pilot, "tgw")
        [row] = [r for r in screen.rows if r.kind == "resource"]
        assert (row.key, row.name, row.region, row.verdict) == (tgw, "hub", "us-east-1", "missing")
        line = screen.query_one("#options-line")
        assert "Flow logs on transit gateways: 60 s" in flat(
            screen_lines(app)[line.region.y : line.region.bottom]
        )
        await pilot.press("n")
        await cursor_to(pilot, "hub")
        await pilot.press("space", "ctrl+r")
        await wait_idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        [create] = [c for c in review.plan.changes if c.kind == "ec2.create-flow-logs"]
        assert create.params["ResourceType"] == "TransitGateway" and "TrafficType" not in create.params
        assert create.params["MaxAggregationInterval"] == 60
        await pilot.press("escape")
        await wait_idle(pilot)
        await switch_resources(pilot, "vpc")  # back to VPCs: VPC rows again, needing ones selected
        assert not any(r.kind == "resource" for r in screen.rows)
        vpc_rows = [r for r in screen.rows if r.kind == "vpc"]
        assert vpc_rows and {r.key for r in vpc_rows if r.needs_action} <= screen.selected


def test_snapshots_subnets(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    first = make_app(tmp_path, start_step="checklist")
    seeded_state(first)
    second = make_app(tmp_path, start_step="checklist")
    copy_state(first, second)

    async def subnets(pilot: Any) -> None:
        await wait_idle(pilot)
        await switch_resources(pilot, "subnet")
        await cursor_to(pilot, "prod-eu › private-a")

    results = [
        snap_compare(first, terminal_size=(80, 24), run_before=subnets),
        snap_compare(second, terminal_size=(120, 40), run_before=subnets),
    ]
    assert all(results)


def test_unselected_sources_still_give_their_bucket_to_the_read_set(moto: None) -> None:
    """The checklist's selection decides what changes, not what Kentik must read."""
    from aws.session import AwsSession, SessionOptions

    inventory = small_inventory()
    choice = BucketChoice(strategy="regional", bucket="kentik-{region}", regions=["eu-west-1", "us-east-1"])
    session = AwsSession(SessionOptions(region="us-east-1"))
    build = build_plan(session, inventory, choice, LogChoices(selected=[], firewall_selected=[]))
    assert [loc.path for loc in build.read_set.existing] == ["old-logs"]


def _changes(plan: Plan) -> list[tuple[str, str, dict[str, Any], list[str]]]:
    return [(c.kind, c.target, c.params, c.depends_on) for c in plan.changes]


async def test_checklist_plans_what_the_cli_plans_for_the_same_choices(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    """One planner: every row selected in the checklist gives the changes `flowlogs plan` gives."""
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app, create_bucket=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.press("a", "ctrl+r")
        await wait_idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
    path = tmp_path / "cli-plan.json"
    assert (
        main(
            [
                "plan",
                "--strategy",
                "central",
                "--bucket",
                BUCKET,
                "--bucket-region",
                "us-east-1",
                "-o",
                str(path),
            ]
        )
        == 0
    )
    assert _changes(review.plan) == _changes(Plan.from_json(path.read_text()))


# -- 80x24 (bastion terminals) ------------------------------------------------------------------------


def flat(lines: list[str]) -> str:
    """Screen rows as one text: the rows a line wrapped onto joined back at their spaces."""
    return " ".join(line.strip() for line in lines if line.strip())


def detail_pane(app: FlowlogsApp) -> list[str]:
    """The detail pane's rows on screen, under its rule."""
    pane = app.screen.query_one("#detail")
    return screen_lines(app)[pane.region.y + 1 : pane.region.bottom]


async def dialog_text(pilot: Any) -> str:
    """The words the terminal shows once the FullText dialog is drawn (its border left out)."""
    for _ in range(20):
        lines = screen_lines(pilot.app)
        if any("(Esc closes)" in line for line in lines):
            break
        await pilot.pause(0.02)
    return " ".join(" ".join(line.strip(" █┃") for line in lines).split())


async def test_every_footer_key_is_whole_at_80x24(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        keys = footer_keys(app)
        assert {"Toggle", "Filter", "Options", "Review", "Next", "Back"} <= set(keys), keys
        assert all(keys.values()), keys
        await pilot.press("slash")  # the filter's box focused
        keys = footer_keys(app)
        assert {"Review", "Next", "Back"} <= set(keys) and all(keys.values()), keys


async def test_hidden_keys_are_named_in_the_hint_line(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        hint = flat(screen_lines(app)[screen.query_one("#keys").region.y :][:2])
        hidden = [b for b in screen.BINDINGS if isinstance(b, Binding) and not b.show]
        for binding in hidden:
            if binding.key not in ("enter", "escape"):  # enter repeats space; Esc is in the filter's box
                assert f"{binding.key} {binding.description.lower()}" in hint, (binding.key, hint)


async def test_options_line_is_whole_at_80x24(moto: None, tmp_path: Path) -> None:
    """Long options wrap between their parts (or at spaces), never cut."""
    app = small_app(tmp_path)
    app.state.log_choices = app.state.log_choices.model_copy(
        update={
            "prefix": "vpc-flow-logs/",
            "firewall_prefix": "firewall-logs/",
            "replace_existing": True,
            "existing_destinations": "duplicate",
            "firewall_logs": ["FLOW", "ALERT", "TLS"],
            "repoint_existing": True,
        }
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        line = app.screen.query_one("#options-line")
        rows = screen_lines(app)[line.region.y : line.region.bottom]
        assert flat(rows) == (
            "Flow logs: 600 s, prefix vpc-flow-logs/, 29 fields, REPLACE old, duplicate existing "
            "Firewalls: FLOW+ALERT+TLS, prefix firewall-logs/, repoint S3"
        ), rows
        assert rows[-1].strip().startswith("Firewalls:")  # its own line: the two parts did not fit one


async def test_default_options_fit_one_line_at_80x24(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        line = app.screen.query_one("#options-line")
        assert line.region.height == 1
        assert screen_lines(app)[line.region.y].strip() == (
            "Flow logs: 600 s, prefix -, 29 fields │ Firewalls: FLOW+ALERT, prefix -"
        )


async def test_detail_shows_every_rows_verdict_and_plan_whole_at_80x24(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    """On the seeded account, for every row: the pane shows its heading, verdict and plan whole; when
    its reasons do not fit, the pane says so ("… (i: all)") and i shows the whole text."""
    app = make_app(tmp_path, start_step="checklist")
    seeded_state(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        cut = []
        for n, index in enumerate(screen.table.shown):
            row = screen.rows[index]
            screen.table.move_to(n)
            await pilot.pause()
            pane = flat(detail_pane(app))
            if row.kind == "region":
                assert row.name.split()[0] in pane and "selected" in pane, pane
                continue
            assert f"({row.region}): {row.verdict}" in pane, pane
            assert f"Plan: {row.action_text}" in pane, (row.name, pane)
            if f"Why: {row.reason}" not in pane:
                assert pane.endswith("… (i: all)"), pane
                cut.append(row)
        assert cut  # the seeded account has reasons longer than the pane (prod-eu's)
        await cursor_to(pilot, cut[0].name)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, FullText)
        assert " ".join(f"Why: {cut[0].reason}".split()) in await dialog_text(pilot)  # in the dialog


async def test_region_rows_are_headings_never_red_in_16_colours(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        strips = app.screen._compositor.render_strips()
        heads = [
            seg
            for strip in strips
            for seg in Segment.simplify(strip)
            if seg.text.startswith("[") and "us-east-1  3 VPCs, 1 firewall" in seg.text  # not the cursor's
        ]
        assert heads and all(seg.style and seg.style.color == Color.parse(INFO) for seg in heads), heads
        for seg in heads:
            assert seg.style and seg.style.color
            assert seg.style.color.downgrade(ColorSystem.STANDARD).number not in (1, 9)  # red, bright red


async def test_verdicts_and_actions_are_words_with_contrast(moto: None, tmp_path: Path) -> None:
    app = small_app(tmp_path)
    words = {"compliant", "read set", "needs-change", "missing", "create", "add beside", "none"}
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        for colours in (0, 16):
            found = word_contrasts(app, words, colours=colours)
            assert {"read set", "missing", "create", "add beside"} <= {f.word for f in found}, found
            assert all(f.ratio >= AA for f in found), (colours, [f for f in found if f.ratio < AA])


async def test_a_bucket_chosen_after_a_first_visit_shows_when_the_checklist_is_back(
    moto: None, tmp_path: Path
) -> None:
    app = small_app(tmp_path, bucket=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        choice = BucketChoice(
            strategy="regional", bucket="kentik-{region}", regions=["eu-west-1", "us-east-1"]
        )
        app.state.bucket_choice, app.state.buckets = (
            choice,
            bucket_for_region(choice, ACCOUNT),
        )  # as step 2 does
        await pilot.press("ctrl+b")
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
        await wait_idle(pilot)
        line = str(app.screen.query_one("#bucket-line", Static).render())
    assert line == "Bucket (regional): kentik-eu-west-1, kentik-us-east-1"
