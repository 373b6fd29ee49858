"""Widgets shared by every screen: the context bar (who/where/read-only) and the step bar."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from aws.session import Identity
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
    problem: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("flowlogs ", style="bold")
        if self.demo:
            text.append(" DEMO ", style="bold black on yellow")
            text.append(" ")
        if self.identity:
            text.append(f"acct {self.identity.account}", style="bold")
            text.append(f"  {self.identity.name}")
        elif self.problem:
            text.append(self.problem, style="bold red")
        else:
            text.append("connecting…", style="dim")
        text.append(f"  profile {self.profile or 'default'}", style="dim")
        text.append(f"  {self.aws_region}", style="dim")
        text.append("  ")
        if self.read_only:
            text.append(" READ-ONLY ", style="bold white on dark_green")
        else:
            text.append(" read-write ", style="bold black on dark_orange")
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
