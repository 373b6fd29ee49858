"""The bucket strategy screen, driven with keys on the seeded demo account: plan and apply both
strategies (account-regional and global names), live name validation that refuses a preview, the SSE-KMS
key picker; snapshots at 80x24 and 120x40."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from app_fixtures import make_app, seeded_inventory
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton, Select, SelectionList, Static

from aws.plans.build import resources_by_region
from aws.s3.kms import list_customer_managed_keys
from aws.sandbox.seed import SeedSummary
from screens.bucket_strategy import SUGGESTED, SUGGESTED_PREFIX, BucketStrategyScreen
from tui.app import FlowlogsApp
from tui.plan_view import PlanReview

ACCOUNT = "123456789012"
CENTRAL = f"northwind-kentik-{ACCOUNT}-eu-west-1-an"


def app_with_inventory(tmp_path: Path) -> FlowlogsApp:
    app = make_app(tmp_path, start_step="buckets")
    assert app.session is not None
    app.state.inventory = seeded_inventory(app.session)
    return app


async def idle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def screen_of(app: FlowlogsApp) -> BucketStrategyScreen:
    screen = app.screen
    assert isinstance(screen, BucketStrategyScreen)
    return screen


async def type_name(pilot: Pilot[Any], name: str, *, paste: bool = False) -> None:
    """From the strategy radio set (initial focus): Tab to the name, replace it with `name`, typed key by
    key or, with `paste`, pasted at once (each key re-validates the name for every region)."""
    await pilot.press("tab")
    field = pilot.app.focused
    assert isinstance(field, Input) and field.id == "bucket"
    await pilot.press("ctrl+a", "ctrl+k")  # home, delete to the end
    if paste:
        field.insert_text_at_cursor(name)
    else:
        await pilot.press(*name)
    await pilot.pause()


async def untick_account_regional(pilot: Pilot[Any]) -> None:
    """From the name field: Tab to the namespace checkbox and untick it (global names)."""
    await pilot.press("tab")
    box = pilot.app.focused
    assert isinstance(box, Checkbox) and box.id == "account-regional" and box.value
    await pilot.press("space")
    await pilot.pause()
    assert not box.value


async def pick_region(pilot: Pilot[Any], select: Select[str], region: str) -> None:
    """With the region list focused: open it, move to `region` with the arrow keys, choose it."""
    values = [value for _, value in select._options]
    steps = values.index(region) - values.index(select.value)
    await pilot.press("enter", *["down" if steps > 0 else "up"] * abs(steps), "enter")
    await pilot.pause()
    assert select.value == region


async def apply_review(pilot: Pilot[Any]) -> PlanReview:
    review = pilot.app.screen
    assert isinstance(review, PlanReview)
    await pilot.press("a")
    await pilot.pause()
    await pilot.press("y")
    await idle(pilot)
    assert review.report is not None and review.report.ok, review.report
    await pilot.press("escape")
    await pilot.pause()
    return review


def check_bucket(name: str, region: str, *, kms_key: str = "") -> None:
    """The bucket exists in `region` with SSE-S3, all public access blocked and the delivery policy."""
    s3 = boto3.client("s3", region_name=region)
    location = s3.get_bucket_location(Bucket=name)["LocationConstraint"]
    assert (location or "us-east-1") == region
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    default = rule["ApplyServerSideEncryptionByDefault"]
    if kms_key:
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}
    else:
        assert default["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    delivery = [
        s
        for s in policy["Statement"]
        if s.get("Principal", {}).get("Service") == "delivery.logs.amazonaws.com"
    ]
    put = next(s for s in delivery if s["Action"] == "s3:PutObject")
    assert put["Resource"] == f"arn:aws:s3:::{name}/AWSLogs/*"
    acl = next(s for s in delivery if "s3:GetBucketAcl" in s["Action"])
    assert acl["Resource"] == f"arn:aws:s3:::{name}"
    for statement in (put, acl):
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:logs:*:{ACCOUNT}:*"


async def test_central_bucket_planned_and_applied(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        assert screen.strategy == "central"  # the recommendation for this account, preselected
        await type_name(pilot, "northwind-kentik")  # a prefix: the account-regional namespace is ticked
        await pilot.press("tab", "tab")  # past the namespace to the central bucket's region: pick eu-west-1
        select = screen.query_one("#region", Select)
        assert app.focused is select and select.value == "us-east-1"  # default: the home region
        await pick_region(pilot, select, "eu-west-1")
        await pilot.press("tab", "tab")  # past the encryption (SSE-S3) to the lifecycle rule: tick it
        assert isinstance(app.focused, Checkbox) and app.focused.id == "lifecycle"
        await pilot.press("space", "tab")
        assert isinstance(app.focused, Input) and app.focused.id == "lifecycle-days"
        await pilot.press("ctrl+a", "ctrl+k", "7", "enter")  # Enter previews
        await idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        kinds = [c.kind for c in review.plan.changes]
        assert kinds == [
            "s3.create-bucket",
            "s3.put-encryption",
            "s3.put-public-access-block",
            "s3.put-bucket-policy",
            "s3.put-lifecycle",
        ]
        create = review.plan.changes[0]
        assert create.params == {
            "Bucket": CENTRAL,
            "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
            "BucketNamespace": "account-regional",
        }
        choice = app.state.bucket_choice  # stored at preview, before anything is applied
        assert choice is not None and choice.strategy == "central" and choice.central_region == "eu-west-1"
        assert choice.lifecycle_days == 7 and choice.encryption == "SSE-S3"
        assert choice.account_regional and choice.bucket == "northwind-kentik"
        inventory = app.state.inventory
        assert inventory is not None
        assert app.state.buckets == {r: CENTRAL for r in resources_by_region(inventory)}
        await apply_review(pilot)
        assert app.screen is screen
        assert "Applied" in str(screen.query_one("#status", Static).render())
    check_bucket(CENTRAL, "eu-west-1")
    rules = boto3.client("s3", region_name="eu-west-1").get_bucket_lifecycle_configuration(Bucket=CENTRAL)[
        "Rules"
    ]
    assert [(r["Filter"], r["Expiration"], r["Status"]) for r in rules] == [
        ({"Prefix": "AWSLogs/"}, {"Days": 7}, "Enabled")
    ]


async def test_regional_buckets_planned_and_applied(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await pilot.press("right", "enter")  # strategy radio set: Regional buckets
        await pilot.pause()
        assert screen.strategy == "regional"
        assert screen.query_one("#region-row").display is False  # no central region to choose
        await type_name(pilot, "northwind-kentik-{region}", paste=True)
        await untick_account_regional(pilot)  # global names from the typed template
        assert screen.query_one("#bucket", Input).value == "northwind-kentik-{region}"  # never rewritten
        await pilot.press("ctrl+r")  # the preview key works from anywhere
        await idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        inventory = app.state.inventory
        assert inventory is not None
        regions = sorted(resources_by_region(inventory))
        assert len(regions) == 17  # every seeded region has a VPC
        assert app.state.buckets == {r: f"northwind-kentik-{r}" for r in regions}
        creates = {c.region: c.params for c in review.plan.changes if c.kind == "s3.create-bucket"}
        assert sorted(creates) == regions
        assert "CreateBucketConfiguration" not in creates["us-east-1"]  # omitted in us-east-1 only
        assert not any("BucketNamespace" in params for params in creates.values())
        assert creates["eu-west-1"]["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}
        await apply_review(pilot)
    for region in regions:
        check_bucket(f"northwind-kentik-{region}", region)


async def test_invalid_name_is_refused_naming_each_rule_and_nothing_is_planned(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    assert app.session is not None
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await type_name(pilot, "Bad_Name..x")
        problems = str(screen.query_one("#name-problems", Static).render())
        assert "Character rule" in problems and "Adjacent-dots rule" in problems
        await pilot.press("enter")  # Preview is refused: nothing planned, nothing created
        await idle(pilot)
        assert app.screen is screen and app.state.bucket_choice is None
        assert "Not previewed" in str(screen.query_one("#status", Static).render())
        assert app.session.stats.mutating() == 0


async def test_a_template_is_checked_for_every_region_it_expands_to(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    """Only long region names break the 63-character limit: the problem names those regions."""
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await pilot.press("right", "enter")  # Regional buckets
        await type_name(pilot, "n" * 49 + "-{region}", paste=True)  # 64 characters with ap-southeast-2
        await untick_account_regional(pilot)
        problems = str(screen.query_one("#name-problems", Static).render())
        assert "Length rule" in problems and "ap-southeast-2" in problems and "us-east-1" not in problems
        await pilot.press("ctrl+r")
        await idle(pilot)
        assert app.screen is screen and app.state.bucket_choice is None


async def test_sse_kms_picker_lists_the_regions_keys_and_the_plan_uses_the_one_picked(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    assert app.session is not None
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await type_name(pilot, "northwind-kentik-secure", paste=True)
        await untick_account_regional(pilot)
        await pilot.press("tab")  # to the region
        await pick_region(pilot, screen.query_one("#region", Select), "eu-central-1")
        await pilot.press("tab", "right", "enter")  # encryption: SSE-KMS
        await idle(pilot)
        assert screen.kms
        keys = screen.query_one("#kms-keys", SelectionList)
        assert [keys.get_option_at_index(i).value for i in range(keys.option_count)] == [seeded.kms_key_arn]
        assert "SSE-KMS needs" in str(screen.query_one("#kms-problems", Static).render())
        await pilot.press("tab")
        assert app.focused is keys
        await pilot.press("space")
        await pilot.pause()
        assert list(keys.selected) == [seeded.kms_key_arn]
        assert str(screen.query_one("#kms-problems", Static).render()).strip() == ""
        await pilot.press("ctrl+r")
        await idle(pilot)
        review = app.screen
        assert isinstance(review, PlanReview)
        assert "kms.put-key-policy" in [c.kind for c in review.plan.changes]  # the key refuses delivery yet
        encryption = next(c for c in review.plan.changes if c.kind == "s3.put-encryption")
        rule = encryption.params["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == seeded.kms_key_arn
        assert app.session.stats.mutating() == 0  # previewing changes nothing


async def test_suggested_name_is_in_the_account_regional_namespace(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        assert screen.query_one("#account-regional", Checkbox).value
        assert screen.query_one("#bucket", Input).value == SUGGESTED_PREFIX
        valid = str(screen.query_one("#name-problems", Static).render())
        assert f"{SUGGESTED_PREFIX}-{ACCOUNT}-us-east-1-an" in valid


async def test_untouched_suggestion_follows_the_namespace(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press("tab")  # to the name, then untick the namespace
        await untick_account_regional(pilot)
        assert screen_of(app).query_one("#bucket", Input).value == SUGGESTED["central"]


async def test_typed_name_is_never_rewritten(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await type_name(pilot, "acme-logs")
        await untick_account_regional(pilot)
        await pilot.press("shift+tab", "shift+tab", "right", "enter")  # Regional buckets
        await pilot.pause()
        assert screen.strategy == "regional"
        assert screen.query_one("#bucket", Input).value == "acme-logs"


def deny_describe_key(region: str) -> str:
    """A customer-managed key whose key policy refuses everyone kms:DescribeKey (moto enforces denies)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["kms:DescribeKey"], "Resource": "*"},
        ],
    }
    kms = boto3.client("kms", region_name=region)
    return str(kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])


async def test_kms_picker_lists_a_key_refusing_describe_key_as_unusable(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    refused = deny_describe_key("us-east-1")
    app = app_with_inventory(tmp_path)
    assert app.session is not None
    assert not list_customer_managed_keys(app.session, "us-east-1")[-1].usable  # what the picker gets
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        screen.query_one("#enc-kms", RadioButton).value = True  # SSE-KMS, bucket in us-east-1
        await idle(pilot)
        keys = screen.query_one("#kms-keys", SelectionList)
        [option] = [keys.get_option_at_index(i) for i in range(keys.option_count)]
        assert option.value == refused and option.disabled
        hint = str(screen.query_one("#kms-hint", Static).render())
        assert f"{refused.rsplit('/', 1)[1]}: DescribeKey was refused (AccessDeniedException)" in hint


async def test_without_inventory_offers_discovery(moto: None, tmp_path: Path) -> None:
    app = make_app(tmp_path, start_step="buckets")
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        assert screen.query_one("#empty").display and not screen.query_one("#panes").display
        assert "Ctrl+B" in str(screen.query_one("#empty", Static).render())
        await pilot.press("ctrl+r")  # nothing to preview without an inventory
        await idle(pilot)
        assert app.screen is screen and app.state.bucket_choice is None


# -- snapshots -------------------------------------------------------------------------------------


async def settle(pilot: Pilot[Any]) -> None:
    await idle(pilot)  # cursors do not blink in tests (conftest's no_blink)
    await pilot.pause()


async def central(pilot: Pilot[Any]) -> None:
    await settle(pilot)


async def regional(pilot: Pilot[Any]) -> None:
    await idle(pilot)
    await pilot.press("right", "enter")
    await settle(pilot)


async def invalid(pilot: Pilot[Any]) -> None:
    await idle(pilot)
    await type_name(pilot, "Bad_Name..x")
    await settle(pilot)


async def preview(pilot: Pilot[Any]) -> None:
    await idle(pilot)
    await pilot.press("ctrl+r")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PlanReview)


def snap_both(snap_compare: Any, tmp_path: Path, run_before: Any) -> None:
    for size in ((80, 24), (120, 40)):
        app = app_with_inventory(tmp_path)
        assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshot_central(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    snap_both(snap_compare, tmp_path, central)


def test_snapshot_regional(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    snap_both(snap_compare, tmp_path, regional)


def test_snapshot_validation_error(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    snap_both(snap_compare, tmp_path, invalid)


def test_snapshot_preview(seeded: SeedSummary, tmp_path: Path, snap_compare: Any) -> None:
    snap_both(snap_compare, tmp_path, preview)
