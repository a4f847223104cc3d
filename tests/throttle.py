"""A TCP proxy on loopback that slows, pauses or cuts what a registry sends.

Stands between Podman and a real registry, so tests can hold a pull in the
middle (deterministically, no timing guesses), make one slow enough to
outlive rpcd's timeout, or make the registry vanish mid-pull.
"""

import socket
import threading
import time

CHUNK = 16 * 1024


class ThrottleProxy:
    """Forward 127.0.0.1:<port> to upstream, with controls on the reply side."""

    def __init__(
        self, upstream: tuple[str, int], rate: float | None = None, port: int = 0
    ):
        self.upstream = upstream
        self.rate = rate  # bytes per second per connection, None = unlimited
        self.flowing = threading.Event()
        self.flowing.set()
        self.bytes_sent = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hold(self) -> None:
        """Stop forwarding registry replies until release()."""
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        """Drop every connection and refuse new ones: the registry is gone."""
        self._closed = True
        # shutdown() wakes the thread blocked in accept(); close() alone
        # would leave the port listening until that call returns.
        _close(self._listener)
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()
        self.flowing.set()

    close = cut

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
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            threading.Thread(
                target=self._pump, args=(client, server), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, True), daemon=True
            ).start()

    def _pump(self, source, sink, reply_side: bool = False) -> None:
        started = time.monotonic()
        sent = 0
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                if reply_side:
                    self.flowing.wait()
                    if self._closed:
                        break
                    if self.rate:
                        # Token bucket: wait until this chunk fits the rate.
                        due = started + (sent + len(data)) / self.rate
                        pause = due - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                sink.sendall(data)
                sent += len(data)
                if reply_side:
                    with self._lock:
                        self.bytes_sent += len(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
