"""`make demo`: a private registry, a real Podman, a router's worth of containers,
and one update check through the rpcd protocol.

Everything runs on loopback in a temp dir and is removed at the end.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rpcd_harness import RpcdHarness, plugin_env
from stack import PodmanStack

# (container, repository, layer sizes, gets a newer version upstream)
APPS = [
    ("homeassistant", "home-assistant/home-assistant:stable", (900_000, 300_000), True),
    ("pihole", "pihole/pihole:latest", (400_000, 100_000), False),
    ("grafana", "grafana/grafana:latest", (600_000,), True),
    ("nginx-proxy", "library/nginx:1.27", (200_000,), False),
    ("nginx-static", "library/nginx:1.27", None, False),  # shares nginx's image
    ("mosquitto", "eclipse/mosquitto:2", (100_000,), True),
    ("zigbee2mqtt", "koenkk/zigbee2mqtt:1.39", (150_000,), False),
]
# Its tag is deleted upstream after the container was created.
WITHDRAWN = "koenkk/zigbee2mqtt:1.39"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def deploy(stack: PodmanStack, host: str) -> None:
    step("building images and pushing them to the private registry")
    for _, repo, sizes, _ in APPS:
        if sizes:
            stack.publish(f"{host}/{repo}", sizes=sizes, seed="v1")

    step("creating containers (created, not started)")
    for name, repo, _, _ in APPS:
        ref = f"{host}/{repo}"
        stack.pull(ref)
        stack.create_container(name, ref)

    digest = stack.registry_digest(f"{host}/pihole/pihole:latest")
    stack.create_container("pihole-pinned", f"{host}/pihole/pihole@{digest}")
    stack.podman("tag", f"{host}/grafana/grafana:latest", "localhost/my-dashboard:dev")
    stack.create_container("my-dashboard", "localhost/my-dashboard:dev")

    step(f"deleting {WITHDRAWN} from the registry (a tag withdrawn upstream)")
    stack.delete_upstream(f"{host}/{WITHDRAWN}")

    step("publishing newer versions of: " + ", ".join(a[0] for a in APPS if a[3]))
    for _, repo, sizes, newer in APPS:
        if newer:
            stack.publish(f"{host}/{repo}", sizes=sizes, seed="v2")


def table(rows: list[dict]) -> str:
    labels = {
        "update_available": "UPDATE AVAILABLE",
        "up_to_date": "up to date",
        "pinned": "pinned (digest)",
        "local_only": "local only",
        "error": "ERROR",
    }
    lines = [f"{'CONTAINER':<15} {'STATUS':<17} {'CURRENT':<13} {'NEW':<13} IMAGE"]
    for row in rows:
        current = (row["currentImageId"] or "")[:12]
        new = (row["newImageId"] or "")[:12]
        status = labels.get(row["status"], row["status"])
        lines.append(
            f"{row['name']:<15} {status:<17} {current:<13} {new:<13} {row['image']}"
        )
        if row["error"]:
            lines.append(f"{'':<15} `- {row['error']}")
    return "\n".join(lines)


def main() -> int:
    step("starting a docker-registry and a Podman API service on loopback")
    stack = PodmanStack.create().start(registries=1, proxies=0)
    try:
        host = stack.registries[0].host
        deploy(stack, host)
        state_dir = stack.root / "state"
        rpcd = RpcdHarness(plugin_env(stack.socket, str(state_dir)))

        step("rpcd: `podman list` (once, as rpcd does at start)")
        print("   ", json.dumps(rpcd.list("podman")))
        step('rpcd: `podman call checkUpdates` with {"wait": 25}')
        started = time.monotonic()
        result = rpcd.call("podman", "checkUpdates", {"wait": 25})
        reply = result.reply
        while reply and not reply.get("complete"):
            reply = rpcd.reply("podman", "checkStatus", {"jobId": reply["jobId"]})
        seconds = time.monotonic() - started
        if not reply or "error" in reply:
            print("check failed:", json.dumps(reply, indent=2))
            return 1

        print()
        print(table(reply["results"]))
        updates = sum(r["hasUpdate"] for r in reply["results"])
        print(
            f"\n{len(reply['results'])} containers, {reply['pulls']} distinct images "
            f"pulled ({reply.get('parallel')} at a time), {updates} updates "
            f"available, {seconds:.1f} s."
        )
        print("\nRaw JSON reply (ubus call podman checkUpdates):")
        print(json.dumps(reply, indent=2))
        return 0
    finally:
        try:
            step("stopping the registry and Podman, removing the temp dir")
        finally:
            stack.stop()  # even when stdout is gone (`make demo | head`)


if __name__ == "__main__":
    sys.exit(main())
