"""The same plugin on Python 3.13 (OpenWrt 25.12), against the real Podman."""

import subprocess

from rpcd_harness import RpcdHarness, wait_for_check, wait_for_pull


def test_python313_runs_list_pulls_and_checks(
    python313, containers, registry, rpcd_env, uid
):
    version = subprocess.run(
        [python313, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.strip() == "(3, 13)"
    harness = RpcdHarness(rpcd_env, python=python313)
    ref = f"{registry.host}/py313{uid}:1"
    old = containers.publish(ref)
    containers.pull(ref)
    containers.create_container(f"py313{uid}", ref)
    new = containers.publish(ref, seed="v2")

    assert "pullStatus" in harness.list("podman.image")
    session = harness.reply("podman.image", "pullStream", {"image": ref})["sessionId"]
    assert wait_for_pull(harness, session)["imageId"] == new

    reply = harness.reply("podman", "checkUpdates", {"wait": 25})
    if not reply["complete"]:
        reply = wait_for_check(harness, reply["jobId"])
    (row,) = reply["results"]
    assert (row["status"], row["currentImageId"], row["newImageId"]) == (
        "update_available",
        old,
        new,
    )
