"""Image references: validate what a caller sends, and tell which ones can be pulled.

The grammar is the distribution reference grammar, written out here:
  [domain[:port]/]component[/component...][:tag][@algorithm:hex]
A first component counts as a domain when it has a "." or ":" or is
"localhost", as in Podman and Docker.
"""

import re

from .errors import InvalidArgument

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])"
    r"(?::[0-9]{1,5})?"
)
_REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
    r":[0-9a-fA-F]{32,}))?"
)
_IMAGE_ID = re.compile(r"(?:sha256:)?[0-9a-f]{12,64}")
MAX_LENGTH = 512

PINNED = "pinned"
LOCAL_ONLY = "local_only"


def is_image_id(value: str) -> bool:
    """True for a bare image id (full or short hex, optionally sha256:)."""
    return bool(_IMAGE_ID.fullmatch(value))


def split(reference: str) -> dict | None:
    """Return the parts of reference, or None if it is not a valid one."""
    if not isinstance(reference, str) or not 0 < len(reference) <= MAX_LENGTH:
        return None
    match = _REFERENCE.fullmatch(reference)
    if not match:
        return None
    parts = match.groupdict()
    domain = parts["domain"]
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        # "library/nginx": the first component is a path, not a registry.
        if not re.fullmatch(_COMPONENT, domain):
            return None
        parts["path"] = f"{domain}/{parts['path']}"
        parts["domain"] = None
    return parts


def pullable(reference) -> str:
    """Return reference if it names something a registry can serve.

    Raises InvalidArgument with the reason otherwise.
    """
    if not isinstance(reference, str) or not reference:
        raise InvalidArgument("image must be a non-empty string")
    if is_image_id(reference) and len(reference.removeprefix("sha256:")) == 64:
        raise InvalidArgument("an image id cannot be pulled; give a name:tag")
    if split(reference) is None:
        raise InvalidArgument(f"not a valid image reference: {reference!r}")
    return reference


def classify(reference: str) -> str | None:
    """Say why a container's image needs no pull, or None if it needs one.

    PINNED: name@sha256:..., the digest cannot change.
    LOCAL_ONLY: built here (localhost/...) or created from a bare image id.
    """
    if is_image_id(reference):
        return LOCAL_ONLY
    parts = split(reference)
    if parts is None:
        return LOCAL_ONLY
    if parts["digest"]:
        return PINNED
    if parts["domain"] == "localhost":
        return LOCAL_ONLY
    return None
