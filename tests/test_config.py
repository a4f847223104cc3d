"""Settings: the UCI file, environment overrides, and refusal of bad values."""

import pytest

from podman_rpcd import config
from podman_rpcd.errors import ConfigInvalid

UCI = """\
# comment
config other 'x'
	option parallel_pulls '9'

config podman-rpcd 'main'
	list extra 'ignored'
	option socket '/run/p.sock'
	option parallel_pulls "2"
	option session_ttl 120  # trailing comment
"""


def _load(tmp_path, text, **env):
    path = tmp_path / "podman-rpcd"
    path.write_text(text)
    return config.load({"PODMAN_RPCD_CONFIG": str(path), **env})


def test_load_reads_first_podman_rpcd_section(tmp_path):
    settings = _load(tmp_path, UCI)
    assert settings.socket == "/run/p.sock"
    assert settings.parallel_pulls == 2
    assert settings.session_ttl == 120
    assert settings.state_dir == "/var/run/podman-rpcd"


def test_load_environment_overrides_file(tmp_path):
    settings = _load(tmp_path, UCI, PODMAN_RPCD_PARALLEL_PULLS="6")
    assert settings.parallel_pulls == 6


def test_load_without_file_uses_defaults():
    settings = config.load({"PODMAN_RPCD_CONFIG": "/nonexistent/podman-rpcd"})
    assert settings.socket == "/run/podman/podman.sock"
    assert settings.parallel_pulls == 4


def test_as_env_round_trips(tmp_path):
    settings = _load(tmp_path, UCI)
    again = config.load({"PODMAN_RPCD_CONFIG": "/nonexistent", **settings.as_env()})
    assert all(getattr(again, k) == getattr(settings, k) for k in config.OPTIONS)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PODMAN_RPCD_PARALLEL_PULLS": "0"}, "between 1 and 16"),
        ({"PODMAN_RPCD_PARALLEL_PULLS": "four"}, "whole number"),
        ({"PODMAN_RPCD_SOCKET": "relative.sock"}, "absolute path"),
        ({"PODMAN_RPCD_STATE_DIR": "tmp/x"}, "absolute path"),
        ({"PODMAN_RPCD_SESSION_TTL": "5"}, "between 60"),
    ],
)
def test_load_refuses_bad_values(tmp_path, env, message):
    with pytest.raises(ConfigInvalid, match=message):
        _load(tmp_path, UCI, **env)


def test_parse_uci_refuses_garbage():
    with pytest.raises(ConfigInvalid, match="line 2"):
        config.parse_uci("config podman-rpcd 'main'\n\tthis is not uci\n")
