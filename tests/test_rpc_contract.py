"""The rpcd contract: `list`, and a clear JSON error for every kind of bad input."""

import os
import subprocess
import sys

import pytest
from rpcd_harness import LAUNCHER_DIR, UBUS_OK, RpcdHarness, plugin_env

SID = "0123456789abcdef0123456789abcdef"


def test_list_podman_image_signatures(rpcd):
    table = rpcd.list("podman.image")
    assert set(table) == {"pullStream", "pullStatus", "pullStop", "inspect"}
    assert table["pullStatus"] == {"sessionId": "", "offset": 0, "sessions": []}


def test_list_podman_signatures(rpcd):
    table = rpcd.list("podman")
    assert set(table) == {
        "containers",
        "checkUpdates",
        "checkStatus",
        "checkStop",
        "settings",
    }
    assert table["checkUpdates"] == {"names": [], "parallel": 4, "wait": 25}


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [(["list"], b""), (["call", "pullStatus"], f'{{"sessionId":"{SID}"}}'.encode())],
)
def test_hot_paths_import_no_third_party_module(rpcd_env, argv, stdin):
    """`list` and pullStatus run often on a slow CPU: lean standard library only."""
    launcher = str(LAUNCHER_DIR / "podman.image")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", launcher, *argv],
        input=stdin,
        capture_output=True,
        env=rpcd_env,
        check=False,
    )
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    assert "podman_rpcd.rpc" in loaded
    heavy = {"requests", "urllib3", "requests_unixsocket", "logging", "json", "re"}
    assert not loaded & heavy
    assert proc.stdout.startswith(b"{")


def test_settings_reports_parallel_pulls(stack, state_dir):
    env = plugin_env(stack.socket, state_dir, PODMAN_RPCD_PARALLEL_PULLS="2")
    reply = RpcdHarness(env).reply("podman", "settings")
    assert reply["parallelPulls"] == 2


BAD_CALLS = [
    # (object, method, stdin, error code)
    ("podman.image", "pullStream", b"{}", "invalid_argument"),
    ("podman.image", "pullStream", b'{"image": 5}', "invalid_argument"),
    ("podman.image", "pullStream", b'{"image": ["a"]}', "invalid_argument"),
    (
        "podman.image",
        "pullStream",
        b'{"image": "../../etc/passwd"}',
        "invalid_argument",
    ),
    ("podman.image", "pullStream", b'{"image": "x y"}', "invalid_argument"),
    ("podman.image", "pullStatus", b"{}", "invalid_argument"),
    ("podman.image", "pullStatus", b'{"sessionId": 12}', "invalid_argument"),
    ("podman.image", "pullStatus", b'{"sessionId": "../../etc"}', "invalid_argument"),
    ("podman.image", "pullStatus", b'{"sessionId": "ABCDEF"}', "invalid_argument"),
    ("podman.image", "pullStatus", b'{"sessions": "x"}', "invalid_argument"),
    ("podman.image", "pullStatus", b'{"sessions": []}', "invalid_argument"),
    ("podman.image", "pullStatus", f'{{"sessionId": "{SID}"}}'.encode(), "not_found"),
    ("podman.image", "pullStop", b"{}", "invalid_argument"),
    ("podman.image", "pullStop", b'{"sessionId": "../lock"}', "invalid_argument"),
    ("podman.image", "pullStop", f'{{"sessionId": "{SID}"}}'.encode(), "not_found"),
    ("podman.image", "inspect", b"{}", "invalid_argument"),
    ("podman.image", "inspect", b'{"image": true}', "invalid_argument"),
    ("podman.image", "inspect", b'{"image": "a b"}', "invalid_argument"),
    (
        "podman.image",
        "inspect",
        b'{"image": "nonexistent.example/none:1"}',
        "not_found",
    ),
    ("podman.image", "nosuch", b"{}", "unknown_method"),
    ("podman.image", "pullStream", b"not json", "invalid_argument"),
    ("podman.image", "pullStream", b"[1, 2]", "invalid_argument"),
    ("podman.image", "pullStream", b"\xff\xfe", "invalid_argument"),
    ("podman", "checkUpdates", b'{"parallel": 0}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"parallel": "4"}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"parallel": true}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"wait": -1}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"wait": 3600}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"names": "web"}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"names": [1]}', "invalid_argument"),
    ("podman", "checkUpdates", b'{"names": []}', "invalid_argument"),
    ("podman", "checkStatus", b'{"jobId": "../../x"}', "invalid_argument"),
    ("podman", "checkStatus", b'{"jobId": 7}', "invalid_argument"),
    ("podman", "checkStatus", f'{{"jobId": "{SID}"}}'.encode(), "not_found"),
    ("podman", "checkStatus", b"{}", "not_found"),
    ("podman", "containers", b"{{", "invalid_argument"),
    ("podman", "nosuch", b"{}", "unknown_method"),
    ("podman", "checkStop", b"{}", "invalid_argument"),
    ("podman", "checkStop", b'{"jobId": "../x"}', "invalid_argument"),
    ("podman", "checkStop", f'{{"jobId": "{SID}"}}'.encode(), "not_found"),
    (
        "podman",
        "settings",
        b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
        "invalid_argument",
    ),
    ("podman.image", "pullStatus", b"[" * 100000, "invalid_argument"),
]


@pytest.mark.parametrize(("obj", "method", "stdin", "code"), BAD_CALLS)
def test_call_bad_input_gives_json_error(stack, tmp_path, obj, method, stdin, code):
    state = tmp_path / "state"
    harness = RpcdHarness(plugin_env(stack.socket, str(state)))
    result = harness.call_raw(obj, method, stdin)
    assert result.status == UBUS_OK, result.stdout
    assert result.reply["error"]["code"] == code, result.reply
    assert result.reply["error"]["message"]
    assert b"Traceback" not in result.stdout
    # Nothing is ever written beside the state directory.
    assert sorted(os.listdir(tmp_path)) in ([], ["state"])


def test_call_with_podman_down_reports_unreachable(tmp_path):
    harness = RpcdHarness(plugin_env(str(tmp_path / "no.sock"), str(tmp_path / "s")))
    reply = harness.reply("podman", "containers")
    assert reply["error"]["code"] == "podman_unreachable"
    assert "no.sock" in reply["error"]["message"]


def test_call_with_unwritable_state_dir_reports_state_unavailable(stack, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    harness = RpcdHarness(plugin_env(stack.socket, str(blocker / "state")))
    reply = harness.reply("podman.image", "pullStream", {"image": "example.org/a:1"})
    assert reply["error"]["code"] == "state_unavailable"
    assert blocker.read_text() == "not a directory"


def test_call_with_bad_config_reports_config_invalid(stack, tmp_path):
    env = plugin_env(stack.socket, str(tmp_path), PODMAN_RPCD_PARALLEL_PULLS="many")
    reply = RpcdHarness(env).reply("podman", "settings")
    assert reply["error"]["code"] == "config_invalid"


def test_main_without_arguments_prints_json_error(rpcd):
    result = rpcd.call_raw("podman", "", b"")
    assert result.reply["error"]["code"] in ("invalid_argument", "unknown_method")


def test_state_dir_is_private(rpcd, state_dir):
    rpcd.reply("podman.image", "pullStatus", {"sessionId": SID})
    assert os.stat(state_dir).st_mode & 0o777 == 0o700


def test_pull_status_multi_reports_bad_entries_one_by_one(rpcd):
    reply = rpcd.reply(
        "podman.image",
        "pullStatus",
        {
            "sessions": [
                1,
                {"sessionId": "/x"},
                {"sessionId": SID, "offset": -1},
                {"sessionId": SID, "offset": 0},
            ]
        },
    )
    codes = [entry["error"]["code"] for entry in reply["sessions"]]
    assert codes == ["invalid_argument"] * 3 + ["not_found"]
    assert [entry["sessionId"] for entry in reply["sessions"]] == [None, "/x", SID, SID]


@pytest.mark.parametrize("mode", [0o1777, 0o755, 0o770])
def test_state_dir_open_to_others_is_refused_and_left_alone(stack, tmp_path, mode):
    shared = tmp_path / "run"
    shared.mkdir()
    shared.chmod(mode)
    harness = RpcdHarness(plugin_env(stack.socket, str(shared)))
    reply = harness.reply("podman", "checkStatus")
    assert reply["error"]["code"] == "state_unavailable"
    assert "open to other users" in reply["error"]["message"]
    assert shared.stat().st_mode & 0o7777 == mode
    assert list(shared.iterdir()) == []


@pytest.mark.parametrize("planted", ["sessions", "jobs", "lock"])
def test_state_dir_symlinks_inside_are_refused(stack, tmp_path, planted):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    outside.mkdir()
    (state_dir / planted).symlink_to(outside if planted != "lock" else outside / "x")
    harness = RpcdHarness(plugin_env(stack.socket, str(state_dir)))
    reply = harness.reply("podman.image", "pullStream", {"image": "example.org/a:1"})
    assert reply["error"]["code"] == "state_unavailable"
    assert list(outside.iterdir()) == []


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python with the standard library only, like a router lacking
    python3-requests."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    return str(venv / "bin" / "python")


def test_missing_requests_is_named_in_every_failure(bare_python, rpcd_env):
    from rpcd_harness import wait_for_check, wait_for_pull

    harness = RpcdHarness(rpcd_env, python=bare_python)
    assert "pullStatus" in harness.list("podman.image")  # stdlib only: still fine

    listing = harness.reply("podman", "containers")
    assert listing["error"]["message"].startswith(
        "a Python module is missing: requests"
    )
    session = harness.reply("podman.image", "pullStream", {"image": "example.org/a:1"})
    pulled = wait_for_pull(harness, session["sessionId"], timeout=30)
    assert pulled["error"] == "a Python module is missing: requests"
    job = harness.reply("podman", "checkUpdates", {"wait": 25})
    job = wait_for_check(harness, job["jobId"], timeout=30)
    assert job["error"]["message"] == "a Python module is missing: requests"
