"""Podman's libpod REST API over its unix socket, with requests-unixsocket.

Only worker processes and the slower methods import this module: importing
requests costs seconds on a router CPU, so the polling paths never do.
"""

import errno
import json
import logging
from contextlib import contextmanager
from urllib.parse import quote

import requests
import requests_unixsocket
import urllib3

from .errors import NotFound, PodmanError, PodmanUnreachable

log = logging.getLogger(__name__)

# Paths under /v4.0.0/libpod work on Podman 4.3 and 5.x alike.
API_PREFIX = "/v4.0.0/libpod"
CONNECT_TIMEOUT = 5
# Listing and inspecting take well under a second; a hung Podman must be
# reported before LuCI's own 20 s timeout hides the reason.
REQUEST_TIMEOUT = 10


class PodmanClient:
    """A small client for the few libpod endpoints we use."""

    def __init__(self, socket_path: str, pull_timeout: float = 600):
        self.socket_path = socket_path
        self.pull_timeout = pull_timeout
        self.base = "http+unix://" + quote(socket_path, safe="") + API_PREFIX
        self.session = requests_unixsocket.Session()

    @contextmanager
    def _translated(self, what: str):
        """Turn transport exceptions into our errors; the only place that does."""
        try:
            yield
        except requests.exceptions.Timeout as exc:
            raise PodmanUnreachable(
                f"Podman at {self.socket_path} stopped answering during {what}"
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            if _caused_by(exc, urllib3.exceptions.ReadTimeoutError):
                # A streamed read that timed out surfaces as ConnectionError.
                raise PodmanError(
                    f"{what} stalled: nothing from Podman for {self.pull_timeout} s"
                ) from exc
            raise PodmanUnreachable(
                f"cannot reach Podman at {self.socket_path} ({what}): {_reason(exc)}"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise PodmanError(f"{what} failed: {_reason(exc)}") from exc

    def _request(self, method: str, path: str, what: str, **kwargs):
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, REQUEST_TIMEOUT))
        with self._translated(what):
            response = self.session.request(method, self.base + path, **kwargs)
        if response.status_code >= 400:
            raise _api_error(response, what)
        return response

    def _json(self, path: str, what: str, **kwargs):
        response = self._request("GET", path, what, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise PodmanError(
                f"{what}: Podman sent something that is not JSON"
            ) from exc

    def containers(self) -> list[dict]:
        """Every container, running or not."""
        found = self._json(
            "/containers/json", "listing containers", params={"all": "true"}
        )
        return found if isinstance(found, list) else []

    def image_sizes(self) -> dict[str, int]:
        """Local image id -> size in bytes."""
        found = self._json("/images/json", "listing images")
        if not isinstance(found, list):
            return {}
        return {
            str(image.get("Id", "")).removeprefix("sha256:"): int(
                image.get("Size") or 0
            )
            for image in found
            if isinstance(image, dict)
        }

    def inspect_image(self, name: str) -> dict:
        """The image's inspect record; NotFound if Podman has no such image."""
        path = "/images/" + quote(name, safe="/:@") + "/json"
        try:
            return self._json(path, f"inspecting {name}")
        except PodmanError as exc:
            if exc.status == 404:
                raise NotFound(exc.message) from exc
            raise

    def pull(self, reference: str):
        """Yield each JSON object of Podman's pull stream as it arrives.

        Podman answers 200 before it knows the outcome; the last object says
        how it went. Leaving the loop early closes the connection, and Podman
        then cancels the pull.
        """
        params = {"reference": reference, "policy": "always"}
        response = self._request(
            "POST",
            "/images/pull",
            f"pulling {reference}",
            params=params,
            stream=True,
            timeout=(CONNECT_TIMEOUT, self.pull_timeout),
        )
        with response, self._translated(f"pulling {reference}"):
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("pull %s: skipped a line that is not JSON", reference)
                    continue
                if isinstance(message, dict):
                    yield message


_ERRNO_TEXT = {
    errno.ENOENT: "no such socket (is the Podman service running?)",
    errno.ECONNREFUSED: "connection refused (is the Podman service running?)",
    errno.EACCES: "permission denied",
}


def _chain(exc: BaseException):
    """Every exception behind exc: causes, contexts, urllib3 reasons, args."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.append(current.__cause__)
        pending.append(current.__context__)
        pending.append(getattr(current, "reason", None))
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]


def _caused_by(exc: BaseException, kind: type) -> bool:
    return any(isinstance(current, kind) for current in _chain(exc))


def _reason(exc: BaseException) -> str:
    """The most telling message in a requests/urllib3 exception chain."""
    for current in _chain(exc):
        if isinstance(current, OSError) and current.errno in _ERRNO_TEXT:
            return _ERRNO_TEXT[current.errno]
    return str(exc)


def _api_error(response, what: str) -> PodmanError:
    """Build an error carrying Podman's own cause and message."""
    cause = message = ""
    try:
        body = response.json()
        cause = str(body.get("cause", ""))
        message = str(body.get("message", ""))
    except (ValueError, AttributeError):
        message = response.text[:500]
    text = message or cause or f"HTTP {response.status_code}"
    return PodmanError(f"{what}: {text}", status=response.status_code, cause=cause)
