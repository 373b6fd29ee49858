"""`Pick`: a modal that asks the user to choose one of a few options.

Push it with a question and (key, label) options; it dismisses with the chosen option's key (Enter), or
None when cancelled (Esc).
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class Pick(ModalScreen[str | None]):
    """Choose one of a few options (Enter), or cancel (Esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="policy.pick_cancel")]
    DEFAULT_CSS = """
    Pick { align: center middle; }
    Pick > Vertical { width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1; }
    Pick .question { text-style: bold; }
    Pick OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, question: str, options: list[tuple[str, RenderableType]]) -> None:
        super().__init__()
        self.question = question
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question + "  (Enter chooses, Esc cancels)", classes="question", markup=False)
            yield OptionList(*[Option(label, id=key) for key, label in self.options])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
