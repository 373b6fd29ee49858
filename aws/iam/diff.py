"""The diff of a policy change, as the viewer and the CLI show it.

`policy_diff()` is a full-context line diff of the pretty-printed documents (`pretty_json`, every line
marked, with its line numbers on both sides); `side_by_side()` pairs its lines into rows (current left,
proposed right); `hunk_ranges()` groups changed lines with their context; `unified_text()` is the classic
unified diff text (empty when nothing changed). For a viewer that folds what is unchanged:
`context_ranges()` groups changed items of any sequence (lines, or side-by-side rows) with their
context, `change_runs()` finds each run of changed items, `hunk_header()` is a hunk's `@@` line.

Pure: no AWS calls.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


def pretty_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class DiffLine:
    marker: Literal[" ", "+", "-"]
    text: str
    old_no: int | None  # 1-based line number in the current document
    new_no: int | None  # 1-based line number in the proposed document

    @property
    def kind(self) -> Literal["same", "add", "remove"]:
        return {" ": "same", "+": "add", "-": "remove"}[self.marker]  # type: ignore[return-value]


def policy_diff(current: Any, proposed: Any) -> list[DiffLine]:
    """Full-context line diff of the pretty-printed documents (every line, marked)."""
    old = pretty_json(current).splitlines()
    new = pretty_json(proposed).splitlines()
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(DiffLine(" ", old[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2))
            continue
        out.extend(DiffLine("-", old[i], i + 1, None) for i in range(i1, i2))
        out.extend(DiffLine("+", new[j], None, j + 1) for j in range(j1, j2))
    return out


def side_by_side(lines: Sequence[DiffLine]) -> list[tuple[DiffLine | None, DiffLine | None]]:
    """Rows (left=current, right=proposed): equal lines side by side, a run of removals paired with
    the run of additions that follows it, the shorter side padded with None."""
    rows: list[tuple[DiffLine | None, DiffLine | None]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.marker == " ":
            rows.append((line, line))
            i += 1
            continue
        removed: list[DiffLine] = []
        added: list[DiffLine] = []
        while i < len(lines) and lines[i].marker == "-":
            removed.append(lines[i])
            i += 1
        while i < len(lines) and lines[i].marker == "+":
            added.append(lines[i])
            i += 1
        for k in range(max(len(removed), len(added))):
            rows.append((removed[k] if k < len(removed) else None, added[k] if k < len(added) else None))
    return rows


def hunk_ranges(lines: Sequence[DiffLine], context: int) -> list[tuple[int, int]]:
    """(start, end) slices of `lines`: each change with `context` unchanged lines around it, overlapping
    or touching ones merged (none when nothing changed)."""
    changed = [i for i, line in enumerate(lines) if line.marker != " "]
    hunks: list[tuple[int, int]] = []
    for i in changed:
        lo, hi = max(0, i - context), min(len(lines), i + context + 1)
        if hunks and lo <= hunks[-1][1]:
            hunks[-1] = (hunks[-1][0], max(hi, hunks[-1][1]))
        else:
            hunks.append((lo, hi))
    return hunks


def context_ranges(changed: Sequence[bool], context: int, *, min_fold: int = 2) -> list[tuple[int, int]]:
    """(start, end) slices of a sequence whose changed items are flagged in `changed`: each changed item
    with `context` unchanged items around it, merged with the next one when fewer than `min_fold`
    unchanged items would lie between them (a fold shorter than that would hide nothing)."""
    ranges: list[tuple[int, int]] = []
    for i, flag in enumerate(changed):
        if not flag:
            continue
        lo, hi = max(0, i - context), min(len(changed), i + context + 1)
        if ranges and lo - ranges[-1][1] < min_fold:
            ranges[-1] = (ranges[-1][0], max(hi, ranges[-1][1]))
        else:
            ranges.append((lo, hi))
    if ranges and 0 < ranges[0][0] < min_fold:  # nor before the first change, nor after the last
        ranges[0] = (0, ranges[0][1])
    if ranges and 0 < len(changed) - ranges[-1][1] < min_fold:
        ranges[-1] = (ranges[-1][0], len(changed))
    return ranges


def change_runs(changed: Sequence[bool]) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of changed items (a removal and the addition replacing it are one)."""
    runs: list[tuple[int, int]] = []
    for i, flag in enumerate(changed):
        if not flag:
            continue
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def hunk_header(lines: Sequence[DiffLine], lo: int, hi: int) -> str:
    """The `@@ -start,count +start,count @@` line of the hunk `lines[lo:hi]`, as in `unified_text()`."""
    part = lines[lo:hi]
    old = [ln for ln in part if ln.marker != "+"]
    new = [ln for ln in part if ln.marker != "-"]
    old_start = next((ln.old_no for ln in old), None) or _before(lines, lo, "old")
    new_start = next((ln.new_no for ln in new), None) or _before(lines, lo, "new")
    return f"@@ -{old_start},{len(old)} +{new_start},{len(new)} @@"


def unified_text(
    lines: Sequence[DiffLine], *, context: int = 3, fromfile: str = "current", tofile: str = "proposed"
) -> str:
    """Classic unified diff text with hunks (empty when nothing changed)."""
    if all(line.marker == " " for line in lines):
        return ""
    out = [f"--- {fromfile}", f"+++ {tofile}"]
    for lo, hi in hunk_ranges(lines, context):
        part = lines[lo:hi]
        old = [ln for ln in part if ln.marker != "+"]
        new = [ln for ln in part if ln.marker != "-"]
        old_start = next((ln.old_no for ln in old), None) or _before(lines, lo, "old")
        new_start = next((ln.new_no for ln in new), None) or _before(lines, lo, "new")
        out.append(f"@@ -{old_start},{len(old)} +{new_start},{len(new)} @@")
        out.extend(f"{ln.marker}{ln.text}" for ln in part)
    return "\n".join(out)


def _before(lines: Sequence[DiffLine], index: int, side: str) -> int:
    for ln in reversed(lines[:index]):
        no = ln.old_no if side == "old" else ln.new_no
        if no is not None:
            return no
    return 0
