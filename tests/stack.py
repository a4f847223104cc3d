"""Real Podman service and registry on loopback, for tests, the demo and benchmarks.

Everything lives below one temporary directory: a Podman service with its own
vfs storage and a short unix socket path, a separate "builder" storage that
makes and pushes images (so the service only has what it pulled), and
docker-registry instances that the service trusts as insecure.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_FLAGS = ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]

CONTAINERS_CONF = """\
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
netns = "none"
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll predicate until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def dead_pid() -> int:
    """A pid whose process has certainly exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Registry:
    """A docker-registry on 127.0.0.1 with deletes enabled."""

    root: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Registry":
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        log = open(self.root / "registry.log", "ab")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_until(lambda: _port_open("127.0.0.1", self.port), 15, "registry")
        return self

    def stop(self) -> None:
        if self.proc:
            _stop(self.proc)
            self.proc = None


@dataclass
class PodmanStack:
    """One Podman API service plus a builder storage and registries."""

    root: Path
    registries: list[Registry] = field(default_factory=list)
    extra_insecure: list[str] = field(default_factory=list)
    # Loopback ports reserved for ThrottleProxy instances, trusted as insecure
    # registries from the start (Podman caches registries.conf).
    proxy_ports: list[int] = field(default_factory=list)
    service: subprocess.Popen | None = None

    @classmethod
    def create(cls, insecure_hosts: list[str] | None = None) -> "PodmanStack":
        """Make a stack in a fresh short temp dir (socket paths must stay short)."""
        root = Path(tempfile.mkdtemp(prefix="prs", dir="/tmp"))
        stack = cls(root=root, extra_insecure=list(insecure_hosts or []))
        return stack

    # -- environment ---------------------------------------------------------

    @property
    def socket(self) -> str:
        return str(self.root / "p.sock")

    @property
    def env(self) -> dict:
        """Environment that points podman CLI tools at this stack's config."""
        env = dict(os.environ)
        env["CONTAINERS_REGISTRIES_CONF"] = str(self.root / "registries.conf")
        env["CONTAINERS_CONF"] = str(self.root / "containers.conf")
        env.pop("CONTAINER_HOST", None)
        return env

    def _write_config(self) -> None:
        hosts = [r.host for r in self.registries] + self.extra_insecure
        hosts += [f"127.0.0.1:{port}" for port in self.proxy_ports]
        lines = ["unqualified-search-registries = []", ""]
        for host in hosts:
            lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
        (self.root / "registries.conf").write_text("\n".join(lines))
        (self.root / "containers.conf").write_text(CONTAINERS_CONF)

    # -- lifecycle -----------------------------------------------------------

    def start(self, registries: int = 1, proxies: int = 2) -> "PodmanStack":
        for index in range(registries):
            self.registries.append(Registry(self.root / f"reg{index}").start())
        self.proxy_ports = [free_port() for _ in range(proxies)]
        self._write_config()
        log = open(self.root / "service.log", "ab")
        self.service = subprocess.Popen(
            self._podman_argv("srv")
            + ["system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_until(self._service_ready, 30, "podman service")
        return self

    def _service_ready(self) -> bool:
        if self.service and self.service.poll() is not None:
            raise RuntimeError(
                "podman service exited: "
                + (self.root / "service.log").read_text()[-2000:]
            )
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(self.socket)
                sock.sendall(b"GET /v4.0.0/libpod/_ping HTTP/1.0\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.")
        except OSError:
            return False

    def stop(self) -> None:
        if self.service:
            _stop(self.service)
            self.service = None
        for registry in self.registries:
            registry.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- podman CLI on the service's storage or the builder's ----------------

    def _podman_argv(self, store: str) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.root / store / "root"),
            "--runroot",
            str(self.root / store / "run"),
            *BASE_FLAGS,
        ]

    def podman(self, *args: str, store: str = "srv", check: bool = True) -> str:
        """Run the podman CLI on the service's storage (or "build")."""
        proc = subprocess.run(
            self._podman_argv(store) + list(args),
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode:
            raise RuntimeError(f"podman {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    # -- images --------------------------------------------------------------

    def build_image(
        self, ref: str, sizes: tuple[int, ...] = (4096,), seed: str = ""
    ) -> str:
        """Build an image with one random (incompressible) layer per size.

        The image lives in the builder storage only; returns its id.
        """
        work = Path(tempfile.mkdtemp(dir=self.root))
        try:
            parent = None
            for index, size in enumerate(sizes):
                layer = work / f"layer{index}"
                layer.mkdir()
                payload = layer / f"blob{index}"
                with open(payload, "wb") as out:
                    out.write(f"{ref} {seed} {index}\n".encode())
                    out.write(os.urandom(size))
                tarball = work / f"layer{index}.tar"
                subprocess.run(
                    ["tar", "-C", str(layer), "-cf", str(tarball), "."], check=True
                )
                if parent is None:
                    image_id = self.podman(
                        "import", "-q", str(tarball), ref, store="build"
                    )
                else:
                    image_id = self._add_layer(parent, tarball, ref)
                parent = ref
            return image_id.removeprefix("sha256:")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _add_layer(self, parent: str, tarball: Path, ref: str) -> str:
        argv = [
            "buildah",
            "--root",
            str(self.root / "build" / "root"),
            "--runroot",
            str(self.root / "build" / "run"),
            "--storage-driver",
            "vfs",
        ]
        run = {"env": self.env, "capture_output": True, "text": True, "check": True}
        # --pull=never: the parent is the layer just built here; the default
        # would fetch the registry's older image of the same name instead.
        work = subprocess.run(
            argv + ["from", "-q", "--pull=never", parent], **run
        ).stdout.strip()
        try:
            subprocess.run(argv + ["add", work, str(tarball), "/"], **run)
            out = subprocess.run(argv + ["commit", "-q", work, ref], **run)
            return out.stdout.strip()
        finally:
            subprocess.run(argv + ["rm", work], **run)

    def push(self, ref: str) -> None:
        """Push ref from the builder storage to its registry."""
        self.podman("push", "-q", "--tls-verify=false", ref, store="build")

    def publish(self, ref: str, sizes: tuple[int, ...] = (4096,), seed="") -> str:
        """Build and push ref; returns the image id."""
        image_id = self.build_image(ref, sizes, seed)
        self.push(ref)
        return image_id

    def registry_digest(self, ref: str) -> str:
        """The manifest digest the registry serves for ref."""
        out = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)["Digest"]

    def delete_upstream(self, ref: str) -> None:
        """Delete ref's manifest from its registry (a tag removed upstream)."""
        subprocess.run(
            ["skopeo", "delete", "--tls-verify=false", f"docker://{ref}"],
            env=self.env,
            capture_output=True,
            check=True,
        )

    def pull(self, ref: str) -> str:
        """Pull ref into the service's storage; returns the image id."""
        self.podman("pull", "-q", "--tls-verify=false", ref)
        return self.podman("image", "inspect", "--format", "{{.Id}}", ref)

    def create_container(self, name: str, image: str) -> str:
        """Create (never start) a container; returns its id."""
        # Test images have no CMD; the command is never run.
        return self.podman("create", "--name", name, "--network", "none", image, "/app")

    def remove_all_containers(self) -> None:
        self.podman("rm", "-a", "-f", check=False)
