"""tui-monitor: a supervisor for long-running strategies, with heartbeats, checkpoints and a TUI."""

__version__ = "0.1.0"
