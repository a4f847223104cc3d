"""The state directory on tmpfs: ids, atomic JSON files, locks, worker identity.

Every rpcd call is a fresh process, so whatever must outlive a call (pull
sessions, check jobs, the last result) lives here. Nothing outside this
directory is ever written, and every name built from caller input is checked
with is_id() first.
"""

import fcntl
import os
import stat
import time

from . import wire
from .errors import Busy, InvalidArgument, StateUnavailable

_HEX = frozenset("0123456789abcdef")
# Seconds a call waits for another one's lock (held for milliseconds normally).
LOCK_WAIT = 10


def new_id() -> str:
    """Return a fresh 128-bit random id as 32 lowercase hex digits."""
    return os.urandom(16).hex()


def is_id(value) -> bool:
    """True for exactly 32 lowercase hex digits (no regex: hot path)."""
    return isinstance(value, str) and len(value) == 32 and _HEX.issuperset(value)


def check_id(value, what: str) -> str:
    """Return value if it is a well-formed id, else raise InvalidArgument."""
    if not is_id(value):
        raise InvalidArgument(f"{what} must be 32 lowercase hex digits")
    return value


def now() -> float:
    return round(time.time(), 3)


def process_start(pid: int) -> str | None:
    """Return the kernel's start time of pid (guards against pid reuse).

    None if the process is gone or a zombie.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3); the start time is field 22.
    if fields[0] in (b"Z", b"X"):
        return None
    return fields[19].decode()


# A worker whose pid is not recorded yet is given this long to start.
SPAWN_GRACE = 15.0


def worker_alive(record: dict, since: str) -> bool:
    """True while the worker a session or job record names still runs.

    Before its pid is recorded (just spawned), it counts as alive for
    SPAWN_GRACE seconds after record[since].
    """
    if record.get("pid") is None:
        return time.time() - record.get(since, 0) < SPAWN_GRACE
    return process_alive(record["pid"], record.get("pidStart"))


def process_alive(pid, started) -> bool:
    """True if pid still runs and is the same process that was recorded."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    return started is not None and process_start(pid) == started


def signal_process(pid, started, signum: int) -> None:
    """Signal pid's process group if pid is still the recorded process."""
    if process_alive(pid, started):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass


class StateDir:
    """A private (0700) directory with sessions/, jobs/ and a global lock."""

    def __init__(self, path: str):
        self.path = path
        self.sessions = os.path.join(path, "sessions")
        self.jobs = os.path.join(path, "jobs")

    def ensure(self) -> "StateDir":
        """Create the tree if needed and refuse anything that is not ours.

        An existing directory must already be private: we never loosen or
        tighten someone else's directory (a state_dir of /tmp by mistake).
        """
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
            for path in (self.path, self.sessions, self.jobs):
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    pass
                _check_private(path)
        except OSError as exc:
            raise StateUnavailable(f"state directory {self.path}: {exc}") from exc
        return self

    def session_dir(self, session_id: str) -> str:
        return os.path.join(self.sessions, check_id(session_id, "sessionId"))

    def job_file(self, job_id: str) -> str:
        return os.path.join(self.jobs, check_id(job_id, "jobId") + ".json")

    def file(self, name: str) -> str:
        """A fixed, well-known file directly in the state dir."""
        return os.path.join(self.path, name)

    def lock(self, path: str | None = None) -> "FileLock":
        """An exclusive flock on path (default: the global lock file)."""
        return FileLock(path or self.file("lock"))


def _check_private(path: str) -> None:
    """Insist on a real directory, owned by us, closed to everyone else."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StateUnavailable(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise StateUnavailable(f"{path} belongs to another user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise StateUnavailable(
            f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o});"
            " use a directory of its own, mode 0700"
        )


class FileLock:
    """`with FileLock(path):` holds an exclusive flock (contextlib is costly).

    Waits at most LOCK_WAIT seconds: a process stuck while holding the lock
    must turn into a `busy` answer, not into calls that rpcd kills at 30 s.
    """

    def __init__(self, path: str):
        self.path = path
        self.fd = -1

    def __enter__(self) -> "FileLock":
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            self.fd = os.open(self.path, flags, 0o600)
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return self
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(
                            f"the state directory stayed locked for {LOCK_WAIT} s;"
                            " try again"
                        ) from None
                time.sleep(0.01)
        except BaseException as exc:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            if isinstance(exc, OSError):
                raise StateUnavailable(f"cannot lock {self.path}: {exc}") from exc
            raise

    def __exit__(self, *exc_info) -> None:
        os.close(self.fd)
        self.fd = -1


def listdir(path: str) -> list:
    """The names in path; none when it cannot be read."""
    try:
        return os.listdir(path)
    except OSError:
        return []


def write_json(path: str, value: dict) -> None:
    """Write value to path atomically: a temp file in the same dir, then rename."""
    tmp = f"{path}.{os.getpid()}.{new_id()[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(wire.dumps(value))
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateUnavailable(f"cannot write {path}: {exc}") from exc


def read_json(path: str) -> dict | None:
    """Return the JSON object in path, or None if there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = wire.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateUnavailable(f"cannot read {path}: {exc}") from exc
    return value if isinstance(value, dict) else None
