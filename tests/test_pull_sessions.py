"""pullStream / pullStatus / pullStop against the real Podman and registry."""

import os
import signal

import pytest
from rpcd_harness import wait_for_pull
from stack import dead_pid

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


def test_pull_status_multi_shares_one_output_budget(rpcd, state_dir):
    from podman_rpcd.sessions import MAX_REPLY_OUTPUT

    store = SessionStore(state.StateDir(state_dir).ensure())
    polls = []
    for _ in range(64):
        session_id = store.create("example.org/a:1", owner="stream")
        store.set_worker(session_id, os.getpid())
        store.append(session_id, "x" * 40_000)
        polls.append({"sessionId": session_id, "offset": 0})

    result = rpcd.call("podman.image", "pullStatus", {"sessions": polls})

    total = sum(len(entry["output"]) for entry in result.reply["sessions"])
    assert total <= MAX_REPLY_OUTPUT
    assert len(result.stdout) < 400_000  # far below ubus's ~1 MiB message limit
    assert all(
        entry["offset"] == MAX_REPLY_OUTPUT // 64 for entry in result.reply["sessions"]
    )


def test_prune_survives_damaged_sessions(rpcd, state_dir):
    store = SessionStore(state.StateDir(state_dir).ensure(), ttl=60)
    damaged = store.create("example.org/a:1", owner="stream")
    meta_path = os.path.join(state_dir, "sessions", damaged, "meta.json")
    with open(meta_path, "w") as handle:
        handle.write("garbage")
    old = store.create("example.org/b:1", owner="stream")
    store.set_worker(old, dead_pid())
    store._update(old, lambda m: m.update(createdAt=1.0), only_running=False)

    reply = rpcd.reply("podman.image", "pullStream", {"image": "127.0.0.1:1/c:1"})

    assert "sessionId" in reply, reply
    assert not os.path.exists(os.path.join(state_dir, "sessions", old))
    # The damaged one goes too once it is older than the ttl.
    os.utime(os.path.dirname(meta_path), (1.0, 1.0))
    with store.state_dir.lock():
        store.prune()
    assert not os.path.exists(os.path.dirname(meta_path))


def test_full_state_dir_heals_once_sessions_expire(rpcd_env, stack, tmp_path):
    import subprocess

    from rpcd_harness import RpcdHarness

    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)]
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        state_dir = str(mount / "state")
        store = SessionStore(state.StateDir(state_dir).ensure(), ttl=60)
        expired = store.create("example.org/a:1", owner="stream")
        store.set_worker(expired, dead_pid())
        store._update(expired, lambda m: m.update(createdAt=1.0), only_running=False)
        store.append(expired, "x" * 200_000)  # what fills the disk is an old pull
        filler = mount / "filler"
        with open(filler, "wb") as handle:
            try:
                handle.write(b"\0" * 1_000_000)
            except OSError:
                pass
        harness = RpcdHarness(rpcd_env | {"PODMAN_RPCD_STATE_DIR": state_dir})

        reply = harness.reply(
            "podman.image", "pullStream", {"image": "127.0.0.1:1/c:1"}
        )

        # The expired session was pruned first, which freed room for the new one.
        assert "sessionId" in reply, reply
        assert not os.path.exists(os.path.join(state_dir, "sessions", expired))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_podman_hung_is_reported_before_luci_gives_up(stack, rpcd):
    os.kill(stack.service.pid, signal.SIGSTOP)
    try:
        result = rpcd.call("podman", "containers", timeout=19)
    finally:
        os.kill(stack.service.pid, signal.SIGCONT)
    assert result.reply["error"]["code"] == "podman_unreachable"
    assert "stopped answering" in result.reply["error"]["message"]


def test_pull_stream_large_multi_layer_image(stack, registry, rpcd, uid):
    ref = f"{registry.host}/large{uid}:1"
    image_id = stack.publish(ref, sizes=(12_000_000, 9_000_000, 3_000))
    reply = wait_for_pull(rpcd, _start(rpcd, ref), timeout=120)
    assert reply["success"] is True
    assert reply["imageId"] == image_id
    assert reply["output"].count("Copying blob") == 3
