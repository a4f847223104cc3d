"""Errors that travel back to the ubus caller as {"error": {"code", "message"}}."""


class RpcdError(Exception):
    """Base error; `code` is the stable machine-readable part of the reply."""

    code = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_reply(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidArgument(RpcdError):
    code = "invalid_argument"


class UnknownMethod(RpcdError):
    code = "unknown_method"


class NotFound(RpcdError):
    code = "not_found"


class Busy(RpcdError):
    code = "busy"


class StateUnavailable(RpcdError):
    code = "state_unavailable"


class ConfigInvalid(RpcdError):
    code = "config_invalid"


class PodmanError(RpcdError):
    """Podman answered, but not with what was asked for."""

    code = "podman_error"

    def __init__(self, message: str, status: int | None = None, cause: str = ""):
        super().__init__(message)
        self.status = status
        self.cause = cause


class PodmanUnreachable(PodmanError):
    """The socket is missing, refuses connections, or Podman stopped answering."""

    code = "podman_unreachable"
