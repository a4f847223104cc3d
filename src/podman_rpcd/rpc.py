"""rpcd exec plugin entry for the ubus objects `podman.image` and `podman`.

  ubus call podman.image pullStream '{"image":"docker.io/library/nginx:latest"}'
  ubus call podman.image pullStatus '{"sessionId":"<32 hex>","offset":0}'
  ubus call podman.image pullStatus '{"sessions":[{"sessionId":"<32 hex>","offset":0}]}'
  ubus call podman.image pullStop '{"sessionId":"<32 hex>"}'
  ubus call podman.image inspect '{"image":"docker.io/library/nginx:latest"}'
  ubus call podman containers
  ubus call podman checkUpdates '{"names":["pihole"],"parallel":4,"wait":25}'
  ubus call podman checkStatus '{"jobId":"<32 hex>"}'
  ubus call podman checkStop '{"jobId":"<32 hex>"}'
  ubus call podman settings

rpcd runs `PLUGIN list` once and `PLUGIN call METHOD` per call with the
arguments on stdin. Exactly one JSON object goes to stdout; failures are
{"error": {"code", "message"}} inside it, because rpcd drops stderr and the
exit code. `list`, `pullStatus` and `settings` import only the standard
library: they run often, on a slow CPU.
"""

import sys

from . import config, state, wire
from .errors import InvalidArgument, RpcdError, UnknownMethod

MAX_STDIN = 64 * 1024
MAX_SESSIONS_PER_POLL = 64
MAX_WAIT = 25


# -- argument checks ---------------------------------------------------------


def _string(args: dict, key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{key} must be a non-empty string")
    return value


def _integer(args: dict, key: str, low: int, high: int, default: int) -> int:
    value = args.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise InvalidArgument(f"{key} must be a whole number from {low} to {high}")
    return value


def _name_list(args: dict) -> list[str] | None:
    names = args.get("names")
    if names is None:
        return None
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n for n in names)
    ):
        raise InvalidArgument("names must be a non-empty array of container names")
    return sorted(set(names))


# -- shared plumbing ---------------------------------------------------------


class Context:
    """Settings and stores, built on first use within one call."""

    def __init__(self):
        self.settings = config.load()
        self._state_dir = None

    @property
    def state_dir(self) -> state.StateDir:
        if self._state_dir is None:
            self._state_dir = state.StateDir(self.settings.state_dir).ensure()
        return self._state_dir

    def sessions(self):
        from .sessions import SessionStore

        return SessionStore(self.state_dir, self.settings.session_ttl)

    def jobs(self):
        from .jobs import JobStore

        stall = 2 * self.settings.pull_timeout + 60
        return JobStore(self.state_dir, self.settings.session_ttl, stall)

    def client(self):
        from .transport import PodmanClient

        return PodmanClient(self.settings.socket, self.settings.pull_timeout)


# -- podman.image --------------------------------------------------------------


def pull_stream(ctx: Context, args: dict) -> dict:
    from . import reference, worker

    image = reference.pullable(args.get("image"))
    store = ctx.sessions()
    session_id = store.create(image, owner="stream", cap=ctx.settings.pull_cap)
    try:
        pid = worker.spawn("pull", session_id, ctx.settings)
    except OSError as exc:
        store.finish(session_id, False, f"cannot start the pull worker: {exc}")
        raise RpcdError(f"cannot start the pull worker: {exc}") from exc
    store.set_worker(session_id, pid)
    return {"sessionId": session_id}


def pull_status(ctx: Context, args: dict) -> dict:
    from .sessions import MAX_CHUNK, MAX_REPLY_OUTPUT

    store = ctx.sessions()
    if "sessions" not in args:
        return store.status(
            state.check_id(args.get("sessionId"), "sessionId"), args.get("offset", 0)
        )

    polls = args["sessions"]
    if not isinstance(polls, list) or not 0 < len(polls) <= MAX_SESSIONS_PER_POLL:
        raise InvalidArgument(
            f"sessions must be an array of 1 to {MAX_SESSIONS_PER_POLL} objects"
        )
    # Share the reply's output budget; the offsets carry the rest to the next tick.
    limit = min(MAX_REPLY_OUTPUT // len(polls), MAX_CHUNK)
    replies = []
    for poll in polls:
        session_id = poll.get("sessionId") if isinstance(poll, dict) else None
        try:
            if not isinstance(poll, dict):
                raise InvalidArgument("each entry of sessions must be an object")
            state.check_id(session_id, "sessionId")
            replies.append(store.status(session_id, poll.get("offset", 0), limit))
        except RpcdError as exc:
            replies.append({"sessionId": session_id, **exc.to_reply()})
    return {"sessions": replies}


def pull_stop(ctx: Context, args: dict) -> dict:
    session_id = state.check_id(args.get("sessionId"), "sessionId")
    return ctx.sessions().stop(session_id)


def inspect(ctx: Context, args: dict) -> dict:
    from . import reference

    image = _string(args, "image")
    if not reference.is_image_id(image) and reference.split(image) is None:
        raise InvalidArgument(f"not a valid image name or id: {image!r}")
    found = ctx.client().inspect_image(image)
    keys = ("Id", "RepoTags", "RepoDigests", "Digest", "Created", "Architecture", "Os")
    return {key: found.get(key) for key in keys}


# -- podman --------------------------------------------------------------------


def containers(ctx: Context, args: dict) -> dict:
    from .check import container_row

    return {"containers": [container_row(c) for c in ctx.client().containers()]}


def check_updates(ctx: Context, args: dict) -> dict:
    from . import worker

    names = _name_list(args)
    # Never more at once than the router's owner allowed in parallel_pulls.
    configured = ctx.settings.parallel_pulls
    parallel = _integer(args, "parallel", 1, configured, configured)
    wait = _integer(args, "wait", 0, MAX_WAIT, MAX_WAIT)
    jobs = ctx.jobs()
    job_id, joined = jobs.start_or_join(
        names, parallel, lambda jid: worker.spawn("check", jid, ctx.settings)
    )
    reply = jobs.wait(job_id, wait)
    reply["joined"] = joined
    return reply


def check_status(ctx: Context, args: dict) -> dict:
    jobs = ctx.jobs()
    if args.get("jobId") is None:
        return jobs.latest()
    return jobs.get(state.check_id(args["jobId"], "jobId"))


def check_stop(ctx: Context, args: dict) -> dict:
    job_id = state.check_id(args.get("jobId"), "jobId")
    reply = ctx.jobs().stop(job_id)
    ctx.sessions().stop_owned(f"check:{job_id}")
    return reply


def settings(ctx: Context, args: dict) -> dict:
    return {
        "parallelPulls": ctx.settings.parallel_pulls,
        "socket": ctx.settings.socket,
        "stateDir": ctx.settings.state_dir,
        "pullTimeout": ctx.settings.pull_timeout,
    }


# -- dispatch ------------------------------------------------------------------

# object -> method -> (signature for `list`, handler)
OBJECTS = {
    "podman.image": {
        "pullStream": ({"image": ""}, pull_stream),
        "pullStatus": ({"sessionId": "", "offset": 0, "sessions": []}, pull_status),
        "pullStop": ({"sessionId": ""}, pull_stop),
        "inspect": ({"image": ""}, inspect),
    },
    "podman": {
        "containers": ({}, containers),
        "checkUpdates": ({"names": [], "parallel": 4, "wait": 25}, check_updates),
        "checkStatus": ({"jobId": ""}, check_status),
        "checkStop": ({"jobId": ""}, check_stop),
        "settings": ({}, settings),
    },
}


def read_args(raw: bytes) -> dict:
    """Parse the call's stdin: one JSON object (rpcd sends no newline)."""
    if len(raw) > MAX_STDIN:
        raise InvalidArgument(f"arguments larger than {MAX_STDIN} bytes")
    text = raw.decode("utf-8", errors="strict") if raw.strip() else "{}"
    args = wire.loads(text)
    if not isinstance(args, dict):
        raise InvalidArgument("arguments must be a JSON object")
    args.pop("ubus_rpc_session", None)
    return args


def call(obj: str, method: str, raw: bytes) -> dict:
    """Run one method and return the reply object (errors included)."""
    try:
        methods = OBJECTS[obj]
        if method not in methods:
            raise UnknownMethod(f"{obj} has no method {method!r}")
        try:
            args = read_args(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"arguments are not a JSON object: {exc}") from exc
        except RecursionError:
            raise InvalidArgument("arguments are nested too deeply") from None
        return methods[method][1](Context(), args)
    except RpcdError as exc:
        return exc.to_reply()
    except ImportError as exc:
        message = f"a Python module is missing: {exc.name} (is the package complete?)"
        return {"error": {"code": "internal", "message": message}}
    except Exception:
        _log_exception(obj, method)
        return {
            "error": {"code": "internal", "message": f"{method} failed unexpectedly"}
        }


def _log_exception(obj: str, method: str) -> None:
    import logging
    import logging.handlers
    import os

    log = logging.getLogger(__name__)
    if os.path.exists("/dev/log"):
        log.addHandler(logging.handlers.SysLogHandler(address="/dev/log"))
    log.exception("%s %s failed", obj, method)


def main(obj: str, argv: list[str]) -> int:
    """The launcher's whole job: `list`, or `call METHOD` with stdin."""
    if argv == ["list"]:
        reply = {name: sig for name, (sig, _) in OBJECTS[obj].items()}
    elif len(argv) == 2 and argv[0] == "call":
        reply = call(obj, argv[1], sys.stdin.buffer.read(MAX_STDIN + 1))
    else:
        reply = {
            "error": {
                "code": "invalid_argument",
                "message": "usage: list | call METHOD",
            }
        }
    sys.stdout.write(wire.dumps(reply))
    sys.stdout.flush()
    return 0
