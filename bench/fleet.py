"""The benchmark's containers and images, on the real Podman and registry.

Every image is built from random (incompressible) layers, pushed straight to
the registry, pulled once through the WAN by the Podman service and used by
one or more containers; for about half of them a newer version of the same
size is then pushed, so a check finds it. Between runs, reset() removes the
newer images from the service's storage (never a container), so every run
downloads the same bytes.
"""

import json
import subprocess
from dataclasses import dataclass, field

MB = 1_000_000

# How an image's bytes split over its layers, by layer count (largest first:
# a base image, then the application, then small config layers).
LAYER_SPLITS = {
    2: (0.6, 0.4),
    3: (0.45, 0.35, 0.2),
    4: (0.35, 0.3, 0.2, 0.15),
    5: (0.3, 0.25, 0.2, 0.15, 0.1),
}

# The 20 images of the expected-performance table: (compressed MB, layers).
# A row of N containers uses the first N; even positions get a newer
# version, so every row has about half updated, big and small ones mixed.
TABLE_IMAGES = [
    (12, 3), (4, 3), (36, 4), (7, 3), (3, 3),
    (20, 4), (9, 3), (2, 2), (24, 4), (14, 3),
    (6, 3), (40, 5), (16, 4), (5, 3), (28, 4),
    (10, 3), (2.5, 2), (32, 5), (18, 4), (8, 3),
]  # fmt: skip

# 11 containers sharing 5 images: (compressed MB, layers, containers, newer?).
SHARED_IMAGES = [(10, 3, 3, True), (4, 3, 2, False), (20, 4, 2, True),
                 (6, 3, 2, False), (2.5, 2, 2, False)]  # fmt: skip


@dataclass
class Image:
    """One repository: its layer sizes, its containers and both versions."""

    repo: str
    layers: tuple[int, ...]
    containers: list[str]
    updated: bool
    wan_ref: str = ""
    old_id: str = ""
    new_id: str = ""
    new_bytes: int = 0  # config + layers of the newer version
    blob_digests: set = field(default_factory=set)

    @property
    def size(self) -> int:
        return sum(self.layers)


def split(total_mb: float, layers: int, scale: float) -> tuple[int, ...]:
    """Layer sizes in bytes for an image of total_mb, scaled."""
    total = total_mb * MB * scale
    return tuple(int(total * part) for part in LAYER_SPLITS[layers])


def table_images(count: int, scale: float) -> list[Image]:
    return [
        Image(
            repo=f"app{index:02d}",
            layers=split(total, layers, scale),
            containers=[f"bench-app{index:02d}"],
            updated=index % 2 == 0,
        )
        for index, (total, layers) in enumerate(TABLE_IMAGES[:count])
    ]


def shared_images(scale: float) -> list[Image]:
    images = []
    for index, (total, layers, users, updated) in enumerate(SHARED_IMAGES):
        names = [f"bench-shr{index}-{user}" for user in range(users)]
        images.append(Image(f"shr{index}", split(total, layers, scale), names, updated))
    return images


class Fleet:
    """Deploys images and containers, and resets the service between runs."""

    def __init__(self, stack, wan_host: str, log=print):
        self.stack = stack
        self.push_host = stack.registries[0].host
        self.wan_host = wan_host
        self.log = log
        self.images: list[Image] = []

    def deploy(self, images: list[Image]) -> None:
        """Publish, pull and create containers; then push the newer versions."""
        for image in images:
            push_ref = f"{self.push_host}/{image.repo}:stable"
            image.wan_ref = f"{self.wan_host}/{image.repo}:stable"
            self.stack.publish(push_ref, sizes=image.layers, seed="v1")
            image.old_id = self.stack.pull(image.wan_ref)
            for name in image.containers:
                self.stack.create_container(name, image.wan_ref)
            if image.updated:
                image.new_id = self._publish_newer(push_ref, image.layers)
                manifest = self._manifest(push_ref)
                blobs = [manifest["config"], *manifest["layers"]]
                image.new_bytes = sum(blob["size"] for blob in blobs)
                image.blob_digests = {blob["digest"] for blob in blobs}
            # The builder's copies are no longer needed: keep the disk small.
            self.stack.podman("rmi", "-a", "-f", store="build", check=False)
            self.images.append(image)
            self.log(
                f"  {image.repo}: {image.size / MB:5.1f} MB in {len(image.layers)} "
                f"layers, {len(image.containers)} container(s)"
                + (", newer version pushed" if image.updated else "")
            )

    def _publish_newer(self, push_ref: str, layers: tuple[int, ...]) -> str:
        """Push a version with all-new layers to push_ref; return its id."""
        return self.stack.publish(push_ref, layers, seed="v2")

    def _manifest(self, ref: str) -> dict:
        out = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
            env=self.stack.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)

    def reset(self) -> int:
        """Remove every newer image from the service's storage; return how many."""
        newer = {image.new_id for image in self.images if image.new_id}
        present = {
            entry["Id"]
            for entry in json.loads(self.stack.podman("images", "--format", "json"))
        }
        removed = sorted(newer & present)
        if removed:
            self.stack.podman("rmi", *removed)
        return len(removed)

    def snapshot(self) -> list:
        """Every container and the image it uses: what a check must never change."""
        found = json.loads(self.stack.podman("ps", "-a", "--format", "json"))
        return sorted((c["Id"], c["Names"][0], c["ImageID"]) for c in found)
