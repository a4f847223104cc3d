"""podman checkUpdates / checkStatus / containers on real Podman and registry."""

import json
import os
import signal

import pytest
from rpcd_harness import UBUS_TIMEOUT, RpcdHarness, plugin_env, wait_for_check
from stack import dead_pid, wait_until
from throttle import ThrottleProxy

from podman_rpcd import state


def _snapshot(stack) -> list:
    """What a check must never change: every container and its image."""
    found = json.loads(stack.podman("ps", "-a", "--format", "json"))
    return sorted((c["Id"], c["Names"][0], c["ImageID"], c["State"]) for c in found)


def _deploy(stack, host, prefix, count, newer=(), size=20_000):
    """Publish count images, create one container on each, then publish
    newer versions for the indices in newer. Returns {name: (ref, old, new)}."""
    deployed = {}
    for index in range(count):
        ref = f"{host}/{prefix}{index}:stable"
        old = stack.publish(ref, sizes=(size,), seed="v1")
        stack.pull(ref)
        stack.create_container(f"{prefix}{index}", ref)
        deployed[f"{prefix}{index}"] = (ref, old, None)
    for index in newer:
        ref, old, _ = deployed[f"{prefix}{index}"]
        deployed[f"{prefix}{index}"] = (ref, old, stack.publish(ref, seed="v2"))
    return deployed


def _check(rpcd, **args) -> dict:
    reply = rpcd.reply("podman", "checkUpdates", {"wait": 25, **args})
    if not reply.get("complete"):
        reply = wait_for_check(rpcd, reply["jobId"])
    assert "error" not in reply, reply
    return reply


def _start_held_check(rpcd, **args) -> dict:
    """Start a check (the proxy holds its pulls) and wait until it pulls."""
    started = rpcd.reply("podman", "checkUpdates", {"wait": 0, **args})
    wait_until(
        lambda: rpcd.reply("podman", "checkStatus")["progress"]["pulling"],
        30,
        "the held pull to start",
    )
    return started


def _rows(reply) -> dict:
    return {row["name"]: row for row in reply["results"]}


def _job_sessions(state_dir, job_id) -> list:
    root = os.path.join(state_dir, "sessions")
    metas = [
        state.read_json(os.path.join(root, n, "meta.json")) for n in os.listdir(root)
    ]
    return [m for m in metas if m["owner"] == f"check:{job_id}"]


@pytest.mark.parametrize("count", [1, 4, 5, 11])
def test_check_updates_finds_exactly_the_newer_images(
    containers, registry, rpcd, state_dir, uid, count
):
    newer = range(0, count, 2)
    deployed = _deploy(containers, registry.host, f"n{uid}x", count, newer)
    before = _snapshot(containers)

    reply = _check(rpcd)

    rows = _rows(reply)
    assert set(rows) == set(deployed)
    for name, (ref, old, new) in deployed.items():
        row = rows[name]
        assert row["image"] == ref
        assert row["currentImageId"] == old
        assert row["error"] is None
        if new:
            assert row["status"] == "update_available" and row["hasUpdate"] is True
            assert row["newImageId"] == new
        else:
            assert row["status"] == "up_to_date" and row["hasUpdate"] is False
            assert row["newImageId"] == old
    assert reply["pulls"] == count
    assert len(_job_sessions(state_dir, reply["jobId"])) == count
    assert reply["progress"]["done"] == count
    assert _snapshot(containers) == before


def test_check_updates_pulls_a_shared_image_once(
    containers, registry, rpcd, state_dir, uid
):
    shared = f"{registry.host}/shared{uid}:1"
    containers.publish(shared)
    containers.pull(shared)
    for name in ("web1", "web2", "web3"):
        containers.create_container(f"{name}{uid}", shared)
    _deploy(containers, registry.host, f"own{uid}x", 1)

    reply = _check(rpcd)

    sessions = _job_sessions(state_dir, reply["jobId"])
    assert sorted(s["image"] for s in sessions) == sorted(
        [shared, f"{registry.host}/own{uid}x0:stable"]
    )
    assert reply["pulls"] == 2
    assert {r["status"] for r in reply["results"]} == {"up_to_date"}
    assert len(reply["results"]) == 4


def test_check_updates_classifies_without_pulling(
    containers, registry, rpcd, state_dir, uid
):
    ref = f"{registry.host}/pin{uid}:1"
    image_id = containers.publish(ref)
    containers.pull(ref)
    digest = containers.registry_digest(ref)
    containers.create_container(f"pinned{uid}", f"{registry.host}/pin{uid}@{digest}")
    local = f"localhost/built{uid}:1"
    containers.podman("tag", ref, local)
    containers.create_container(f"local{uid}", local)
    bare = containers.build_image(f"{registry.host}/bare{uid}:x")
    archive = os.path.join(state_dir, "..", f"bare{uid}.tar")
    containers.podman(
        "save", "-o", archive, f"{registry.host}/bare{uid}:x", store="build"
    )
    loaded = containers.podman("load", "-q", "-i", archive)
    os.unlink(archive)
    containers.podman("untag", f"{registry.host}/bare{uid}:x")
    containers.create_container(f"bare{uid}", bare)
    # Newer versions upstream must not matter for any of them.
    containers.publish(ref, seed="v2")

    reply = _check(rpcd)

    rows = _rows(reply)
    assert rows[f"pinned{uid}"]["status"] == "pinned"
    assert rows[f"local{uid}"]["status"] == "local_only"
    assert rows[f"bare{uid}"]["status"] == "local_only", loaded
    assert all(
        r["hasUpdate"] is False and r["newImageId"] is None for r in rows.values()
    )
    assert rows[f"pinned{uid}"]["currentImageId"] == image_id
    assert reply["pulls"] == 0
    assert _job_sessions(state_dir, reply["jobId"]) == []


def test_check_updates_tag_deleted_upstream_is_an_error(
    containers, registry, rpcd, uid
):
    deployed = _deploy(containers, registry.host, f"del{uid}x", 2)
    containers.delete_upstream(deployed[f"del{uid}x0"][0])

    rows = _rows(_check(rpcd))

    gone = rows[f"del{uid}x0"]
    assert gone["status"] == "error"
    assert gone["hasUpdate"] is False
    assert "manifest unknown" in gone["error"]
    assert rows[f"del{uid}x1"]["status"] == "up_to_date"


def test_check_updates_every_pull_failing(containers, registry, rpcd, uid):
    deployed = _deploy(containers, registry.host, f"fail{uid}x", 5)
    for ref, _, _ in deployed.values():
        containers.delete_upstream(ref)

    reply = _check(rpcd, parallel=2)

    assert [r["status"] for r in reply["results"]] == ["error"] * 5
    assert all(r["error"] for r in reply["results"])
    assert reply["pulls"] == 5


def test_check_updates_mixed_outcomes_in_one_window(containers, registry, rpcd, uid):
    deployed = _deploy(containers, registry.host, f"mix{uid}x", 4, newer=[1])
    containers.delete_upstream(deployed[f"mix{uid}x2"][0])
    containers.delete_upstream(deployed[f"mix{uid}x3"][0])

    rows = _rows(_check(rpcd, parallel=4))

    statuses = [rows[f"mix{uid}x{i}"]["status"] for i in range(4)]
    assert statuses == ["up_to_date", "update_available", "error", "error"]


def test_check_updates_newer_image_already_local_is_still_an_update(
    containers, registry, rpcd, uid
):
    deployed = _deploy(containers, registry.host, f"loc{uid}x", 1, newer=[0])
    ref, old, new = deployed[f"loc{uid}x0"]
    assert containers.pull(ref) == new  # pulled, but the container is not recreated

    row = _rows(_check(rpcd))[f"loc{uid}x0"]

    assert row["status"] == "update_available"
    assert (row["currentImageId"], row["newImageId"]) == (old, new)


def test_check_updates_names_limits_the_check(containers, registry, rpcd, uid):
    _deploy(containers, registry.host, f"nm{uid}x", 3)
    reply = _check(rpcd, names=[f"nm{uid}x1"])
    assert [r["name"] for r in reply["results"]] == [f"nm{uid}x1"]
    assert reply["pulls"] == 1


def test_check_updates_unknown_name_is_not_found(containers, registry, rpcd, uid):
    _deploy(containers, registry.host, f"un{uid}x", 1)
    reply = rpcd.reply("podman", "checkUpdates", {"names": ["nosuch"], "wait": 25})
    assert reply["complete"] is True
    assert reply["error"]["code"] == "not_found"
    assert "nosuch" in reply["error"]["message"]


def test_check_updates_outlives_rpcd_timeout(containers, registry, proxy, rpcd, uid):
    deployed = _deploy(containers, proxy.host, f"slow{uid}x", 3, newer=[1])
    proxy.hold()
    killed = rpcd.call("podman", "checkUpdates", {"wait": 25}, timeout=2)
    assert killed.status == UBUS_TIMEOUT  # rpcd would have SIGKILLed the call here

    running = rpcd.reply("podman", "checkStatus")
    assert running["complete"] is False
    assert running["progress"]["total"] == 3
    assert running["progress"]["pulling"]
    joined = rpcd.reply("podman", "checkUpdates", {"wait": 0})
    assert joined["jobId"] == running["jobId"] and joined["joined"] is True

    proxy.release()
    reply = wait_for_check(rpcd, running["jobId"])
    rows = _rows(reply)
    assert rows[f"slow{uid}x1"]["status"] == "update_available"
    assert rows[f"slow{uid}x0"]["status"] == "up_to_date"
    # The finished result stays readable, with its time.
    last = rpcd.reply("podman", "checkStatus")
    assert last["jobId"] == reply["jobId"] and last["finishedAt"] >= last["startedAt"]
    assert deployed


def test_check_updates_window_never_waits_for_a_slow_image(
    containers, stack, registry, rpcd, uid
):
    slow_proxy = ThrottleProxy(("127.0.0.1", registry.port), port=stack.proxy_ports[1])
    try:
        _deploy(containers, slow_proxy.host, f"w{uid}slow", 1)
        _deploy(containers, registry.host, f"w{uid}fast", 3)
        slow_proxy.hold()
        reply = rpcd.reply("podman", "checkUpdates", {"parallel": 2, "wait": 0})

        # One slot stays busy with the held pull; the other takes all three
        # fast images in turn. Batches of two would stall at done == 1.
        def three_done():
            status = rpcd.reply("podman", "checkStatus", {"jobId": reply["jobId"]})
            return status["progress"]["done"] == 3 and status

        status = wait_until(three_done, 60, "three fast pulls")
        assert status["complete"] is False
        assert status["progress"]["pulling"] == [
            f"{slow_proxy.host}/w{uid}slow0:stable"
        ]
        slow_proxy.release()
        final = wait_for_check(rpcd, reply["jobId"])
        assert {r["status"] for r in final["results"]} == {"up_to_date"}
    finally:
        slow_proxy.close()


def test_check_updates_podman_down_reports_unreachable(tmp_path):
    harness = RpcdHarness(plugin_env(str(tmp_path / "gone.sock"), str(tmp_path / "s")))
    reply = harness.reply("podman", "checkUpdates", {"wait": 25})
    assert reply["complete"] is True
    assert reply["error"]["code"] == "podman_unreachable"
    # The failed check is the last result now, and says so.
    assert (
        harness.reply("podman", "checkStatus")["error"]["code"] == "podman_unreachable"
    )


def test_containers_lists_every_container(containers, registry, rpcd, uid):
    deployed = _deploy(containers, registry.host, f"ls{uid}x", 2)
    reply = rpcd.reply("podman", "containers")
    rows = {c["name"]: c for c in reply["containers"]}
    for name, (ref, old, _) in deployed.items():
        assert rows[name]["image"] == ref
        assert rows[name]["imageId"] == old
        assert rows[name]["running"] is False
        assert rows[name]["state"] == "created"
        assert set(rows[name]) == {
            "id",
            "name",
            "image",
            "imageId",
            "running",
            "state",
            "labels",
        }


def test_check_worker_killed_is_reported_failed(
    containers, proxy, rpcd, state_dir, uid
):
    _deploy(containers, proxy.host, f"kill{uid}x", 1)
    proxy.hold()
    started = _start_held_check(rpcd)
    job = state.read_json(os.path.join(state_dir, "jobs", started["jobId"] + ".json"))
    os.kill(job["pid"], signal.SIGKILL)

    reply = wait_for_check(rpcd, started["jobId"], timeout=10)

    assert reply["complete"] is True
    assert reply["error"] == {
        "code": "internal",
        "message": "the check worker died or stalled",
    }
    assert reply["progress"]["pulling"] == []
    assert rpcd.reply("podman", "checkStatus")["jobId"] == started["jobId"]
    (session,) = _job_sessions(state_dir, started["jobId"])
    status = rpcd.reply(
        "podman.image", "pullStatus", {"sessionId": session["sessionId"]}
    )
    assert status["complete"] is True and "died" in status["error"]
    # A new check starts afresh instead of joining the dead one.
    proxy.release()
    fresh = _check(rpcd)
    assert fresh["jobId"] != started["jobId"] and fresh["joined"] is False


def test_finished_jobs_expire_but_last_result_stays(state_dir):
    from podman_rpcd.jobs import JobStore

    jobs = JobStore(state.StateDir(state_dir).ensure(), ttl=60)
    record = {"jobId": state.new_id(), "complete": True, "startedAt": 1.0}
    jobs.finish(record | {"finishedAt": 2.0})
    with jobs.state_dir.lock():
        jobs.prune()
    assert not os.path.exists(jobs.state_dir.job_file(record["jobId"]))
    assert jobs.get(record["jobId"])["finishedAt"] == 2.0
    assert jobs.latest()["jobId"] == record["jobId"]


def test_check_start_failure_is_a_finished_job(state_dir):
    from podman_rpcd.jobs import JobStore

    jobs = JobStore(state.StateDir(state_dir).ensure())

    def cannot_spawn(job_id):
        raise OSError(2, "No such file or directory", "/usr/bin/python3")

    job_id, joined = jobs.start_or_join(None, 4, cannot_spawn)
    reply = jobs.get(job_id)
    assert (joined, reply["complete"]) == (False, True)
    assert reply["error"]["code"] == "internal"
    assert "/usr/bin/python3" in reply["error"]["message"]
    # The next check starts afresh rather than joining the one that never ran.
    assert jobs.start_or_join(None, 4, lambda jid: os.getpid())[1] is False


def test_check_one_image_failing_to_start_spares_the_rest(
    containers, registry, state_dir, uid
):
    from podman_rpcd.check import CheckRun
    from podman_rpcd.errors import StateUnavailable
    from podman_rpcd.jobs import JobStore
    from podman_rpcd.sessions import SessionStore
    from podman_rpcd.transport import PodmanClient

    deployed = _deploy(containers, registry.host, f"sp{uid}x", 3, newer=[2])
    broken_ref = deployed[f"sp{uid}x0"][0]

    class FullStateDir(SessionStore):
        def create(self, image, owner, cap=None):
            if image == broken_ref:
                raise StateUnavailable("no space left on device")
            return super().create(image, owner, cap)

    state_root = state.StateDir(state_dir).ensure()
    record = {
        "jobId": state.new_id(),
        "complete": False,
        "names": sorted(deployed),
        "parallel": 2,
        "progress": {"total": 0, "done": 0, "pulling": []},
    }
    result = CheckRun(
        record,
        JobStore(state_root),
        FullStateDir(state_root),
        lambda: PodmanClient(containers.socket),
    ).run()

    rows = _rows(result)
    assert rows[f"sp{uid}x0"]["status"] == "error"
    assert rows[f"sp{uid}x0"]["error"] == "no space left on device"
    assert rows[f"sp{uid}x1"]["status"] == "up_to_date"
    assert rows[f"sp{uid}x2"]["status"] == "update_available"
    assert result["progress"] == {"total": 3, "done": 3, "pulling": []}


def test_check_updates_joins_only_a_job_that_covers_the_names(
    containers, proxy, rpcd, uid
):
    _deploy(containers, proxy.host, f"jn{uid}x", 2)
    proxy.hold()
    first = rpcd.reply("podman", "checkUpdates", {"names": [f"jn{uid}x0"], "wait": 0})

    same = rpcd.reply("podman", "checkUpdates", {"names": [f"jn{uid}x0"], "wait": 0})
    other = rpcd.reply("podman", "checkUpdates", {"names": [f"jn{uid}x1"], "wait": 0})
    everything = rpcd.reply("podman", "checkUpdates", {"wait": 0})

    assert (same["jobId"], same["joined"]) == (first["jobId"], True)
    assert (
        other["error"]["code"] == "busy" and first["jobId"] in other["error"]["message"]
    )
    assert everything["error"]["code"] == "busy"
    proxy.release()
    assert [r["name"] for r in wait_for_check(rpcd, first["jobId"])["results"]] == [
        f"jn{uid}x0"
    ]


def test_check_updates_parallel_above_the_setting_is_refused(stack, state_dir):
    env = plugin_env(stack.socket, state_dir, PODMAN_RPCD_PARALLEL_PULLS="2")
    reply = RpcdHarness(env).reply("podman", "checkUpdates", {"parallel": 3})
    assert reply["error"]["code"] == "invalid_argument"
    assert "from 1 to 2" in reply["error"]["message"]


def test_check_pulls_wait_for_a_free_slot_under_the_cap(
    containers, registry, proxy, rpcd_env, state_dir, uid
):
    harness = RpcdHarness(rpcd_env | {"PODMAN_RPCD_PARALLEL_PULLS": "1"})
    containers.publish(f"{registry.host}/capheld{uid}:1")
    _deploy(containers, registry.host, f"capchk{uid}x", 1, newer=[0])
    proxy.hold()
    streams = [
        harness.reply(
            "podman.image", "pullStream", {"image": f"{proxy.host}/capheld{uid}:1"}
        )
        for _ in range(2)
    ]
    assert all("sessionId" in s for s in streams)  # the cap of 2 is now full

    waiting = harness.reply("podman", "checkUpdates", {"wait": 1})
    assert waiting["complete"] is False
    assert _job_sessions(state_dir, waiting["jobId"]) == []  # no slot, no pull

    harness.reply("podman.image", "pullStop", {"sessionId": streams[0]["sessionId"]})
    reply = wait_for_check(harness, waiting["jobId"])
    assert [r["status"] for r in reply["results"]] == ["update_available"]


def test_check_finish_waits_for_the_global_lock(state_dir):
    """Clearing current-job.json races with a new check unless it is locked."""
    import threading

    from podman_rpcd.jobs import JobStore

    jobs = JobStore(state.StateDir(state_dir).ensure())
    record = {"jobId": state.new_id(), "complete": True, "progress": {}}
    state.write_json(jobs.current, {"jobId": record["jobId"]})
    finisher = threading.Thread(target=jobs.finish, args=(record,))
    with jobs.state_dir.lock():
        finisher.start()
        finisher.join(timeout=0.5)
        assert finisher.is_alive()  # blocked on our lock
        assert os.path.exists(jobs.current)
    finisher.join(timeout=10)
    assert not os.path.exists(jobs.current)


def test_pull_order_starts_the_largest_images_first():
    from podman_rpcd.check import pull_order

    rows = [
        {"image": "r/small:1", "imageId": "a"},
        {"image": "r/big:1", "imageId": "b"},
        {"image": "r/big:1", "imageId": "c"},  # an older copy of the same tag
        {"image": "r/unknown:1", "imageId": "gone"},
        {"image": "localhost/mine:1", "imageId": "b"},
        {"image": "r/mid:1", "imageId": "d"},
    ]
    sizes = {"a": 10, "b": 300, "c": 900, "d": 50}
    assert pull_order(rows, sizes) == ["r/big:1", "r/mid:1", "r/small:1", "r/unknown:1"]


def test_check_progress_that_cannot_be_saved_does_not_stop_it(
    containers, registry, state_dir, uid
):
    from podman_rpcd.check import CheckRun
    from podman_rpcd.errors import StateUnavailable
    from podman_rpcd.jobs import JobStore
    from podman_rpcd.sessions import SessionStore
    from podman_rpcd.transport import PodmanClient

    deployed = _deploy(containers, registry.host, f"ps{uid}x", 2, newer=[1])

    class NoRoomForProgress(JobStore):
        def save(self, record):
            if not record.get("complete"):
                raise StateUnavailable("no space left on device")
            super().save(record)

    root = state.StateDir(state_dir).ensure()
    jobs = NoRoomForProgress(root)
    record = {
        "jobId": state.new_id(),
        "complete": False,
        "names": sorted(deployed),
        "parallel": 2,
        "progress": {"total": 0, "done": 0, "pulling": []},
    }
    CheckRun(
        record, jobs, SessionStore(root), lambda: PodmanClient(containers.socket)
    ).run()

    final = jobs.get(record["jobId"])
    assert [r["status"] for r in final["results"]] == ["up_to_date", "update_available"]


def _job_record(pid=None, started_at=None, **extra) -> dict:
    return {
        "jobId": state.new_id(),
        "complete": False,
        "startedAt": started_at or state.now(),
        "pid": pid,
        "pidStart": state.process_start(pid) if pid else None,
        "names": None,
        "parallel": 1,
        "progress": {"total": 1, "done": 0, "pulling": ["r/a:1"]},
        **extra,
    }


def test_dead_job_found_late_keeps_the_newer_result(state_dir):
    from podman_rpcd.jobs import JobStore

    jobs = JobStore(state.StateDir(state_dir).ensure())
    old = _job_record(pid=os.getpid(), started_at=100.0)
    old["pidStart"] = "gone"  # recorded identity no longer matches: dead
    jobs.save(old)
    newer = _job_record(started_at=200.0) | {"complete": True, "finishedAt": 210.0}
    jobs.finish(newer)

    assert (
        jobs.get(old["jobId"])["error"]["message"] == "the check worker died or stalled"
    )
    assert jobs.latest()["jobId"] == newer["jobId"]


def test_stalled_job_is_ended_and_its_worker_killed(state_dir):
    import subprocess

    from podman_rpcd.jobs import JobStore

    worker = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        jobs = JobStore(state.StateDir(state_dir).ensure(), stall=30)
        record = _job_record(pid=worker.pid)
        jobs.save(record)
        state.write_json(jobs.current, {"jobId": record["jobId"]})
        assert jobs.latest()["complete"] is False  # quiet for less than 30 s

        path = jobs.state_dir.job_file(record["jobId"])
        os.utime(path, (1.0, 1.0))  # nothing written for ages
        reply = jobs.latest()

        assert reply["complete"] is True and "stalled" in reply["error"]["message"]
        assert worker.wait(timeout=10) == -signal.SIGKILL
        assert jobs.start_or_join(None, 1, lambda jid: os.getpid())[1] is False
    finally:
        worker.kill()
        worker.wait()


def test_prune_removes_jobs_whose_worker_died_unnoticed(state_dir):
    from podman_rpcd.jobs import JobStore

    jobs = JobStore(state.StateDir(state_dir).ensure(), ttl=60)
    record = _job_record(pid=dead_pid(), started_at=1.0)
    jobs.save(record)
    with jobs.state_dir.lock():
        jobs.prune()
    assert not os.path.exists(jobs.state_dir.job_file(record["jobId"]))


def test_check_updates_names_outside_the_running_job_are_busy(
    containers, proxy, registry, rpcd, uid
):
    _deploy(containers, proxy.host, f"out{uid}x", 1)
    proxy.hold()
    running = _start_held_check(rpcd)
    _deploy(containers, registry.host, f"late{uid}x", 1)  # created after the listing

    late = rpcd.reply("podman", "checkUpdates", {"names": [f"late{uid}x0"], "wait": 0})
    unknown = rpcd.reply("podman", "checkUpdates", {"names": ["no-such"], "wait": 0})
    listed = rpcd.reply("podman", "checkUpdates", {"names": [f"out{uid}x0"], "wait": 0})

    assert late["error"]["code"] == unknown["error"]["code"] == "busy"
    assert (listed["jobId"], listed["joined"]) == (running["jobId"], True)
    proxy.release()
    wait_for_check(rpcd, running["jobId"])


def test_state_lock_held_elsewhere_answers_busy(rpcd, state_dir):
    import fcntl

    from podman_rpcd.state import LOCK_WAIT

    state.StateDir(state_dir).ensure()
    with open(os.path.join(state_dir, "lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = rpcd.call(
            "podman.image", "pullStream", {"image": "example.org/a:1"}, timeout=25
        )
    assert result.reply["error"]["code"] == "busy"
    assert f"locked for {LOCK_WAIT} s" in result.reply["error"]["message"]


def test_check_stop_ends_a_running_check(containers, proxy, rpcd, state_dir, uid):
    _deploy(containers, proxy.host, f"cs{uid}x", 2)
    proxy.hold()
    started = _start_held_check(rpcd)
    pid = state.read_json(os.path.join(state_dir, "jobs", started["jobId"] + ".json"))[
        "pid"
    ]

    stopped = rpcd.reply("podman", "checkStop", {"jobId": started["jobId"]})

    assert stopped["complete"] is True
    assert stopped["error"] == {"code": "stopped", "message": "stopped on request"}
    assert state.process_start(pid) is None
    sessions = _job_sessions(state_dir, started["jobId"])
    assert sessions and all(s["error"] == "stopped on request" for s in sessions)
    # Stopping again changes nothing; a new check starts afresh.
    again = rpcd.reply("podman", "checkStop", {"jobId": started["jobId"]})
    assert again["error"]["code"] == "stopped"
    proxy.release()
    assert _check(rpcd)["jobId"] != started["jobId"]
