"""Shared fixtures: a real Podman service, a real registry, a state dir, rpcd."""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rpcd_harness import RpcdHarness, plugin_env
from stack import PodmanStack
from throttle import ThrottleProxy

ROOT = Path(__file__).resolve().parent.parent
# OpenWrt 25.12 ships Python 3.13; this machine kind has it under pyenv.
PYTHON313 = ["/root/.pyenv/versions/3.13.0/bin/python3", "python3.13"]


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.exit(f"{tool} is missing: run `make test` (it installs it)", 2)


@pytest.fixture(scope="session")
def stack():
    """A Podman API service with vfs storage and one loopback registry."""
    for tool in ("podman", "buildah", "skopeo", "docker-registry"):
        _require(tool)
    podman_stack = PodmanStack.create().start()
    yield podman_stack
    podman_stack.stop()


@pytest.fixture(scope="session")
def registry(stack):
    return stack.registries[0]


@pytest.fixture
def containers(stack):
    """Containers a test creates; all are removed after the test."""
    yield stack
    stack.remove_all_containers()


@pytest.fixture
def uid():
    """A short unique name part, so tests never share image names."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def state_dir():
    path = tempfile.mkdtemp(prefix="prst", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rpcd(stack, state_dir):
    """An rpcd stand-in wired to the real Podman and a fresh state dir."""
    return RpcdHarness(plugin_env(stack.socket, state_dir))


@pytest.fixture
def rpcd_env(stack, state_dir):
    return plugin_env(stack.socket, state_dir)


@pytest.fixture
def proxy(stack, registry):
    """A pausable, throttleable proxy in front of the registry.

    Images pushed to registry.host are pulled through it as proxy.host/...
    """
    throttle = ThrottleProxy(("127.0.0.1", registry.port), port=stack.proxy_ports[0])
    yield throttle
    throttle.close()


def _runs(python: str) -> bool:
    """True if python exists and starts (a pyenv shim may exist but refuse)."""
    if not os.path.exists(python):
        return False
    return subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def python313():
    """A Python 3.13 venv with the runtime pins, made once in .venv313."""
    found = [shutil.which(c) or c for c in PYTHON313]
    interpreter = next((p for p in found if _runs(p)), None)
    if interpreter is None:
        pytest.skip("no Python 3.13 on this machine")
    venv = ROOT / ".venv313"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + ["-r", str(ROOT / "requirements.txt")],
            check=True,
        )
    return str(python)
