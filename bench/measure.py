"""Exact CPU time and peak memory of every process the product starts.

- MeasuredHarness is the rpcd harness with one change: it reaps each launcher
  itself with wait4(), so every call's wall and user+sys time are known.
- Peak RSS of a launcher comes from GNU time (see peak_rss: wait4 cannot
  tell it); a worker's from wait4, as it outgrows what it inherits.
- The benchmark becomes a child subreaper: the detached pull and check
  workers (grandchildren that rpcd never waits for) are re-parented to it
  when their launcher exits, and reap() collects their rusage too.
"""

import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rpcd_harness import (
    UBUS_INVALID_ARGUMENT,
    UBUS_NO_DATA,
    UBUS_OK,
    UBUS_TIMEOUT,
    CallResult,
    RpcdHarness,
    first_json_value,
)

PR_SET_CHILD_SUBREAPER = 36
GNU_TIME = "/usr/bin/time"


@dataclass
class Usage:
    """One finished process: what it was, its wall time, CPU and peak RSS."""

    what: str
    wall: float
    cpu: float  # user + system seconds
    rss_kb: int  # only a worker's is its own (see peak_rss)


def has_gnu_time() -> bool:
    return os.access(GNU_TIME, os.X_OK)


def become_subreaper() -> None:
    """Adopt orphaned descendants (the product's detached workers)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children_cpu() -> float:
    """User+sys seconds of every child reaped so far."""
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime


def process_cpu(pid: int) -> float:
    """User+sys seconds a running process has used (all its threads)."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reap(pid: int, what: str, timeout: float = 60) -> Usage | None:
    """Wait for an adopted worker to exit and return its usage.

    None if it is not ours to wait for (never re-parented here).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            cpu = usage.ru_utime + usage.ru_stime
            return Usage(what, 0.0, cpu, usage.ru_maxrss)
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker {pid} ({what}) still runs after {timeout}s")
        time.sleep(0.02)


class MeasuredHarness(RpcdHarness):
    """RpcdHarness whose calls record wall time, CPU time and peak RSS."""

    def __init__(self, env: dict, **kwargs):
        super().__init__(env, **kwargs)
        self.usage: list[Usage] = []
        self.interpreter = shutil.which("python3", path=self.env["PATH"])

    def run(self, what: str, argv: list[str], stdin: bytes | None, timeout=None):
        """Run argv to completion; return (stdout, Usage or None on timeout)."""
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        expired = threading.Event()

        def kill():
            expired.set()
            os.kill(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout or self.timeout, kill)
        timer.start()
        try:
            if stdin is not None:
                try:
                    proc.stdin.write(stdin)
                except BrokenPipeError:
                    pass
                proc.stdin.close()
            stdout = proc.stdout.read()
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if expired.is_set():
            return b"", None
        record = Usage(
            what,
            time.monotonic() - started,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss,
        )
        self.usage.append(record)
        return stdout, record

    def call_raw(self, plugin, method, stdin, timeout=None) -> CallResult:
        """As RpcdHarness.call_raw: the first JSON value decides the status."""
        argv = self._argv(plugin, "call", method)
        stdout, record = self.run(f"{plugin} {method}", argv, stdin, timeout)
        if record is None:
            return CallResult(UBUS_TIMEOUT, None, timeout or self.timeout, b"")
        try:
            value = first_json_value(stdout)
        except ValueError:
            return CallResult(UBUS_NO_DATA, None, record.wall, stdout)
        if not isinstance(value, dict):
            return CallResult(UBUS_INVALID_ARGUMENT, None, record.wall, stdout)
        return CallResult(UBUS_OK, value, record.wall, stdout)

    def list_usage(self, plugin: str) -> Usage:
        """`PLUGIN list` as rpcd runs it at start (stdin on /dev/null)."""
        stdout, record = self.run(f"{plugin} list", self._argv(plugin, "list"), None)
        if not isinstance(first_json_value(stdout), dict):
            raise AssertionError(f"{plugin} list printed no object: {stdout!r}")
        return record

    def bare_usage(self) -> Usage:
        """A bare interpreter start: the launchers' python3, `-c pass`."""
        _, record = self.run("python3 -c pass", [self.interpreter, "-c", "pass"], None)
        return record

    def peak_rss(self, what: str, argv: list[str], stdin: bytes | None = None):
        """Run argv under GNU time; return (stdout, peak RSS in KiB).

        wait4() cannot tell a launcher's own peak: a child forked from this
        (large) process inherits its RSS high-water mark until exec. GNU time
        is small, so the processes it forks start from a clean mark.
        """
        with tempfile.NamedTemporaryFile("r") as report:
            proc = subprocess.run(
                [GNU_TIME, "-f", "%M", "-o", report.name, *argv],
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self.env,
                timeout=self.timeout,
                check=False,
            )
            # A failed command adds a first line; the figure is the last word.
            return proc.stdout, int(report.read().split()[-1])

    def call_rss(self, plugin: str, method: str, args: dict) -> tuple[dict, int | None]:
        """A call as rpcd makes it, under GNU time: (reply, peak RSS KiB).

        Without GNU time, a plain call and None.
        """
        if not has_gnu_time():
            return self.reply(plugin, method, args), None
        payload = json.dumps({**args, "ubus_rpc_session": self.session_id})
        argv = self._argv(plugin, "call", method)
        stdout, rss = self.peak_rss(f"{plugin} {method}", argv, payload.encode())
        reply = first_json_value(stdout)
        if not isinstance(reply, dict) or isinstance(reply.get("error"), dict):
            raise AssertionError(f"{plugin} {method} failed: {stdout!r}")
        return reply, rss

    def take_usage(self) -> list[Usage]:
        taken, self.usage = self.usage, []
        return taken


# -- where an interpreter's start-up time goes (python -X importtime) ---------

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(harness: MeasuredHarness, argv: list[str], stdin: bytes | None):
    """{module: (self us, cumulative us, importer)} of one run with -X importtime.

    importer is the nearest enclosing import (the module that pulled it in).
    """
    proc = subprocess.run(
        [harness.interpreter, "-X", "importtime", *argv],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env=harness.env,
        check=False,
    )
    lines = []
    for text in proc.stderr.decode(errors="replace").splitlines():
        match = IMPORT_LINE.match(text)
        if match:
            depth = len(match.group(3)) // 2
            lines.append(
                (match.group(4), int(match.group(1)), int(match.group(2)), depth)
            )
    found = {}
    # The log is in post-order: a module's importer is the next line that is
    # one level shallower.
    for index, (name, own, total, depth) in enumerate(lines):
        importer = "(the launcher)"
        for later, _, _, later_depth in lines[index + 1 :]:
            if later_depth < depth:
                importer = later
                break
        found[name] = (own, total, importer)
    return found


def launcher_path(harness: MeasuredHarness, plugin: str) -> str:
    return str(Path(harness.launcher_dir) / plugin)
