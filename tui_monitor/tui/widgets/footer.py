"""The footer: Textual's, fitted to the terminal's width.

Where every key does not fit, it turns compact, then leaves out the log's keys (`/`, `f`) and
then the command palette's (`ctrl+p`): they keep working, and `?` lists them all. So the keys of
the selected strategy, the detail, health, help and quit stay on an 80-column screen.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE = "command_palette"
#: Left out, in this order, while the keys do not fit.
SPARE = ("filter", "follow", PALETTE)

#: A plan: compact or not, and the keys left out.
Plan = tuple[bool, frozenset[str]]


class KeyFooter(Footer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._plan: Plan | None = None  # what the keys shown were composed for

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._plan = self.fit(self.app.size.width)
        compact, left_out = self._plan
        self.compact = compact
        for widget in super().compose():
            if isinstance(widget, FooterKey) and key_name(widget) in left_out:
                continue
            yield widget

    def on_resize(self, event: events.Resize) -> None:
        if self._plan is not None and self.fit(event.size.width) != self._plan:
            self.call_after_refresh(self.recompose)

    def fit(self, width: int) -> Plan:
        """The fullest footer that fits in `width` columns."""
        keys = self.keys()
        plans: list[Plan] = [(False, frozenset())]
        plans += [(True, frozenset(SPARE[:n])) for n in range(len(SPARE) + 1)]
        for plan in plans:
            if footer_width(keys, *plan) <= width:
                return plan
        return plans[-1]

    def keys(self) -> list[tuple[str, int]]:
        """The keys the footer would show (name and cells of key and description), as Textual's
        footer picks them: one per action, the command palette's last."""
        active = self.screen.active_bindings
        shown: dict[str, int] = {}
        for _node, binding, _enabled, _tooltip in active.values():
            if binding.show and binding.action not in shown:
                shown[binding.action] = cell_len(self.app.get_key_display(binding)) + cell_len(
                    binding.description
                )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette:
            binding = palette[1]
            shown[PALETTE] = cell_len(self.app.get_key_display(binding)) + cell_len(
                binding.description
            )
        return list(shown.items())


def key_name(key: FooterKey) -> str:
    return PALETTE if key.has_class("-command-palette") else key.action


def footer_width(keys: list[tuple[str, int]], compact: bool, left_out: frozenset[str]) -> int:
    """Columns taken by `keys` in Textual's footer: a key and its description with a space
    between them; padded on both sides, or followed by a margin where compact. The command
    palette's has its own padding and a border."""
    width = 0
    for name, cells in keys:
        if name in left_out:
            continue
        width += cells + (2 if compact else 3)
        if name == PALETTE:
            width += 1 if compact else 2
    return width
