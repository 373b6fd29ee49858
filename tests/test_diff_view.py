"""The IAM policy diff's two layouts (`tui.diff_view`), on hand-made documents: unchanged runs fold into
hunks with three lines of context and show what they hide, added and removed rows are marked with + and -
(and coloured), and a line wider than its column wraps between JSON tokens, never mid-word."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text

from aws.iam.diff import change_runs, context_ranges, hunk_ranges, policy_diff
from aws.iam.documents import PolicyTarget
from aws.iam.merge import MergeResult
from aws.iam.proposal import PolicyProposal
from aws.iam.requirements import SizeReport
from tui.diff_view import CONTEXT, DiffLayout, side_by_side_layout, unified_layout, wrap_line
from tui.palette import BAD, OK

LONG_ARN = "arn:aws:s3:::northwind-central-flow-logs-archive-us-east-1/AWSLogs/123456789012/*"
FOLD = re.compile(r"⋯ (\d+) unchanged lines?")


def statement(n: int) -> dict[str, Any]:
    return {"Sid": f"S{n}", "Effect": "Allow", "Action": ["ec2:Describe*", "s3:List*"], "Resource": "*"}


def two_change_proposal() -> PolicyProposal:
    """Eight statements of 9 lines: statement 2's Effect changes, statement 7's Resource becomes a list
    holding a long ARN. The document: 77 lines before, 79 after."""
    current: dict[str, Any] = {"Version": "2012-10-17", "Statement": [statement(n) for n in range(8)]}
    proposed: dict[str, Any] = {"Version": "2012-10-17", "Statement": [statement(n) for n in range(8)]}
    proposed["Statement"][2]["Effect"] = "Deny"
    proposed["Statement"][7]["Resource"] = [LONG_ARN]
    return proposal_of(current, proposed)


def proposal_of(current: dict[str, Any], proposed: dict[str, Any]) -> PolicyProposal:
    target = PolicyTarget("managed", "p", current, policy_arn="arn:aws:iam::1:policy/p", version_id="v3")
    return PolicyProposal(target, MergeResult(current, proposed, [], [], [], SizeReport(100)), [])


def folds(layout: DiffLayout) -> list[int]:
    return [int(count) for row in layout.plain for count in FOLD.findall(row)]


def test_unified_folds_unchanged_runs_showing_how_many_lines_each_hides() -> None:
    proposal = two_change_proposal()
    layout = unified_layout(proposal, 80)
    rows = layout.plain
    # lines 1-20 folded, the first hunk (21-27: 3 lines of context each side), 43 folded, the last hunk
    assert folds(layout) == [20, 43]
    assert rows[:4] == ["--- current", "+++ proposed", "⋯ 20 unchanged lines", "@@ -21,7 +21,7 @@"]
    assert rows[7:9] == ['-       "Effect": "Allow",', '+       "Effect": "Deny",']
    assert rows[12:14] == ["⋯ 43 unchanged lines", "@@ -71,7 +71,9 @@"]
    shown = [row for row in rows[2:] if not FOLD.search(row) and not row.startswith("@@")]
    # every diff line is either on its row or counted in a fold (the long ARN wraps onto two rows)
    assert len(shown) - 1 + sum(folds(layout)) == len(proposal.diff)


def test_side_by_side_folds_the_same_runs_on_both_sides() -> None:
    layout = side_by_side_layout(two_change_proposal(), 120)
    rows = layout.plain
    assert folds(layout) == [20, 20, 43, 43]  # each fold's count on the left and on the right
    left, right = rows[1].split(" │ ")
    assert left.strip() == right.strip() == "⋯ 20 unchanged lines"
    numbered = [int(m.group(1)) for row in rows if (m := re.match(r"\s*(\d+) ", row))]
    assert numbered == [*range(21, 28), *range(71, 78)]  # only the hunks' lines, 3 of context each side


def test_added_and_removed_rows_are_marked_and_coloured_in_both_views() -> None:
    proposal = two_change_proposal()
    console = Console(width=120)
    unified = unified_layout(proposal, 80)
    removed = next(row for row in unified.rows if '"Allow",' in row.plain and row.plain[0] != " ")
    added = next(row for row in unified.rows if '"Deny"' in row.plain)
    assert (removed.plain[0], added.plain[0]) == ("-", "+")
    assert removed.get_style_at_offset(console, 0).color == Style.parse(BAD).color
    assert added.get_style_at_offset(console, 0).color == Style.parse(OK).color

    side = side_by_side_layout(proposal, 120)
    row = next(row for row in side.plain if '"Deny"' in row)
    left, right = row.split(" │ ")
    assert re.match(r"\s*24 - +\"Effect\": \"Allow\",", left) and re.match(
        r"\s*24 \+ +\"Effect\": \"Deny\"", right
    )
    arn_rows = [row.split(" │ ")[1] for row in side.plain if re.search(r"s3:::|AWSLogs", row)]
    assert len(arn_rows) > 1 and all(re.match(r"\s*(\d+)? *\+ ", r) for r in arn_rows)  # each wrapped row


def test_a_long_line_wraps_between_tokens_with_a_hanging_indent_never_mid_word() -> None:
    """The side-by-side columns are narrow: the ARN is wider than its column at 100 columns."""
    layout = side_by_side_layout(two_change_proposal(), 100)
    right = [row.split(" │ ")[1] for row in layout.plain]
    assert all(r.startswith(("75 + ", "   + ")) for r in right if "AWSLogs" in r or "s3:::" in r)
    bodies = [r[len("75 + ") :].rstrip() for r in right]  # after the line number and the mark
    start = next(n for n, body in enumerate(bodies) if body.lstrip().startswith('"arn:'))
    end = next(n for n, body in enumerate(bodies) if body.endswith('/*"'))
    pieces = bodies[start : end + 1]
    assert len(pieces) >= 2  # it does wrap
    indent = len(pieces[0]) - len(pieces[0].lstrip())
    assert all(len(p) - len(p.lstrip()) > indent for p in pieces[1:])  # a hanging indent
    assert "".join(p.strip() for p in pieces) == f'"{LONG_ARN}"'  # nothing lost, nothing added
    for before, after in pairwise(pieces):
        assert not (before.strip()[-1].isalnum() and after.strip()[0].isalnum()), (before, after)


def test_wrap_line_breaks_after_the_key_and_rejoins_into_the_line() -> None:
    line = Text('        "Sid": "KentikFlowLogsReadWithALongName",')
    rows = [row.plain for row in wrap_line(line, 45)]
    assert rows == ['        "Sid": ', '          "KentikFlowLogsReadWithALongName",']
    assert all(len(row) <= 30 for row in wrap_line(Text(f'  "{"x" * 70}"'), 30))  # one long word: cut


def test_each_change_jumps_to_its_context_and_the_line_above() -> None:
    layout = unified_layout(two_change_proposal(), 80)
    assert len(layout.changes) == 2
    for change, jump in zip(layout.changes, layout.jumps, strict=True):
        assert change - jump == CONTEXT + 1  # three lines of context and the hunk's @@ line above it
        assert layout.plain[jump].startswith("@@")


def test_no_change_shows_the_document_whole() -> None:
    doc = {"Version": "2012-10-17", "Statement": [statement(0)]}
    for layout in (
        unified_layout(proposal_of(doc, doc), 80),
        side_by_side_layout(proposal_of(doc, doc), 120),
    ):
        assert folds(layout) == [] and layout.changes == []
        assert any("The proposed document is the current one" in row for row in layout.plain)
        assert sum(1 for row in layout.plain if '"Sid": "S0"' in row) == 1


def test_context_ranges_fold_only_what_a_fold_line_would_save() -> None:
    lines = policy_diff(
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9},
        {"a": 0, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 0},
    )
    changed = [line.marker != " " for line in lines]
    assert context_ranges(changed, 3, min_fold=1) == hunk_ranges(lines, 3)  # the CLI's hunks, as before
    assert hunk_ranges(lines, 3) == [(0, 6), (7, 13)]  # one line between the hunks
    assert context_ranges(changed, 3) == [(0, 13)]  # a fold of one line would hide nothing: shown
    assert change_runs(changed) == [(1, 3), (10, 12)]
