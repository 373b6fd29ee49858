"""The diff of an IAM policy change: current vs proposed JSON, syntax-highlighted, read like `git diff`.

`PolicyDiffView` is the scrolling widget: set its reactive `proposal` (a `PolicyProposal`, or None for
nothing) and `side` (side by side, or unified) and it re-renders itself at its width, opening at the
first change; `next_change()` and `previous_change()` move between changes (the screen binds `]`, `[`).

Both renderings (`unified_layout()`, `side_by_side_layout()`) fold each run of unchanged lines into
hunks with `CONTEXT` lines of context, and show the folded count in the fold's place ("⋯ 22 unchanged
lines"). Every row of an added line starts with `+`, of a removed one with `-` (and is coloured). A line
wider than its column is wrapped between JSON tokens (`wrap_line()`), with a hanging indent; a long string
is broken only after `:`, `/`, `-` and the like, never mid-word, so the whole document stays readable.
The diff itself is computed by the engine (`aws.iam.diff`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from aws.iam.diff import DiffLine, change_runs, context_ranges, hunk_header, pretty_json, side_by_side
from aws.iam.proposal import PolicyProposal
from tui.palette import BAD_BOLD, INFO, OK_BOLD

CONTEXT = 3  # unchanged lines shown around each change
HANG = 2  # a wrapped line's next rows are indented this much past the line's own indentation
MIN_BODY = 12  # the narrowest column a line is wrapped to
ADD_BG = "on #15391f"
REMOVE_BG = "on #461a1a"
MARKS = {"+": (OK_BOLD, ADD_BG), "-": (BAD_BOLD, REMOVE_BG)}
SEPARATOR = " │ "  # between the current (left) and the proposed (right) halves

# One JSON token of a pretty-printed line: a string (with the comma or colon after it), a run of spaces,
# or anything else (brackets, numbers, literals, with their comma). A row may break between any two.
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?[,:]?|\s+|[^\s"]+')
WORD_END = re.compile(r"[/:,\-_.=@|]+")  # inside a string too long for a row: where a row may end


def highlighted_lines(doc: object) -> list[Text]:
    code = pretty_json(doc)
    text = Syntax(code, "json", theme="ansi_dark").highlight(code)
    text.spans = [span for span in text.spans if not _is_background(span.style)]  # the screen's own
    text.style = ""
    return text.split("\n", allow_blank=True)[: len(code.splitlines())]


def _is_background(style: str | Style) -> bool:
    parsed = Style.parse(style) if isinstance(style, str) else style
    return parsed.bgcolor is not None and parsed.color is None


def fold_text(count: int) -> str:
    return f"⋯ {count} unchanged line{'' if count == 1 else 's'}"


# -- wrapping a line -------------------------------------------------------------------------------


def _atoms(plain: str, room: int) -> list[tuple[int, int]]:
    """The (start, end) pieces of `plain` a row may not split: its tokens, a string longer than `room`
    cut after each `WORD_END` run in it."""
    atoms: list[tuple[int, int]] = []
    for match in TOKEN.finditer(plain):
        start, end = match.span()
        if plain[start] == '"' and cell_len(plain[start:end]) > room:
            for cut in WORD_END.finditer(plain, start + 1, end - 1):
                atoms.append((start, cut.end()))
                start = cut.end()
        atoms.append((start, end))
    return atoms


def _fit(plain: str, start: int, end: int, width: int) -> int:
    """The furthest offset up to `end` whose text from `start` fits `width` cells (at least one char)."""
    cut = start + 1
    while cut < end and cell_len(plain[start : cut + 1]) <= width:
        cut += 1
    return cut


def wrap_line(text: Text, width: int) -> list[Text]:
    """A line of pretty-printed JSON in rows of at most `width` cells: broken between tokens, the rows
    after the first indented `HANG` past the line's indentation; a string longer than a row is broken
    after a `:`, `/`, `-` (`WORD_END`), and only a word longer than a row is cut where the row ends.
    The rows, without their hanging indent, join into the line."""
    plain = text.plain
    if cell_len(plain) <= width:
        return [text]
    indent = len(plain) - len(plain.lstrip(" "))
    hang = min(indent + HANG, width // 2)
    room = width - hang
    spans: list[tuple[int, int]] = []
    start = end = 0
    available = width
    for atom_start, atom_end in _atoms(plain, room):
        if cell_len(plain[start:atom_end]) <= available:
            end = atom_end
            continue
        if end > start and not plain[start:end].isspace():  # the row is full: the atom starts the next
            spans.append((start, end))
            available, start = room, atom_start
            if plain[atom_start:atom_end].isspace():
                start = end = atom_end
                continue
        while cell_len(plain[start:atom_end]) > available:  # a word longer than a row
            cut = _fit(plain, start, atom_end, available)
            spans.append((start, cut))
            available, start = room, cut
        end = atom_end
    if end > start:
        spans.append((start, end))
    rows = [text[spans[0][0] : spans[0][1]]]
    for row_start, row_end in spans[1:]:
        row = Text(" " * hang)
        row.append_text(text[row_start:row_end])
        rows.append(row)
    return rows


def marked_rows(marker: str, text: Text, width: int) -> list[Text]:
    """`text` wrapped to `width` cells after a two-cell mark: every row of an added line starts with `+`,
    of a removed line with `-` (and has their background)."""
    style, background = MARKS.get(marker, ("", ""))
    out = []
    for body in wrap_line(text, max(MIN_BODY, width - 2)):
        row = Text.assemble((marker if marker in MARKS else " ", style), " ")
        if background:
            body = body.copy()
            body.stylize(background)
        row.append_text(body)
        out.append(row)
    return out


# -- the layouts -----------------------------------------------------------------------------------


@dataclass
class DiffLayout:
    """A diff laid out in terminal rows of a given width, and where each change is."""

    rows: list[Text] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)  # the first row of each change (a run of changes)
    jumps: list[int] = field(default_factory=list)  # each change's scroll row: its context and a line above
    entries: list[int] = field(default_factory=list)  # the first row of each entry (a line, fold, header)

    def add(self, rows: list[Text], *, change: bool = False) -> None:
        if change:
            self.changes.append(len(self.rows))
            self.jumps.append(self.entries[max(0, len(self.entries) - CONTEXT - 1)] if self.entries else 0)
        self.entries.append(len(self.rows))
        self.rows.extend(rows)

    def text(self) -> Text:
        out = Text("\n").join(self.rows)
        out.no_wrap = True  # rows are laid out at the view's width: none may wrap again
        out.end = ""
        return out

    @property
    def plain(self) -> list[str]:
        return [row.plain for row in self.rows]


def unified_layout(proposal: PolicyProposal, width: int) -> DiffLayout:
    """`--- current` / `+++ proposed`, then each hunk's `@@` line and lines, each fold as its count."""
    lines = proposal.diff
    old = highlighted_lines(proposal.merge.current)
    new = highlighted_lines(proposal.merge.proposed)

    def rows(line: DiffLine) -> list[Text]:
        text = new[line.new_no - 1] if line.new_no else old[(line.old_no or 1) - 1]
        return marked_rows(line.marker, text, width)

    out = DiffLayout()
    changed = [line.marker != " " for line in lines]
    if not any(changed):
        out.add([Text("The proposed document is the current one:", style="dim")])
        for line in lines:
            out.add(rows(line))
        return out
    out.add([Text("--- current", style=BAD_BOLD)])
    out.add([Text("+++ proposed", style=OK_BOLD)])
    starts = {start for start, _ in change_runs(changed)}
    shown = 0
    for lo, hi in context_ranges(changed, CONTEXT):
        if lo > shown:
            out.add([Text(fold_text(lo - shown), style="dim")])
        out.add([Text(hunk_header(lines, lo, hi), style=INFO)])
        for i in range(lo, hi):
            out.add(rows(lines[i]), change=i in starts)
        shown = hi
    if shown < len(lines):
        out.add([Text(fold_text(len(lines) - shown), style="dim")])
    return out


def side_by_side_layout(proposal: PolicyProposal, width: int) -> DiffLayout:
    """Current (left) and proposed (right) with line numbers, each fold as its count on both sides."""
    rows = side_by_side(proposal.diff)
    old = highlighted_lines(proposal.merge.current)
    new = highlighted_lines(proposal.merge.proposed)
    digits = max(2, len(str(max(len(old), len(new)))))
    left_width = (width - len(SEPARATOR)) // 2
    halves = (left_width, width - len(SEPARATOR) - left_width)
    gutter = " " * (digits + 1)

    def pair(left: Text | list[Text], right: Text | list[Text]) -> list[Text]:
        sides = [[side] if isinstance(side, Text) else side for side in (left, right)]
        out = []
        for n in range(max(len(side) for side in sides)):
            row = Text()
            for k, (side, half) in enumerate(zip(sides, halves, strict=True)):
                cell = side[n].copy() if n < len(side) else Text()
                cell.truncate(half, pad=True)
                if k:
                    row.append(SEPARATOR, style="dim")
                row.append_text(cell)
            out.append(row)
        return out

    def half(line: DiffLine | None, lines: list[Text], number: int | None, size: int) -> list[Text]:
        if line is None or number is None:
            return [Text()]
        body = marked_rows(line.marker, lines[number - 1], size - len(gutter))
        out = [Text(f"{number:>{digits}} ", style="dim") + body[0]]
        out.extend(Text(gutter) + row for row in body[1:])
        return out

    def fold(count: int) -> list[Text]:
        text = Text(gutter + "  " + fold_text(count), style="dim")
        return pair(text, text)

    version = f" ({proposal.target.version_id})" if proposal.target.version_id else ""
    out = DiffLayout()
    out.add(
        pair(Text(gutter + f"  current{version}", style="bold"), Text(gutter + "  proposed", style="bold"))
    )
    changed = [left is not right for left, right in rows]
    ranges = context_ranges(changed, CONTEXT) if any(changed) else [(0, len(rows))]
    if not any(changed):
        out.add([Text("The proposed document is the current one:", style="dim")])
    starts = {start for start, _ in change_runs(changed)}
    shown = 0
    for lo, hi in ranges:
        if lo > shown:
            out.add(fold(lo - shown))
        for i in range(lo, hi):
            left, right = rows[i]
            cells = (
                half(left, old, left.old_no if left else None, halves[0]),
                half(right, new, right.new_no if right else None, halves[1]),
            )
            out.add(pair(*cells), change=i in starts)
        shown = hi
    if shown < len(rows):
        out.add(fold(len(rows) - shown))
    return out


# -- the widget ------------------------------------------------------------------------------------


class PolicyDiffView(VerticalScroll):
    """The proposal's diff (`#diff-text`), laid out again whenever `proposal`, `side` or the width change."""

    DEFAULT_CSS = f"""
    PolicyDiffView {{ scrollbar-gutter: stable; border-title-color: {INFO}; }}
    """

    proposal: reactive[PolicyProposal | None] = reactive(None, always_update=True, init=False)
    side: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.diff_layout: DiffLayout | None = None
        self.laid_out_width = 0
        self.change = 0  # the change last brought into view (kept when the view is laid out again)

    def compose(self) -> ComposeResult:
        yield Static(id="diff-text")

    def watch_proposal(self) -> None:
        self.change = 0
        self.render_diff()

    def watch_side(self) -> None:
        self.render_diff()

    def on_resize(self, event: events.Resize) -> None:
        if self.text_width() != self.laid_out_width:  # after this layout pass, or it would miss the new rows
            self.call_after_refresh(self.render_diff)

    def text_width(self) -> int:
        static = self.query_one("#diff-text", Static)
        return self.scrollable_content_region.width - static.styles.gutter.width

    def render_diff(self) -> None:
        static = self.query_one("#diff-text", Static)
        proposal, width = self.proposal, self.text_width()
        self.laid_out_width = width
        if proposal is None or width <= 0:  # nothing, or not laid out yet (a resize follows)
            self.diff_layout, self.border_title = None, ""
            static.update("")
            return
        self.diff_layout = (side_by_side_layout if self.side else unified_layout)(proposal, width)
        version = f" ({proposal.target.version_id})" if proposal.target.version_id else ""
        self.border_title = (  # stays in view when the rows scroll
            f"current{version} left, proposed right · v: unified"
            if self.side
            else f"- current{version}  + proposed · v: side by side"
        )
        static.update(self.diff_layout.text())
        self.refresh(layout=True)  # also when laid out from a resize, in the middle of a layout pass
        self.call_after_refresh(self.scroll_when_placed, self.diff_layout)

    def scroll_when_placed(self, layout: DiffLayout, tries: int = 8) -> None:
        """Bring `change` into view once `layout`'s rows are placed (a refresh or two after the update)."""
        if layout is not self.diff_layout:  # laid out again since
            return
        if self.virtual_size.height < len(layout.rows) and tries:
            self.call_after_refresh(self.scroll_when_placed, layout, tries - 1)
            return
        self.show_change(self.change, immediate=True)

    def show_change(self, index: int, *, immediate: bool = False) -> None:
        """Scroll change `index` near the top, its context and the fold or hunk line above it in view."""
        layout = self.diff_layout
        if layout is None or not layout.jumps:
            self.scroll_home(animate=False, immediate=immediate)
            return
        self.change = max(0, min(index, len(layout.jumps) - 1))
        self.scroll_to(y=layout.jumps[self.change], animate=False, immediate=immediate)

    def next_change(self) -> bool:
        """Bring the first change below the top of the view to the top (False: none left to move to)."""
        jumps = self.diff_layout.jumps if self.diff_layout else []
        later = [k for k, row in enumerate(jumps) if row > self.scroll_y]
        if not later or self.scroll_y >= self.max_scroll_y:
            return False
        self.show_change(later[0], immediate=True)
        return True

    def previous_change(self) -> bool:
        """Bring the last change above the top of the view to the top (False: none)."""
        jumps = self.diff_layout.jumps if self.diff_layout else []
        earlier = [k for k, row in enumerate(jumps) if row < self.scroll_y]
        if not earlier:
            return False
        self.show_change(earlier[-1], immediate=True)
        return True
