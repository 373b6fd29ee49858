"""The IAM policy diff viewer, driven through Textual's pilot on the seeded demo account: the Kentik
role's policy is found, the diff shown, applied (rotating a version at 5), rolled back and re-applied;
a no-op shows "no change needed"; a concurrent edit is refused and the diff refreshed. At 80x24 the
screen shows its title, several rows of the diff (opened at the first change; `]`/`[` move between
changes), the verdict and every footer key; the keys it names work from where the focus is."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from app_fixtures import make_app
from member_accounts import member_session
from terminal_checks import footer_keys, screen_lines
from test_diff_view import two_change_proposal
from textual.app import App
from textual.widgets import Input, OptionList, Static

from aws.discovery import scan
from aws.iam.accounts import NestedInput
from aws.iam.documents import PolicySource
from aws.iam.requirements import DELETE_RISK, DELETE_SID, READ_SID
from aws.iam.rollback import load_record
from aws.sandbox.seed import SeedSummary
from screens import policy_diff
from screens.policy_diff import PolicyDiffScreen
from tui.app import FlowlogsApp
from tui.diff_view import PolicyDiffView
from tui.plan_view import PlanReview
from tui.steps import ALL_STEPS

BUCKET = "northwind-flowlogs-use1"


def policy_app(tmp_path: Path, buckets: dict[str, str] | None = None) -> FlowlogsApp:
    app = make_app(tmp_path, start_step="policy")
    assert app.session is not None
    app.state.inventory = scan(app.session, include=["us-east-1"])
    app.state.buckets = {"us-east-1": BUCKET} if buckets is None else buckets
    return app


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def info(screen: PolicyDiffScreen) -> str:
    return str(screen.query_one("#info-text", Static).content)


def diff_text(screen: PolicyDiffScreen) -> str:
    return str(screen.query_one("#diff-text", Static).content)


def terminal(app: FlowlogsApp) -> list[str]:
    return screen_lines(cast("App[object]", app))  # App[int] is an App[object] to read


def diff_rows(app: FlowlogsApp) -> list[str]:
    """The diff pane's rows as the terminal shows them (inside its top border), stripped."""
    region = app.screen.query_one(PolicyDiffView).scrollable_content_region  # without the scrollbar
    return [line[region.x : region.right].strip() for line in terminal(app)[region.y : region.bottom]]


def default_doc(iam: Any, arn: str) -> tuple[str, dict[str, Any]]:
    vid = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=vid)["PolicyVersion"]["Document"]
    return vid, doc if isinstance(doc, dict) else json.loads(doc)


def version_ids(iam: Any, arn: str) -> list[str]:
    return sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])


def sids(doc: dict[str, Any]) -> list[str]:
    statements = doc["Statement"]
    return [s.get("Sid", "") for s in (statements if isinstance(statements, list) else [statements])]


async def apply_from_screen(pilot: Any, *, destructive: bool) -> PlanReview:
    await pilot.press("a")
    await pilot.pause()
    review = pilot.app.screen
    assert isinstance(review, PlanReview)
    await pilot.press("a")
    await pilot.pause()
    await pilot.press("y")  # apply these changes?
    await pilot.pause()
    if destructive:
        await pilot.press("y")  # also the destructive one (deleting the oldest version)?
        await pilot.pause()
    await settle(pilot)
    assert review.report is not None
    await pilot.press("escape")
    await settle(pilot)
    return review


async def test_find_apply_rotate_rollback_reapply(seeded: SeedSummary, tmp_path: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = seeded.metadata_policy_arn
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        assert screen.query_one("#source", Input).value == seeded.kentik_role_name
        proposal = screen.proposal
        assert proposal is not None and proposal.target.policy_arn == arn
        seeded_default = f"v{seeded.metadata_policy_versions}"
        assert seeded.metadata_policy_versions < 5
        assert proposal.target.version_id == seeded_default and proposal.rotation is None
        assert "adds 1 statement, changes 0, removes 0" in info(screen)
        assert f"{READ_SID}: lets Kentik read the flow/firewall logs in {BUCKET}" in info(screen)
        assert "Size: 553 of 6,144 chars" in info(screen)  # shorter below 120 columns
        diff = diff_text(screen)
        assert "+++ proposed" in diff  # unified at 80 columns, the added lines marked
        assert f'+       "Sid": "{READ_SID}",' in diff.splitlines()

        # More (non-default) versions: the policy is at the limit of 5, so applying rotates one.
        for _ in range(5 - seeded.metadata_policy_versions):
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(proposal.merge.current))
        await pilot.press("r")
        await settle(pilot)
        proposal = screen.proposal
        assert proposal is not None and proposal.rotation is not None
        assert proposal.rotation.params["VersionId"] == "v1" and proposal.rotation.destructive
        assert "applying first deletes version v1" in info(screen)

        await apply_from_screen(pilot, destructive=True)
        assert app.screen is screen
        vid, doc = default_doc(iam, arn)
        assert vid == "v6" and READ_SID in sids(doc)
        assert version_ids(iam, arn) == ["v2", "v3", "v4", "v5", "v6"]  # v1 rotated out
        assert app.state.kentik_role_arn == seeded.kentik_role_arn
        assert app.state.external_id == seeded.external_id
        assert app.state.deletion_granted == ""
        record = load_record(tmp_path / "policy-rollback.jsonl", arn)
        assert record is not None and (record.previous_version_id, record.applied_version_id) == (
            seeded_default,
            "v6",
        )
        assert screen.proposal is not None and screen.proposal.merge.noop
        assert "No change needed" in info(screen)

        await pilot.press("u")  # roll back: asks first, then sets v3 as the default again
        await pilot.pause()
        review = app.screen
        assert isinstance(review, PlanReview)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("n")  # declined: nothing changes
        await pilot.pause()
        assert default_doc(iam, arn)[0] == "v6"
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        vid, doc = default_doc(iam, arn)
        assert vid == seeded_default and READ_SID not in sids(doc)
        assert screen.proposal is not None and not screen.proposal.merge.noop

        # re-applied: the identical v6 is made default again; the planned rotation of v2 is not needed
        await apply_from_screen(pilot, destructive=True)
        vid, doc = default_doc(iam, arn)
        assert vid == "v6" and READ_SID in sids(doc)
        assert version_ids(iam, arn) == ["v2", "v3", "v4", "v5", "v6"]


async def test_concurrent_edit_is_refused_and_refreshed(seeded: SeedSummary, tmp_path: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = seeded.metadata_policy_arn
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        seeded_default = f"v{seeded.metadata_policy_versions}"
        assert screen.proposal is not None and screen.proposal.target.version_id == seeded_default
        edited = {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "SomeoneElse", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
            ],
        }
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(edited), SetAsDefault=True)
        review = await apply_from_screen(pilot, destructive=False)
        assert review.report is not None and not review.report.ok
        newer = f"v{seeded.metadata_policy_versions + 1}"
        assert default_doc(iam, arn) == (newer, edited)  # the other edit is kept: no lost update
        assert screen.proposal is not None and screen.proposal.target.version_id == newer
        assert screen.proposal.merge.current == edited
        refused = "The policy changed since the diff was shown; nothing was changed. The diff is refreshed: "
        assert refused + "review it and apply again." in [n.message for n in app._notifications]
        assert not (tmp_path / "policy-rollback.jsonl").exists()


async def test_no_change_needed_with_typed_bucket(seeded: SeedSummary, tmp_path: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = seeded.metadata_policy_arn
    _, doc = default_doc(iam, arn)
    doc["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=True)
    app = policy_app(tmp_path, buckets={})  # no bucket chosen yet: typed
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        assert screen.proposal is None and "type the log bucket names" in info(screen)
        await pilot.click("#buckets")
        await pilot.press(*"northwind-vpc-logs-usw2", "enter")
        await settle(pilot)
        assert screen.proposal is not None and screen.proposal.merge.noop
        assert "No change needed" in info(screen)
        assert app.state.kentik_role_arn == seeded.kentik_role_arn  # usable as it is
        assert app.state.external_id == seeded.external_id
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, PlanReview)
        assert app.session is not None and app.session.stats.mutating() == 0


async def test_deletion_option_and_policy_pick(seeded: SeedSummary, tmp_path: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    other = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:List*", "Resource": "*"}],
    }
    for name in ("first-policy", "second-policy"):
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(other))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="vpc-flow-logs-to-cloudwatch", PolicyArn=arn)
    app = policy_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        assert screen.proposal is not None
        assert DELETE_SID not in json.dumps(screen.proposal.merge.proposed)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # the third option: s3:*
        await settle(pilot)
        assert screen.deletion == "s3:*"
        text = info(screen)
        assert DELETE_RISK in text and "Least-privilege alternative: s3:DeleteObject" in text
        proposed = screen.proposal.merge.proposed
        delete = next(s for s in proposed["Statement"] if s.get("Sid") == DELETE_SID)
        assert delete["Action"] == "s3:*"
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("down", "enter")  # s3:DeleteObject, least privilege
        await settle(pilot)
        delete = next(s for s in screen.proposal.merge.proposed["Statement"] if s.get("Sid") == DELETE_SID)
        assert delete == {
            "Sid": DELETE_SID,
            "Effect": "Allow",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
        assert screen.query_one(PolicyDiffView).side and " │ " in diff_text(screen)  # side by side, wide
        await pilot.press("v")  # the unified view on request
        await pilot.pause()
        assert "+++ proposed" in diff_text(screen) and " │ " not in diff_text(screen)

        # A role with several policies, none of them the metadata policy: the user picks one.
        source = screen.query_one("#source", Input)
        source.value = ""
        await pilot.click("#source")
        await pilot.press(*"vpc-flow-logs-to-cloudwatch", "enter")
        await settle(pilot)
        assert app.screen is not screen  # the picker
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.screen is screen and screen.proposal is not None
        assert screen.proposal.target.policy_arn == "arn:aws:iam::123456789012:policy/second-policy"


MEMBER = "111111111111"
SPOKE = "KentikSpoke"


def make_spoke(app: FlowlogsApp, account: str = MEMBER) -> tuple[Any, str]:
    """A spoke role with a managed metadata policy in a member account (moto: via assume-role)."""
    assert app.session is not None
    member = member_session(app.session, account)
    iam = member.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                # Kentik, and the hub account (the app assumes the spoke role itself by default)
                "Principal": {
                    "AWS": [
                        "arn:aws:iam::834693425129:role/eks-ingest-node",
                        "arn:aws:iam::123456789012:root",
                    ]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=SPOKE, AssumeRolePolicyDocument=json.dumps(trust))
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="spoke-metadata", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=SPOKE, PolicyArn=arn)
    return iam, arn


async def enter_nested(pilot: Any, accounts: str) -> None:
    await settle(pilot)
    await pilot.press("n")  # nested mode: the accounts input has the focus
    await pilot.pause()
    await pilot.press(*accounts, "tab", *SPOKE, "enter")  # spoke role: same as the assumed one
    await settle(pilot)


def account_lines(screen: PolicyDiffScreen) -> list[str]:
    options = screen.query_one("#accounts-list", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_reading_the_accounts_again_leaves_the_focus_on_the_list(
    seeded: SeedSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the policies are read again the screen stays as it is (no loading cover that hides the list
    and moves the focus into a text field, where the next key would be typed)."""
    app = policy_app(tmp_path)
    make_spoke(app)
    release = threading.Event()
    real = policy_diff.nested_proposals

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        return real(*args, **kwargs)

    async with app.run_test(size=(80, 24)) as pilot:
        await enter_nested(pilot, MEMBER)
        options = app.screen.query_one("#accounts-list", OptionList)
        assert app.focused is options
        monkeypatch.setattr(policy_diff, "nested_proposals", held)
        await pilot.press("r")
        for _ in range(5):
            await pilot.pause(0.02)
        focused = app.focused
        release.set()
        await settle(pilot)
    assert focused is options


async def test_nested_accounts_each_get_their_own_diff_and_apply(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    member_iam, arn = make_spoke(app)
    hub_iam = boto3.client("iam", region_name="us-east-1")
    hub_before = default_doc(hub_iam, seeded.metadata_policy_arn)
    async with app.run_test(size=(80, 24)) as pilot:
        await enter_nested(pilot, "111111111111, 12345")
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen) and screen.nested_mode
        assert screen.nested == []  # an invalid account id: refused before any AWS call
        assert [n.message for n in app._notifications] == ["Account ids are 12 digits, not: 12345"]

        accounts = screen.query_one("#accounts", Input)
        accounts.value = ""
        await pilot.click("#accounts")
        await pilot.press(*"111111111111,222222222222", "enter")
        await settle(pilot)
        assert [item.account for item in screen.nested] == [MEMBER, "222222222222"]
        first, second = account_lines(screen)
        assert first.startswith(MEMBER) and "spoke-metadata" in first and "adds 1 statement" in first
        # no such role there: AWS refuses the AssumeRole itself (it never says whether the role exists)
        assert second.startswith("222222222222  error: Could not assume arn:aws:iam::222222222222:role/")
        proposal = screen.proposal
        assert proposal is not None and proposal.target.policy_arn == arn
        assert proposal.target.account == MEMBER
        assert "spoke-metadata (managed, default v1" in info(screen)  # shorter below 120 columns
        assert "adds 1 statement, changes 0" in info(screen)
        assert f'+       "Sid": "{READ_SID}",' in diff_text(screen).splitlines()

        await pilot.press("down")  # the second account: its error, no diff
        await pilot.pause()
        assert screen.proposal is None and diff_text(screen) == ""
        assert "Account 222222222222" in info(screen) and "trust policy" in info(screen)
        await pilot.press("a")  # nothing to apply there
        await pilot.pause()
        assert not isinstance(app.screen, PlanReview)
        await pilot.press("up")
        await pilot.pause()
        assert screen.proposal is proposal

        await pilot.press("a")
        await pilot.pause()
        review = app.screen
        assert isinstance(review, PlanReview)
        assert review.plan.account == MEMBER and review.apply_session is screen.nested[0].session
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert review.report is not None and review.report.ok
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and screen.nested_mode

        vid, doc = default_doc(member_iam, arn)  # the member account's own policy got the statement
        assert vid == "v2" and READ_SID in sids(doc)
        assert default_doc(hub_iam, seeded.metadata_policy_arn) == hub_before  # the hub's is untouched
        record = load_record(tmp_path / "policy-rollback.jsonl", arn, MEMBER)
        assert record is not None and (record.previous_version_id, record.applied_version_id) == ("v1", "v2")
        assert screen.proposal is not None and screen.proposal.merge.noop  # refreshed
        assert "no change needed" in account_lines(screen)[0]
        assert app.focused is screen.query_one("#accounts-list", OptionList)  # keys keep working

        await pilot.press("n")  # back to the standard configuration, its diff as it was
        await pilot.pause()
        assert not screen.nested_mode and screen.proposal is not None
        assert screen.proposal.target.policy_arn == seeded.metadata_policy_arn


async def confirm_review(pilot: Any, account: str) -> None:
    review = pilot.app.screen
    assert isinstance(review, PlanReview) and review.plan.account == account
    await pilot.press("a")
    await pilot.pause()
    await pilot.press("y")
    await settle(pilot)
    assert review.report is not None and review.report.ok
    await pilot.press("escape")
    await settle(pilot)


async def test_nested_apply_all_then_roll_back_one(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    iam1, arn1 = make_spoke(app)
    iam3, arn3 = make_spoke(app, "333333333333")
    async with app.run_test(size=(80, 24)) as pilot:
        await enter_nested(pilot, "111111111111,333333333333")
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        assert [item.needs_change for item in screen.nested] == [True, True]
        await pilot.press("A")  # one review per account, one after the other
        await settle(pilot)
        await confirm_review(pilot, MEMBER)
        await confirm_review(pilot, "333333333333")
        assert app.screen is screen
        assert default_doc(iam1, arn1)[0] == default_doc(iam3, arn3)[0] == "v2"
        assert all(item.proposal and item.proposal.merge.noop for item in screen.nested)
        assert "Applied in 111111111111. Press u to roll back (make v1" in info(screen)

        await pilot.press("u")  # the selected account only, with its own assumed session
        await settle(pilot)  # the rollback review is made in a worker (a pause is not enough under load)
        await confirm_review(pilot, MEMBER)
        vid, doc = default_doc(iam1, arn1)
        assert vid == "v1" and READ_SID not in sids(doc)
        assert default_doc(iam3, arn3)[0] == "v2"
        assert screen.nested[0].needs_change and not screen.nested[1].needs_change


def test_nested_input_parsing() -> None:
    given = NestedInput.parse("111111111111, 222222222222,111111111111", " Admin ", "", "ext")
    assert given == NestedInput(("111111111111", "222222222222"), "Admin", "Admin", "ext")
    assert NestedInput.parse("111111111111", "Admin", "Spoke", "").spoke_role == "Spoke"
    with pytest.raises(Exception, match="12 digits"):
        NestedInput.parse("1111111111111", "Admin", "", "")
    with pytest.raises(Exception, match="account ids"):
        NestedInput.parse(" , ", "Admin", "", "")
    with pytest.raises(Exception, match="role to assume"):
        NestedInput.parse("111111111111", "", "", "")
    with pytest.raises(Exception, match="not its ARN"):
        NestedInput.parse("111111111111", "arn:aws:iam::111111111111:role/x", "", "")


def test_the_screen_makes_no_aws_call_itself() -> None:
    """The role lookup, the apply's rollback record and the rest are engine calls (aws.iam), made from
    the screen's thread workers: the screen has no client and declares no permissions."""
    source = Path(policy_diff.__file__).read_text(encoding="utf-8")
    assert (".client(" in source, "PERMISSIONS" in source, "boto3" in source) == (False, False, False)


def test_policy_source_parsing() -> None:
    assert PolicySource.parse(" kentik ") == PolicySource(role_name="kentik")
    assert PolicySource.parse("arn:aws:iam::123456789012:role/path/kentik") == PolicySource(
        role_name="kentik"
    )
    arn = "arn:aws:iam::123456789012:policy/p"
    assert PolicySource.parse(arn) == PolicySource(policy_arn=arn)
    with pytest.raises(Exception, match="neither a role"):
        PolicySource.parse("arn:aws:s3:::bucket")


# -- 80x24: what the screen shows, and the keys it names -------------------------------------------


async def test_at_80x24_the_title_the_verdict_and_a_dozen_diff_rows_are_on_screen(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = terminal(app)
        assert "4 IAM policy" in lines[1]
        assert any("adds 1 statement, changes 0, removes 0" in line for line in lines)  # the verdict
        rows = diff_rows(app)
        assert len([row for row in rows if row]) >= 12


async def test_the_diff_opens_at_the_first_change(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = diff_rows(app)
        # not at line 1 ("--- current"): the hunk's @@ line, its 3 lines of context, then the change
        assert rows[0].startswith("@@ -23,") and rows[1:4] == [
            '"network-firewall:List*"',
            "],",
            '"Resource": "*"',
        ]
        assert rows[4:7] == ["+     },", "+     {", f'+       "Sid": "{READ_SID}",']


async def test_brackets_move_to_the_next_and_the_previous_change(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        screen.proposal = two_change_proposal()  # Effect changed in statement 2, Resource in statement 7
        await settle(pilot)
        first = ['-       "Effect": "Allow",', '+       "Effect": "Deny",']
        second = ['-       "Resource": "*"', '+       "Resource": [']
        rows = diff_rows(app)
        assert rows[0] == "@@ -21,7 +21,7 @@" and rows[4:6] == first
        assert second[0] not in rows
        await pilot.press("]")
        await pilot.pause()
        rows = diff_rows(app)
        at = rows.index(second[0])
        assert rows[at - 4] == "@@ -71,7 +71,9 @@" and rows[at : at + 2] == second  # its context above it
        assert first[0] not in rows
        await pilot.press("[")
        await pilot.pause()
        assert diff_rows(app)[0] == "@@ -21,7 +21,7 @@"


@pytest.mark.parametrize("nested", [False, True], ids=["standard", "nested"])
async def test_every_footer_key_fits_at_80_columns(seeded: SeedSummary, tmp_path: Path, nested: bool) -> None:
    app = policy_app(tmp_path)
    make_spoke(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if nested:
            await enter_nested(pilot, "111111111111,222222222222")
        keys = footer_keys(cast("App[object]", app))
        wanted = {"Apply", "Next change", "Prev change", "Next", "Back"} | (
            {"Apply all"} if nested else set()
        )
        assert wanted <= set(keys)
        assert [key for key, whole in keys.items() if not whole] == []


async def test_nested_at_80x24_shows_each_account_verdict_and_the_diff(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path)
    make_spoke(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await enter_nested(pilot, "111111111111,222222222222")
        lines = terminal(app)
        assert any(f"{MEMBER}  spoke-metadata  adds 1 statement" in line for line in lines)
        assert any("222222222222  error: Could not assume" in line for line in lines)
        rows = diff_rows(app)
        assert rows[0].startswith("@@ ") and len([row for row in rows if row]) >= 9


async def test_nested_mode_is_left_with_esc_then_n_from_the_field_it_focuses(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        await pilot.press("n")
        await pilot.pause()
        accounts = screen.query_one("#accounts", Input)
        assert screen.nested_mode and app.focused is accounts
        assert "Esc then n returns to the standard configuration" in info(screen)
        await pilot.press("n")  # the field takes the letter: that is why the text says Esc first
        await pilot.pause()
        assert screen.nested_mode and accounts.value == "n"
        await pilot.press("escape", "n")
        await pilot.pause()
        assert not screen.nested_mode


async def test_unified_below_120_columns_side_by_side_from_120_and_the_toggle_sticks(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(119, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PolicyDiffScreen)
        view = screen.query_one(PolicyDiffView)
        assert not view.side and "+++ proposed" in diff_text(screen)
        assert str(view.border_title).endswith("v: side by side")  # the other view's key, said where it acts
        await pilot.resize_terminal(120, 30)
        await settle(pilot)
        assert view.side and " │ " in diff_text(screen)
        await pilot.press("v")  # the user's choice: unified, whatever the width
        await pilot.pause()
        assert not view.side
        await pilot.resize_terminal(200, 30)
        await settle(pilot)
        assert not view.side
        await pilot.resize_terminal(80, 24)
        await pilot.press("v")
        await settle(pilot)
        assert view.side and diff_rows(app)[0].startswith("⋯ 22 unchanged lines")  # at the first change


# -- snapshots -------------------------------------------------------------------------------------


@pytest.fixture
def fixed_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step bar lists every step, whichever screens exist yet, so snapshots don't depend on that."""
    monkeypatch.setattr("tui.app.available_steps", lambda: list(ALL_STEPS))


async def _ready(pilot: Any) -> None:
    await settle(pilot)


def test_snapshot_wide_side_by_side(
    seeded: SeedSummary, tmp_path: Path, fixed_steps: None, snap_compare: Any
) -> None:
    assert snap_compare(policy_app(tmp_path), terminal_size=(120, 40), run_before=_ready)


def test_snapshot_narrow_unified(
    seeded: SeedSummary, tmp_path: Path, fixed_steps: None, snap_compare: Any
) -> None:
    assert snap_compare(policy_app(tmp_path), terminal_size=(80, 24), run_before=_ready)


async def _nested_ready(pilot: Any) -> None:
    await enter_nested(pilot, "111111111111,222222222222")


def test_snapshot_nested_narrow(
    seeded: SeedSummary, tmp_path: Path, fixed_steps: None, snap_compare: Any
) -> None:
    app = policy_app(tmp_path)
    make_spoke(app)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_nested_ready)


async def test_buckets_chosen_after_a_first_visit_replace_the_filled_in_ones(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path, buckets={})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.state.buckets = {"us-east-1": BUCKET}  # as the bucket step does, once chosen there
        await pilot.press("ctrl+b")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        field = app.screen.query_one("#buckets", Input)
    assert field.value == BUCKET


async def test_typed_buckets_are_kept_when_the_step_is_back(seeded: SeedSummary, tmp_path: Path) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#buckets", Input).value = "typed-by-hand"
        app.state.buckets = {"us-east-1": "chosen-later"}
        await pilot.press("ctrl+b")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        field = app.screen.query_one("#buckets", Input)
    assert field.value == "typed-by-hand"


async def test_a_role_that_is_not_there_is_named_on_the_screen_not_only_in_a_toast(
    seeded: SeedSummary, tmp_path: Path
) -> None:
    app = policy_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        field = screen.query_one("#source", Input)
        field.value = "no-such-role"
        field.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "Could not compute the change: Role no-such-role was not found" in info(screen)
