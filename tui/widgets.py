"""Widgets shared by every screen: the context bar (who/where/read-only) and the step bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.content import Content
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Checkbox, Footer, RadioButton, SelectionList

if TYPE_CHECKING:
    from aws.session import Identity

from tui.layout import WIDE
from tui.palette import BAD_BOLD, BADGE_DEMO, BADGE_READ_ONLY, BADGE_READ_WRITE
from tui.steps import Step


class ContextBar(Widget):
    """One line: account, identity, profile, region and read-only state. Never shows a clock."""

    DEFAULT_CSS = """
    ContextBar { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    """

    identity: reactive[Identity | None] = reactive(None)
    profile: reactive[str] = reactive("")
    aws_region: reactive[str] = reactive("")
    read_only: reactive[bool] = reactive(False)
    demo: reactive[bool] = reactive(False)
    starting: reactive[bool] = reactive(False)  # the demo sandbox is starting
    problem: reactive[str] = reactive("")

    def render(self) -> Text:
        # The safety state comes first, so a narrow terminal cuts the identity, never DEMO or READ-ONLY.
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("flowlogs ", style="bold")
        if self.demo:
            text.append(" DEMO ", style=BADGE_DEMO)
            text.append(" ")
        if self.read_only:
            text.append(" READ-ONLY ", style=BADGE_READ_ONLY)
        else:
            text.append(" read-write ", style=BADGE_READ_WRITE)
        text.append(" ")
        if self.identity:
            text.append(f"acct {self.identity.account}", style="bold")
        elif self.problem:
            text.append(self.problem, style=BAD_BOLD)
        elif self.starting:
            text.append("starting the demo sandbox…")
        else:
            text.append("connecting…")
        text.append(f"  {self.aws_region}")
        text.append(f"  profile {self.profile or 'default'}")
        if self.identity:
            text.append(f"  {self.identity.name}")
        return text


class StepBar(Widget):
    """The wizard's steps with the current one highlighted: 1 Discovery › 2 Bucket › …"""

    DEFAULT_CSS = """
    StepBar { height: 1; padding: 0 1; background: $boost; }
    """

    current: reactive[str] = reactive("")

    def __init__(self, steps: list[Step], current: str) -> None:
        super().__init__()
        self.steps = steps
        self.set_reactive(StepBar.current, current)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, step in enumerate(self.steps, 1):
            if n > 1:
                text.append(" › ", style="dim")
            style = "bold reverse" if step.key == self.current else ""
            text.append(f" {n} {step.title} ", style=style)
        return text


class KeyFooter(Footer):
    """The key bar of every screen. Below WIDE columns it is compact and leaves the command palette's key
    out (ctrl+p still opens it), so the keys to move on fit at 80 columns."""

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < WIDE
        self.compact = narrow
        if self.show_command_palette == narrow:  # Footer only reads it when it composes its keys
            self.show_command_palette = not narrow
            self.refresh(recompose=True)


# Textual's toggles tell on from off by colour only (the same mark either way). These draw a mark too:
# ● a chosen radio button, ○ not; X a ticked box or a selected key, blank not.
class MarkedRadio(RadioButton):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else "○"
        return super()._button


class MarkedCheckbox(Checkbox):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class MarkedSelectionList(SelectionList[str]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        index = self.scroll_offset.y + y
        if len(segments) < 3 or index >= self.option_count:
            return strip
        mark = "X" if self.get_option_at_index(index).value in self.selected else " "
        segments[1] = Segment(mark, segments[1].style)
        return Strip(segments, strip.cell_length)
