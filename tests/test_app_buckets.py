"""The bucket strategy screen, driven with keys on the seeded demo account: plan and apply both
strategies (account-regional and global names), name validation (once typing pauses) that refuses a
preview, the SSE-KMS key picker; what the screen shows is current (after leaving and coming back, after
switching encryption or strategy) and says what the next steps get; 80x24 fit; snapshots at 80x24 and
120x40."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from app_fixtures import make_app, seeded_inventory
from terminal_checks import footer_keys, screen_lines
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton, Select, SelectionList, Static

import screens.bucket_strategy as bucket_strategy
from aws.plans.build import resources_by_region
from aws.s3.kms import list_customer_managed_keys
from aws.sandbox.seed import SeedSummary
from screens.bucket_strategy import CHECK_DELAY, SUGGESTED, SUGGESTED_PREFIX, BucketStrategyScreen
from screens.checklist import ChecklistScreen
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


async def checked(pilot: Pilot[Any]) -> None:
    """Wait until what was typed is checked (once typing pauses for CHECK_DELAY)."""
    await pilot.pause(CHECK_DELAY + 0.05)
    await pilot.pause()


async def type_name(pilot: Pilot[Any], name: str, *, paste: bool = False) -> None:
    """From the strategy radio set (initial focus): Tab to the name, replace it with `name`, typed key by
    key or, with `paste`, pasted at once; then wait for the check."""
    await pilot.press("tab")
    field = pilot.app.focused
    assert isinstance(field, Input) and field.id == "bucket"
    await pilot.press("ctrl+a", "ctrl+k")  # home, delete to the end
    if paste:
        field.insert_text_at_cursor(name)
    else:
        await pilot.press(*name)
    await checked(pilot)


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
            "s3.tag-bucket",
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
        assert str(screen.query_one("#status", Static).render()).startswith("✗ Not saved: fix the problems")
        assert app.session.stats.mutating() == 0


@pytest.mark.parametrize("days", ["36501", "99999999999999999999", "0"])
async def test_lifecycle_days_out_of_range_are_refused_before_the_preview(
    seeded: SeedSummary, tmp_path: Path, days: str
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        screen.query_one("#lifecycle", Checkbox).value = True
        screen.query_one("#lifecycle-days", Input).value = days
        await pilot.pause()
        assert screen.lifecycle_days() == (
            None,
            ["Lifecycle rule: enter a whole number of days from 1 to 36500 (or untick it)."],
        )


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


# -- what is shown is current ------------------------------------------------------------------------
SECURE = "northwind-kentik-secure"


def shown(app: FlowlogsApp) -> str:
    """The rendered screen, rows joined."""
    return "\n".join(screen_lines(app))


async def kms_in_eu_central_1(pilot: Pilot[Any]) -> BucketStrategyScreen:
    """From the start: a global name, the central bucket in eu-central-1, SSE-KMS (no key picked yet)."""
    screen = pilot.app.screen
    assert isinstance(screen, BucketStrategyScreen)
    await type_name(pilot, SECURE, paste=True)
    await untick_account_regional(pilot)
    await pilot.press("tab")  # to the region
    await pick_region(pilot, screen.query_one("#region", Select), "eu-central-1")
    await pilot.press("tab", "right", "enter")  # encryption: SSE-KMS
    await idle(pilot)
    assert screen.kms
    return screen


async def pick_listed_key(pilot: Pilot[Any]) -> None:
    """From the encryption radio set: Tab to the key list, Space picks the highlighted (first) key."""
    await pilot.press("tab")
    assert isinstance(pilot.app.focused, SelectionList)
    await pilot.press("space")
    await idle(pilot)


async def apply_one_checklist_row(pilot: Pilot[Any]) -> None:
    """On the checklist: select nothing, toggle the first row, review and apply (its rescan replaces the
    inventory the bucket step was built from)."""
    assert isinstance(pilot.app.screen, ChecklistScreen)
    await pilot.press("n", "space", "ctrl+r")
    await idle(pilot)
    review = pilot.app.screen
    assert isinstance(review, PlanReview)
    await pilot.press("a", "y")
    await idle(pilot)
    assert review.report is not None and review.report.ok, review.report
    await pilot.press("escape")
    await idle(pilot)


async def test_back_at_the_step_after_the_checklist_applied_no_stale_key_error_shows_next_to_applied(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    """The issue's sequence: SSE-KMS without a key (refused), a key picked, applied, on to the checklist
    which applies too (and rescans), back: the key list is listed again and its verdict follows it."""
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = await kms_in_eu_central_1(pilot)
        assert "SSE-KMS needs" in str(screen.query_one("#kms-problems", Static).render())
        await pick_listed_key(pilot)
        await pilot.press("ctrl+r")
        await idle(pilot)
        await apply_review(pilot)
        await pilot.press("ctrl+n")
        await idle(pilot)
        built_from = app.state.inventory
        await apply_one_checklist_row(pilot)
        assert app.state.inventory is not built_from  # the checklist's rescan
        await pilot.press("ctrl+b")
        await idle(pilot)
        assert app.screen is screen
        assert str(screen.query_one("#status", Static).render()).startswith("✓ Applied")
        assert str(screen.query_one("#kms-problems", Static).render()).strip() == ""
        assert "SSE-KMS needs" not in shown(app)


async def test_a_key_kept_through_sse_s3_is_shown_as_the_key_used_when_sse_kms_is_back(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = await kms_in_eu_central_1(pilot)
        await pick_listed_key(pilot)
        await pilot.press("shift+tab", "left", "enter")  # SSE-S3: the key is neither shown nor used
        await idle(pilot)
        assert not screen.kms and screen.build_choice()[0].kms_key_arns == []
        assert "Uses:" not in shown(app)
        await pilot.press("right", "enter")  # SSE-KMS again: the kept key is used, and says so
        await idle(pilot)
        assert screen.build_choice()[0].kms_key_arns == [seeded.kms_key_arn]
        used = str(screen.query_one("#kms-used", Static).render())
        assert used.startswith("✓ Uses: alias/northwind-secure-logs") and seeded.kms_key_arn in used
        assert "✓ Uses: alias/northwind-secure-logs" in shown(app)


async def test_the_key_list_marks_the_picked_key_without_colour(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await kms_in_eu_central_1(pilot)
        assert "▐ ▌ eu-central-1  alias/northwind-secure-logs" in shown(app)
        await pick_listed_key(pilot)
        assert "▐X▌ eu-central-1  alias/northwind-secure-logs" in shown(app)


async def test_radio_buttons_and_boxes_show_their_state_without_colour(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        assert "▐●▌ Central bucket   ▐○▌ Regional buckets" in shown(app)
        await pilot.press("right", "enter")
        await pilot.pause()
        assert "▐○▌ Central bucket   ▐●▌ Regional buckets" in shown(app)
        await pilot.press("tab", "tab")  # the namespace box, ticked
        assert "▐X▌ Account-regional" in shown(app)
        await pilot.press("space")
        await pilot.pause()
        assert "▐ ▌ Account-regional" in shown(app)


async def test_a_regional_choice_carries_no_hidden_central_region(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        screen.query_one("#region", Select).value = "eu-west-1"
        await pilot.press("right", "enter")  # Regional buckets: the region selector is hidden
        await pilot.pause()
        assert screen.query_one("#region-row").display is False
        choice = screen.build_choice()[0]
        assert choice.strategy == "regional" and choice.central_region == ""


async def test_leaving_with_an_invalid_name_says_nothing_was_chosen(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await type_name(pilot, "Bad_Name..x")
        await pilot.press("ctrl+n")
        await idle(pilot)
        assert isinstance(app.screen, ChecklistScreen) and app.state.bucket_choice is None
        [notice] = [n for n in app._notifications if n.title == "Bucket step"]
        assert notice.severity == "warning" and notice.message.startswith("Nothing chosen: ")
        assert "Character rule" in notice.message and "the next steps have no bucket" in notice.message


async def test_leaving_with_edits_not_previewed_names_the_choice_the_next_steps_use(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press("ctrl+r")  # preview the suggestion, close the review without applying
        await idle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        await type_name(pilot, "acme-logs")
        await pilot.press("ctrl+n")
        await idle(pilot)
        [notice] = [n for n in app._notifications if n.title == "Bucket step"]
        assert notice.message.startswith("Your edits are not used: the choice shown was not previewed")
        assert f"the next steps use the previewed bucket {SUGGESTED_PREFIX}-{ACCOUNT}-us-east-1-an" in (
            notice.message
        )
        assert app.state.bucket_choice is not None and app.state.bucket_choice.bucket == SUGGESTED_PREFIX


async def test_applied_shows_only_while_the_form_is_what_was_applied(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await pilot.press("ctrl+r")
        await idle(pilot)
        await apply_review(pilot)
        status = screen.query_one("#status", Static)
        assert str(status.render()).startswith("✓ Applied")
        await type_name(pilot, "acme-logs")  # focus came back to the strategy radio set
        assert str(status.render()).startswith("Not previewed: Ctrl+R previews it; until then the next steps")
        await pilot.press("shift+tab")  # back to the strategy radio set, from which type_name starts
        await type_name(pilot, SUGGESTED_PREFIX)
        assert str(status.render()).startswith("✓ Applied")


# -- typing ------------------------------------------------------------------------------------------
async def test_typing_checks_the_name_once_typing_pauses_not_per_key(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bucket_strategy, "CHECK_DELAY", 1.0)  # no pause between keys in this test
    checks: list[str] = []
    update_form = BucketStrategyScreen.update_form

    def counted(self: BucketStrategyScreen) -> None:
        checks.append(self.query_one("#bucket", Input).value)
        update_form(self)

    monkeypatch.setattr(BucketStrategyScreen, "update_form", counted)
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await pilot.press("tab", "ctrl+a", "ctrl+k")
        checks.clear()
        await pilot.press(*"northwind-kentik")
        assert checks == []
        await pilot.pause(1.1)
        await pilot.pause()
        assert checks == ["northwind-kentik"]
        assert f"✓ Valid: northwind-kentik-{ACCOUNT}-us-east-1-an" in str(
            screen.query_one("#name-problems", Static).render()
        )


async def test_enter_before_the_check_previews_nothing_invalid(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bucket_strategy, "CHECK_DELAY", 30.0)  # the check would come long after Enter
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        screen = screen_of(app)
        await pilot.press("tab", "ctrl+a", "ctrl+k", *"Bad_Name..x", "enter")
        await idle(pilot)
        assert app.screen is screen and app.state.bucket_choice is None
        assert "Character rule" in str(screen.query_one("#name-problems", Static).render())


# -- 80x24 -------------------------------------------------------------------------------------------
async def test_at_80x24_every_footer_key_is_whole(seeded: SeedSummary, tmp_path: Path) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        keys = footer_keys(app)
        assert {"Preview", "Next", "Back"} <= set(keys) and all(keys.values()), keys


async def test_at_80x24_the_first_view_shows_title_table_focused_row_and_its_verdict(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = app_with_inventory(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        lines = screen_lines(app)
        assert lines[2].strip() == "Bucket strategy for this account"
        assert lines[3].split() == ["Central", "in", "us-east-1", "✓", "Regional"]
        starts = [line.lstrip().split(" ", 1)[0] for line in lines]
        assert starts.index("Kentik") == 7  # the table's last row
        strategy = starts.index("Strategy")
        assert app.focused is screen_of(app).query_one("#strategy")
        assert "▐●▌ Central bucket" in lines[strategy]
        valid = f"✓ Valid: {SUGGESTED_PREFIX}-{ACCOUNT}-us-east-1-an"
        assert any(valid in line for line in lines[strategy:])
        assert lines[-1].startswith("^r Preview")


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
