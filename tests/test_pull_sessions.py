"""pullStream / pullStatus / pullStop against the real Podman and registry."""

import os
import signal

import pytest
from rpcd_harness import wait_for_pull

from podman_rpcd import state
from podman_rpcd.errors import InvalidArgument
from podman_rpcd.sessions import MAX_CHUNK, SessionStore


def _start(rpcd, image):
    reply = rpcd.reply("podman.image", "pullStream", {"image": image})
    assert "error" not in reply, reply
    return reply["sessionId"]


def _meta(state_dir, session_id):
    return SessionStore(state.StateDir(state_dir)).meta(session_id)


def test_pull_stream_success_reports_image_id(stack, registry, rpcd, uid):
    ref = f"{registry.host}/sess{uid}:1"
    image_id = stack.publish(ref, sizes=(300_000, 20_000))
    session_id = _start(rpcd, ref)
    reply = wait_for_pull(rpcd, session_id)
    assert reply["success"] is True
    assert reply["imageId"] == image_id
    assert "error" not in reply
    assert f"Trying to pull {ref}" in reply["output"]
    assert reply["offset"] == len(reply["output"].encode())


def test_pull_stream_missing_tag_reports_podmans_words(registry, rpcd, uid):
    session_id = _start(rpcd, f"{registry.host}/nothing{uid}:1")
    reply = wait_for_pull(rpcd, session_id)
    assert reply["complete"] is True
    assert reply["success"] is False
    assert "manifest unknown" in reply["error"]
    assert "imageId" not in reply


def test_pull_stream_unreachable_registry_fails_cleanly(rpcd):
    # Nothing listens on port 1 of loopback: Podman reports it in the stream.
    reply = wait_for_pull(rpcd, _start(rpcd, "127.0.0.1:1/none:1"))
    assert reply["success"] is False
    assert "127.0.0.1:1" in reply["error"]


def test_pull_stream_podman_down_reports_failure(tmp_path, rpcd_env):
    from rpcd_harness import RpcdHarness

    env = rpcd_env | {"PODMAN_RPCD_SOCKET": str(tmp_path / "gone.sock")}
    harness = RpcdHarness(env)
    reply = wait_for_pull(harness, _start(harness, "example.org/a:1"))
    assert reply["success"] is False
    assert "cannot reach Podman" in reply["error"]


def test_pull_status_multi_session_keeps_order_and_isolates_errors(
    stack, registry, rpcd, uid
):
    good = f"{registry.host}/multi{uid}:1"
    stack.publish(good)
    first = _start(rpcd, good)
    second = _start(rpcd, f"{registry.host}/multi{uid}:missing")
    wait_for_pull(rpcd, first)
    wait_for_pull(rpcd, second)
    unknown = "f" * 32
    reply = rpcd.reply(
        "podman.image",
        "pullStatus",
        {
            "sessions": [
                {"sessionId": second, "offset": 0},
                {"sessionId": unknown, "offset": 0},
                {"sessionId": first, "offset": 0},
            ]
        },
    )
    rows = reply["sessions"]
    assert [r["sessionId"] for r in rows] == [second, unknown, first]
    assert rows[0]["success"] is False and rows[2]["success"] is True
    assert rows[1]["error"]["code"] == "not_found"


def test_pull_status_offsets_are_bytes_with_non_ascii_output(rpcd, state_dir):
    store = SessionStore(state.StateDir(state_dir).ensure())
    session_id = store.create("example.org/ünïcode:1", owner="stream")
    store.set_worker(session_id, os.getpid())
    text = "Größe: 3 MB ✓\n" + "日本語のログ\n" * 5000
    store.append(session_id, text)

    collected, offset = "", 0
    while True:
        reply = rpcd.reply(
            "podman.image", "pullStatus", {"sessionId": session_id, "offset": offset}
        )
        assert len(reply["output"].encode()) <= MAX_CHUNK
        if not reply["output"]:
            break
        collected += reply["output"]
        offset = reply["offset"]
    assert collected == text
    assert offset == len(text.encode())


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (-1, ">= 0"),
        ("3", ">= 0"),
        (1.5, ">= 0"),
        (True, ">= 0"),
        (10**9, "past the end"),
        (1, "inside a UTF-8 character"),
    ],
)
def test_pull_status_bad_offset_is_refused(rpcd, state_dir, offset, message):
    store = SessionStore(state.StateDir(state_dir).ensure())
    session_id = store.create("example.org/a:1", owner="stream")
    store.set_worker(session_id, os.getpid())
    store.append(session_id, "ÿes\n")
    reply = rpcd.reply(
        "podman.image", "pullStatus", {"sessionId": session_id, "offset": offset}
    )
    assert reply["error"]["code"] == "invalid_argument"
    assert message in reply["error"]["message"]


def test_pull_stop_ends_worker_and_marks_session(stack, registry, proxy, rpcd, uid):
    stack.publish(f"{registry.host}/stop{uid}:1", sizes=(200_000,))
    proxy.hold()
    session_id = _start(rpcd, f"{proxy.host}/stop{uid}:1")
    pid = _meta(rpcd.env["PODMAN_RPCD_STATE_DIR"], session_id)["pid"]
    assert state.process_start(pid) is not None

    reply = rpcd.reply("podman.image", "pullStop", {"sessionId": session_id})
    assert reply["complete"] is True
    assert reply["success"] is False
    assert reply["error"] == "stopped on request"
    assert state.process_start(pid) is None
    # Stopping again is harmless and says the same.
    again = rpcd.reply("podman.image", "pullStop", {"sessionId": session_id})
    assert again["error"] == "stopped on request"


def test_pull_outlives_the_call_that_started_it(stack, registry, proxy, rpcd, uid):
    ref = f"{registry.host}/slow{uid}:1"
    image_id = stack.publish(ref, sizes=(500_000,))
    proxy.hold()
    session_id = _start(rpcd, f"{proxy.host}/slow{uid}:1")
    # The call process is gone; the held pull is still running.
    reply = rpcd.reply("podman.image", "pullStatus", {"sessionId": session_id})
    assert reply["complete"] is False
    proxy.release()
    final = wait_for_pull(rpcd, session_id)
    assert final["success"] is True
    assert final["imageId"] == image_id


def test_pull_worker_killed_is_reported_failed(stack, registry, proxy, rpcd, uid):
    stack.publish(f"{registry.host}/dead{uid}:1")
    proxy.hold()
    session_id = _start(rpcd, f"{proxy.host}/dead{uid}:1")
    pid = _meta(rpcd.env["PODMAN_RPCD_STATE_DIR"], session_id)["pid"]
    os.kill(pid, signal.SIGKILL)
    reply = wait_for_pull(rpcd, session_id, timeout=10)
    assert reply["success"] is False
    assert "died" in reply["error"]


def test_pull_registry_vanishing_mid_pull_is_an_error(
    stack, registry, proxy, rpcd, uid
):
    stack.publish(f"{registry.host}/gone{uid}:1", sizes=(400_000,))
    proxy.hold()
    session_id = _start(rpcd, f"{proxy.host}/gone{uid}:1")
    proxy.cut()
    reply = wait_for_pull(rpcd, session_id, timeout=120)
    assert reply["success"] is False
    assert reply["error"]


def test_pull_stream_cap_answers_busy(stack, registry, proxy, rpcd_env, uid):
    from rpcd_harness import RpcdHarness

    harness = RpcdHarness(rpcd_env | {"PODMAN_RPCD_PARALLEL_PULLS": "1"})
    stack.publish(f"{registry.host}/cap{uid}:1")
    proxy.hold()
    sessions = [_start(harness, f"{proxy.host}/cap{uid}:1") for _ in range(2)]
    reply = harness.reply(
        "podman.image", "pullStream", {"image": f"{proxy.host}/cap{uid}:1"}
    )
    assert reply["error"]["code"] == "busy"
    proxy.release()
    for session_id in sessions:
        assert wait_for_pull(harness, session_id)["success"] is True
    # A slot is free again.
    assert wait_for_pull(harness, _start(harness, f"{proxy.host}/cap{uid}:1"))[
        "success"
    ]


def test_finished_sessions_expire(state_dir):
    store = SessionStore(state.StateDir(state_dir).ensure(), ttl=60)
    session_id = store.create("example.org/a:1", owner="stream")
    store.finish(session_id, True, image_id="ab" * 32)
    store._update(session_id, lambda m: m.update(finishedAt=1.0), only_running=False)
    with store.state_dir.lock():
        store.prune()
    with pytest.raises(Exception, match="no pull session"):
        store.meta(session_id)


def test_session_ids_are_checked_before_any_path(state_dir):
    store = SessionStore(state.StateDir(state_dir).ensure())
    for bad in ("../x", "a" * 31, "A" * 32, "a" * 32 + "/.."):
        with pytest.raises(InvalidArgument):
            store.meta(bad)


def test_pull_stalled_registry_gives_up_after_pull_timeout(
    stack, registry, proxy, rpcd_env, uid
):
    from rpcd_harness import RpcdHarness

    harness = RpcdHarness(rpcd_env | {"PODMAN_RPCD_PULL_TIMEOUT": "5"})
    stack.publish(f"{registry.host}/stall{uid}:1")
    proxy.hold()
    reply = wait_for_pull(harness, _start(harness, f"{proxy.host}/stall{uid}:1"))
    assert reply["success"] is False
    assert "stalled: nothing from Podman for 5 s" in reply["error"]
