"""Image references: what can be pulled, and which containers need no pull."""

import pytest

from podman_rpcd import reference
from podman_rpcd.errors import InvalidArgument

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("docker.io/library/nginx:latest", None),
        ("ghcr.io/home-assistant/home-assistant:stable", None),
        ("127.0.0.1:5000/app:1", None),
        ("localhost:5000/app:1", None),
        ("nginx", None),
        ("library/nginx:1.25", None),
        (f"docker.io/pihole/pihole@{DIGEST}", reference.PINNED),
        (f"quay.io/x/y:1@{DIGEST}", reference.PINNED),
        ("localhost/mybuild:latest", reference.LOCAL_ONLY),
        ("sha256:" + "0f" * 32, reference.LOCAL_ONLY),
        ("0f" * 32, reference.LOCAL_ONLY),
        ("Not A Reference", reference.LOCAL_ONLY),
    ],
)
def test_classify(ref, expected):
    assert reference.classify(ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "docker.io/library/nginx:latest",
        "127.0.0.1:5000/app:1",
        f"docker.io/pihole/pihole@{DIGEST}",
        "[::1]:5000/app:v1.2",
    ],
)
def test_pullable_accepts(ref):
    assert reference.pullable(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "",
        None,
        42,
        ["nginx"],
        "../../etc/passwd",
        "/etc/passwd",
        "nginx:latest; rm -rf /",
        "NGINX",
        "a" * 600,
        "sha256:" + "0f" * 32,
        "0f" * 32,
        "-nginx",
        "nginx:",
        "nginx@sha256:short",
        "127.0.0.1:1/a:\u0663\u0664",
        "example.org/app:t\u00e4g",
    ],
)
def test_pullable_refuses(ref):
    with pytest.raises(InvalidArgument):
        reference.pullable(ref)
