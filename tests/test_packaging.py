"""OpenWrt packaging: the .ipk files install as opkg installs them, the installed
launchers answer from that root, and the packages declare what the code needs."""

import ast
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from rpcd_harness import ROOT, RpcdHarness, plugin_env

BUILD_IPK = ROOT / "openwrt-package" / "build_ipk.py"


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_ipk", BUILD_IPK)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_ipk"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


builder = _load_builder()

# OpenWrt's python3 split packages for Python 3.11 (OpenWrt 24.10): the module
# each lang/python/python3/files/python3-package-*.mk in openwrt/packages takes
# out of python3-light (a package folder, a module, or a lib-dynload
# extension). Whatever else the standard library has is in python3-light
# (lang/python/python3/Makefile: the rest of /usr/lib/python3.11).
STDLIB_SPLIT = {
    "asyncio": "python3-asyncio",
    "cgi": "python3-cgi",
    "cgitb": "python3-cgitb",
    # python3-codecs: unicodedata and the CJK codecs
    "unicodedata": "python3-codecs",
    "_codecs_cn": "python3-codecs",
    "_codecs_hk": "python3-codecs",
    "_codecs_iso2022": "python3-codecs",
    "_codecs_jp": "python3-codecs",
    "_codecs_kr": "python3-codecs",
    "_codecs_tw": "python3-codecs",
    "ctypes": "python3-ctypes",
    "_ctypes": "python3-ctypes",
    "dbm": "python3-dbm",
    "_dbm": "python3-dbm",
    "_gdbm": "python3-dbm",
    "decimal": "python3-decimal",
    "_decimal": "python3-decimal",
    "distutils": "python3-distutils",
    "email": "python3-email",
    "lib2to3": "python3-lib2to3",
    "logging": "python3-logging",
    "lzma": "python3-lzma",
    "_lzma": "python3-lzma",
    "multiprocessing": "python3-multiprocessing",
    "_multiprocessing": "python3-multiprocessing",
    "curses": "python3-ncurses",
    "_curses": "python3-ncurses",
    "_curses_panel": "python3-ncurses",
    # ssl.py stays in python3-light but cannot import without _ssl; hashlib
    # falls back to its built-in hashes without _hashlib.
    "_ssl": "python3-openssl",
    "_hashlib": "python3-openssl",
    "doctest": "python3-pydoc",
    "pydoc": "python3-pydoc",
    "pydoc_data": "python3-pydoc",
    "readline": "python3-readline",
    "sqlite3": "python3-sqlite3",
    "_sqlite3": "python3-sqlite3",
    "unittest": "python3-unittest",
    "urllib": "python3-urllib",
    "uuid": "python3-uuid",
    "_uuid": "python3-uuid",
    "ensurepip": "python3-venv",
    "venv": "python3-venv",
    "webbrowser": "python3-webbrowser",
    "xml": "python3-xml",
    "xmlrpc": "python3-xml",
    "_elementtree": "python3-xml",
    "pyexpat": "python3-xml",
}
# The DEPENDS of those .mk files among split packages ("python3": all of them).
SPLIT_DEPENDS = {
    "python3-urllib": {"python3-email"},
    "python3-cgi": {"python3-email"},
    "python3-cgitb": {"python3-cgi", "python3-pydoc"},
    "python3-distutils": {"python3-email"},
    "python3-lib2to3": {"python3"},
    "python3-venv": {"python3"},
}
# Left out of every OpenWrt package (python3/Makefile, configure flags).
NOT_ON_OPENWRT = {"idlelib", "tkinter", "_tkinter", "turtledemo", "_osx_support", "nis"}

# Third-party modules -> the feed package that has them; what those packages
# depend on in the feed (lang/python/python-requests/Makefile).
THIRD_PARTY = {
    "requests": "python3-requests",
    "requests_unixsocket": "python3-requests-unixsocket",
    "urllib3": "python3-urllib3",
}
FEED_PYTHON_DEPENDS = {
    "python3-requests": {
        "python3-urllib3",
        "python3-idna",
        "python3-certifi",
        "python3-chardet",
    },
}

# Packages the router gets from OpenWrt's own feeds (base, packages, luci).
OPENWRT_PACKAGES = {
    "libc",
    "python3-light",
    "python3-requests",
    "podman",
    "rpcd",
    "luci-base",
    *STDLIB_SPLIT.values(),
}
# Dependencies that are not Python: the rest are checked against the imports.
SYSTEM_DEPENDS = {
    "podman-rpcd": {"libc", "podman", "rpcd"},
    "python3-requests-unixsocket": {"libc"},
    "luci-app-podman-updates": {"libc", "luci-base", "podman-rpcd"},
}


# -- building and installing like opkg ---------------------------------------


def run_builder(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(BUILD_IPK), *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def feed():
    return builder.load_feed()


@pytest.fixture(scope="module")
def ipks(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run_builder("--out", str(out))
    return {read_ipk(path).control["Package"]: path for path in out.glob("*.ipk")}


def parse_control(text: str) -> dict[str, str]:
    """Debian-style fields; continuation lines start with a space."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line[1:]
            continue
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9-]*): ?(.*)", line)
        assert match, f"not a control field line: {line!r}"
        key, value = match.groups()
        assert key not in fields, f"{key} twice"
        fields[key] = value
    return fields


# Maintainer scripts in control.tar.gz: the SDK's wrappers, the Makefile's own.
SCRIPT_FILES = {"preinst", "postinst", "postinst-pkg", "prerm", "prerm-pkg", "postrm"}


@dataclass
class Ipk:
    control: dict[str, str]
    scripts: dict[str, tarfile.TarInfo]
    control_files: dict[str, bytes]
    data: dict[str, tuple[tarfile.TarInfo, bytes | None]]
    data_size: int


def _members(blob: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    members = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for info in tar.getmembers():
            assert info.isfile() or info.isdir(), f"{info.name}: not a file or dir"
            assert info.uid == 0 and info.gid == 0, f"{info.name}: not owned by root"
            path = info.name
            assert path == "." or path.startswith("./"), path
            assert ".." not in path.split("/"), path
            content = tar.extractfile(info).read() if info.isfile() else None
            members[path] = (info, content)
    return members


def read_ipk(path: Path) -> Ipk:
    """Open an .ipk as OpenWrt's opkg does: gzipped tar of three members."""
    with tarfile.open(path, mode="r:gz") as outer:
        names = outer.getnames()
        assert names == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
        blobs = {name: outer.extractfile(name).read() for name in names}
    assert blobs["./debian-binary"] == b"2.0\n"
    control = _members(blobs["./control.tar.gz"])
    files = {n[2:]: c for n, (_, c) in control.items() if c is not None}
    return Ipk(
        control=parse_control(files["control"].decode()),
        scripts={n[2:]: i for n, (i, _) in control.items() if n[2:] in SCRIPT_FILES},
        control_files=files,
        data=_members(blobs["./data.tar.gz"]),
        data_size=len(gzip.decompress(blobs["./data.tar.gz"])),
    )


# Stand-in for the router's /lib/functions.sh: the two functions the SDK's
# postinst/prerm wrappers call, finding <package>.<script>-pkg as OpenWrt's do.
FUNCTIONS_SH = """\
default_postinst() {
	pkgname=$(basename "${1%.*}")
	echo "postinst $pkgname" >> "$IPKG_INSTROOT/scripts.log"
	script="$IPKG_INSTROOT/usr/lib/opkg/info/$pkgname.postinst-pkg"
	[ ! -f "$script" ] || ( . "$script" )
}
default_prerm() {
	pkgname=$(basename "${1%.*}")
	echo "prerm $pkgname" >> "$IPKG_INSTROOT/scripts.log"
	script="$IPKG_INSTROOT/usr/lib/opkg/info/$pkgname.prerm-pkg"
	[ ! -f "$script" ] || ( . "$script" )
}
"""


def run_script(root: Path, package: str, script: str, *args: str) -> None:
    path = root / "usr/lib/opkg/info" / f"{package}.{script}"
    if path.exists():
        env = {"PATH": os.environ["PATH"], "IPKG_INSTROOT": str(root)}
        proc = subprocess.run([str(path), *args], env=env, capture_output=True)
        assert proc.returncode == 0, (path, proc.stdout, proc.stderr)


def opkg_install(ipk: Ipk, root: Path) -> None:
    """Install into an offline root: check Depends and file conflicts, unpack
    data, keep control files and the file list, record conffiles, postinst."""
    info_dir = root / "usr/lib/opkg/info"
    info_dir.mkdir(parents=True, exist_ok=True)
    status = root / "usr/lib/opkg/status"
    installed = re.findall(
        r"^Package: (\S+)", status.read_text() if status.exists() else "", re.M
    )
    name = ipk.control["Package"]
    for dep in ipk.control.get("Depends", "").split(", "):
        assert dep in installed or dep in OPENWRT_PACKAGES, f"{name}: needs {dep}"

    owned = {
        line for lst in info_dir.glob("*.list") for line in lst.read_text().split()
    }
    files = []
    for path, (info, content) in ipk.data.items():
        target = root / path[2:]
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        assert path[1:] not in owned, f"{name}: {path[1:]} belongs to another package"
        target.write_bytes(content)
        target.chmod(info.mode)
        files.append(path[1:])
    (info_dir / f"{name}.list").write_text("".join(f"{f}\n" for f in files))

    conffiles = ipk.control_files.get("conffiles", b"").decode().split()
    sums = []
    for conffile in conffiles:
        assert conffile in files, f"{name}: conffile {conffile} not in data"
        digest = hashlib.md5((root / conffile[1:]).read_bytes()).hexdigest()
        sums.append(f" {conffile} {digest}\n")
    for file_name, content in ipk.control_files.items():
        (info_dir / f"{name}.{file_name}").write_bytes(content)
        if file_name in ipk.scripts:
            (info_dir / f"{name}.{file_name}").chmod(ipk.scripts[file_name].mode)
    record = f"Package: {name}\nVersion: {ipk.control['Version']}\n"
    record += "Status: install user installed\n"
    if sums:
        record += "Conffiles:\n" + "".join(sums)
    with status.open("a") as out:
        out.write(record + "\n")
    run_script(root, name, "postinst", "configure")


def install_in_dependency_order(ipks: dict[str, Path], root: Path) -> None:
    (root / "lib").mkdir(parents=True, exist_ok=True)
    (root / "lib/functions.sh").write_text(FUNCTIONS_SH)
    pending = {name: read_ipk(path) for name, path in ipks.items()}
    while pending:
        ready = [
            name
            for name, ipk in pending.items()
            if not set(ipk.control["Depends"].split(", ")) & set(pending)
        ]
        assert ready, f"dependency cycle among {sorted(pending)}"
        for name in sorted(ready):
            opkg_install(pending.pop(name), root)


# -- (1) the installed launchers, from the installed root only ----------------


def _top_level_names(dist) -> set[str]:
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first not in ("..", "__pycache__") and not first.endswith(".dist-info"):
            names.add(first)
    return names


def feed_python_libraries(folder: Path) -> Path:
    """The venv's requests and everything it requires, standing in for
    python3-requests and its dependencies from OpenWrt's feed: one folder of
    symlinks, so PYTHONPATH names nothing else of the venv."""
    folder.mkdir()
    todo, seen = ["requests"], set()
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        for name in _top_level_names(dist):
            (folder / name).symlink_to(dist.locate_file(name))
    return folder


def installed_env(root: Path, work: Path, socket: str, state_dir: str) -> dict:
    """Environment for the installed launchers: the package root's
    site-packages plus the feed's requests, and no site-packages of the venv
    (`#!/usr/bin/env python3` finds a python3 that runs with -S)."""
    site = root / builder.site_packages(builder.TARGET_PYTHON)[1:]
    libraries = feed_python_libraries(work / "feed-python")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    return plugin_env(
        socket,
        state_dir,
        PYTHONPATH=f"{site}{os.pathsep}{libraries}",
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PYTHONDONTWRITEBYTECODE="1",
    )


def module_origins(env: dict, modules: list[str]) -> dict[str, str]:
    code = (
        "import importlib, json, sys;"
        "print(json.dumps({m: importlib.import_module(m).__file__"
        " for m in sys.argv[1:]}))"
    )
    proc = subprocess.run(
        ["python3", "-c", code, *modules], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_installed_launchers_answer_from_package_root(
    ipks, stack, containers, registry, uid, state_dir, tmp_path
):
    root = tmp_path / "root"
    install_in_dependency_order(ipks, root)
    env = installed_env(root, tmp_path, stack.socket, state_dir)
    site = str(root / builder.site_packages(builder.TARGET_PYTHON)[1:])
    origins = module_origins(
        env, ["podman_rpcd.rpc", "requests_unixsocket", "requests"]
    )
    assert origins["podman_rpcd.rpc"].startswith(site + "/")
    assert origins["requests_unixsocket"].startswith(site + "/")
    assert origins["requests"].startswith(str(tmp_path / "feed-python") + "/")

    installed = RpcdHarness(env, launcher_dir=root / "usr/libexec/rpcd")
    checkout = RpcdHarness(plugin_env(stack.socket, state_dir))
    for plugin in ("podman", "podman.image"):
        assert installed.list(plugin) == checkout.list(plugin)

    ref = f"{registry.host}/pkg{uid}:1"
    stack.publish(ref)
    image_id = stack.pull(ref)
    stack.create_container(f"pkg{uid}", ref)
    rows = installed.reply("podman", "containers")["containers"]
    row = next(row for row in rows if row["name"] == f"pkg{uid}")
    assert row["imageId"] == image_id
    assert installed.reply("podman.image", "inspect", {"image": ref})["Id"] == image_id


def test_install_runs_maintainer_scripts_through_functions_sh(ipks, tmp_path):
    root = tmp_path / "root"
    install_in_dependency_order(ipks, root)
    for name in ipks:
        run_script(root, name, "prerm", "remove")
        run_script(root, name, "postrm", "remove")
    log = (root / "scripts.log").read_text().splitlines()
    assert sorted(log) == sorted(
        [f"postinst {name}" for name in ipks] + [f"prerm {name}" for name in ipks]
    )


def test_install_destdir_matches_ipk_data(ipks, tmp_path):
    run_builder("--install", str(tmp_path))
    laid_out = {
        "./" + str(path.relative_to(tmp_path)): (path.stat().st_mode & 0o777, path)
        for path in tmp_path.rglob("*")
        if path.is_file()
    }
    packaged = {}
    for path in ipks.values():
        for name, (info, content) in read_ipk(path).data.items():
            if content is not None:
                packaged[name] = (info.mode, content)
    assert set(laid_out) == set(packaged)
    for name, (mode, path) in laid_out.items():
        assert (mode, path.read_bytes()) == packaged[name], name


def test_install_with_empty_destdir_is_refused():
    proc = subprocess.run(
        [sys.executable, str(BUILD_IPK), "--install", ""],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "DESTDIR is empty" in proc.stderr


def test_build_is_reproducible(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    run_builder("--out", str(first))
    run_builder("--out", str(second))
    for path in first.glob("*.ipk"):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


# -- (2) the split packages the code needs ------------------------------------


@dataclass(frozen=True)
class Import:
    module: str
    names: tuple[str, ...]
    where: str

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def scan_imports(paths: list[Path]) -> list[Import]:
    """Every absolute import, also those inside functions (lazy imports)."""
    found = []
    for path in paths:
        shown = path.relative_to(ROOT) if ROOT in path.parents else path.name
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if isinstance(node, ast.Import):
                where = f"{shown}:{node.lineno}"
                found += [Import(alias.name, (), where) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = tuple(alias.name for alias in node.names if alias.name != "*")
                found.append(Import(node.module, names, f"{shown}:{node.lineno}"))
    return found


def python_sources(package) -> list[Path]:
    """The package's Python files: modules and Python scripts (launchers)."""
    paths = []
    for entry in builder.package_entries(package):
        first_line = entry.source.read_bytes().split(b"\n", 1)[0]
        if entry.python or (first_line.startswith(b"#!") and b"python" in first_line):
            paths.append(entry.source)
    return paths


def own_modules(package) -> set[str]:
    site = builder.site_packages(builder.TARGET_PYTHON) + "/"
    return {
        entry.target.removeprefix(site).split("/")[0].removesuffix(".py")
        for entry in builder.package_entries(package)
        if entry.target.startswith(site)
    }


def split_of(module: str) -> str | None:
    return STDLIB_SPLIT.get(module) or STDLIB_SPLIT.get(module.split(".")[0])


def with_split_depends(packages: set[str]) -> set[str]:
    result, todo = set(packages), list(packages)
    while todo:
        for dep in SPLIT_DEPENDS.get(todo.pop(), ()):
            if dep not in result:
                result.add(dep)
                todo.append(dep)
    return set(STDLIB_SPLIT.values()) if "python3" in result else result


PROBE = """\
import importlib, json, sys

blocked = json.loads(sys.argv[1])


def owner(name):
    return blocked.get(name) or blocked.get(name.split(".")[0])


class RouterStdlib:
    # Refuse what the router's installed split packages do not have.
    def find_spec(self, fullname, path=None, target=None):
        if owner(fullname):
            raise ModuleNotFoundError(f"{fullname} is in {owner(fullname)}")
        return None


preloaded = sorted(name for name in sys.modules if owner(name))
sys.meta_path.insert(0, RouterStdlib())
failures = {}
for module, names, where in json.loads(sys.argv[2]):
    try:
        imported = importlib.import_module(module)
        for name in names:
            if not hasattr(imported, name):  # runs a lazy module __getattr__
                importlib.import_module(f"{module}.{name}")
    except ImportError as exc:
        failures[where] = f"{module}: {exc}"
print(json.dumps({"preloaded": preloaded, "failures": failures}))
"""


# TODO(once python3-requests' own split packages are mirrored here): run the
# installed launchers under the same cut standard library, to also catch
# imports that the standard library makes lazily inside functions we call.
def probe_on_router(imports: list[Import], split_packages: set[str]) -> dict:
    """Run the imports in a fresh interpreter whose standard library is cut
    to python3-light plus split_packages (and what they depend on), the way a
    router with only those packages has it; return the failing imports."""
    allowed = with_split_depends(split_packages)
    blocked = {m: p for m, p in STDLIB_SPLIT.items() if p not in allowed}
    blocked |= {module: "no OpenWrt package" for module in NOT_ON_OPENWRT}
    statements = [[i.module, list(i.names), i.where] for i in imports]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, json.dumps(blocked)]
        + [json.dumps(statements)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["preloaded"] == [], "the probe itself loaded split modules"
    return result["failures"]


PYTHON_PACKAGES = ["podman-rpcd", "python3-requests-unixsocket"]


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_stdlib_imports_are_covered_by_declared_split_packages(feed, name):
    package = feed[name]
    imports = scan_imports(python_sources(package))
    stdlib = [i for i in imports if i.top in sys.stdlib_module_names]
    declared = {dep for dep in package.depends if dep in STDLIB_SPLIT.values()}
    assert "python3-light" in package.depends

    unavailable = [i.where for i in stdlib if i.top in NOT_ON_OPENWRT]
    assert not unavailable, f"modules OpenWrt does not package: {unavailable}"
    direct = {split_of(i.module) for i in stdlib} - {None}
    assert direct <= declared, f"imported directly, not declared: {direct - declared}"
    failures = probe_on_router(stdlib, declared)
    assert not failures, f"{name} on a router with {sorted(declared)}: {failures}"
    for split in sorted(declared - direct):
        assert probe_on_router(stdlib, declared - {split}), f"{split} is not needed"


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_third_party_imports_are_declared_packages(feed, name):
    package = feed[name]
    imports = scan_imports(python_sources(package))
    own = own_modules(package)
    tops = {i.top for i in imports} - own - set(sys.stdlib_module_names)
    declared = {dep for dep in package.depends if dep in THIRD_PARTY.values()}
    provided = declared.union(*(FEED_PYTHON_DEPENDS.get(d, ()) for d in declared))

    unknown = sorted(top for top in tops if top not in THIRD_PARTY)
    assert not unknown, f"no OpenWrt package known for {unknown}"
    missing = sorted(
        THIRD_PARTY[top] for top in tops if THIRD_PARTY[top] not in provided
    )
    assert not missing, f"{name} imports from {missing} without depending on them"
    unused = declared - {THIRD_PARTY[top] for top in tops}
    assert not unused, f"{name} depends on {unused} and never imports them"


# -- (3) control files, conffiles, versions, layout ----------------------------


def test_control_files_parse_and_name_every_dependency(ipks, feed):
    assert set(ipks) == set(feed)
    for name, path in ipks.items():
        ipk = read_ipk(path)
        control = ipk.control
        depends = control["Depends"].split(", ")

        assert control["Version"] == feed[name].version
        assert control["Architecture"] == "all"
        assert path.name == f"{name}_{control['Version']}_all.ipk"
        assert int(control["Installed-Size"]) == ipk.data_size
        for key in ("License", "Maintainer", "Section", "Description"):
            assert control[key].strip(), f"{name}: empty {key}"
        assert depends == feed[name].depends
        assert len(set(depends)) == len(depends), f"{name}: duplicate Depends"
        unknown = set(depends) - OPENWRT_PACKAGES - set(ipks)
        assert not unknown, f"{name} depends on packages nobody builds: {unknown}"
        python = {dep for dep in depends if dep.startswith("python3-")}
        assert set(depends) - python == SYSTEM_DEPENDS[name]
        assert {"postinst", "prerm"} <= set(ipk.scripts)
        for script, info in ipk.scripts.items():
            assert info.mode == 0o755, f"{name} {script}"
            check = subprocess.run(["sh", "-n"], input=ipk.control_files[script])
            assert check.returncode == 0, f"{name} {script} is not valid sh"


def test_conffiles_list_the_uci_config(ipks):
    conffiles = {
        name: read_ipk(path).control_files.get("conffiles", b"").decode()
        for name, path in ipks.items()
    }
    assert conffiles["podman-rpcd"] == "/etc/config/podman-rpcd\n"
    assert not conffiles["luci-app-podman-updates"]
    mode = read_ipk(ipks["podman-rpcd"]).data["./etc/config/podman-rpcd"][0].mode
    assert mode == 0o600


def test_versions_match_pyproject_and_requirements(feed):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name in ("podman-rpcd", "luci-app-podman-updates"):
        variables = feed[name].makefile.variables
        assert variables["PKG_VERSION"] == pyproject["project"]["version"], name
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line
    )
    variables = feed["python3-requests-unixsocket"].makefile.variables
    assert variables["PKG_VERSION"] == pins[variables["PYPI_NAME"]]


def test_every_checkout_file_is_in_exactly_one_package(feed):
    shipped = [
        entry.source
        for name in builder.LAYOUT
        for entry in builder.package_entries(feed[name])
    ]
    assert len(shipped) == len(set(shipped)), "a file is in two packages"
    expected = {
        path
        for folder in ("files", "src/podman_rpcd")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and not any(
            builder._skipped(Path(part)) for part in path.relative_to(ROOT).parts
        )
    }
    assert set(shipped) == expected


# The SDK's install commands for build_ipk.py's modes (rules.mk).
INSTALL_COMMANDS = {
    0o755: {"$(INSTALL_BIN)"},
    0o644: {"$(INSTALL_DATA)", "$(CP)"},
    0o600: {"$(INSTALL_CONF)"},
}


def test_layout_matches_makefile_install_recipes(feed):
    """build_ipk.py's LAYOUT and the SDK Makefiles install the same folders
    to the same places with the same modes."""
    for name, trees in builder.LAYOUT.items():
        text = feed[name].makefile.path.read_text()
        for tree in trees:
            if tree.python:  # copied into site-packages, byte-compiled there
                assert tree.source in text and "$(PYTHON3_PKG_DIR)" in text
                continue
            target = f"$(1){tree.target}"
            lines = [
                ln for ln in text.splitlines() if tree.source in ln and target in ln
            ]
            assert lines, f"{name} Makefile installs no {tree.source} to {target}"
            assert lines[0].split()[0] in INSTALL_COMMANDS[tree.mode], lines[0]
