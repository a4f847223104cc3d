#!/usr/bin/env python3
"""Build this feed's .ipk files without the OpenWrt SDK (standard library only).

  python openwrt-package/build_ipk.py --out dist
  python openwrt-package/build_ipk.py --install /some/root

Names, versions, DEPENDS, descriptions, conffiles, maintainer scripts and the
requests-unixsocket filespec are read from the feed Makefiles next to this
file, so they are written once. What each package installs is the `LAYOUT`
table below: whole folders of the checkout, so new files in them are picked
up without edits. The .ipk format is what OpenWrt 24.10's ipkg-build writes
and its opkg reads: a gzipped tar of ./debian-binary, ./data.tar.gz and
./control.tar.gz (GNU format, owner 0:0, sorted names), with the SDK's
postinst/prerm wrappers that hand over to /lib/functions.sh.
"""

import argparse
import gzip
import importlib.metadata
import io
import os
import py_compile
import re
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FEED_DIR = Path(__file__).resolve().parent
PROJECT_DIR = FEED_DIR.parent
TARGET_PYTHON = "3.11"  # OpenWrt 24.10, the last release that uses opkg
SCRIPT_NAMES = ("preinst", "postinst", "prerm", "postrm")


class BuildError(Exception):
    """A Makefile, a source folder or the running Python is not as expected."""


# -- the feed Makefiles ------------------------------------------------------


@dataclass
class Makefile:
    """The parts of an OpenWrt package Makefile this builder understands."""

    path: Path
    variables: dict[str, str]
    blocks: dict[str, str]
    built: list[str]

    def expand(self, text: str, extra: dict[str, str], where: str) -> str:
        """Replace $(VAR) with this Makefile's (or extra) values."""

        def value(match: re.Match) -> str:
            name = match.group(1)
            if name in extra:
                return extra[name]
            if name in self.variables:
                return self.expand(self.variables[name], extra, where)
            raise BuildError(f"{self.path}: {where} uses $({name}), unknown here")

        return re.sub(r"\$\(([A-Za-z0-9_]+)\)", value, text)


def read_makefile(path: Path) -> Makefile:
    """Collect top-level `VAR:=value` lines, `define` blocks, BuildPackage calls."""
    variables: dict[str, str] = {}
    blocks: dict[str, str] = {}
    built: list[str] = []
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    pending = ""
    for raw in lines:
        if raw.startswith("define "):
            name, body = raw[len("define ") :].strip(), []
            for inner in lines:
                if inner == "endef":
                    break
                body.append(inner)
            else:
                raise BuildError(f"{path}: define {name} has no endef")
            blocks[name] = "\n".join(body)
            continue
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        built += re.findall(r"\$\(call BuildPackage,([^)]+)\)", line)
        assignment = re.match(r"([A-Za-z0-9_]+)\s*([:?]?=)\s*(.*)$", line)
        if assignment:
            name, operator, value = assignment.groups()
            if operator != "?=" or name not in variables:
                variables[name] = value.strip()
    return Makefile(path, variables, blocks, built)


def _script(makefile: Makefile, block: str) -> str:
    """A maintainer script block as the shell sees it ($$ is make's $)."""
    text = makefile.blocks[block]
    if re.search(r"\$[({]", text.replace("$$", "")):
        raise BuildError(f"{makefile.path}: {block} uses make variables")
    return text.replace("$$", "$").strip("\n") + "\n"


def _package_fields(makefile: Makefile, name: str) -> dict[str, str]:
    fields = {}
    block = makefile.blocks[f"Package/{name}"]
    for line in block.replace("\\\n", " ").splitlines():  # make's continuations
        if not line.strip():
            continue
        match = re.match(r"\s+([A-Z_]+):=(.*)$", line)
        if not match:
            raise BuildError(f"{makefile.path}: cannot read {line!r} of {name}")
        fields[match.group(1)] = " ".join(match.group(2).split())
    return fields


def _depends(spec: str, where: str) -> list[str]:
    """Turn DEPENDS (+pkg, @SYMBOL) into control file package names."""
    names = []
    for token in spec.split():
        if token.startswith("@"):
            continue  # a menuconfig condition, not a package
        if ":" in token:
            raise BuildError(f"{where}: conditional dependency {token} unsupported")
        names.append(token.removeprefix("+"))
    return names


@dataclass
class Package:
    """One binary package of the feed, as its Makefile declares it."""

    name: str
    makefile: Makefile
    version: str
    depends: list[str]
    fields: dict[str, str]
    description: str
    conffiles: list[str]
    scripts: dict[str, str] = field(default_factory=dict)

    @property
    def arch(self) -> str:
        return self.fields.get("PKGARCH", "all")

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_{self.arch}.ipk"


def load_feed(feed_dir: Path = FEED_DIR) -> dict[str, Package]:
    """Every package the feed's Makefiles build (not the -src splits)."""
    packages = {}
    for path in sorted(feed_dir.glob("*/Makefile")):
        makefile = read_makefile(path)
        for name in makefile.built:
            if f"Package/{name}" not in makefile.blocks:
                continue  # Py3Package's -src split: sources for the SDK only
            packages[name] = _load_package(makefile, name)
    return packages


def _load_package(makefile: Makefile, name: str) -> Package:
    variables = makefile.variables
    version = variables["PKG_VERSION"]
    if variables.get("PKG_RELEASE"):
        # 24.10's package-defaults.mk: VERSION = PKG_VERSION-rPKG_RELEASE
        version += f"-r{variables['PKG_RELEASE']}"
    fields = _package_fields(makefile, name)
    where = f"{makefile.path} Package/{name}"
    description = makefile.blocks.get(f"Package/{name}/description", "")
    conffiles = makefile.blocks.get(f"Package/{name}/conffiles", "").split()
    scripts = {
        script: _script(makefile, f"Package/{name}/{script}")
        for script in SCRIPT_NAMES
        if f"Package/{name}/{script}" in makefile.blocks
    }
    return Package(
        name=name,
        makefile=makefile,
        version=version,
        # package-defaults.mk adds +libc to every package but kernel modules
        depends=["libc", *_depends(fields.get("DEPENDS", ""), where)],
        fields=fields,
        description=makefile.expand(description, {}, f"{name} description"),
        conffiles=conffiles,
        scripts=scripts,
    )


# -- what each package installs ----------------------------------------------


@dataclass(frozen=True)
class Tree:
    """Every file below a checkout folder, installed below a router folder.

    `target` may start with {site}, the router's site-packages; `python`
    marks a Python package, byte-compiled like the feed's Py3Package does.
    """

    source: str
    target: str
    mode: int
    python: bool = False


# Mirrors the install recipes of the Makefiles (tests/test_packaging.py
# checks that both name the same folders). Modes: INSTALL_BIN 0755,
# INSTALL_DATA 0644, INSTALL_CONF 0600 (UCI files are root-only on OpenWrt).
LAYOUT = {
    "podman-rpcd": [
        Tree("src/podman_rpcd", "{site}/podman_rpcd", 0o644, python=True),
        Tree("files/usr/libexec/rpcd", "/usr/libexec/rpcd", 0o755),
        Tree("files/etc/config", "/etc/config", 0o600),
    ],
    "luci-app-podman-updates": [
        Tree("files/www", "/www", 0o644),
        Tree("files/usr/share/rpcd/acl.d", "/usr/share/rpcd/acl.d", 0o644),
        Tree("files/usr/share/luci/menu.d", "/usr/share/luci/menu.d", 0o644),
    ],
}

# Python packages taken from the running Python instead (the venv that
# `make venv` fills from requirements.txt), through the Makefile's filespec.
FROM_RUNNING_PYTHON = {"python3-requests-unixsocket": "requests-unixsocket"}

# pip's records of the install into the venv, not part of the package.
PIP_RECORDS = ("RECORD", "direct_url.json")


@dataclass(frozen=True)
class Entry:
    """One file of a package: where it goes on the router and where it is now."""

    target: str
    mode: int
    source: Path
    python: bool = False


def site_packages(python_version: str) -> str:
    return f"/usr/lib/python{python_version}/site-packages"


def _skipped(path: Path) -> bool:
    """Editor and Python leftovers that never belong in a package."""
    return (
        path.name.startswith(".")
        or path.name.endswith("~")
        or path.name == "__pycache__"
        or path.suffix == ".pyc"
    )


def _tree_entries(tree: Tree, site: str, project_dir: Path) -> list[Entry]:
    root = project_dir / tree.source
    if not root.is_dir():
        raise BuildError(f"{tree.source} is missing (packaged to {tree.target})")
    target = tree.target.replace("{site}", site)
    entries = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(_skipped(Path(part)) for part in relative.parts):
            continue
        if path.is_symlink():
            raise BuildError(f"{path} is a symlink; package a real file")
        if path.is_file():
            entries.append(
                Entry(f"{target}/{relative.as_posix()}", tree.mode, path, tree.python)
            )
    if not entries:
        raise BuildError(f"{tree.source} has no files (packaged to {tree.target})")
    return entries


def _filespec(package: Package, site: str) -> list[tuple[str, str]]:
    """The Py3Package filespec as (operation, router path) pairs."""
    block = package.makefile.blocks.get(
        f"Py3Package/{package.name}/filespec", "+|$(PYTHON3_PKG_DIR)"
    )
    text = package.makefile.expand(block, {"PYTHON3_PKG_DIR": site}, "filespec")
    spec = []
    for line in text.split():
        operation, _, path = line.partition("|")
        if operation not in "+-" or not path.startswith("/"):
            raise BuildError(f"{package.makefile.path}: bad filespec line {line!r}")
        spec.append((operation, path.rstrip("/")))
    return spec


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _distribution_entries(package: Package, site: str) -> list[Entry]:
    """Files of an installed distribution, chosen by the package's filespec."""
    project = FROM_RUNNING_PYTHON[package.name]
    try:
        dist = importlib.metadata.distribution(project)
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            f"{project} is not installed in {sys.executable}; "
            "run this with the venv's Python (make venv)"
        ) from None
    wanted = package.makefile.variables["PKG_VERSION"]
    if dist.version != wanted:
        raise BuildError(
            f"{sys.executable} has {project} {dist.version}, "
            f"{package.makefile.path} packages {wanted}"
        )
    spec = _filespec(package, site)
    entries = []
    for file in sorted(dist.files or [], key=str):
        target = f"{site}/{file.as_posix()}"
        included = False
        for operation, folder in spec:
            if _under(target, folder):
                included = operation == "+"
        if (
            not included
            or any(_skipped(Path(part)) for part in Path(file).parts)
            or (file.parent.name.endswith(".dist-info") and file.name in PIP_RECORDS)
        ):
            continue
        entries.append(
            Entry(target, 0o644, Path(dist.locate_file(file)), file.suffix == ".py")
        )
    return entries


def package_entries(
    package: Package,
    python_version: str = TARGET_PYTHON,
    project_dir: Path = PROJECT_DIR,
) -> list[Entry]:
    """Every data file of a package, sorted by router path."""
    site = site_packages(python_version)
    if package.name in FROM_RUNNING_PYTHON:
        entries = _distribution_entries(package, site)
    elif package.name in LAYOUT:
        entries = [
            entry
            for tree in LAYOUT[package.name]
            for entry in _tree_entries(tree, site, project_dir)
        ]
    else:
        raise BuildError(f"{package.name}: no LAYOUT entry says what it installs")
    targets = [entry.target for entry in entries]
    if len(set(targets)) != len(targets):
        raise BuildError(f"{package.name}: two files go to the same router path")
    return sorted(entries, key=lambda entry: entry.target)


def _compiled(entry: Entry) -> tuple[str, bytes]:
    """Byte-compile like the feed (compileall -b -d /): foo.pyc beside where
    foo.py would be, sources left out. Hash-based, so builds are reproducible."""
    with tempfile.TemporaryDirectory() as work:
        output = Path(work) / "module.pyc"
        py_compile.compile(
            str(entry.source),
            cfile=str(output),
            dfile=entry.target,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return entry.target.removesuffix(".py") + ".pyc", output.read_bytes()


def data_files(entries: list[Entry], compile_python: bool) -> dict[str, tuple]:
    """Router path -> (mode, bytes) of what actually lands on the router."""
    files = {}
    for entry in entries:
        if compile_python and entry.python:
            target, content = _compiled(entry)
        else:
            target, content = entry.target, entry.source.read_bytes()
        files[target] = (entry.mode, content)
    return dict(sorted(files.items()))


# -- the .ipk ----------------------------------------------------------------


# The SDK's postinst and prerm: /lib/functions.sh's default_postinst and
# default_prerm run <package>.postinst-pkg / .prerm-pkg (the Makefile's
# scripts), handle uci-defaults and init scripts, and skip an offline root.
POSTINST_WRAPPER = """\
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
"""
PRERM_WRAPPER = """\
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
"""


def control_text(package: Package, installed_size: int, epoch: int) -> str:
    """The control file, fields in package-pack.mk's order."""
    fields = package.fields
    variables = package.makefile.variables
    lines = [
        ("Package", package.name),
        ("Version", package.version),
        ("Depends", ", ".join(package.depends)),
        ("Source", package.makefile.path.parent.relative_to(PROJECT_DIR).as_posix()),
        ("SourceName", variables["PKG_NAME"]),
        ("License", variables.get("PKG_LICENSE", "")),
        ("LicenseFiles", variables.get("PKG_LICENSE_FILES", "")),
        ("Section", fields.get("SECTION", "")),
        ("SourceDateEpoch", str(epoch)),
        ("URL", fields.get("URL", "")),
        ("Maintainer", variables.get("PKG_MAINTAINER", "")),
        ("Architecture", package.arch),
        ("Installed-Size", str(installed_size)),
    ]
    text = "".join(f"{key}: {value}\n" for key, value in lines if value)
    description = package.description.strip("\n").splitlines() or [
        fields.get("TITLE", package.name)
    ]
    # The SDK indents every description line by one space (continuation lines).
    return text + "Description: " + "".join(f" {ln.strip()}\n" for ln in description)


def control_files(package: Package, data_paths: set[str]) -> dict[str, tuple]:
    """Name -> (mode, bytes) of control.tar.gz, without the control file."""
    missing = [path for path in package.conffiles if path not in data_paths]
    if missing:
        raise BuildError(f"{package.name}: conffiles not in the package: {missing}")
    files = {
        "postinst": (0o755, POSTINST_WRAPPER.encode()),
        "prerm": (0o755, PRERM_WRAPPER.encode()),
    }
    if package.conffiles:
        text = "".join(f"{path}\n" for path in sorted(package.conffiles))
        files["conffiles"] = (0o644, text.encode())
    for script, text in package.scripts.items():
        name = f"{script}-pkg" if script in ("postinst", "prerm") else script
        files[name] = (0o755, text.encode())
    return files


def _gzip_tar(members: list[tuple[str, int, bytes | None]], epoch: int) -> bytes:
    """gzip -n of a GNU tar with these (name, mode, content) members in order,
    owner 0:0 without names (tar --numeric-owner); content None is a folder."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", filename="", mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name, mode, content in members:
                info = tarfile.TarInfo(name)
                info.mode, info.mtime, info.uid, info.gid = mode, epoch, 0, 0
                if content is None:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tree_tar_gz(files: dict[str, tuple], epoch: int) -> bytes:
    """Files as ./-relative members with their parent folders, in the order
    of ipkg-build's `tar --sort=name -c .` (depth first, names sorted)."""
    members = {"./": (0o755, None)}
    for path, (mode, content) in files.items():
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            members["./" + "/".join(parts[:depth]) + "/"] = (0o755, None)
        members["./" + "/".join(parts)] = (mode, content)
    order = sorted(members, key=lambda name: name.rstrip("/").split("/"))
    return _gzip_tar([(name, *members[name]) for name in order], epoch)


def _epoch(package: Package, entries: list[Entry]) -> int:
    """SOURCE_DATE_EPOCH if set, else the newest input: same tree, same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    sources = [entry.source for entry in entries] + [package.makefile.path]
    return max(int(path.stat().st_mtime) for path in sources)


def build_ipk(
    package: Package, entries: list[Entry], out_dir: Path, compile_python: bool
) -> Path:
    """Write one .ipk of these entries into out_dir and return its path."""
    epoch = _epoch(package, entries)
    files = data_files(entries, compile_python)
    data = tree_tar_gz(files, epoch)
    control = control_files(package, set(files))
    size = len(gzip.decompress(data))  # ipkg-build: zcat data.tar.gz | wc -c
    control["control"] = (0o644, control_text(package, size, epoch).encode())
    ipk = _gzip_tar(
        [
            ("./debian-binary", 0o644, b"2.0\n"),
            ("./data.tar.gz", 0o644, data),
            ("./control.tar.gz", 0o644, tree_tar_gz(control, epoch)),
        ],
        epoch,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / package.filename
    path.write_bytes(ipk)
    return path


def install(entries: list[Entry], dest_dir: Path, compile_python: bool) -> list[Path]:
    """Lay a package's data files into dest_dir; return the written paths."""
    written = []
    for target, (mode, content) in data_files(entries, compile_python).items():
        path = dest_dir / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
        written.append(path)
    return written


# -- command line --------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", type=Path, help="write the .ipk files here")
    action.add_argument("--install", metavar="DESTDIR", help="lay the files out here")
    parser.add_argument(
        "--package", action="append", help="only this package (repeatable)"
    )
    parser.add_argument(
        "--python-version",
        default=TARGET_PYTHON,
        help=f"the router's Python, for site-packages (default {TARGET_PYTHON})",
    )
    args = parser.parse_args(argv)

    try:
        feed = load_feed()
        names = args.package or sorted(feed)
        unknown = sorted(set(names) - set(feed))
        if unknown:
            raise BuildError(f"not in the feed: {', '.join(unknown)}")
        # .pyc files only load on the Python minor version that wrote them.
        running = "{}.{}".format(*sys.version_info[:2])
        compile_python = args.python_version == running
        if not compile_python:
            print(
                f"note: this is Python {running}, the router's is "
                f"{args.python_version}: shipping .py sources, not byte code",
                file=sys.stderr,
            )
        if args.install == "":
            raise BuildError("--install needs a directory (DESTDIR is empty)")
        # Gather every package's files first: a missing folder or library
        # then stops the build before anything is written.
        entries = {
            name: package_entries(feed[name], args.python_version) for name in names
        }
        for name in names:
            if args.out is not None:
                path = build_ipk(feed[name], entries[name], args.out, compile_python)
                print(f"{path} ({path.stat().st_size} bytes)")
            else:
                written = install(entries[name], Path(args.install), compile_python)
                print(f"{name}: {len(written)} files into {args.install}")
    except BuildError as exc:
        print(f"build_ipk: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
