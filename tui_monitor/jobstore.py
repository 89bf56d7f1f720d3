"""All jobs of one state folder: loaded at start (leftovers of a dead supervisor ended, bad files
moved aside), created on first start, and kept on disk by their `JobFile` writers."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tui_monitor import orphans, process
from tui_monitor.atomic import remove_stale_temp_files
from tui_monitor.context import EngineContext
from tui_monitor.events import Problem
from tui_monitor.jobs import (
    JobFile,
    JobRecord,
    JobStatus,
    job_files,
    job_id_for,
    load_record,
    write_error_text,
)


class JobStore:
    def __init__(self, state_dir: Path, ctx: EngineContext) -> None:
        self.state_dir = state_dir
        self.ctx = ctx
        self.jobs: dict[str, JobFile] = {}  # by job id
        self.failing: set[str] = set()  # job ids whose last write failed

    def _problem(self, message: str, level: str = "ERROR", strategy: str | None = None) -> None:
        self.ctx.publish(Problem(self.ctx.clock.time(), message, strategy, problem_level=level))

    def _file(self, record: JobRecord) -> JobFile:
        return JobFile(
            self.state_dir / f"{record.job_id}.json",
            record,
            on_write_error=self._write_failed,
            on_write_ok=self._write_recovered,
        )

    def _write_failed(self, job: JobFile, exc: OSError) -> None:
        if job.record.job_id not in self.failing:
            self.failing.add(job.record.job_id)
            self._problem(write_error_text(job.path, exc), strategy=job.record.strategy)

    def _write_recovered(self, job: JobFile) -> None:
        self.failing.discard(job.record.job_id)
        self._problem(f"{job.path.name} written again", "INFO", job.record.strategy)

    def load(self) -> list[JobRecord]:
        """Read every job file. Jobs a dead supervisor left `running` become `interrupted`, after
        whatever is left of their processes has been ended. Returns the interrupted ones."""
        remove_stale_temp_files(self.state_dir)
        self._end_strays()
        interrupted: list[JobRecord] = []
        for path in job_files(self.state_dir):
            record, problem = load_record(path)
            if problem:
                self._problem(problem, strategy=path.stem.removeprefix("strategy_"))
            if record is None:
                continue
            if record.status is JobStatus.RUNNING:
                killed = orphans.end_leftovers(
                    record.pid, record.pid_create_time, record.supervisor_instance
                )
                if killed:
                    self._problem(
                        f"ended {len(killed)} leftover process(es) of the previous supervisor "
                        f"(pids {', '.join(map(str, killed))})",
                        "WARNING",
                        record.strategy,
                    )
                record.status = JobStatus.INTERRUPTED
                record.pid = record.pid_create_time = None
                record.updated_at = self.ctx.clock.time()
                interrupted.append(record)
            self.jobs[record.job_id] = self._file(record)
        return interrupted

    def _end_strays(self) -> None:
        """We hold the state folder's lock, so a process marked with this folder but another
        supervisor's instance belongs to a dead one — even one that died before it could record
        the process in a job file, or while the child was still being set up."""
        strays = process.find_marked(
            state_dir=str(self.state_dir), exclude_instance=self.ctx.instance
        )
        if strays:
            process.kill_processes(strays, signal.SIGKILL)
            pids = ", ".join(str(p.pid) for p in strays)
            self._problem(
                f"ended {len(strays)} stray process(es) of a dead supervisor ({pids})", "WARNING"
            )

    async def save_loaded(self) -> None:
        """Write back the jobs `load` changed (running → interrupted)."""
        await asyncio.gather(
            *(
                job.flush()
                for job in self.jobs.values()
                if job.record.status is JobStatus.INTERRUPTED
            )
        )

    def get(self, strategy: str) -> JobFile | None:
        return self.jobs.get(job_id_for(strategy))

    def new(self, strategy: str) -> JobFile:
        """A fresh job for `strategy` (replacing any old record: its checkpoint is dropped)."""
        now = self.ctx.clock.time()
        record = JobRecord(
            job_id=job_id_for(strategy),
            strategy=strategy,
            status=JobStatus.RUNNING,
            created_at=now,
            updated_at=now,
        )
        job = self._file(record)
        self.jobs[record.job_id] = job
        return job

    def records(self) -> list[JobRecord]:
        return [job.record for job in self.jobs.values()]

    def counts(self) -> dict[str, int]:
        counts = {"total": len(self.jobs)} | {s.value: 0 for s in JobStatus}
        for job in self.jobs.values():
            counts[job.record.status.value] += 1
        return counts

    async def flush_all(self) -> None:
        await asyncio.gather(*(job.flush() for job in self.jobs.values()))
