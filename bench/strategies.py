"""The three ways to check containers for newer images, all through the product.

Each drives the real launchers through the rpcd harness, as LuCI would:
  sequential  one image at a time: pullStream, then pullStatus (one session)
              every tick until complete; its imageId tells the verdict;
  batches     the flow of LuCI's auto-update.js: pullStream for 4 images, ONE
              multi-session pullStatus per tick until all 4 complete (their
              imageIds tell the verdict, as on the page), then the next batch;
  window      the backend's check: checkUpdates {parallel: 4, wait: 25}, then
              checkStatus every tick until the job completes.
All three start from the `podman containers` list, pull each distinct image
once and report which containers have a newer image.
"""

import json
import os
import time
from dataclasses import dataclass, field

PARALLEL = 4
WAIT = 25


@dataclass
class Outcome:
    """What one strategy run found and how long it took."""

    strategy: str
    wall: float = 0.0
    updates: dict = field(default_factory=dict)  # container -> newer image id
    checked: int = 0
    errors: list = field(default_factory=list)
    pulls: int = 0
    job_id: str | None = None


class CallFailed(Exception):
    pass


def _reply(harness, plugin: str, method: str, args: dict) -> dict:
    reply = harness.reply(plugin, method, args)
    if isinstance(reply.get("error"), dict):
        raise CallFailed(f"{plugin} {method}: {reply['error']}")
    return reply


def _bare(image_id) -> str:
    return str(image_id or "").removeprefix("sha256:")


def _rows(harness, names: list[str]) -> list[dict]:
    wanted = set(names)
    listed = _reply(harness, "podman", "containers", {})["containers"]
    rows = sorted((c for c in listed if c["name"] in wanted), key=lambda c: c["name"])
    if len(rows) != len(wanted):
        raise CallFailed(f"containers lists {len(rows)} of {len(wanted)} containers")
    return rows


def follow(harness, started: dict, tick: float, multi: bool) -> dict:
    """Poll pullStatus for the sessions {sessionId: image} until all complete.

    Returns {image: (success, error, imageId)}.
    """
    offsets = {session_id: 0 for session_id in started}
    done: dict = {}
    while offsets:
        time.sleep(tick)
        polls = [{"sessionId": sid, "offset": off} for sid, off in offsets.items()]
        if multi:
            replies = _reply(harness, "podman.image", "pullStatus", {"sessions": polls})
            replies = replies["sessions"]
        else:
            replies = [_reply(harness, "podman.image", "pullStatus", p) for p in polls]
        for reply in replies:
            session_id = reply["sessionId"]
            if isinstance(reply.get("error"), dict):
                raise CallFailed(f"pullStatus {session_id}: {reply['error']}")
            offsets[session_id] = reply["offset"]
            # Complete, and nothing left to read past the offset.
            if reply["complete"] and not reply["output"]:
                done[started[session_id]] = (
                    reply["success"],
                    reply.get("error"),
                    reply.get("imageId"),
                )
                del offsets[session_id]
    return done


def page_check(harness, names: list[str], batch: int, tick: float) -> Outcome:
    """A page's check with `batch` pulls at a time."""
    outcome = Outcome("sequential" if batch == 1 else f"batches of {batch}")
    began = time.monotonic()
    rows = _rows(harness, names)
    images = list(dict.fromkeys(row["image"] for row in rows))
    found: dict = {}
    for first in range(0, len(images), batch):
        group = images[first : first + batch]
        started = {}
        for image in group:
            reply = _reply(harness, "podman.image", "pullStream", {"image": image})
            started[reply["sessionId"]] = image
        results = follow(harness, started, tick, multi=batch > 1)
        for image in group:
            success, error, image_id = results[image]
            if not success:
                outcome.errors.append(f"{image}: {error}")
                continue
            found[image] = _bare(image_id)
    outcome.wall = time.monotonic() - began
    outcome.pulls = len(images)
    for row in rows:
        new_id = found.get(row["image"])
        if new_id and new_id != _bare(row["imageId"]):
            outcome.updates[row["name"]] = new_id
    outcome.checked = len(rows)
    return outcome


def window_check(harness, names: list[str], tick: float) -> Outcome:
    """The backend's sliding window: checkUpdates, then checkStatus polling."""
    outcome = Outcome(f"window of {PARALLEL}")
    began = time.monotonic()
    args = {"names": names, "parallel": PARALLEL, "wait": WAIT}
    reply = _reply(harness, "podman", "checkUpdates", args)
    while not reply.get("complete"):
        time.sleep(tick)
        reply = _reply(harness, "podman", "checkStatus", {"jobId": reply["jobId"]})
    outcome.wall = time.monotonic() - began
    outcome.job_id = reply["jobId"]
    outcome.pulls = reply.get("pulls", 0)
    for row in reply["results"]:
        if row["status"] == "error":
            outcome.errors.append(f"{row['name']}: {row['error']}")
        elif row["hasUpdate"]:
            outcome.updates[row["name"]] = row["newImageId"]
    outcome.checked = len(reply["results"])
    return outcome


STRATEGIES = {
    "sequential": lambda h, names, tick: page_check(h, names, 1, tick),
    "batches": lambda h, names, tick: page_check(h, names, PARALLEL, tick),
    "window": window_check,
}


# -- what the state directory says about a run ---------------------------------


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def session_metas(state_dir: str) -> list[dict]:
    """Every pull session's meta.json in the state dir."""
    root = os.path.join(state_dir, "sessions")
    metas = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        meta = _read(os.path.join(root, name, "meta.json"))
        if meta:
            metas.append(meta)
    return metas


def worker_pids(state_dir: str) -> dict:
    """{pid: "pull worker" | "check worker"} of every worker the run started."""
    pids = {}
    for meta in session_metas(state_dir):
        if meta.get("owner") == "stream" and meta.get("pid"):
            pids[meta["pid"]] = "pull worker"
    jobs = os.path.join(state_dir, "jobs")
    for name in os.listdir(jobs) if os.path.isdir(jobs) else []:
        record = _read(os.path.join(jobs, name))
        if record and record.get("pid"):
            pids[record["pid"]] = "check worker"
    return pids
