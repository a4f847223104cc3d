"""A WAN on loopback: a proxy between Podman and the registry that shapes replies.

What a home connection does to a pull, emulated in user space (this kernel
has tbf/htb but no netem, so no delay from tc):
  - latency: every byte waits one-way delay (rtt / 2) in each direction, and a
    new connection pays `setup_rtts` extra round trips (TCP + TLS handshakes)
    before its first request reaches the registry;
  - a bandwidth limit per connection (a pacing bucket per reply stream);
  - a total link bandwidth shared by all connections (one FIFO schedule).
It also counts what crosses it: reply bytes, connections and the registry
requests (manifest and blob GETs), so a run can prove what it downloaded.
"""

import queue
import re
import socket
import threading
import time
from dataclasses import dataclass, field

CHUNK = 64 * 1024
# Reply bytes read ahead of the delay line per connection (bounds memory).
QUEUE_CHUNKS = 64
REQUEST_LINE = re.compile(
    rb"^(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]\r?$", re.M
)
REGISTRY_PATH = re.compile(r"^/v2/(.+)/(manifests|blobs)/([^/?]+)")


@dataclass
class Shape:
    """The link's parameters; rates in bytes per second, None = unlimited."""

    conn_rate: float | None = None
    link_rate: float | None = None
    rtt: float = 0.0
    setup_rtts: int = 0

    def describe(self) -> str:
        def rate(value):
            if not value:
                return "unlimited"
            return f"{value / 1e6:.2f} MB/s ({value * 8 / 1e6:.0f} Mbit/s)"

        return (
            f"per connection {rate(self.conn_rate)}, link total "
            f"{rate(self.link_rate)}, RTT {self.rtt * 1000:.0f} ms "
            f"(+{self.setup_rtts} RTT to open a connection)"
        )


@dataclass
class Traffic:
    """What crossed the link since the last reset."""

    reply_bytes: int = 0
    request_bytes: int = 0
    connections: int = 0
    requests: list = field(default_factory=list)  # (method, path)

    def registry_requests(self, kind: str, methods=("GET",)) -> list[tuple]:
        """(repository, reference) of each manifest or blob request of kind."""
        found = []
        for method, path in self.requests:
            match = REGISTRY_PATH.match(path)
            if match and match.group(2) == kind and method in methods:
                found.append((match.group(1), match.group(3)))
        return found


class WanLink:
    """Forward 127.0.0.1:<port> to upstream through the emulated WAN."""

    def __init__(self, upstream: tuple[str, int], port: int = 0, shape=None):
        self.upstream = upstream
        self.shape = shape or Shape()
        self.flowing = threading.Event()
        self.flowing.set()
        self._lock = threading.Lock()
        self._link_free = 0.0
        self._traffic = Traffic()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="wan-accept", daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- controls ------------------------------------------------------------

    def set_shape(self, shape: Shape) -> None:
        self.shape = shape

    def hold(self) -> None:
        """Stop delivering replies (connections stay open) until release()."""
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def take_traffic(self) -> Traffic:
        """Return the counters since the last call and start new ones."""
        with self._lock:
            taken, self._traffic = self._traffic, Traffic()
        return taken

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()
        self.flowing.set()

    # -- forwarding ----------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._traffic.connections += 1
                self._sockets.update((client, server))
            opened = time.monotonic()
            conn = _Connection(self, client, server, opened)
            conn.start()

    def _reserve_link(self, size: int, ready: float) -> float:
        """Book size bytes on the shared link; return when they have left it."""
        rate = self.shape.link_rate
        if not rate:
            return ready
        with self._lock:
            start = max(ready, self._link_free)
            self._link_free = start + size / rate
            return self._link_free

    def _count(self, reply: bool, data: bytes) -> None:
        with self._lock:
            if reply:
                self._traffic.reply_bytes += len(data)
                return
            self._traffic.request_bytes += len(data)
            for match in REQUEST_LINE.finditer(data):
                self._traffic.requests.append(
                    (match.group(1).decode(), match.group(2).decode("latin-1"))
                )

    def _forget(self, *socks) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                _close(sock)


class _Connection:
    """One proxied TCP connection: a delay line and shaper per direction."""

    def __init__(self, link: WanLink, client, server, opened: float):
        self.link = link
        self.client = client
        self.server = server
        self.opened = opened
        self.done = 0
        self.done_lock = threading.Lock()

    def start(self) -> None:
        for source, sink, reply in (
            (self.client, self.server, False),
            (self.server, self.client, True),
        ):
            line: queue.Queue = queue.Queue(QUEUE_CHUNKS)
            threading.Thread(
                target=self._read, args=(source, line), daemon=True
            ).start()
            threading.Thread(
                target=self._deliver, args=(line, sink, reply), daemon=True
            ).start()

    def _read(self, source, line: queue.Queue) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                line.put((time.monotonic(), data))
                if not data:
                    return
        except OSError:
            line.put((time.monotonic(), b""))

    def _deliver(self, line: queue.Queue, sink, reply: bool) -> None:
        first = True
        ended = False
        conn_free = 0.0
        try:
            while True:
                arrived, data = line.get()
                ended = not data
                shape = self.link.shape
                due = arrived
                if first and not reply:
                    # The handshakes happen before the first request can leave.
                    due = max(due, self.opened + shape.setup_rtts * shape.rtt)
                first = False
                due += shape.rtt / 2
                if not data:
                    _sleep_until(due)
                    sink.shutdown(socket.SHUT_WR)
                    break
                if reply:
                    if not self.link.flowing.is_set():
                        self.link.flowing.wait()
                        due = max(due, time.monotonic())
                    if shape.conn_rate:
                        conn_free = max(due, conn_free) + len(data) / shape.conn_rate
                        due = conn_free
                    due = self.link._reserve_link(len(data), due)
                _sleep_until(due)
                sink.sendall(data)
                self.link._count(reply, data)
        except OSError:
            # The other end is gone: close both sides, then let the reader
            # finish (it may be blocked on a full delay line).
            self.link._forget(self.client, self.server)
            while not ended:
                ended = not line.get()[1]
        finally:
            with self.done_lock:
                self.done += 1
                last = self.done == 2
            if last:
                self.link._forget(self.client, self.server)


def _sleep_until(moment: float) -> None:
    pause = moment - time.monotonic()
    if pause > 0:
        time.sleep(pause)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
