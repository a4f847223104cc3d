"""One pull, streamed from Podman into a session, judged by its last line."""

import logging

from .errors import PodmanError
from .sessions import SessionStore

log = logging.getLogger(__name__)


class PullOutcome:
    __slots__ = ("error", "image_id", "success")

    def __init__(self, success: bool, error: str = "", image_id: str = ""):
        self.success = success
        self.error = error
        self.image_id = image_id


def judge(last: dict | None) -> PullOutcome:
    """Decide a pull's outcome from the last object Podman streamed.

    The HTTP status is 200 whatever happens; only this line tells.
    """
    if last is None:
        return PullOutcome(False, "Podman closed the pull without a result")
    if last.get("error"):
        return PullOutcome(False, str(last["error"]).strip())
    images = last.get("images")
    image_id = last.get("id") or (
        images[0] if isinstance(images, list) and images else ""
    )
    if image_id:
        return PullOutcome(True, image_id=str(image_id))
    return PullOutcome(False, "Podman ended the pull without naming an image")


def run_pull(client, store: SessionStore, session_id: str, image: str) -> PullOutcome:
    """Pull image into session_id's buffer and record the outcome there."""
    last = None
    try:
        for message in client.pull(image):
            last = message
            if message.get("stream"):
                store.append(session_id, message["stream"])
            elif message.get("error"):
                store.append(session_id, f"Error: {message['error']}\n")
        outcome = judge(last)
    except PodmanError as exc:
        log.warning("pull of %s failed: %s", image, exc.message)
        outcome = PullOutcome(False, exc.message)
        store.append(session_id, f"Error: {exc.message}\n")
    store.finish(session_id, outcome.success, outcome.error, outcome.image_id)
    return outcome
