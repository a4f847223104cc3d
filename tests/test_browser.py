"""The LuCI page in headless Chromium, against the real launchers, Podman and registry.

The dev server of tests/browser/serve.py serves the real htdocs with a
stand-in LuCI runtime and answers /ubus through the rpcd harness. Playwright
drives Debian's /usr/bin/chromium (never a downloaded browser).
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from browser import serve
from browser.serve import acl_grants, make_server
from playwright.sync_api import sync_playwright
from rpcd_harness import RpcdHarness
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
STORAGE_KEY = "luci-app-podman-updates.lastCheck"

needs_chromium = pytest.mark.skipif(
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
    label: r.cells[3].textContent,
    details: r.cells[4].textContent
}))"""

# The page's notifications: [severity classes, text].
READ_NOTICES = """nodes => nodes.map(n => [
    n.className, n.querySelector('p').textContent
])"""

ADD_FOREIGN_NOTICE = """() => L.require('ui').then(ui =>
    ui.addNotification(null, E('p', {}, [ 'From another page' ]), 'info'))"""


@contextlib.contextmanager
def serving(harness):
    """The dev server for harness on a free loopback port, in a thread."""
    server = make_server(harness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def gateway_server(rpcd):
    with serving(rpcd) as server:
        yield server


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


def read_table(page) -> dict:
    return {
        r["name"]: r for r in page.eval_on_selector_all("tr[data-name]", READ_TABLE)
    }


def notices(page) -> list[list[str]]:
    return page.eval_on_selector_all("#maincontent > .alert-message", READ_NOTICES)


@needs_chromium
def test_browser_check_shows_batches_and_matches_backend(
    page, page_errors, gateway_server, rpcd, stack, registry, containers, uid
):
    fleet = make_fleet(stack, registry, uid)
    batches = expected_batches(rpcd)
    assert len(batches) == 2, batches
    open_overview(page, gateway_server, len(fleet))
    assert page.inner_text("#podman-checked") == "Not checked yet."

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
    checked = page.inner_text("#podman-checked")
    assert (
        checked.startswith("Last check: ") and ", from this browser (took " in checked
    )
    warning = "1 of 8 containers could not be checked; see Details."
    assert [n[1] for n in notices(page)] == [warning]

    # The badges take their colours from the page's own stylesheet, which the
    # package ships (the stand-in theme has none for them).
    colour = page.eval_on_selector(
        ".podman-label-up_to_date", "n => getComputedStyle(n).backgroundColor"
    )
    assert colour == "rgb(216, 240, 220)"

    # A reload keeps this browser's check: same rows, same time, said so.
    browser_rows = read_table(page)
    open_overview(page, gateway_server, len(fleet))
    page.wait_for_selector("tr[data-name][data-status=pinned]")
    assert read_table(page) == browser_rows
    finished = checked.removeprefix("Last check: ").split(", from this browser")[0]
    assert page.inner_text("#podman-checked") == (
        f"Last check: {finished}, from this browser"
    )

    expected = {r["name"]: r for r in backend_check(rpcd)}
    assert sorted(browser_rows) == sorted(expected) == sorted(fleet)
    assert {n: r["status"] for n, r in browser_rows.items()} == {
        n: r["status"] for n, r in expected.items()
    }
    for name, row in expected.items():
        assert browser_rows[name]["image"] == row["image"]
        if row["status"] == "error":
            assert browser_rows[name]["details"] == row["error"]
        elif row["newImageId"]:
            assert row["newImageId"][:12] in browser_rows[name]["details"]
    assert [expected[f"{n}-{uid}"]["status"] for n in ("alpha", "delta", "golf")] == [
        "update_available",
        "error",
        "pinned",
    ]

    # The router's check is newer now. A container recreated since a check
    # (alpha, on its new image) is no longer described by it.
    stack.podman("rm", "-f", f"alpha-{uid}")
    stack.create_container(f"alpha-{uid}", fleet[f"alpha-{uid}"])
    open_overview(page, gateway_server, len(fleet))
    page.wait_for_selector("tr[data-name][data-status=pinned]")
    assert page.inner_text("#podman-checked").endswith(", on the router")
    assert {n: r["status"] for n, r in read_table(page).items()} == {
        n: "unchecked" if n == f"alpha-{uid}" else r["status"]
        for n, r in expected.items()
    }

    status_calls = calls_of(gateway_server, "pullStatus")
    assert status_calls and all(
        1 <= len(args["sessions"]) <= 4 and set(args) == {"sessions"}
        for args in status_calls
    )
    assert len(calls_of(gateway_server, "pullStream")) == 6
    assert page_errors == []


@needs_chromium
def test_browser_new_check_takes_down_its_old_notifications_only(
    page, page_errors, gateway_server, stack, registry, containers, uid
):
    good, gone = f"{registry.host}/n{uid}/good:1", f"{registry.host}/n{uid}/gone:1"
    for name, ref in ((f"good-{uid}", good), (f"gone-{uid}", gone)):
        stack.publish(ref)
        stack.pull(ref)
        stack.create_container(name, ref)
    stack.delete_upstream(gone)
    open_overview(page, gateway_server, 2)
    warning = [
        "alert-message fade-in warning",
        "1 of 2 containers could not be checked; see Details.",
    ]

    page.click("#podman-check")
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)
    assert notices(page) == [warning]
    page.evaluate(ADD_FOREIGN_NOTICE)

    # Hold the second check's first status tick to look at it while it runs.
    pull_status = "**/ubus/podman.image.pullStatus"
    held = []

    def hold(route):
        held.append(route)

    page.route(pull_status, hold)
    with page.expect_request(pull_status):
        page.click("#podman-check")
    assert [n[1] for n in notices(page)] == ["From another page"]
    for route in held:
        route.continue_()
    page.unroute(pull_status)
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)
    assert [n[1] for n in notices(page)] == [warning[1], "From another page"]
    assert page_errors == []


@needs_chromium
def test_browser_cancel_stops_pulls_and_keeps_what_finished(
    page, page_errors, gateway_server, stack, registry, proxy, containers, uid
):
    # Batch 1: c0 and c1 pull straight from the registry, c2 and c3 through
    # the proxy, which is held: they are still pulling when Cancel is
    # clicked, however fast the machine. c4 is batch 2, never started.
    hosts = [registry.host] * 2 + [proxy.host] * 2 + [registry.host]
    names = [f"c{i}-{uid}" for i in range(5)]
    for name, host in zip(names, hosts, strict=True):
        ref = f"{host}/x{uid}/{name}:1"
        stack.publish(ref)
        stack.pull(ref)
        stack.create_container(name, ref)
    proxy.hold()
    open_overview(page, gateway_server, len(names))

    page.click("#podman-check")
    # c0 and c1 are done once a status tick asks for two sessions only.
    wait_until(
        lambda: any(
            len(a["sessions"]) == 2 for a in calls_of(gateway_server, "pullStatus")
        ),
        30,
        "c0 and c1 pulled",
    )
    assert page.inner_text("#podman-progress .podman-batch") == "Batch 1/2"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "progress.png"), full_page=True)

    page.click("#podman-cancel")
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "cancelled.png"), full_page=True)

    assert len(calls_of(gateway_server, "pullStream")) == 4
    assert len({s["sessionId"] for s in calls_of(gateway_server, "pullStop")}) == 2
    cancelled = ("cancelled", "Not checked (cancelled)", "")
    shown = page.eval_on_selector_all("tr[data-name]", READ_TABLE)
    assert [(r["status"], r["label"]) for r in shown[:2]] == [
        ("up_to_date", "Up to date")
    ] * 2
    assert [(r["status"], r["label"], r["details"]) for r in shown[2:]] == [
        cancelled
    ] * 3
    assert page.query_selector_all(".podman-label-error") == []
    assert "from this browser (cancelled after " in page.inner_text("#podman-checked")
    assert notices(page) == []

    # What finished before the cancel is kept across a reload.
    open_overview(page, gateway_server, len(names))
    assert page.eval_on_selector_all("tr[data-name]", READ_TABLE) == shown
    assert page.inner_text("#podman-checked").endswith(
        ", from this browser (cancelled)"
    )
    assert page_errors == []


@needs_chromium
def test_browser_follows_a_check_running_on_the_router(
    page, page_errors, gateway_server, rpcd, stack, proxy, containers, uid
):
    ref = f"{proxy.host}/r{uid}/app:1"
    stack.publish(ref, seed="v1")
    stack.pull(ref)
    stack.create_container(f"app-{uid}", ref)
    stack.publish(ref, seed="v2")
    proxy.hold()
    job = rpcd.reply("podman", "checkUpdates", {"wait": 0})
    assert job["complete"] is False
    # Whatever this browser kept is unreadable: the page goes on without it.
    page.add_init_script(f"localStorage.setItem('{STORAGE_KEY}', '{{\"rows\":')")

    open_overview(page, gateway_server, 1)
    page.wait_for_function(
        "document.querySelector('#podman-router-check').textContent"
        ".startsWith('A check is running on the router')"
    )
    assert page.is_visible("#podman-router-check")
    assert page.is_enabled("#podman-check")
    assert page.inner_text("#podman-checked") == "Not checked yet."
    wait_until(
        lambda: len(calls_of(gateway_server, "checkStatus")) >= 3,
        30,
        "the page polling the router's check",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "router-check.png"), full_page=True)

    proxy.release()
    page.wait_for_selector("#podman-router-check", state="hidden", timeout=60_000)
    assert page.inner_text("#podman-checked").endswith(", on the router")
    assert read_table(page)[f"app-{uid}"]["status"] == "update_available"
    polls = calls_of(gateway_server, "checkStatus")
    assert polls[0] == {} and polls[1:] == [{"jobId": job["jobId"]}] * (len(polls) - 1)
    assert page_errors == []


@needs_chromium
def test_browser_keeps_older_results_a_newer_partial_check_did_not_cover(
    page, page_errors, gateway_server, rpcd, stack, containers, uid
):
    host = stack.registries[0].host
    for name in ("one", "two"):
        ref = f"{host}/p{uid}/{name}:1"
        stack.publish(ref)
        stack.pull(ref)
        stack.create_container(f"{name}-{uid}", ref)
        stack.publish(ref, seed="v2")
    open_overview(page, gateway_server, 2)
    page.click("#podman-check")
    page.wait_for_selector("#podman-updates[data-state=done]", timeout=CHECK_TIMEOUT_MS)
    assert {r["status"] for r in read_table(page).values()} == {"update_available"}

    # A newer check on the router, of one container by name.
    job = rpcd.reply("podman", "checkUpdates", {"names": [f"one-{uid}"], "wait": 25})
    assert job["complete"] is True and "error" not in job

    open_overview(page, gateway_server, 2)
    page.wait_for_selector(f"tr[data-name=two-{uid}][data-status=update_available]")
    rows = read_table(page)
    assert rows[f"one-{uid}"]["status"] == "update_available"
    assert page.inner_text("#podman-checked").endswith(", on the router")
    assert page_errors == []


@needs_chromium
def test_browser_names_a_router_check_that_failed_as_a_whole(
    page, page_errors, gateway_server, rpcd, stack, containers, uid
):
    ref = f"{stack.registries[0].host}/f{uid}/app:1"
    stack.publish(ref)
    stack.pull(ref)
    stack.create_container(f"app-{uid}", ref)
    failed = rpcd.reply("podman", "checkUpdates", {"names": ["no-such"], "wait": 25})
    assert failed["error"]["code"] == "not_found"

    open_overview(page, gateway_server, 1)
    page.wait_for_selector("#maincontent > .alert-message")

    texts = [n[1] for n in notices(page)]
    assert texts == [f"The check on the router failed: {failed['error']['message']}"]
    assert page.inner_text("#podman-checked") == "Not checked yet."
    assert page_errors == []


@needs_chromium
def test_browser_retries_a_pull_the_router_refuses_as_busy(
    page, page_errors, stack, registry, proxy, containers, rpcd_env, uid
):
    harness = RpcdHarness(rpcd_env | {"PODMAN_RPCD_PARALLEL_PULLS": "1"})
    ref = f"{registry.host}/b{uid}/app:1"
    stack.publish(ref, seed="v1")
    stack.pull(ref)
    stack.create_container(f"app-{uid}", ref)
    stack.publish(ref, seed="v2")
    # Two pulls that cannot finish yet fill the router's cap (2 x parallel_pulls).
    held = f"{proxy.host}/b{uid}/held:1"
    stack.publish(held)
    proxy.hold()
    for _ in range(2):
        assert "sessionId" in harness.reply(
            "podman.image", "pullStream", {"image": held}
        )

    with serving(harness) as server:
        open_overview(page, server, 1)
        page.click("#podman-check")
        wait_until(
            lambda: len(calls_of(server, "pullStream")) >= 3, 30, "two retried starts"
        )
        assert read_table(page)[f"app-{uid}"]["status"] == "checking"
        assert notices(page) == []
        proxy.release()
        page.wait_for_selector("#podman-updates[data-state=done]", timeout=60_000)

        assert read_table(page)[f"app-{uid}"]["status"] == "update_available"
        assert all(args == {"image": ref} for args in calls_of(server, "pullStream"))
        status_calls = calls_of(server, "pullStatus")
        assert status_calls and all(len(a["sessions"]) == 1 for a in status_calls)
    assert page_errors == []


def test_serve_port_comes_from_the_option_or_port_variable():
    assert serve.parse_args([], {}).port == 8080
    assert serve.parse_args([], {"PORT": "8123"}).port == 8123
    assert serve.parse_args(["--port", "0"], {"PORT": "8123"}).port == 0
    for bad in ("http", "65536", "-1"):
        with pytest.raises(SystemExit):
            serve.parse_args(["--port", bad], {})


def test_serve_refuses_a_taken_port_before_building_the_demo():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, serve.__file__, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: " in proc.stderr
    assert "publishing demo images" not in proc.stdout


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
