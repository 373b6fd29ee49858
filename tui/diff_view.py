"""The diff of an IAM policy change: current vs proposed JSON, syntax-highlighted, every change marked.

`PolicyDiffView` is the scrolling widget: set its reactive `proposal` (a `PolicyProposal`, or None for
nothing) and `side` (side by side, or unified) and it re-renders itself, bringing the first change
into view. `render_side_by_side()` (every line, current left and proposed right, with line numbers) and
`render_unified()` (hunks with `CONTEXT` unchanged lines around each change) are the two renderings;
the diff itself is computed by the engine (`aws.iam.diff`).
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from aws.iam.diff import DiffLine, hunk_ranges, pretty_json, side_by_side
from aws.iam.proposal import PolicyProposal

CONTEXT = 3  # unified view: unchanged lines shown around each change
ADD_BG = "on #15391f"
REMOVE_BG = "on #461a1a"


def highlighted_lines(doc: object) -> list[Text]:
    code = pretty_json(doc)
    text = Syntax(code, "json", theme="ansi_dark").highlight(code)
    text.spans = [span for span in text.spans if not _is_background(span.style)]  # the screen's own
    text.style = ""
    return text.split("\n", allow_blank=True)[: len(code.splitlines())]


def _is_background(style: str | Style) -> bool:
    parsed = Style.parse(style) if isinstance(style, str) else style
    return parsed.bgcolor is not None and parsed.color is None


def _marked(line: DiffLine, text: Text) -> Text:
    out = Text()
    if line.marker == "+":
        out.append("+ ", style="bold green")
        body = text.copy()
        body.stylize(ADD_BG)
    elif line.marker == "-":
        out.append("- ", style="bold red")
        body = text.copy()
        body.stylize(REMOVE_BG)
    else:
        out.append("  ")
        body = text
    out.append_text(body)
    return out


def render_side_by_side(proposal: PolicyProposal) -> Table:
    """Current (left) and proposed (right), every line, with line numbers."""
    old = highlighted_lines(proposal.merge.current)
    new = highlighted_lines(proposal.merge.proposed)
    version = f" ({proposal.target.version_id})" if proposal.target.version_id else ""
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim", width=3, no_wrap=True)
    table.add_column(f"current{version}", ratio=1, overflow="fold")
    table.add_column("#", justify="right", style="dim", width=3, no_wrap=True)
    table.add_column("proposed", ratio=1, overflow="fold")
    for left, right in side_by_side(proposal.diff):
        cells: list[RenderableType] = []
        for line, lines, number in (
            (left, old, left.old_no if left else None),
            (right, new, right.new_no if right else None),
        ):
            if line is None or number is None:
                cells.extend(["", ""])
            else:
                cells.extend([str(number), _marked(line, lines[number - 1])])
        table.add_row(*cells)
    return table


def render_unified(proposal: PolicyProposal) -> Text:
    """Unified diff with hunks (CONTEXT unchanged lines around each change)."""
    lines = proposal.diff
    old = highlighted_lines(proposal.merge.current)
    new = highlighted_lines(proposal.merge.proposed)
    out = Text()
    hunks = hunk_ranges(lines, CONTEXT)
    if not hunks:
        out.append("The proposed document is the current one.", style="dim")
        return out
    out.append("--- current\n", style="bold red")
    out.append("+++ proposed", style="bold green")
    for lo, hi in hunks:
        part = lines[lo:hi]
        first_old = next((ln.old_no for ln in part if ln.old_no), 0)
        first_new = next((ln.new_no for ln in part if ln.new_no), 0)
        n_old = sum(1 for ln in part if ln.marker != "+")
        n_new = sum(1 for ln in part if ln.marker != "-")
        out.append(f"\n@@ -{first_old},{n_old} +{first_new},{n_new} @@", style="cyan")
        for ln in part:
            text = new[ln.new_no - 1] if ln.new_no else old[(ln.old_no or 1) - 1]
            out.append("\n")
            out.append_text(_marked(ln, text))
    return out


class PolicyDiffView(VerticalScroll):
    """The proposal's diff (`#diff-text`), re-rendered whenever `proposal` or `side` is set."""

    proposal: reactive[PolicyProposal | None] = reactive(None, always_update=True, init=False)
    side: reactive[bool] = reactive(False, init=False)

    def compose(self) -> ComposeResult:
        yield Static(id="diff-text")

    def watch_proposal(self) -> None:
        self.render_diff()

    def watch_side(self) -> None:
        self.render_diff()

    def render_diff(self) -> None:
        static = self.query_one("#diff-text", Static)
        proposal = self.proposal
        if proposal is None:
            static.update("")
            return
        static.update(render_side_by_side(proposal) if self.side else render_unified(proposal))
        if self.side:  # bring the first change into view
            rows = side_by_side(proposal.diff)
            first = next((i for i, (lt, rt) in enumerate(rows) if lt != rt), 0)
            self.scroll_to(y=max(0, first - CONTEXT), animate=False)
        else:
            self.scroll_home(animate=False)
