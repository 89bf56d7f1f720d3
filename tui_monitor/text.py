"""Untrusted text made safe to show: no escape sequence or control character reaches a terminal.

Strategy output, heartbeat messages and reasons that quote them are data. Views also render them
without markup (Textual/Rich `Text`, never `from_markup`); this module handles what markup-free
rendering does not: control characters, invalid UTF-8 and sheer length.
"""

from __future__ import annotations

import re

MAX_DISPLAY_CHARS = 2000

# C0 controls except tab, DEL, and C1 controls (ESC starts ANSI sequences; CSI is \x9b).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture" (␛ for ESC)
    return "\ufffd"


def safe_text(value: str | bytes, limit: int = MAX_DISPLAY_CHARS) -> str:
    """Decode (invalid UTF-8 replaced), cap, and make every control character visible."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    text = _CONTROL.sub(_visible, text).replace("\t", "    ")
    return text + "…" if cut else text
