"""The `tui-monitor` command. Imports only what a subcommand needs: Textual never for `--help`, nor
for the control commands (status, jobs, health, start, stop, restart, resume).

Exit codes (design.md): 0 success; 1 not healthy / the action failed; 2 bad usage or bad
configuration; 3 no running supervisor to talk to.

`--json` output of the control commands is a contract (see the README, "Control: the command
line and the control socket"): fields may be added, never renamed or removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tui_monitor import __version__
from tui_monitor.errors import CommandRefused, ConfigError, TuiMonitorError, UnknownName

if TYPE_CHECKING:
    from tui_monitor.config import Config
    from tui_monitor.view import SupervisorView

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SUPERVISOR = 0, 1, 2, 3
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_TYPES = ("system", "strategy", "order")

#: The fields of the `--json` shapes (README). Missing ones are null.
SUPERVISOR_FIELDS = (
    "version",
    "pid",
    "started_at",
    "uptime",
    "config_path",
    "state_dir",
    "log_dir",
)
STRATEGY_FIELDS = (
    "name",
    "job_id",
    "kind",
    "state",
    "state_reason",
    "state_since",
    "pid",
    "uptime",
    "heartbeat_age",
    "heartbeat_timeout",
    "heartbeat_message",
    "progress",
    "restarts",
    "max_restarts",
    "total_restarts",
    "last_exit_code",
    "last_exit_signal",
    "last_error",
    "autostart",
    "next_start_in",
)
JOB_FIELDS = (
    "job_id",
    "strategy",
    "status",
    "progress",
    "restart_count",
    "runs",
    "pid",
    "started_at",
    "updated_at",
    "checkpoint_at",
    "has_checkpoint",
    "last_error",
    "resumable",
    "not_resumable_because",
)
REASON_FIELDS = ("severity", "code", "message", "strategy")


class UsageError(TuiMonitorError):
    exit_code = EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is an exception (so `--json` can report it as JSON)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage().rstrip()}\n{self.prog}: error: {message}")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        type=Path,
        help="configuration file (default: tui-monitor.toml in the working directory)",
    )


def _control_options(json_output: bool = True) -> argparse.ArgumentParser:
    parent = _Parser(add_help=False)
    where = parent.add_mutually_exclusive_group()
    where.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        type=Path,
        help="the supervisor of this configuration (default: tui-monitor.toml here)",
    )
    where.add_argument(
        "--state",
        metavar="DIR",
        type=Path,
        help="the supervisor of this state folder (its socket is DIR/control.sock)",
    )
    if json_output:
        parent.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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

    control = [_control_options()]
    sub.add_parser("status", parents=control, help="the strategies of the running supervisor")
    sub.add_parser("jobs", parents=control, help="the jobs: status, progress, last error")
    health = sub.add_parser(
        "health", parents=control, help="healthy, degraded or unhealthy, and why (1 unless healthy)"
    )
    health.add_argument("--detailed", action="store_true", help="also every strategy and job")
    for name, text in (
        ("start", "start a strategy (its job goes on from its checkpoint)"),
        ("stop", "stop a strategy (its job is paused)"),
        ("restart", "restart a strategy (from its checkpoint)"),
    ):
        cmd = sub.add_parser(name, parents=control, help=text)
        cmd.add_argument("name", metavar="NAME", help="strategy name")
        if name == "start":
            cmd.add_argument("--fresh", action="store_true", help="a new job, without checkpoint")
    resume = sub.add_parser(
        "resume", parents=control, help="resume a paused, interrupted or failed job"
    )
    resume.add_argument("job_id", metavar="JOB_ID", help="job id, e.g. strategy_alpha")
    resume.add_argument("--fresh", action="store_true", help="start over without the checkpoint")

    sub.add_parser(
        "attach",
        parents=[_control_options(json_output=False)],
        help="the dashboard of a running supervisor (quitting stops nothing)",
    )

    logs = sub.add_parser(
        "logs", help="print (and follow) the log files, running supervisor or not"
    )
    _add_config(logs)
    logs.add_argument(
        "name", metavar="NAME", nargs="?", help="a strategy (default: the supervisor's app.log)"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=100, help="how many past lines (100)")
    logs.add_argument("--level", type=str.upper, choices=LOG_LEVELS, help="this level and above")
    logs.add_argument("--type", dest="log_type", choices=LOG_TYPES, help="only this log type")
    return parser


def _config_path(args: argparse.Namespace) -> Path:
    from tui_monitor.config import DEFAULT_CONFIG_NAME

    return args.config if args.config is not None else Path(DEFAULT_CONFIG_NAME)


def _wants_dashboard(args: argparse.Namespace) -> bool:
    """The dashboard unless told otherwise, or unless there is no terminal to draw it on."""
    return not args.no_ui and sys.stdout.isatty() and sys.stdin.isatty()


def _supervise(config: Config, args: argparse.Namespace) -> int:
    if _wants_dashboard(args):
        from tui_monitor.dashboard import run_dashboard

        return run_dashboard(config)
    from tui_monitor.headless import run_headless

    return run_headless(config)


def cmd_run(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config

    return _supervise(load_config(_config_path(args)), args)


def cmd_attach(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config
    from tui_monitor.dashboard import attach

    socket = socket_path(args)
    # The configuration's [dashboard] keys; `--state DIR` has no configuration: the default keys.
    keymap = None if args.state is not None else load_config(_config_path(args)).dashboard.keys
    return attach(socket, keymap=keymap)


def cmd_logs(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config
    from tui_monitor.logfiles import known_strategies, show

    config = load_config(_config_path(args))
    log_dir = config.monitor.log_dir
    if args.name is not None and args.name not in config.strategies:
        raise UnknownName(
            "strategy", args.name, set(config.strategies) | set(known_strategies(log_dir))
        )
    if args.lines < 0:
        raise UsageError("--lines must be 0 or more")
    try:
        show(
            log_dir,
            args.name,
            count=args.lines,
            follow=args.follow,
            level=args.level,
            kind=args.log_type,
            out=_out,
        )
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from tui_monitor.config import load_config
    from tui_monitor.demo import write_demo_config

    path = write_demo_config(args.dir)
    if not _wants_dashboard(args):
        print(f"tui-monitor demo: configuration {path}; press Ctrl-C to stop", file=sys.stderr)
    return _supervise(load_config(path), args)


# ---- talking to a running supervisor ---------------------------------------------------------


def socket_path(args: argparse.Namespace) -> Path:
    """Where the supervisor of `--state DIR` or of the configuration listens."""
    if getattr(args, "state", None) is not None:
        return Path(args.state).expanduser().absolute() / "control.sock"
    from tui_monitor.config import DEFAULT_CONFIG_NAME, load_config

    if args.config is None and not Path(DEFAULT_CONFIG_NAME).exists():
        raise ConfigError(
            [
                f"{DEFAULT_CONFIG_NAME}: cannot read: no such file (run this in the folder of "
                "the configuration, or say which supervisor with --config FILE or --state DIR)"
            ]
        )
    return load_config(_config_path(args)).monitor.control_socket


def _ask(args: argparse.Namespace, call: Callable[[SupervisorView], Awaitable[Any]]) -> Any:
    from tui_monitor.view import SocketView

    async def main() -> Any:
        async with SocketView(socket_path(args)) as view:
            return await call(view)

    return asyncio.run(main())


def _pick(data: Mapping[str, Any] | None, fields: Sequence[str]) -> dict[str, Any] | None:
    if data is None:
        return None
    return {key: data.get(key) for key in fields}


def _out(text: str) -> None:
    """Print to stdout; a reader that went away (`| head`) is not an error of ours."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Later writes (and the interpreter's final flush) go nowhere instead of failing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _print_json(data: Any) -> None:
    _out(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))


def status_json(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "supervisor": _pick(snapshot, SUPERVISOR_FIELDS),
        "strategies": [_pick(s, STRATEGY_FIELDS) for s in snapshot.get("strategies", [])],
    }


def jobs_json(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "jobs": [_pick(j, JOB_FIELDS) for j in snapshot.get("jobs", [])],
        "counts": dict(snapshot.get("job_counts") or {}),
    }


def health_json(report: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": report.get("status"),
        "reasons": [_pick(r, REASON_FIELDS) for r in report.get("reasons", [])],
        "version": report.get("version"),
        "uptime": report.get("uptime"),
        "checked_at": report.get("checked_at"),
        "counts": dict(report.get("counts") or {}),
    }
    if "strategies" in report:
        data["strategies"] = [_pick(s, STRATEGY_FIELDS) for s in report["strategies"]]
        data["jobs"] = [_pick(j, JOB_FIELDS) for j in report.get("jobs", [])]
        data["metrics"] = report.get("metrics")
    return data


def cmd_status(args: argparse.Namespace) -> int:
    from tui_monitor import tables

    snapshot = _ask(args, lambda view: view.snapshot())
    if args.json:
        _print_json(status_json(snapshot))
    else:
        _out(tables.supervisor_line(snapshot) + "\n" + tables.status_table(snapshot))
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    from tui_monitor import tables

    snapshot = _ask(args, lambda view: view.snapshot())
    if args.json:
        _print_json(jobs_json(snapshot))
    else:
        _out(tables.jobs_table(snapshot))
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    from tui_monitor import tables

    report = _ask(args, lambda view: view.health(detailed=args.detailed))
    if args.json:
        _print_json(health_json(report))
    else:
        _out(tables.health_text(report))
    return EXIT_OK if report.get("status") == "healthy" else EXIT_FAILED


def _command(args: argparse.Namespace) -> int:
    from tui_monitor.text import safe_text

    action = args.command
    if action == "resume":
        outcome = _ask(args, lambda view: view.resume(args.job_id, fresh=args.fresh))
    elif action == "start":
        outcome = _ask(args, lambda view: view.start(args.name, fresh=args.fresh))
    else:
        outcome = _ask(args, lambda view: getattr(view, action)(args.name))
    strategy, job = outcome.get("strategy"), outcome.get("job")
    if args.json:
        _print_json(
            {
                "ok": True,
                "action": action,
                "strategy": _pick(strategy, STRATEGY_FIELDS),
                "job": _pick(job, JOB_FIELDS),
            }
        )
        return EXIT_OK
    s = strategy or {}
    pid = f", pid {s['pid']}" if s.get("pid") else ""
    state = f"{safe_text(str(s.get('name')))} is {s.get('state')}{pid}"
    if job is not None:
        state += f"; job {safe_text(str(job.get('job_id')))} is {job.get('status')}"
    subject = args.job_id if action == "resume" else args.name
    _out(f"{safe_text(subject)}: {action} done: {state}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "demo": cmd_demo,
    "status": cmd_status,
    "jobs": cmd_jobs,
    "health": cmd_health,
    "start": _command,
    "stop": _command,
    "restart": _command,
    "resume": _command,
    "attach": cmd_attach,
    "logs": cmd_logs,
}


def error_type(exc: BaseException) -> str:
    """The `type` of a `--json` error: the control protocol's vocabulary."""
    from tui_monitor.control.protocol import ControlError, NoSupervisor

    if isinstance(exc, NoSupervisor):
        return "no_supervisor"
    if isinstance(exc, UnknownName):
        return "unknown_name"
    if isinstance(exc, CommandRefused):
        return "command_refused"
    if isinstance(exc, ConfigError):
        return "config_error"
    if isinstance(exc, UsageError):
        return "usage"
    if isinstance(exc, ControlError):
        return exc.type
    return "failed"


def _report(exc: TuiMonitorError, code: int, as_json: bool) -> int:
    if as_json:
        error: dict[str, Any] = {"type": error_type(exc), "message": str(exc)}
        if isinstance(exc, ConfigError):
            error["problems"] = list(exc.problems)
        path = getattr(exc, "path", None)
        if path:
            error["socket"] = path
        _print_json({"error": error})
    elif isinstance(exc, ConfigError | UsageError):
        print(str(exc), file=sys.stderr)
    else:
        print(f"tui-monitor: {exc}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _report(exc, EXIT_USAGE, "--json" in argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        return _report(exc, EXIT_USAGE, as_json)
    except TuiMonitorError as exc:
        return _report(exc, getattr(exc, "exit_code", EXIT_FAILED), as_json)
    except KeyboardInterrupt:
        return EXIT_OK
