"""A virtualised checklist table: one widget for thousands of rows, drawn line by line.

Only the visible lines are rendered (Textual's line API), so filtering 2,000 VPCs is a list comprehension
plus a repaint of one screen of lines, and toggling a checkbox repaints one line. No widget per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.palette import BAD_BOLD, INFO, OK

RowKind = Literal["region", "vpc", "resource", "firewall"]  # resource: a subnet, ENI or transit gateway


@dataclass
class ChecklistRow:
    """One line of the checklist. Region rows head their region's VPC (or subnet, ENI, transit gateway)
    and firewall rows."""

    key: str
    kind: RowKind
    region: str
    name: str = ""
    ident: str = ""  # VPC (subnet, ENI, transit gateway) id; for a firewall its FLOW/ALERT status
    verdict: str = ""
    verdict_style: str = ""
    action: str = ""  # short label for the table
    action_text: str = ""  # the full sentence, for the detail line
    needs_action: bool = False
    compliant: bool = False
    reason: str = ""
    short_reason: str = ""  # the reason in a few words, for the table (the detail pane has it whole)
    flow_log_id: str = ""  # the compliant flow log, or the one AWS assigned on apply
    new_flow_log: bool = False
    error: str = ""
    children: list[int] = field(default_factory=list)  # region rows: indexes of their rows
    haystack: str = ""

    def __post_init__(self) -> None:
        if not self.haystack:
            self.haystack = " ".join(
                (self.region, self.name, self.ident, self.verdict, self.action, self.reason, self.flow_log_id)
            ).lower()


# (title, width; 0 = the rest)
_COLUMNS = (
    ("", 3),
    ("Name", 0),
    ("Id / FW logs", 21),
    ("Verdict", 12),
    ("Action", 10),
    ("Flow log / reason", 0),
)
_SHORT_TITLE = {"Flow log / reason": "Log / reason"}  # when the column is narrower than its title


def column_widths(width: int, ident_width: int = 21) -> list[int]:
    """Widths of the columns for a table `width` cells wide (name takes a third of the spare room).

    `ident_width` widens the id column for longer ids (subnet ids are 24 characters)."""
    gaps = len(_COLUMNS) - 1
    fixed = sum(w for _, w in _COLUMNS) - 21 + ident_width
    spare = max(width - fixed - gaps, 20)
    name = max(12, min(28, spare // 2 if width < 100 else spare // 3))
    check, _, _, verdict, action, _ = (w for _, w in _COLUMNS)
    ident = ident_width
    return [check, name, ident, verdict, action, max(spare - name, 8)]


class ChecklistTable(ScrollView, can_focus=True):
    """Rows with a cursor; the screen owns the data (rows, selection) and tells the table to refresh."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="checklist.cursor_up"),
        Binding("down", "cursor(1)", "Down", show=False, id="checklist.cursor_down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="checklist.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="checklist.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="checklist.first"),
        Binding("end", "jump(-1)", "Last", show=False, id="checklist.last"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "checklist-table--header",
        "checklist-table--region",
        "checklist-table--cursor",
    }
    # Region rows are headings: INFO, never $accent (orange, which 16 colours show as red like errors).
    DEFAULT_CSS = f"""
    ChecklistTable {{ background: $surface; height: 1fr; overflow-x: hidden; }}
    ChecklistTable > .checklist-table--header {{ text-style: bold; background: $panel; }}
    ChecklistTable > .checklist-table--region {{ text-style: bold; color: {INFO}; }}
    ChecklistTable > .checklist-table--cursor {{ background: $block-cursor-blurred-background; }}
    ChecklistTable:focus > .checklist-table--cursor {{
        background: $block-cursor-background; color: $block-cursor-foreground;
    }}
    """

    class Highlighted(Message):
        def __init__(self, row: ChecklistRow | None) -> None:
            super().__init__()
            self.row = row

    class Clicked(Message):
        """A click on a row's checkbox."""

        def __init__(self, row: ChecklistRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[ChecklistRow] = []
        self.shown: list[int] = []
        self.selected: set[str] = set()
        self.cursor = 0
        self.ident_width = 21

    # -- data -----------------------------------------------------------------------------------------
    def set_rows(self, rows: list[ChecklistRow], shown: list[int]) -> None:
        key = self.current.key if self.current else None
        self.rows = rows
        self.show(shown, keep=key)

    def show(self, visible: list[int], *, keep: str | None = None) -> None:
        """Show these rows (indexes into `rows`); keep the cursor on `keep` when it is still shown."""
        self.shown = visible
        index = 0
        if keep is not None:
            index = next((n for n, i in enumerate(visible) if self.rows[i].key == keep), 0)
        self.cursor = index
        self.virtual_size = Size(self.scrollable_content_region.width, len(visible) + 1)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    @property
    def current(self) -> ChecklistRow | None:
        if 0 <= self.cursor < len(self.shown):
            return self.rows[self.shown[self.cursor]]
        return None

    # -- cursor ---------------------------------------------------------------------------------------
    def move_to(self, index: int) -> None:
        if not self.shown:
            return
        old = self.cursor
        self.cursor = max(0, min(index, len(self.shown) - 1))
        if old != self.cursor:
            self._scroll_to_cursor()
            self.refresh()
            self.post_message(self.Highlighted(self.current))

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(self.scrollable_content_region.height - 2, 1))

    def action_jump(self, where: int) -> None:
        self.move_to(len(self.shown) - 1 if where < 0 else 0)

    def _scroll_to_cursor(self) -> None:
        rows_shown = max(self.scrollable_content_region.height - 1, 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + rows_shown:
            self.scroll_to(y=self.cursor - rows_shown + 1, animate=False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.shown) + 1)
        self._scroll_to_cursor()

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = round(self.scroll_offset.y) + event.y - 1
        if index >= len(self.shown):
            return
        self.move_to(index)
        if event.x < 4:
            self.post_message(self.Clicked(self.rows[self.shown[index]]))

    # -- drawing --------------------------------------------------------------------------------------
    def checkbox(self, row: ChecklistRow) -> str:
        if row.kind != "region":
            return "[x]" if row.key in self.selected else "[ ]"
        picked = sum(self.rows[i].key in self.selected for i in row.children)
        if not row.children or picked == 0:
            return "[ ]"
        return "[x]" if picked == len(row.children) else "[-]"

    def _cells(self, row: ChecklistRow, widths: list[int], base: Style) -> list[Segment]:
        """The line's segments: each cell cut or padded to its column (no Text layout: this is per line)."""
        if row.kind == "region":
            return [Segment(f"{self.checkbox(row)} {row.name}", base)]
        if row.error:
            last, last_style = f"error: {row.error}", BAD_BOLD
        elif row.flow_log_id:
            last, last_style = row.flow_log_id + (" (new)" if row.new_flow_log else ""), OK
        else:
            last, last_style = row.short_reason or row.reason, ""
        cells = (
            (self.checkbox(row), ""),
            (row.name, ""),
            (row.ident, "dim" if row.kind == "firewall" else ""),
            (row.verdict, row.verdict_style),
            (row.action, "bold" if row.needs_action else "dim"),
            (last, last_style),
        )
        segments: list[Segment] = []
        gap = Segment(" ", base)
        for n, ((value, style), width) in enumerate(zip(cells, widths, strict=True)):
            if cell_len(value) > width:
                value = set_cell_size(value, width - 1) + "…"
            segments.append(Segment(set_cell_size(value, width), base + _style(style) if style else base))
            if n < len(cells) - 1:
                segments.append(gap)
        return segments

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = column_widths(width, self.ident_width)
        if y == 0:
            titles = [
                (title if len(title) <= w else _SHORT_TITLE.get(title, title)).ljust(w)[:w]
                for (title, _), w in zip(_COLUMNS, widths, strict=True)
            ]
            style = self.rich_style + self.get_component_rich_style("checklist-table--header")
            return Strip([Segment(" ".join(titles), style)]).adjust_cell_length(width, style)
        index = round(self.scroll_offset.y) + y - 1
        if index >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        row = self.rows[self.shown[index]]
        style = self.rich_style
        if row.kind == "region":
            style += self.get_component_rich_style("checklist-table--region")
        if index == self.cursor:
            style += self.get_component_rich_style("checklist-table--cursor")
        return Strip(self._cells(row, widths, style)).crop_extend(0, width, style)


@lru_cache(maxsize=64)
def _style(name: str) -> Style:
    return Style.parse(name)
