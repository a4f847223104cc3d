"""podman-rpcd: rpcd exec plugins that check Podman containers for newer images."""

__version__ = "0.1.0"
