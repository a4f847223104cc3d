"""Drive rpcd exec plugins exactly as rpcd does (rpcd itself cannot run here).

- `PLUGIN list` once, stdin and stderr on /dev/null, the first JSON value of
  stdout is the signature table.
- `PLUGIN call METHOD`, the arguments as one JSON object on stdin without a
  trailing newline, `ubus_rpc_session` added as uhttpd does.
- Only the first JSON value on stdout counts: none -> status 5 (no data), not
  an object -> status 2 (invalid argument). The exit code and stderr are
  ignored.
- At the timeout the direct child is SIGKILLed (status 7 here, which uhttpd
  reports to LuCI as a failed call); grandchildren are left alone.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

UBUS_OK = 0
UBUS_INVALID_ARGUMENT = 2
UBUS_NO_DATA = 5
UBUS_TIMEOUT = 7

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER_DIR = ROOT / "files" / "usr" / "libexec" / "rpcd"


@dataclass
class CallResult:
    status: int
    reply: dict | None
    seconds: float
    stdout: bytes


def first_json_value(stdout: bytes):
    """Return the first JSON value on stdout, or raise ValueError."""
    text = stdout.decode("utf-8", errors="replace").lstrip()
    value, _ = json.JSONDecoder().raw_decode(text)
    return value


class RpcdHarness:
    """Runs launchers from one directory with a fixed environment."""

    def __init__(
        self,
        env: dict,
        launcher_dir: Path = LAUNCHER_DIR,
        timeout: float = 30.0,
        python: str | None = None,
    ):
        self.env = dict(env)
        self.launcher_dir = Path(launcher_dir)
        self.timeout = timeout
        self.python = python
        self.session_id = "0" * 32

    def _argv(self, plugin: str, *args: str) -> list[str]:
        path = str(self.launcher_dir / plugin)
        prefix = [self.python] if self.python else []
        return prefix + [path, *args]

    def list(self, plugin: str) -> dict:
        """Run `PLUGIN list` and return its method table."""
        proc = subprocess.run(
            self._argv(plugin, "list"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
            timeout=self.timeout,
        )
        table = first_json_value(proc.stdout)
        if not isinstance(table, dict):
            raise ValueError(f"{plugin} list printed a non-object: {table!r}")
        return table

    def call_raw(
        self, plugin: str, method: str, stdin: bytes, timeout: float | None = None
    ) -> CallResult:
        """Run `PLUGIN call METHOD` with stdin as given."""
        started = time.monotonic()
        proc = subprocess.Popen(
            self._argv(plugin, "call", method),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        try:
            stdout, _ = proc.communicate(stdin, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return CallResult(UBUS_TIMEOUT, None, time.monotonic() - started, b"")
        seconds = time.monotonic() - started
        try:
            value = first_json_value(stdout)
        except ValueError:
            return CallResult(UBUS_NO_DATA, None, seconds, stdout)
        if not isinstance(value, dict):
            return CallResult(UBUS_INVALID_ARGUMENT, None, seconds, stdout)
        return CallResult(UBUS_OK, value, seconds, stdout)

    def call(
        self,
        plugin: str,
        method: str,
        args: dict | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call like uhttpd's /ubus does: args plus ubus_rpc_session."""
        payload = dict(args or {})
        payload["ubus_rpc_session"] = self.session_id
        stdin = json.dumps(payload, separators=(",", ":")).encode()
        return self.call_raw(plugin, method, stdin, timeout)

    def reply(self, plugin: str, method: str, args: dict | None = None, **kw) -> dict:
        """Call and insist on ubus status 0; return the reply object."""
        result = self.call(plugin, method, args, **kw)
        if result.status != UBUS_OK:
            raise AssertionError(
                f"{plugin} {method} -> ubus status {result.status}: {result.stdout!r}"
            )
        return result.reply


def plugin_env(socket: str, state_dir: str, **overrides: str) -> dict:
    """Environment for launchers run from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PODMAN_RPCD_SOCKET"] = socket
    env["PODMAN_RPCD_STATE_DIR"] = state_dir
    env["PODMAN_RPCD_CONFIG"] = "/nonexistent"
    # `#!/usr/bin/env python3` in the launchers then finds this interpreter
    # (the venv's, with requests), as /usr/bin/python3 would on a router.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(overrides)
    return env


def wait_for_pull(harness: RpcdHarness, session_id: str, timeout: float = 60) -> dict:
    """Poll pullStatus until the session completes; return the last reply
    with the whole output collected across polls."""
    deadline = time.monotonic() + timeout
    offset, output = 0, ""
    while True:
        reply = harness.reply(
            "podman.image", "pullStatus", {"sessionId": session_id, "offset": offset}
        )
        if "error" in reply and "sessionId" not in reply:
            raise AssertionError(f"pullStatus failed: {reply}")
        output += reply["output"]
        offset = reply["offset"]
        if reply["complete"] and not reply["output"]:
            return reply | {"output": output}
        if time.monotonic() > deadline:
            raise TimeoutError(f"pull {session_id} not complete after {timeout}s")
        if not reply["output"]:
            time.sleep(0.1)


def wait_for_check(harness: RpcdHarness, job_id: str, timeout: float = 120) -> dict:
    """Poll checkStatus until the job completes; return its reply."""
    deadline = time.monotonic() + timeout
    while True:
        reply = harness.reply("podman", "checkStatus", {"jobId": job_id})
        if reply.get("complete") or ("error" in reply and "jobId" not in reply):
            return reply
        if time.monotonic() > deadline:
            raise TimeoutError(f"check {job_id} not complete after {timeout}s")
        time.sleep(0.1)
