"""Detached workers that outlive the rpcd call which started them.

  python3 -m podman_rpcd.worker pull <sessionId>
  python3 -m podman_rpcd.worker check <jobId>

rpcd SIGKILLs a call at its timeout (30 s on a stock router) but only the
direct child, so pulls and checks run here: in their own session, stdio on
/dev/null, cwd /. Logs go to syslog, since nobody reads their stderr.
"""

import os
import signal
import subprocess
import sys

from . import config, state
from .errors import RpcdError
from .jobs import JobStore
from .sessions import SessionStore

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(kind: str, ident: str, settings: config.Settings) -> int:
    """Start a fully detached worker and return its pid."""
    env = dict(os.environ)
    env.update(settings.as_env())
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "podman_rpcd.worker", kind, ident],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    return process.pid


class Stopped(Exception):
    """Raised in the worker by SIGTERM (pullStop)."""


def _on_sigterm(signum, frame):
    raise Stopped()


def _setup_logging() -> None:
    import logging
    import logging.handlers

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if os.path.exists("/dev/log"):
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("podman-rpcd[%(process)d]: %(message)s"))
        root.addHandler(handler)


def _client(settings):
    from .transport import PodmanClient

    return PodmanClient(settings.socket, settings.pull_timeout)


def run_pull_session(settings, session_id: str) -> None:
    from .pull import run_pull

    store = SessionStore(state.StateDir(settings.state_dir), settings.session_ttl)
    meta = store.meta(session_id)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run_pull(_client(settings), store, session_id, meta["image"])
    except Stopped:
        store.append(session_id, "Stopped on request.\n")
        store.finish(session_id, False, "stopped on request")
    except ImportError as exc:
        store.finish(session_id, False, f"a Python module is missing: {exc.name}")


def run_check_job(settings, job_id: str) -> None:
    from .check import CheckRun

    state_dir = state.StateDir(settings.state_dir)
    jobs = JobStore(state_dir, settings.session_ttl)
    sessions = SessionStore(state_dir, settings.session_ttl)
    with state_dir.lock():  # the starting call holds it until the pid is saved
        record = jobs.load(job_id)
    CheckRun(
        record,
        jobs,
        sessions,
        lambda: _client(settings),
        cap=settings.pull_cap,
        patience=settings.pull_timeout,
    ).run()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("pull", "check"):
        return 2
    kind, ident = argv
    _setup_logging()
    try:
        settings = config.load()
        state.check_id(ident, "id")
        if kind == "pull":
            run_pull_session(settings, ident)
        else:
            run_check_job(settings, ident)
    except RpcdError as exc:
        import logging

        logging.getLogger(__name__).error("%s %s: %s", kind, ident, exc.message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
