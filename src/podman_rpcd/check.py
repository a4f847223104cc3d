"""The update check itself, run by a detached worker: pull each image once, compare ids.

Each distinct image that containers use is pulled once, at most `parallel`
at a time in a sliding window: a thread that finishes takes the next image
at once, so one slow image never holds a free slot. A container has an
update when the freshly pulled image's id differs from the id of the image
it was created from. Nothing here removes or changes a container.
"""

import logging
import os
import threading

from . import reference, state
from .errors import NotFound, RpcdError, StateUnavailable
from .jobs import JobStore
from .pull import PullOutcome, run_pull
from .sessions import SessionStore

log = logging.getLogger(__name__)

UPDATE_AVAILABLE = "update_available"
UP_TO_DATE = "up_to_date"
ERROR = "error"


def container_row(container: dict) -> dict:
    """The fields of a container that the check and the `containers` call show."""
    names = container.get("Names") or [container.get("Id", "")[:12]]
    state_text = str(container.get("State") or "")
    return {
        "id": container.get("Id", ""),
        "name": names[0],
        "image": container.get("Image", ""),
        "imageId": _bare_id(container.get("ImageID", "")),
        "running": state_text == "running",
        "state": state_text,
        "labels": container.get("Labels") or {},
    }


def select(containers: list[dict], names: list[str] | None) -> list[dict]:
    """Rows for the named containers (all when names is None), by name."""
    rows = sorted((container_row(c) for c in containers), key=lambda r: r["name"])
    if names is None:
        return rows
    known = {row["name"] for row in rows}
    missing = [name for name in names if name not in known]
    if missing:
        raise NotFound("no such container: " + ", ".join(missing))
    wanted = set(names)
    return [row for row in rows if row["name"] in wanted]


def pull_order(rows: list[dict], sizes: dict[str, int]) -> list[str]:
    """The distinct images to pull, largest (by the local copy) first.

    Starting the longest pulls first keeps the window from ending on one
    large image pulled alone; the local size is the best hint of the new one.
    """
    largest: dict[str, int] = {}
    for row in rows:
        if reference.classify(row["image"]) is None:
            size = sizes.get(row["imageId"], 0)
            largest[row["image"]] = max(largest.get(row["image"], 0), size)
    return sorted(largest, key=lambda image: (-largest[image], image))


def pull_window(images: list[str], parallel: int, pull_one) -> dict:
    """Run pull_one(image) for every image, at most `parallel` at once."""
    outcomes: dict = {}
    queue = iter(images)
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                image = next(queue, None)
            if image is None:
                return
            outcomes[image] = pull_one(image)

    threads = [
        threading.Thread(target=drain) for _ in range(min(parallel, len(images)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def result_row(row: dict, outcome: PullOutcome | None) -> dict:
    """One container's verdict from its image's pull outcome."""
    verdict = {
        "name": row["name"],
        "image": row["image"],
        "running": row["running"],
        "hasUpdate": False,
        "status": reference.classify(row["image"]),
        "error": None,
        "currentImageId": row["imageId"],
        "newImageId": None,
    }
    if verdict["status"] is not None:
        return verdict
    if outcome is None or not outcome.success:
        error = outcome.error if outcome else "the image was not pulled"
        verdict.update(status=ERROR, error=error)
        return verdict
    new_id = _bare_id(outcome.image_id)
    has_update = new_id != row["imageId"]
    verdict.update(
        status=UPDATE_AVAILABLE if has_update else UP_TO_DATE,
        hasUpdate=has_update,
        newImageId=new_id,
    )
    return verdict


class CheckRun:
    """One job's work, with its progress written to the job file as it goes."""

    def __init__(
        self,
        record: dict,
        jobs: JobStore,
        sessions: SessionStore,
        client_factory,
        cap: int = 8,
        patience: float = 600,
    ):
        self.record = record
        self.jobs = jobs
        self.sessions = sessions
        self.client_factory = client_factory
        # The global cap on pulls: a check waits up to patience seconds for a
        # slot that pullStream callers hold, rather than exceeding it.
        self.cap = cap
        self.patience = patience
        self.lock = threading.Lock()

    def run(self) -> dict:
        try:
            client = self.client_factory()
            rows = select(client.containers(), self.record["names"])
            images = pull_order(rows, client.image_sizes())
            self.record["checking"] = [row["name"] for row in rows]
            self._progress(total=len(images))
            outcomes = pull_window(images, self.record["parallel"], self._pull)
            self.record["results"] = [
                result_row(r, outcomes.get(r["image"])) for r in rows
            ]
            self.record["pulls"] = len(images)
        except RpcdError as exc:
            self.record.update(exc.to_reply())
        except ImportError as exc:  # e.g. python3-requests not installed
            message = f"a Python module is missing: {exc.name}"
            self.record["error"] = {"code": "internal", "message": message}
        except Exception:
            log.exception("check job %s failed", self.record["jobId"])
            self.record["error"] = {"code": "internal", "message": "the check failed"}
        self.record.update(complete=True, finishedAt=state.now())
        self.record["progress"]["pulling"] = []
        self.jobs.finish(self.record)
        return self.record

    def _pull(self, image: str) -> PullOutcome:
        with self.lock:
            self.record["progress"]["pulling"].append(image)
            self._save()
        try:
            outcome = self._pull_in_session(image)
        except Exception as exc:
            # One image's trouble (even a full state dir) never stops the rest.
            log.exception("pull of %s failed", image)
            outcome = PullOutcome(False, getattr(exc, "message", "") or repr(exc))
        with self.lock:
            progress = self.record["progress"]
            progress["pulling"].remove(image)
            progress["done"] += 1
            self._save()
        return outcome

    def _pull_in_session(self, image: str) -> PullOutcome:
        owner = f"check:{self.record['jobId']}"
        session_id = self.sessions.create_when_free(
            image, owner, self.cap, self.patience
        )
        self.sessions.set_worker(session_id, os.getpid())
        try:
            return run_pull(self.client_factory(), self.sessions, session_id, image)
        except Exception:
            self.sessions.finish(session_id, False, "the pull crashed")
            raise

    def _progress(self, **changes) -> None:
        with self.lock:
            self.record["progress"].update(changes)
            self._save()

    def _save(self) -> None:
        """Write progress; a failure here only delays what callers see."""
        try:
            self.jobs.save(self.record)
        except StateUnavailable as exc:
            log.warning("check %s: progress not saved: %s", self.record["jobId"], exc)


def _bare_id(image_id: str) -> str:
    return str(image_id or "").removeprefix("sha256:")
