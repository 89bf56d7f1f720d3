"""A yes/no question in a modal. Destructive actions ask first; the default answer is no."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.tui.format import literal


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; height: auto; padding: 1 2; border: thick $warning; background: $surface;
    }
    ConfirmScreen Label { width: 100%; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align: center middle; }
    ConfirmScreen Button { margin: 0 2; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding(DASHBOARD_KEYS["yes"], "answer(True)", "yes", id="yes"),
        Binding(DASHBOARD_KEYS["no"], "answer(False)", "no", id="no"),
    ]

    def __init__(
        self,
        question: str,
        yes: str = "Yes",
        no: str = "Cancel",
        keys: tuple[str, str] = ("y", "n"),
    ) -> None:
        """`keys`: how the buttons name the yes and no keys (they can be remapped)."""
        super().__init__()
        self.question, self.yes, self.no = question, yes, no
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal(self.question, 300))
            with Horizontal():
                yield Button(f"{self.yes} ({self.keys[0]})", id="yes", variant="error")
                yield Button(f"{self.no} ({self.keys[1]})", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter on a held key answers "no"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
