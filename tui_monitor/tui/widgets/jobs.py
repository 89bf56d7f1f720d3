"""The jobs list: one row per job with its strategy, status, progress, checkpoint age and a Resume
button that is enabled only where resuming is possible — and says why not where it is not.

A keyed DataTable updated cell by cell, like the strategies table. It was a column of widgets
(a label, a bar and a button per job): with 200 jobs that is ~13,000 widgets, and Textual's layout
of them cost a second per key press. The "button" is now a cell: clicking it, or the detail or
resume key (`enter`, `u`, or what `[dashboard.keys]` makes them) on the row, resumes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.tui.format import JOB_STYLES, Cell, age, bar, literal, text_cell
from tui_monitor.tui.messages import ResumeRequested
from tui_monitor.tui.widgets.livetable import LiveTable

COLUMNS: list[tuple[str, str]] = [
    ("job", "job"),
    ("strategy", "strategy"),
    ("status", "status"),
    ("resume", ""),
    ("progress", "progress"),
    ("checkpoint", "checkpoint"),
    ("updated", "updated"),
    ("note", "note"),
]
COLUMN_KEYS = [key for key, _ in COLUMNS]
RESUME_COLUMN = COLUMN_KEYS.index("resume")
#: Reversed (black on green): under the row cursor, which imposes its own text colour, the button
#: turns black on that colour, instead of a light text on light green.
RESUME_ENABLED: Cell = (" ▶ Resume ", "bold reverse green on black")
RESUME_DISABLED: Cell = (" ▶ Resume ", "dim strike")
#: The job id names the strategy already (`strategy_<name>`): its column stays narrow.
STRATEGY_CHARS = 15


def note(job: dict[str, Any]) -> str:
    """Why the job cannot resume, or its last error."""
    error = job.get("last_error") or ""
    if job["resumable"]:
        return error
    return f"cannot resume: {job.get('not_resumable_because') or '?'}"


def cells(job: dict[str, Any], now: float) -> dict[str, Cell]:
    """The row of one job, its note last."""
    status = job["status"]
    progress = job.get("progress")
    checkpoint_at = job.get("checkpoint_at")
    resumable = bool(job["resumable"])
    return {
        "job": text_cell(job["job_id"], 40, "bold"),
        "strategy": text_cell(job["strategy"], STRATEGY_CHARS),
        "status": (status, JOB_STYLES.get(status, "")),
        "progress": (
            f"{bar(progress, 8)} {'' if progress is None else f'{progress * 100:3.0f}%'}",
            "cyan",
        ),
        "checkpoint": (f"{age(now - checkpoint_at)} ago" if checkpoint_at else "none", "dim"),
        "updated": (f"{age(now - job['updated_at'])} ago", "dim"),
        "resume": RESUME_ENABLED if resumable else RESUME_DISABLED,
        "note": text_cell(note(job), 100, "dim"),
    }


class JobList(LiveTable):
    DEFAULT_CSS = """
    JobList { height: 1fr; border: round $primary-darken-2; }
    """
    #: Here the detail key (enter) and the resume key (u) resume the job under the cursor. Their
    #: ids are the app's, so `[dashboard.keys]` remaps them here too (DataTable's own enter is
    #: replaced: a remapped detail key leaves enter to whatever it is mapped to).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(DASHBOARD_KEYS["detail"], "resume_job", "resume job", id="detail"),
        Binding(DASHBOARD_KEYS["resume"], "resume_job", "resume job", id="resume", show=False),
    ]

    def __init__(self, now: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "jobs"
        self._now = now
        self.jobs: dict[str, dict[str, Any]] = {}
        self._can_resume: bool | None = None
        self._note = ""

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self) -> dict[str, Any] | None:
        """The job under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.jobs.get(str(row_key.value))

    def apply(self, jobs: list[dict[str, Any]], counts: dict[str, int]) -> None:
        """Diff the snapshot against the screen: add, update changed cells, remove."""
        self.border_title = (
            "jobs "
            + "  ".join(f"{k} {v}" for k, v in counts.items() if v and k != "total")
            + f"  (total {counts.get('total', 0)})"
        )
        self.jobs = {job["job_id"]: job for job in jobs}
        keep = self._cursor_job_id()
        now = self._now()
        changed = self.diff_rows({k: cells(job, now) for k, job in self.jobs.items()}, COLUMN_KEYS)
        if changed & {"+", "status", "resume"}:
            self._sort(keep)
        self._refresh_availability()
        self._show_note()

    def _cursor_job_id(self) -> str | None:
        job = self.selected
        return job["job_id"] if job else None

    def _sort(self, keep: str | None) -> None:
        """What needs the operator first: jobs that can be resumed, then failed ones, then the
        rest by id — the cursor staying on its job."""
        jobs = self.jobs

        def key(job_cell: Any) -> Any:
            job = jobs.get(job_cell.plain if isinstance(job_cell, Text) else str(job_cell))
            if job is None:
                return (2, 2, "")
            return (not job["resumable"], job["status"] != "failed", job["job_id"])

        self.sort("job", key=key)
        if keep in self.shown:
            self.move_cursor(row=self.get_row_index(keep))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume_job":
            job = self.selected
            return True if job and job["resumable"] else None
        return True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._refresh_availability()
        self._show_note()

    def _show_note(self) -> None:
        """The note of the job under the cursor — why it cannot resume, or its last error — on
        the panel's bottom edge, whole: the note column is the last, off a narrow screen."""
        job = self.selected
        shown = f"{job['job_id']}: {note(job)}" if job and note(job) else ""
        if shown != self._note:
            self._note = shown
            self.border_subtitle = literal(shown, 300) if shown else None

    def _refresh_availability(self) -> None:
        """Grey out or light up the footer's "resume job" — only on a change: each refresh
        rebuilds the whole footer."""
        can = self.check_action("resume_job", ())
        if can != self._can_resume:
            self._can_resume = can
            self.refresh_bindings()

    def action_resume_job(self) -> None:
        self._resume(self.selected)

    def on_click(self, event: events.Click) -> None:
        """A click on a job's Resume cell resumes it (DataTable's own handler moves the cursor)."""
        meta = event.style.meta
        if meta.get("column") != RESUME_COLUMN or meta.get("row", -1) < 0:
            return
        row = self.ordered_rows[meta["row"]]
        self._resume(self.jobs.get(str(row.key.value)))

    def _resume(self, job: dict[str, Any] | None) -> None:
        if job is None:
            return
        if not job["resumable"]:
            reason = job.get("not_resumable_because") or "?"
            self.notify(f"{job['job_id']} cannot resume: {reason}", markup=False, timeout=4)
            return
        self.post_message(ResumeRequested(job["job_id"], job["strategy"]))
