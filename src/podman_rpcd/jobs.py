"""Update-check jobs in the state directory: start or join, wait, report, expire.

A job is jobs/<id>.json, written only by its worker (atomically) once the
call that started it has handed over. current-job.json names the job that
runs now, so a second checkUpdates joins it; last-check.json keeps the last
finished result for the page to show after the job is gone.

Standard library only: this runs in the rpcd call process.
"""

import os
import signal
import time

from . import state
from .errors import Busy, NotFound, StateUnavailable

POLL_INTERVAL = 0.1
HIDDEN = ("pid", "pidStart")


class JobStore:
    def __init__(
        self, state_dir: state.StateDir, ttl: float = 3600, stall: float = 1260
    ):
        self.state_dir = state_dir
        self.ttl = ttl
        # A running job whose file has not changed for this long is stuck (the
        # worker writes at every pull's start and end; one pull may wait
        # pull_timeout for a slot and pull_timeout for Podman).
        self.stall = stall
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
                # "checking": the names the job found when it listed containers.
                covered = running.get("checking", running.get("names"))
                if covered is None or set(names or ()) <= set(covered):
                    if names is not None or running.get("names") is None:
                        return running["jobId"], True
                raise Busy(
                    f"check {running['jobId']} of other containers is running;"
                    " try again when it has finished"
                )
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
                self._save_final(failed(record, f"cannot start: {exc}"))
                return job_id, False
            # The worker only writes the file after it has read it, and it
            # reads it only once it holds this lock: no lost update.
            record["pid"], record["pidStart"] = pid, state.process_start(pid)
            state.write_json(self.state_dir.job_file(job_id), record)
        return job_id, False

    def _current_id(self) -> str | None:
        """The job current-job.json names, if it names one well-formed."""
        pointer = state.read_json(self.current)
        if pointer and state.is_id(pointer.get("jobId")):
            return pointer["jobId"]
        return None

    def _running_job(self) -> dict | None:
        job_id = self._current_id()
        record = job_id and state.read_json(self.state_dir.job_file(job_id))
        if record and not record.get("complete") and self._alive(record):
            return record
        return None

    def _alive(self, record: dict) -> bool:
        """True while the job's worker runs and is not stuck."""
        if not state.worker_alive(record, since="startedAt"):
            return False
        return record.get("pid") is None or not self._stalled(record)

    def _stalled(self, record: dict) -> bool:
        try:
            changed = os.stat(self.state_dir.job_file(record["jobId"])).st_mtime
        except OSError:
            return False
        return time.time() - changed > self.stall

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
        """The current job (running, or just found dead), else the last one."""
        current = self._current_id()
        if current and os.path.exists(self.state_dir.job_file(current)):
            return self.get(current)
        last = state.read_json(self.last)
        if last is None:
            raise NotFound("no update check has run yet")
        return view(last)

    def stop(self, job_id: str) -> dict:
        """End a running check: its worker is killed (Podman cancels the pulls
        when their connections close) and the job says it was stopped."""
        with self.state_dir.lock():
            record = self.load(job_id)
            if not record.get("complete"):
                state.signal_process(
                    record.get("pid"), record.get("pidStart"), signal.SIGKILL
                )
                self._save_final(failed(record, "stopped on request", "stopped"))
        return view(record)

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
                if self._stalled(record):
                    # Stuck, not gone: end it, so its pulls free their slots.
                    state.signal_process(
                        record["pid"], record.get("pidStart"), signal.SIGKILL
                    )
                self._save_final(failed(record, "the check worker died or stalled"))
        return record

    def save(self, record: dict) -> None:
        """Write the job's progress (only its worker does)."""
        state.write_json(self.state_dir.job_file(record["jobId"]), record)

    def finish(self, record: dict) -> None:
        """Write the finished job; it becomes the last result and stops being
        current, under the lock so that a check starting now is not undone."""
        with self.state_dir.lock():
            self._save_final(record)

    def _save_final(self, record: dict) -> None:
        self.save(record)
        last = state.read_json(self.last)
        # An old job found dead late must not hide a newer finished check.
        if last is None or last.get("startedAt", 0) <= record.get("startedAt", 0):
            state.write_json(self.last, record)
        if self._current_id() == record["jobId"]:
            os.unlink(self.current)

    def load(self, job_id: str) -> dict:
        record = state.read_json(self.state_dir.job_file(job_id))
        if record is None:
            raise NotFound(f"no check job {job_id}")
        return record

    def prune(self) -> None:
        """Delete job files that finished more than ttl seconds ago, and temp
        files that a killed writer left behind."""
        cutoff = time.time() - self.ttl
        for folder in (self.state_dir.jobs, self.state_dir.path):
            for name in state.listdir(folder):
                path = os.path.join(folder, name)
                job_id = name.removesuffix(".json")
                try:
                    if name.endswith(".tmp"):
                        expired = os.lstat(path).st_mtime < cutoff
                    elif folder == self.state_dir.jobs and state.is_id(job_id):
                        record = state.read_json(path) or {}
                        ended = record.get("finishedAt")
                        if not record.get("complete") and not self._alive(record):
                            ended = record.get("startedAt", 0)  # died unnoticed
                        expired = ended is not None and ended < cutoff
                    else:
                        continue
                    if expired:
                        os.unlink(path)
                except (OSError, StateUnavailable):
                    continue  # one bad file never blocks the rest


def failed(record: dict, message: str, code: str = "internal") -> dict:
    """Mark a job finished with an error; returns the record."""
    record.update(
        complete=True,
        finishedAt=state.now(),
        error={"code": code, "message": message},
    )
    record["progress"]["pulling"] = []
    return record


def view(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in HIDDEN}
