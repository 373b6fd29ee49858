"""Modal dialogs used across screens."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ProfilePicker(ModalScreen[str | None]):
    """Pick an AWS profile from the shared config/credentials files."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    ProfilePicker { align: center middle; }
    ProfilePicker > Vertical { width: 60; max-width: 100%; height: auto; max-height: 80%;
        border: thick $primary; background: $surface; padding: 0 1; }
    ProfilePicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, profiles: list[str], current: str | None) -> None:
        super().__init__()
        self.profiles = profiles
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Switch AWS profile (Enter to choose, Esc to cancel)")
            if self.profiles:
                yield OptionList(
                    *[Option(f"{p}  (current)" if p == self.current else p, id=p) for p in self.profiles]
                )
            else:
                yield Label("No profiles found in ~/.aws/config or ~/.aws/credentials.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class Confirm(ModalScreen[bool]):
    """A yes/no question; `y` confirms, `n`/Esc cancels. Destructive questions say so."""

    BINDINGS = [
        Binding("y", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 70; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 1 2; }
    Confirm Label { width: 100%; }  /* wrapped, never cut, at 80 columns */
    Confirm .question { text-style: bold; }
    /* long details scroll; the question and the y/n line stay in view */
    Confirm VerticalScroll { height: auto; max-height: 60vh; }
    """

    def __init__(self, question: str, details: str = "") -> None:
        super().__init__()
        self.question = question
        self.details = details

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="question", markup=False)
            if self.details:
                with VerticalScroll():
                    yield Label(self.details, markup=False)
            yield Label("[b]y[/b] yes   [b]n[/b] no")
