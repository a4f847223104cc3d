"""Shared fixtures: a real Podman service, a real registry, a state dir, rpcd."""

import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rpcd_harness import RpcdHarness, plugin_env
from stack import PodmanStack
from throttle import ThrottleProxy


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
