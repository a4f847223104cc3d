"""Settings from the UCI file /etc/config/podman-rpcd, overridden by environment.

Parsed by hand (no `uci` binary, no libuci binding) because `list` and
`pullStatus` run on every poll and must stay cheap on a router CPU.
"""

import os

from .errors import ConfigInvalid

DEFAULT_CONFIG = "/etc/config/podman-rpcd"

# option name -> (environment variable, default, kind)
OPTIONS = {
    "socket": ("PODMAN_RPCD_SOCKET", "/run/podman/podman.sock", "path"),
    "state_dir": ("PODMAN_RPCD_STATE_DIR", "/var/run/podman-rpcd", "path"),
    "parallel_pulls": ("PODMAN_RPCD_PARALLEL_PULLS", "4", (1, 16)),
    # Seconds without a byte from Podman before a pull counts as stalled.
    # TODO(a Podman whose libpod pull stream reports layer progress): count
    # real progress; Podman 4.3 to 5.x is silent while one layer downloads.
    "pull_timeout": ("PODMAN_RPCD_PULL_TIMEOUT", "600", (5, 86400)),
    # Seconds a finished pull session or check job stays readable.
    "session_ttl": ("PODMAN_RPCD_SESSION_TTL", "3600", (60, 7 * 86400)),
}


class Settings:
    """Resolved, validated settings."""

    __slots__ = tuple(OPTIONS)

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def pull_cap(self) -> int:
        """Pulls allowed at once in all: twice parallel_pulls, so a page's
        batch can run beside a check without either exceeding the router's
        budget by much."""
        return 2 * self.parallel_pulls

    def as_env(self) -> dict:
        """Environment overrides that reproduce these settings in a worker."""
        return {env: str(getattr(self, name)) for name, (env, _, _) in OPTIONS.items()}


UCI_KEYWORDS = ("config", "option", "list")


def _tokens(line: str) -> list[str]:
    """Split a UCI line into words; quotes group, # starts a comment.

    Hand-written rather than shlex or re: this runs on every call.
    """
    words: list[str] = []
    index, length = 0, len(line)
    while index < length:
        char = line[index]
        if char in " \t":
            index += 1
        elif char == "#":
            break
        elif char in "'\"":
            close = line.find(char, index + 1)
            if close < 0:
                raise ValueError("unclosed quote")
            words.append(line[index + 1 : close])
            index = close + 1
        else:
            end = index
            while end < length and line[end] not in " \t#'\"":
                end += 1
            words.append(line[index:end])
            index = end
    return words


def parse_uci(text: str, section_type: str = "podman-rpcd") -> dict:
    """Return the options of the first `config <section_type>` section."""
    options: dict = {}
    in_section = seen = False
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            words = _tokens(raw)
        except ValueError:
            words = None
        if words == []:
            continue
        if not words or words[0] not in UCI_KEYWORDS or not 2 <= len(words) <= 3:
            raise ConfigInvalid(f"config line {number} is not UCI syntax: {raw!r}")
        keyword, name = words[0], words[1]
        value = words[2] if len(words) == 3 else ""
        if keyword == "config":
            in_section = name == section_type and not seen
            seen = seen or in_section
        elif in_section and keyword == "option":
            options[name] = value
        # `list` lines are valid UCI; we have no list options and skip them.
    return options


def _convert(name: str, raw: str, kind) -> object:
    if kind == "path":
        if not raw.startswith("/"):
            raise ConfigInvalid(f"{name} must be an absolute path, got {raw!r}")
        return raw
    low, high = kind
    try:
        value = int(raw)
    except ValueError:
        raise ConfigInvalid(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigInvalid(f"{name} must be between {low} and {high}, got {value}")
    return value


def load(environ=None) -> Settings:
    """Read the UCI file (if any), apply PODMAN_RPCD_* overrides, validate."""
    environ = os.environ if environ is None else environ
    path = environ.get("PODMAN_RPCD_CONFIG", DEFAULT_CONFIG)
    try:
        with open(path, encoding="utf-8") as handle:
            from_file = parse_uci(handle.read())
    except FileNotFoundError:
        from_file = {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc}") from exc

    values = {}
    for name, (env, default, kind) in OPTIONS.items():
        raw = environ.get(env, from_file.get(name, default))
        values[name] = _convert(name, raw.strip(), kind)
    return Settings(**values)
