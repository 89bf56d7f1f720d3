"""The jobs list: one row per job with its status, progress, checkpoint age and a Resume button
that is enabled only where resuming is possible — and says why not where it is not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, ProgressBar

from tui_monitor.tui.format import JOB_STYLES, age, literal
from tui_monitor.tui.messages import ResumeRequested


def _dom_id(job_id: str) -> str:
    return "job-" + job_id  # job ids are safe identifiers: strategy_<letters, digits, _ ->


class JobRow(Horizontal):
    DEFAULT_CSS = """
    JobRow { height: 1; }
    JobRow Label { width: auto; padding: 0 1 0 0; }
    JobRow .job-id { width: 22; }
    JobRow .job-status { width: 12; }
    JobRow ProgressBar { width: 12; }
    JobRow .job-age { width: 15; }
    JobRow .job-error { width: 1fr; color: $text-muted; }
    JobRow Button { margin: 0 1; min-width: 8; }
    """

    def __init__(self, job: dict[str, Any], now: Callable[[], float]) -> None:
        super().__init__(id=_dom_id(job["job_id"]))
        self.job_id = job["job_id"]
        self._now = now
        self._job = job

    def compose(self) -> ComposeResult:
        yield Label(classes="job-id")
        yield Label(classes="job-status")
        yield ProgressBar(total=1.0, show_eta=False)
        yield Label(classes="job-age")
        yield Button("Resume", id=f"resume-{self.job_id}", variant="success", compact=True)
        yield Label(classes="job-error")

    def on_mount(self) -> None:
        self.apply(self._job)

    def apply(self, job: dict[str, Any]) -> None:
        self._job = job
        self.query_one(".job-id", Label).update(literal(job["job_id"], 40, "bold"))
        status = job["status"]
        self.query_one(".job-status", Label).update(Text(status, style=JOB_STYLES.get(status, "")))
        bar = self.query_one(ProgressBar)
        progress = job.get("progress")
        bar.update(progress=progress if progress is not None else 0.0)
        checkpoint_at = job.get("checkpoint_at")
        ckpt = f"ckpt {age(self._now() - checkpoint_at)}" if checkpoint_at else "no ckpt"
        self.query_one(".job-age", Label).update(Text(ckpt, style="dim"))
        button = self.query_one(Button)
        button.disabled = not job["resumable"]
        button.tooltip = (
            "resume from the last checkpoint"
            if job["resumable"]
            else f"cannot resume: {job['not_resumable_because']}"
        )
        why = "" if job["resumable"] else (job.get("not_resumable_because") or "")
        error = job.get("last_error") or ""
        self.query_one(".job-error", Label).update(literal(error or why, 100))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(ResumeRequested(self.job_id))


class JobList(VerticalScroll):
    DEFAULT_CSS = """
    JobList { height: 1fr; border: round $primary-darken-2; }
    """
    #: `z` on a Resume button zooms the whole list (Textual maximizes no scrolling container).
    ALLOW_MAXIMIZE = True

    def __init__(self, now: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "jobs"
        self._now = now
        self.rows: dict[str, JobRow] = {}

    def apply(self, jobs: list[dict[str, Any]], counts: dict[str, int]) -> None:
        self.border_title = (
            "jobs "
            + "  ".join(f"{k} {v}" for k, v in counts.items() if v and k != "total")
            + f"  (total {counts.get('total', 0)})"
        )
        seen = set()
        for job in jobs:
            seen.add(job["job_id"])
            row = self.rows.get(job["job_id"])
            if row is None:
                row = JobRow(job, self._now)
                self.rows[job["job_id"]] = row
                self.mount(row)
            elif row.is_mounted:
                row.apply(job)
        for job_id in [j for j in self.rows if j not in seen]:
            self.rows.pop(job_id).remove()
