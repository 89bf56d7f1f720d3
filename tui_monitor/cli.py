"""The `tui-monitor` command. Imports only what a subcommand needs: Textual never for `--help`.

Exit codes (design.md): 0 success; 1 not healthy / the action failed; 2 bad usage or bad
configuration; 3 no running supervisor to talk to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tui_monitor import __version__
from tui_monitor.errors import ConfigError, TuiMonitorError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SUPERVISOR = 0, 1, 2, 3


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        type=Path,
        help="configuration file (default: tui-monitor.toml in the working directory)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-monitor",
        description="Keep long-running strategies alive 24/7: heartbeats, checkpoints, restarts.",
    )
    parser.add_argument("--version", action="version", version=f"tui-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="start the supervisor (the dashboard, or headless)")
    _add_config(run)
    run.add_argument("--no-ui", action="store_true", help="run headless: events on stderr")

    demo = sub.add_parser("demo", help="run a bundled configuration that shows every feature")
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path.cwd(),
        help="where to put the demo's configuration, state/ and logs/ (default: here)",
    )
    demo.add_argument("--no-ui", action="store_true", help="run headless: events on stderr")
    return parser


def _config_path(args: argparse.Namespace) -> Path:
    from tui_monitor.config import DEFAULT_CONFIG_NAME

    return args.config if args.config is not None else Path(DEFAULT_CONFIG_NAME)


def cmd_run(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config
    from tui_monitor.headless import run_headless

    config = load_config(_config_path(args))
    return run_headless(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config
    from tui_monitor.demo import write_demo_config
    from tui_monitor.headless import run_headless

    path = write_demo_config(args.dir)
    print(f"tui-monitor demo: configuration {path}; press Ctrl-C to stop", file=sys.stderr)
    return run_headless(load_config(path))


COMMANDS = {"run": cmd_run, "demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except TuiMonitorError as exc:
        print(f"tui-monitor: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_OK
