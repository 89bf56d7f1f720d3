"""The control socket: a Unix socket in `state/` through which the CLI and an attached dashboard
talk to a running supervisor.

- `protocol` — the versioned JSON-lines wire format (documented there and in the README),
- `server`   — `ControlServer(engine, path)`, hosted by `run --no-ui` (and later the TUI),
- `client`   — `ControlClient(path)`, what `SocketView` and the command line use.

Nothing here imports Textual or Rich.
"""
