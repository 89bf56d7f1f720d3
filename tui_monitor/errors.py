"""Exceptions that carry a message meant for the operator, not a traceback."""

from __future__ import annotations


class TuiMonitorError(Exception):
    """Base for errors shown to users without a traceback."""


class ConfigError(TuiMonitorError):
    """The configuration is invalid.

    Carries every problem found, one full line each ("FILE: key.path: reason"), so the
    operator can fix them all in one edit instead of discovering them one restart at a time.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems: list[str] = list(problems)
        # The list (not the joined text) goes to args so that pickling round-trips.
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class CommandRefused(TuiMonitorError):
    """An operator command that cannot be carried out in the current state (exit code 1)."""

    exit_code = 1


class UnknownName(TuiMonitorError):
    """A strategy or job name that does not exist; the message lists the known ones."""

    exit_code = 1

    def __init__(self, what: str, name: str, known: object) -> None:
        self.what, self.name = what, name
        names = sorted(str(k) for k in known)  # type: ignore[attr-defined]
        listing = ", ".join(names) if names else "none"
        super().__init__(f"unknown {what} {name!r} (known: {listing})")


class StartupError(TuiMonitorError):
    """The supervisor cannot start with this configuration on this machine (exit code 2)."""

    exit_code = 2
