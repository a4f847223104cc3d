"""The LuCI page in headless Chromium, against the real launchers, Podman and registry.

The dev server of tests/browser/serve.py serves the real htdocs with a
stand-in LuCI runtime and answers /ubus through the rpcd harness. Playwright
drives Debian's /usr/bin/chromium (never a downloaded browser).
"""

import json
import os
import threading
import urllib.request
from pathlib import Path

import pytest
from browser.serve import acl_grants, make_server
from playwright.sync_api import sync_playwright
from stack import wait_until

from podman_rpcd import reference

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "browser" / "screenshots"
CHECK_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"Debian's chromium is not installed at {CHROMIUM}",
)

# Records every distinct (batch, checking) text of the progress display, so a
# batch that comes and goes between two looks from the test is still seen.
PROGRESS_RECORDER = """
window.__progress = [];
new MutationObserver(function() {
    var batch = document.querySelector('#podman-progress .podman-batch'),
        checking = document.querySelector('#podman-progress .podman-checking');
    if (!batch || !checking)
        return;
    var entry = [ batch.textContent, checking.textContent ],
        last = window.__progress[window.__progress.length - 1];
    if (!last || last[0] != entry[0] || last[1] != entry[1])
        window.__progress.push(entry);
}).observe(document, { childList: true, subtree: true, characterData: true });
"""

READ_TABLE = """rows => rows.map(r => ({
    name: r.dataset.name,
    status: r.dataset.status,
    image: r.cells[1].textContent,
    details: r.cells[4].textContent
}))"""


@pytest.fixture
def gateway_server(rpcd):
    """The dev server on a free loopback port, in a thread."""
    server = make_server(rpcd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def page_errors():
    """Uncaught JavaScript errors of the page."""
    return []


@pytest.fixture
def page(tmp_path, page_errors):
    """A page in a fresh headless Chromium profile."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.add_init_script(PROGRESS_RECORDER)
            yield page
        finally:
            context.close()


def make_fleet(stack, registry, uid: str) -> dict:
    """Containers with every verdict; returns name -> image.

    Six distinct pulled images (two batches of 4), one pinned by digest and
    one local-only: alpha, charlie, foxtrot have newer images upstream,
    delta's tag was deleted upstream, bravo and echo are current.
    """
    base = f"{registry.host}/b{uid}"
    fleet = {}
    for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
        ref = f"{base}/{name}:1"
        stack.publish(ref, seed="v1")
        stack.pull(ref)
        fleet[f"{name}-{uid}"] = ref
    for name in ("alpha", "charlie", "foxtrot"):
        stack.publish(f"{base}/{name}:1", seed="v2")
    stack.delete_upstream(f"{base}/delta:1")

    pinned = f"{base}/bravo@{stack.registry_digest(f'{base}/bravo:1')}"
    stack.pull(pinned)
    fleet[f"golf-{uid}"] = pinned

    local = f"localhost/b{uid}/tool:dev"
    stack.podman("tag", f"{base}/echo:1", local)
    fleet[f"hotel-{uid}"] = local

    for name, image in fleet.items():
        stack.create_container(name, image)
    return fleet


def expected_batches(rpcd) -> list[list[str]]:
    """Container names per pull batch, worked out from the backend's own view:
    sorted by name, classified by the backend's rules, each image once."""
    rows = sorted(
        rpcd.reply("podman", "containers")["containers"], key=lambda r: r["name"]
    )
    size = rpcd.reply("podman", "settings")["parallelPulls"]
    images = []
    for row in rows:
        if not reference.classify(row["image"]) and row["image"] not in images:
            images.append(row["image"])
    chunks = [images[i : i + size] for i in range(0, len(images), size)]
    return [[r["name"] for r in rows if r["image"] in chunk] for chunk in chunks]


def backend_check(rpcd) -> list[dict]:
    """The rows of the backend's own checkUpdates job."""
    job_id = rpcd.reply("podman", "checkUpdates", {"wait": 25})["jobId"]

    def finished():
        job = rpcd.reply("podman", "checkStatus", {"jobId": job_id})
        return job if job["complete"] else None

    return wait_until(finished, 120, "the backend's check", interval=0.5)["results"]


def calls_of(server, method: str) -> list[dict]:
    """Arguments of every call of method that the page made through /ubus."""
    return [
        c["args"]
        for c in server.RequestHandlerClass.gateway.calls
        if c["method"] == method
    ]


def open_overview(page, server, count: int) -> None:
    page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
    page.wait_for_function(
        f"document.querySelectorAll('tr[data-name]').length == {count}"
    )


def test_browser_check_shows_batches_and_matches_backend(
    page, page_errors, gateway_server, rpcd, stack, registry, containers, uid
):
    fleet = make_fleet(stack, registry, uid)
    batches = expected_batches(rpcd)
    assert len(batches) == 2, batches
    open_overview(page, gateway_server, len(fleet))

    page.click("#podman-check")
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    progress = page.evaluate("window.__progress")
    seen = [
        progress.index(entry)
        for entry in (
            ["Batch 1/2", "Checking: " + ", ".join(batches[0])],
            ["Batch 2/2", "Checking: " + ", ".join(batches[1])],
        )
        if entry in progress
    ]
    assert len(seen) == 2 and seen[0] < seen[1], progress

    shown = {
        r["name"]: r for r in page.eval_on_selector_all("tr[data-name]", READ_TABLE)
    }
    expected = {r["name"]: r for r in backend_check(rpcd)}
    assert sorted(shown) == sorted(expected) == sorted(fleet)
    assert {n: r["status"] for n, r in shown.items()} == {
        n: r["status"] for n, r in expected.items()
    }
    for name, row in expected.items():
        assert shown[name]["image"] == row["image"]
        if row["status"] == "error":
            assert shown[name]["details"] == row["error"]
        elif row["newImageId"]:
            assert row["newImageId"][:12] in shown[name]["details"]
    assert [expected[f"{n}-{uid}"]["status"] for n in ("alpha", "delta", "golf")] == [
        "update_available",
        "error",
        "pinned",
    ]
    assert page.inner_text("#podman-checked").startswith("Last check: ")

    # A fresh page shows the router's own last check until the user runs one.
    open_overview(page, gateway_server, len(fleet))
    page.wait_for_selector("tr[data-name][data-status=pinned]")
    reloaded = page.eval_on_selector_all("tr[data-name]", READ_TABLE)
    assert {r["name"]: r["status"] for r in reloaded} == {
        n: r["status"] for n, r in expected.items()
    }
    assert page.inner_text("#podman-checked").endswith("(run on the router)")

    status_calls = calls_of(gateway_server, "pullStatus")
    assert status_calls and all(
        1 <= len(args["sessions"]) <= 4 and set(args) == {"sessions"}
        for args in status_calls
    )
    assert len(calls_of(gateway_server, "pullStream")) == 6
    assert page_errors == []


def test_browser_cancel_stops_pulls_of_the_running_batch(
    page, page_errors, gateway_server, rpcd, stack, registry, containers, uid
):
    names = [f"c{i}-{uid}" for i in range(5)]
    for name in names:
        ref = f"{registry.host}/x{uid}/{name}:1"
        stack.publish(ref)
        stack.pull(ref)
        stack.create_container(name, ref)
    open_overview(page, gateway_server, len(names))

    # Hold the pullStatus requests, so the first batch is still running
    # when Cancel is clicked, however fast the pulls are. A glob is matched
    # in the browser: other requests never wait for this thread.
    pull_status = "**/ubus/podman.image.pullStatus"
    held = []

    def hold(route):
        held.append(route)

    page.route(pull_status, hold)
    with page.expect_request(pull_status):
        page.click("#podman-check")
    assert page.inner_text("#podman-progress .podman-batch") == "Batch 1/2"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "progress.png"), full_page=True)

    page.click("#podman-cancel")
    wait_until(
        lambda: len(calls_of(gateway_server, "pullStop")) == 4, 30, "4 pullStop calls"
    )
    assert held
    for route in held:
        route.continue_()
    page.unroute(pull_status)
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)

    started = calls_of(gateway_server, "pullStream")
    stopped = calls_of(gateway_server, "pullStop")
    assert len(started) == 4
    assert len({s["sessionId"] for s in stopped}) == 4
    shown = page.eval_on_selector_all("tr[data-name]", READ_TABLE)
    assert [r["status"] for r in shown] == ["error"] * 5
    assert [r["details"] for r in shown] == ["Check cancelled"] * 5
    assert "cancelled" in page.inner_text("#podman-checked")
    assert page_errors == []


def test_gateway_refuses_methods_outside_the_acl(gateway_server):
    url = f"http://127.0.0.1:{gateway_server.server_address[1]}/ubus/"
    batch = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "call",
            "params": ["0" * 32, "podman", "settings", {}],
        },
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "call",
            "params": ["0" * 32, "podman", "noSuchMethod", {}],
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "call",
            "params": ["0" * 32, "system", "board", {}],
        },
    ]
    request = urllib.request.Request(
        url, json.dumps(batch).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        replies = json.load(response)

    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[0]["result"][0] == 0
    assert replies[0]["result"][1]["parallelPulls"] >= 1
    assert replies[1]["error"]["code"] == -32002
    assert replies[2]["error"]["code"] == -32000


def test_acl_grants_exactly_what_the_page_uses():
    assert acl_grants() == {
        ("podman", "containers"),
        ("podman", "checkStatus"),
        ("podman", "settings"),
        ("podman", "checkUpdates"),
        ("podman.image", "pullStream"),
        ("podman.image", "pullStatus"),
        ("podman.image", "pullStop"),
        ("podman.image", "inspect"),
    }
