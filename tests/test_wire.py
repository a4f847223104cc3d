"""wire: the hot path's JSON agrees with the json package, on 3.11 and 3.13."""

import json
import os
import subprocess
import sys

import pytest

from podman_rpcd import wire

SAMPLES = [
    {},
    [],
    {"sessionId": "ab" * 16, "offset": 0, "ubus_rpc_session": "00" * 16},
    {"sessions": [{"sessionId": "ab" * 16, "offset": 12345678901234}]},
    {"output": 'Größe ✓ 日本語\n\t"quoted" \\ back', "complete": True, "x": None},
    {"nested": {"deep": [1, -2, 3.25, 1e300, False, {"k": []}]}},
    "plain string",
    42,
]


@pytest.mark.parametrize("value", SAMPLES)
def test_wire_round_trip_matches_json(value):
    text = wire.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert wire.loads(text) == value
    assert wire.loads(json.dumps(value, indent=2, ensure_ascii=False)) == value


@pytest.mark.parametrize(
    "text", ["", "{", "{{", '{"a":}', "nul", '"\\x"', "1 2", "[1,]", "{'a': 1}"]
)
def test_wire_loads_bad_input_raises_value_error(text):
    with pytest.raises(ValueError):
        wire.loads(text)


def test_wire_dumps_refuses_unserializable():
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        wire.dumps({"a": {1, 2}})


PYTHONS = [sys.executable, "/root/.pyenv/versions/3.13.0/bin/python3"]


@pytest.mark.parametrize("python", PYTHONS)
def test_wire_fast_path_is_active(python):
    """The whole point: both Pythons that OpenWrt ships use the fast path."""
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    code = (
        "import sys; from podman_rpcd import wire; "
        "assert wire._scan and wire._encode; "
        "assert wire.loads(wire.dumps({'a': ['ü', 1.5]})) == {'a': ['ü', 1.5]}; "
        "assert not {'json', 're'} & set(sys.modules), sorted(sys.modules)"
    )
    env = dict(
        os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src")
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
