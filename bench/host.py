"""What a benchmark ran on: the machine, the tools' versions, the code."""

import os
import platform
import re
import subprocess
import time


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else ""


def machine(interpreter: str, root: str) -> list[tuple[str, str]]:
    """What the figures ran on."""
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
    dirty = _run(["git", "-C", root, "status", "--porcelain", "--", "src", "files"])
    commit = _run(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        ("memory", f"{memory / 1024 / 1024:.1f} GiB"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("OS", _os_name()),
        ("Python (launchers)", _run([interpreter, "--version"])),
        ("Podman", _run(["podman", "--version"])),
        ("registry", _run(["docker-registry", "--version"])),
        (
            "code",
            f"commit {commit}"
            + (" + uncommitted changes in src/ or files/" if dirty else ""),
        ),
        ("date", time.strftime("%Y-%m-%d %H:%M %Z")),
    ]


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            found = re.search(r'PRETTY_NAME="([^"]+)"', handle.read())
        return found.group(1) if found else "?"
    except OSError:
        return "?"
