"""Dev server for the LuCI page: real htdocs, a stand-in LuCI runtime, real launchers.

GET  /                      the stand-in page that loads view/podman/overview.js
GET  /luci-static/...       files/www/luci-static/... (the real files), else the
                            stand-in runtime in tests/browser/runtime/
POST /ubus[/...]            ubus JSON-RPC as uhttpd answers it: one request or a
                            JSON array run one after another, each call run by
                            our rpcd launchers through tests/rpcd_harness.py,
                            limited to what our rpcd ACL file grants

`python tests/browser/serve.py [--port N]` (or `make serve [PORT=N]`) starts
its own Podman service and registry from tests/stack.py, fills them with
demo containers (~30 s), and prints the URL. Everything listens on 127.0.0.1
only; Ctrl-C stops it and removes everything it made.
"""

import argparse
import json
import mimetypes
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from rpcd_harness import RpcdHarness, plugin_env  # noqa: E402
from stack import PodmanStack  # noqa: E402

ROOT = TESTS.parent
HTDOCS = ROOT / "files" / "www"
RUNTIME = Path(__file__).resolve().parent / "runtime"
ACL_FILE = ROOT / "files/usr/share/rpcd/acl.d/luci-app-podman-updates.json"
PLUGINS = ("podman", "podman.image")
DEFAULT_PORT = 8080

# JSON-RPC error codes as uhttpd's ubus handler uses them.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
OBJECT_NOT_FOUND = -32000
ACCESS_DENIED = -32002
UBUS_METHOD_NOT_FOUND = 3


def acl_grants(path: Path = ACL_FILE) -> set[tuple[str, str]]:
    """(object, method) pairs that the ACL file grants, read and write alike."""
    granted = set()
    for group in json.loads(path.read_text()).values():
        for level in ("read", "write"):
            for obj, methods in group.get(level, {}).get("ubus", {}).items():
                granted.update((obj, method) for method in methods)
    return granted


class UbusGateway:
    """Answers /ubus JSON-RPC by running the launchers as rpcd would."""

    def __init__(self, harness: RpcdHarness, acl_path: Path = ACL_FILE):
        self.harness = harness
        self.granted = acl_grants(acl_path)
        self.methods = {plugin: set(harness.list(plugin)) for plugin in PLUGINS}
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def handle(self, body: bytes) -> object:
        """The JSON reply for one request body (an object or an array)."""
        try:
            payload = json.loads(body)
        except ValueError:
            return _rpc_error(None, PARSE_ERROR, "Parse error")
        if isinstance(payload, list):
            return [self._one(request) for request in payload]
        return self._one(payload)

    def _one(self, request) -> dict:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _rpc_error(None, INVALID_REQUEST, "Invalid request")
        rid = request.get("id")
        if request.get("method") != "call":
            return _rpc_error(rid, METHOD_NOT_FOUND, "Method not found")
        params = request.get("params")
        if (
            not isinstance(params, list)
            or len(params) != 4
            or not all(isinstance(p, str) for p in params[:3])
            or not isinstance(params[3], dict)
        ):
            return _rpc_error(rid, INVALID_PARAMS, "Invalid parameters")
        _, obj, method, args = params
        if obj not in self.methods:
            return _rpc_error(rid, OBJECT_NOT_FOUND, "Object not found")
        if (obj, method) not in self.granted:
            return _rpc_error(rid, ACCESS_DENIED, "Access denied")
        if method not in self.methods[obj]:
            return {"jsonrpc": "2.0", "id": rid, "result": [UBUS_METHOD_NOT_FOUND]}

        result = self.harness.call(obj, method, args)
        with self.lock:
            self.calls.append({"object": obj, "method": method, "args": args})
        reply = [result.status] if result.reply is None else [0, result.reply]
        return {"jsonrpc": "2.0", "id": rid, "result": reply}


def _rpc_error(rid, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _static_file(url_path: str) -> Path | None:
    """The file for a /luci-static/ path: the real tree first, then the stand-in."""
    relative = url_path.lstrip("/")
    for base in (HTDOCS, RUNTIME):
        candidate = (base / relative).resolve()
        if candidate.is_relative_to(base) and candidate.is_file():
            return candidate
    return None


class Handler(BaseHTTPRequestHandler):
    gateway: UbusGateway
    verbose = False

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send_file(RUNTIME / "index.html")
        elif path.startswith("/luci-static/") and (found := _static_file(path)):
            self._send_file(found)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def do_POST(self):
        if not (self.path == "/ubus" or self.path.startswith("/ubus/")):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length") or 0)
        started = time.monotonic()
        reply = self.gateway.handle(self.rfile.read(length))
        body = json.dumps(reply).encode()
        if self.verbose:
            sys.stderr.write(
                f"ubus {self.path.removeprefix('/ubus/')} "
                f"({time.monotonic() - started:.2f} s)\n"
            )
        self._send(body, "application/json")

    def _send_file(self, path: Path):
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(path.read_bytes(), kind)

    def _send(self, body: bytes, kind: str):
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        if self.verbose:
            super().log_message(fmt, *args)


def make_server(
    harness: RpcdHarness, port: int = 0, verbose: bool = False
) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:port (0: any free port) for the page."""
    handler = type(
        "BoundHandler",
        (Handler,),
        {"gateway": UbusGateway(harness), "verbose": verbose},
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


# name -> what happens upstream after the container was created
DEMO = {
    "grafana": "newer",
    "nginx": "newer",
    "mariadb": "same",
    "redis": "newer",
    "pihole": "same",
    "homeassistant": "newer",
    "mosquitto": "same",
    "nodered": "same",
    "zigbee2mqtt": "deleted",
    "unbound": "newer",
    "syncthing": "same",
}


def populate_demo(stack: PodmanStack, say=print) -> None:
    """Demo containers: some with newer images upstream, one whose tag is gone,
    one pinned by digest and one built locally."""
    host = stack.registries[0].host
    for name, fate in DEMO.items():
        ref = f"{host}/demo/{name}:latest"
        say(f"  {name}: {fate}")
        stack.publish(ref, sizes=(256 * 1024,), seed="v1")
        stack.pull(ref)
        stack.create_container(name, ref)
        if fate == "newer":
            stack.publish(ref, sizes=(256 * 1024,), seed="v2")
        elif fate == "deleted":
            stack.delete_upstream(ref)

    pinned = (
        f"{host}/demo/mariadb@{stack.registry_digest(f'{host}/demo/mariadb:latest')}"
    )
    stack.pull(pinned)
    stack.create_container("wireguard", pinned)

    stack.podman("tag", f"{host}/demo/pihole:latest", "localhost/demo/backup:dev")
    stack.create_container("backup", "localhost/demo/backup:dev")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return port


def parse_args(argv: list[str] | None = None, environ=os.environ) -> argparse.Namespace:
    """The command line; the port defaults to $PORT (`make serve PORT=8081`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=_port,
        default=environ.get("PORT") or str(DEFAULT_PORT),
        help=f"port on 127.0.0.1 (default: $PORT, else {DEFAULT_PORT}; 0: any free)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()

    # Ctrl-C and `kill` clean up alike, also when started as a background job
    # of a script (which begins with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    stack = PodmanStack.create()
    state_dir = tempfile.mkdtemp(prefix="prsd", dir="/tmp")
    server = None
    try:
        # The port first: a taken one fails now, not after building the demo.
        harness = RpcdHarness(plugin_env(stack.socket, state_dir))
        try:
            server = make_server(harness, args.port, verbose=not args.quiet)
        except OSError as exc:
            print(
                f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; "
                "pick another with --port",
                file=sys.stderr,
            )
            return 1
        print("starting Podman and a registry on 127.0.0.1 ...", flush=True)
        stack.start()
        print("publishing demo images and creating containers:", flush=True)
        populate_demo(stack)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        print(
            f"\nLuCI page: {url}\n(Ctrl-C stops it and removes the stack)", flush=True
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if server:
            server.server_close()
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
