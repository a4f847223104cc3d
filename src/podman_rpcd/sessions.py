"""Pull sessions in the state directory: start, read from an offset, stop, expire.

A session is sessions/<id>/ with
  meta.json  who pulls what, and the outcome once known (rewritten atomically)
  output     Podman's progress text, appended by the worker, read by offset
  lock       flock that makes the final outcome a write-once affair

This module is on the polling path: standard library only.
"""

import os
import time

from . import state
from .errors import Busy, InvalidArgument, NotFound, StateUnavailable

# Bytes of output one pullStatus reply carries per session at most, and for all
# sessions of a multi-session poll together (ubus messages top out near 1 MiB).
MAX_CHUNK = 32 * 1024
MAX_REPLY_OUTPUT = 256 * 1024
STOP_GRACE = 5.0
WORKER_DIED = "the pull worker died unexpectedly"

RUNNING = "running"
COMPLETE = "complete"


class SessionStore:
    def __init__(self, state_dir: state.StateDir, ttl: float = 3600):
        self.state_dir = state_dir
        self.ttl = ttl

    # -- creating ------------------------------------------------------------

    def create(self, image: str, owner: str, cap: int | None = None) -> str:
        """Record a new running session and return its id.

        With cap, answer Busy when that many sessions already run.
        """
        with self.state_dir.lock():
            self.prune()
            if cap is not None and self.count_running() >= cap:
                raise Busy(
                    f"{cap} pulls are already running; try again when one finishes"
                )
            session_id = state.new_id()
            path = self.state_dir.session_dir(session_id)
            try:
                os.mkdir(path, 0o700)
                open(os.path.join(path, "output"), "xb").close()
                state.write_json(
                    os.path.join(path, "meta.json"),
                    {
                        "sessionId": session_id,
                        "image": image,
                        "owner": owner,
                        "state": RUNNING,
                        "pid": None,
                        "pidStart": None,
                        "createdAt": state.now(),
                    },
                )
            except (OSError, StateUnavailable) as exc:
                _remove_tree(path)
                raise StateUnavailable(f"cannot record a new pull: {exc}") from exc
        return session_id

    def create_when_free(
        self, image: str, owner: str, cap: int, patience: float
    ) -> str:
        """Like create with cap, but wait up to patience seconds for a slot."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return self.create(image, owner, cap)
            except Busy:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.25)

    def set_worker(self, session_id: str, pid: int) -> None:
        """Record which process pulls for the session (unless it already ended)."""
        started = state.process_start(pid)

        def record(meta):
            meta["pid"], meta["pidStart"] = pid, started

        self._update(session_id, record, only_running=True)

    # -- reading -------------------------------------------------------------

    def meta(self, session_id: str) -> dict:
        path = os.path.join(self.state_dir.session_dir(session_id), "meta.json")
        meta = state.read_json(path)
        if meta is None:
            raise NotFound(f"no pull session {session_id} (finished ones expire)")
        return meta

    def status(self, session_id: str, offset, limit: int = MAX_CHUNK) -> dict:
        """The session's outcome so far and up to limit bytes of output from
        byte offset on."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgument("offset must be a whole number >= 0")
        meta = self.checked_meta(session_id)
        output, next_offset = self._read_output(session_id, offset, limit)
        return self._reply(meta, output, next_offset)

    @staticmethod
    def _reply(meta: dict, output: str, next_offset: int) -> dict:
        reply = {
            "sessionId": meta["sessionId"],
            "image": meta["image"],
            "output": output,
            "offset": next_offset,
            "complete": meta["state"] == COMPLETE,
            "success": bool(meta.get("success")),
        }
        if meta.get("error"):
            reply["error"] = meta["error"]
        if meta.get("imageId"):
            reply["imageId"] = meta["imageId"]
        return reply

    def checked_meta(self, session_id: str) -> dict:
        """Meta, with a dead worker turned into a failed outcome first."""
        meta = self.meta(session_id)
        if meta["state"] == RUNNING and not self._worker_alive(meta):
            self.finish(session_id, success=False, error=WORKER_DIED)
            meta = self.meta(session_id)
        return meta

    def _read_output(self, session_id: str, offset: int, limit: int) -> tuple[str, int]:
        path = os.path.join(self.state_dir.session_dir(session_id), "output")
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"pull session {session_id} has expired") from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if offset > size:
                raise InvalidArgument(f"offset {offset} is past the end ({size})")
            handle.seek(offset)
            chunk = handle.read(limit)
        if chunk and _is_continuation(chunk[0]):
            raise InvalidArgument(f"offset {offset} is inside a UTF-8 character")
        chunk = chunk[: _complete_utf8_length(chunk)]
        return chunk.decode("utf-8", errors="replace"), offset + len(chunk)

    @staticmethod
    def _worker_alive(meta: dict) -> bool:
        return state.worker_alive(meta, since="createdAt")

    # -- writing -------------------------------------------------------------

    def append(self, session_id: str, text: str) -> None:
        path = os.path.join(self.state_dir.session_dir(session_id), "output")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode("utf-8", errors="replace"))
        finally:
            os.close(fd)

    def finish(
        self, session_id: str, success: bool, error: str = "", image_id: str = ""
    ) -> bool:
        """Record the outcome once; False if another writer got there first."""

        def record(meta):
            meta.update(
                state=COMPLETE,
                success=success,
                error=error or None,
                imageId=image_id or None,
                finishedAt=state.now(),
            )

        return self._update(session_id, record, only_running=True)

    def _update(self, session_id: str, change, only_running: bool) -> bool:
        directory = self.state_dir.session_dir(session_id)
        with self.state_dir.lock(os.path.join(directory, "lock")):
            meta = self.meta(session_id)
            if only_running and meta["state"] != RUNNING:
                return False
            change(meta)
            state.write_json(os.path.join(directory, "meta.json"), meta)
        return True

    def stop(self, session_id: str) -> dict:
        """End a stream session's worker; Podman cancels the pull when it goes."""
        import signal

        meta = self.meta(session_id)
        if meta["state"] == RUNNING and meta["owner"] != "stream":
            raise InvalidArgument(
                "this pull belongs to a running update check and ends with it"
            )
        if meta["state"] == RUNNING and self._worker_alive(meta):
            state.signal_process(meta["pid"], meta.get("pidStart"), signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while self._still_running(session_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._still_running(session_id):
                state.signal_process(meta["pid"], meta.get("pidStart"), signal.SIGKILL)
        self.finish(session_id, success=False, error="stopped on request")
        reply = self._reply(self.meta(session_id), "", 0)
        del reply["output"], reply["offset"]
        return reply

    def _still_running(self, session_id: str) -> bool:
        meta = self.meta(session_id)
        return meta["state"] == RUNNING and self._worker_alive(meta)

    # -- housekeeping (callers hold the global lock) --------------------------

    def _all(self):
        """Every readable session's meta; a damaged one is skipped, not fatal."""
        for name in state.listdir(self.state_dir.sessions):
            if state.is_id(name):
                try:
                    yield self.meta(name)
                except (NotFound, StateUnavailable):
                    continue

    def stop_owned(self, owner: str) -> None:
        """Mark the running sessions of owner (a stopped check) as stopped."""
        for meta in list(self._all()):
            if meta["owner"] == owner and meta["state"] == RUNNING:
                self.finish(meta["sessionId"], False, "stopped on request")

    def count_running(self) -> int:
        return sum(
            1
            for meta in self._all()
            if meta["state"] == RUNNING and self._worker_alive(meta)
        )

    def prune(self) -> None:
        """Delete sessions that ended more than ttl seconds ago.

        Runs before anything new is written, and goes on past any one session
        it cannot handle: a full or damaged state dir must heal by itself.
        """
        cutoff = time.time() - self.ttl
        for name in state.listdir(self.state_dir.sessions):
            if not state.is_id(name):
                continue
            path = os.path.join(self.state_dir.sessions, name)
            try:
                meta = self.meta(name)
            except (NotFound, StateUnavailable):
                meta = None  # damaged or half-made: judge it by its age
            if meta is None:
                if _mtime(path) < cutoff:
                    _remove_tree(path)
                continue
            ended = meta.get("finishedAt")
            if meta["state"] == RUNNING and not self._worker_alive(meta):
                ended = meta.get("createdAt", 0)
                try:
                    self.finish(name, False, WORKER_DIED)
                except (StateUnavailable, NotFound):
                    pass  # no room to say so; it goes when it expires
            if ended is not None and ended < cutoff:
                _remove_tree(path)


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return time.time()


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _complete_utf8_length(chunk: bytes) -> int:
    """Length of chunk without a UTF-8 character cut off at its end."""
    end = len(chunk)
    for back in range(1, min(4, end) + 1):
        byte = chunk[end - back]
        if not _is_continuation(byte):
            lead = back
            need = (
                1
                if byte < 0x80
                else 2
                if byte >> 5 == 6
                else 3
                if byte >> 4 == 14
                else 4
            )
            return end if need <= lead else end - back
    return end
