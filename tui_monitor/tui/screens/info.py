"""Read-only modals: the health reasons and the keyboard help."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.tui.format import HEALTH_STYLES, RED, literal


class InfoScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    InfoScreen { align: center middle; }
    InfoScreen > VerticalScroll {
        width: 90%; max-width: 110; height: auto; max-height: 80%;
        padding: 1 2; border: thick $primary; background: $surface;
    }
    """
    #: Closed by the way back (esc, q), the key that opened it (h, ?), enter — with the app's ids:
    #: remapped by `[dashboard.keys]`, as the help says — and always by esc.
    BINDINGS = [  # noqa: RUF012
        Binding(DASHBOARD_KEYS["back"], "app.pop_screen", "close", id="back"),
        Binding(DASHBOARD_KEYS["health"], "app.pop_screen", "close", id="health", show=False),
        Binding(DASHBOARD_KEYS["help"], "app.pop_screen", "close", id="help", show=False),
        Binding("enter", "app.pop_screen", "close", show=False),
    ]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self.title_text
            yield Static(self.body)

    def key_escape(self) -> None:
        """esc closes it even where the way back is remapped to other keys."""
        self.app.pop_screen()


def health_body(report: dict[str, Any] | None) -> Text:
    if not report:
        return Text("no health report yet")
    status = report.get("status", "unknown")
    t = Text()
    t.append(f" {status.upper()} ", style=HEALTH_STYLES.get(status, "reverse"))
    t.append("\n\n")
    reasons = report.get("reasons") or []
    if not reasons:
        t.append("Nothing to report: every strategy is running as it should.\n")
    for r in reasons:
        style = f"bold {RED}" if r.get("severity") == "unhealthy" else "yellow"
        t.append(f"• {r.get('code', '')}: ", style=style)
        t.append_text(literal(r.get("message", ""), 400))
        t.append("\n")
    counts = report.get("counts") or {}
    if counts:
        t.append("\njobs: " + ", ".join(f"{k} {v}" for k, v in counts.items()), style="dim")
    return t


def help_body(bindings: list[tuple[str, str]]) -> Text:
    t = Text()
    t.append("Keys\n\n", style="bold")
    for key, description in bindings:
        t.append(f"  {key:<12}", style="bold cyan")
        t.append(f"{description}\n")
    t.append(
        "\nThe command palette (ctrl+p) has every action too. The mouse works but is never "
        "needed.\nStates: running (green), starting, backoff (waiting to restart), stopping, "
        "stopped, exited (done), fatal (gave up: start or resume it).\n"
        "Heartbeat age turns yellow past half its timeout and red past 80 %.",
        style="dim",
    )
    return t
