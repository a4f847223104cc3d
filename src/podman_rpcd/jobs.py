"""Update-check jobs in the state directory: start or join, wait, report, expire.

A job is jobs/<id>.json, written only by its worker (atomically) once the
call that started it has handed over. current-job.json names the job that
runs now, so a second checkUpdates joins it; last-check.json keeps the last
finished result for the page to show after the job is gone.

Standard library only: this runs in the rpcd call process.
"""

import os
import time

from . import state
from .errors import NotFound

SPAWN_GRACE = 15.0
POLL_INTERVAL = 0.1
HIDDEN = ("pid", "pidStart")


class JobStore:
    def __init__(self, state_dir: state.StateDir, ttl: float = 3600):
        self.state_dir = state_dir
        self.ttl = ttl
        self.current = state_dir.file("current-job.json")
        self.last = state_dir.file("last-check.json")

    def start_or_join(
        self, names: list | None, parallel: int, spawn
    ) -> tuple[str, bool]:
        """Return (job id, joined): the running job's, or a new one's.

        spawn(job_id) starts the detached worker and returns its pid.
        """
        with self.state_dir.lock():
            self.prune()
            running = self._running_job()
            if running:
                return running, True
            job_id = state.new_id()
            record = {
                "jobId": job_id,
                "complete": False,
                "startedAt": state.now(),
                "parallel": parallel,
                "names": names,
                "pid": None,
                "pidStart": None,
                "progress": {"total": 0, "done": 0, "pulling": []},
            }
            state.write_json(self.state_dir.job_file(job_id), record)
            state.write_json(self.current, {"jobId": job_id})
            try:
                pid = spawn(job_id)
            except OSError as exc:
                record.update(
                    complete=True,
                    finishedAt=state.now(),
                    error={"code": "internal", "message": f"cannot start: {exc}"},
                )
                self.save(record, final=True)
                return job_id, False
            # The worker only writes the file after it has read it, and it
            # reads it only once it holds this lock: no lost update.
            record["pid"], record["pidStart"] = pid, state.process_start(pid)
            state.write_json(self.state_dir.job_file(job_id), record)
        return job_id, False

    def _running_job(self) -> str | None:
        pointer = state.read_json(self.current)
        if not pointer or not state.is_id(pointer.get("jobId")):
            return None
        record = state.read_json(self.state_dir.job_file(pointer["jobId"]))
        if record and not record.get("complete") and self._alive(record):
            return record["jobId"]
        return None

    def _alive(self, record: dict) -> bool:
        if record.get("pid") is None:
            return time.time() - record.get("startedAt", 0) < SPAWN_GRACE
        return state.process_alive(record["pid"], record.get("pidStart"))

    def get(self, job_id: str) -> dict:
        """The job's record as callers see it; a dead worker becomes a failure."""
        record = state.read_json(self.state_dir.job_file(job_id))
        if record is None:
            last = state.read_json(self.last)
            if last and last.get("jobId") == job_id:
                return view(last)
            raise NotFound(f"no check job {job_id} (finished ones expire)")
        if not record.get("complete") and not self._alive(record):
            record = self._mark_dead(job_id)
        return view(record)

    def latest(self) -> dict:
        """The running job, else the last finished one."""
        running = self._running_job()
        if running:
            return self.get(running)
        last = state.read_json(self.last)
        if last is None:
            raise NotFound("no update check has run yet")
        return view(last)

    def wait(self, job_id: str, seconds: float) -> dict:
        """Poll until the job completes or seconds pass; return its view."""
        deadline = time.monotonic() + seconds
        while True:
            record = self.get(job_id)
            if record["complete"] or time.monotonic() >= deadline:
                return record
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def _mark_dead(self, job_id: str) -> dict:
        with self.state_dir.lock():
            record = state.read_json(self.state_dir.job_file(job_id))
            if record and not record.get("complete") and not self._alive(record):
                record.update(
                    complete=True,
                    finishedAt=state.now(),
                    error={"code": "internal", "message": "the check worker died"},
                )
                self.save(record, final=True)
        return record

    def save(self, record: dict, final: bool = False) -> None:
        """Write the job; a final write also becomes the last result."""
        state.write_json(self.state_dir.job_file(record["jobId"]), record)
        if final:
            state.write_json(self.last, record)
            pointer = state.read_json(self.current)
            if pointer and pointer.get("jobId") == record["jobId"]:
                os.unlink(self.current)

    def load(self, job_id: str) -> dict:
        record = state.read_json(self.state_dir.job_file(job_id))
        if record is None:
            raise NotFound(f"no check job {job_id}")
        return record

    def prune(self) -> None:
        """Delete job files that finished more than ttl seconds ago."""
        cutoff = time.time() - self.ttl
        for name in os.listdir(self.state_dir.jobs):
            job_id = name.removesuffix(".json")
            if not state.is_id(job_id) or name == job_id:
                continue
            record = state.read_json(self.state_dir.job_file(job_id))
            if (
                record
                and record.get("complete")
                and record.get("finishedAt", 0) < cutoff
            ):
                os.unlink(self.state_dir.job_file(job_id))


def view(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in HIDDEN}
