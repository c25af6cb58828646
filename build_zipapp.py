#!/usr/bin/env python3
"""Build dist/karajo.pyz: karajo and everything it needs in one file.

    python3 build_zipapp.py [--output dist/karajo.pyz] [--interpreter PATH]

The file holds the karajo package from this tree (its web interface under
karajo/www/ included, with the HTML documentation that scripts/build_docs.py
writes into karajo/www/doc/ first), the pure-Python dependencies pinned in
pyproject.toml, and bytecode for the Python running this script.  It runs
with `python3 karajo.pyz ...` or as `./karajo.pyz ...` on any Python 3.11 or
newer without installed packages; a Python whose bytecode differs compiles
the sources once into a cache folder (karajo/zipimport_cache.py).

Needs Python 3.11+ with pip, and PyPI or pip's cache: pip installs the
pinned dependencies into a temporary folder, pure-Python wheels only, with
the few that have none built from source with the C compiler switched off.
When this Python lacks the AsciiDoc tool that build_docs.py uses, pip puts
the version pinned in pyproject.toml into a temporary folder too.

Two builds of the same tree with the same Python and zlib give the same
bytes: entries are sorted, every timestamp is 1980-01-01 and the bytecode
is hash-based (PEP 552) instead of carrying file times.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import marshal
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent
DOCS_SCRIPT = ROOT / "scripts" / "build_docs.py"
DOCS_TOOL = "asciidoc"
DEFAULT_OUTPUT = ROOT / "dist" / "karajo.pyz"
DEFAULT_INTERPRETER = "/usr/bin/env python3"
# The oldest Python karajo supports, and the ones whose markers count when
# checking that every dependency's own dependencies are bundled.
TARGET_PYTHON = "3.11"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
# The earliest time a zip entry can carry.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DIRECTORY_MODE = 0o040755
_MSDOS_DIRECTORY = 0x10
_UNIX = 3
# Hash-based bytecode that the importer loads without reading the source:
# the source beside it is in the same immutable archive.
_PYC_UNCHECKED_HASH = (0b01).to_bytes(4, "little")

# Parts of installed dependencies that the zipapp never uses.
_DIST_INFO_KEPT = re.compile(
    r"(METADATA|entry_points\.txt|top_level\.txt|licenses/.*|"
    r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*)$"
)
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".pyi", ".c", ".h", ".pyx", ".pxd")
_SKIPPED_NAMES = ("py.typed",)
_CACHE_DIRECTORY = "__pycache__"
# The dependencies' own test suites (trio ships one); karajo's are outside
# the package anyway.
_TEST_DIRECTORIES = ("_tests", "tests")
_EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")

MAIN_TEMPLATE = '''\
"""karajo's zipapp entry point, written by build_zipapp.py."""

import sys

BUILD_ID = "{build_id}"
# The bytecode in this file suits Pythons with this magic number; another
# Python compiles the sources once into a cache folder instead of at each
# start.
BYTECODE_MAGIC = "{magic}"


def _start() -> int:
    from importlib.util import MAGIC_NUMBER

    archive = getattr(__loader__, "archive", None)
    if archive and MAGIC_NUMBER.hex() != BYTECODE_MAGIC:
        from karajo.zipimport_cache import install

        install(archive, BUILD_ID)
    from karajo.cli import main

    return main()


sys.exit(_start())
'''


class BuildError(Exception):
    """The zipapp cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class Pins:
    """What pyproject.toml pins for the zipapp."""

    direct: list[str]
    indirect: list[str]
    from_source: list[str]
    build: list[str]

    @property
    def bundled(self) -> list[str]:
        return self.direct + self.indirect


def read_pins(pyproject: Path) -> Pins:
    """The exact pins of pyproject.toml: `dependencies` and [tool.karajo.zipapp]."""
    data = tomllib.loads(pyproject.read_text())
    zipapp = data.get("tool", {}).get("karajo", {}).get("zipapp", {})
    pins = Pins(
        direct=list(data["project"]["dependencies"]),
        indirect=list(zipapp.get("indirect-dependencies", [])),
        from_source=list(zipapp.get("from-source", [])),
        build=list(zipapp.get("build-dependencies", [])),
    )
    for pin in pins.bundled + pins.build:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", pin):
            raise BuildError(
                f"{pyproject}: {pin!r} is not an exact pin; write name==version"
            )
    return pins


def install_dependencies(pins: Pins, target: Path) -> None:
    """pip-install the bundled pins into `target`, pure Python only."""
    arguments = [
        "--no-deps",
        "--target",
        str(target),
        # Only wheels tagged for any Python implementation, hence no
        # compiled code, and their Requires-Python checked against the
        # oldest supported version.
        "--implementation",
        "py",
        "--python-version",
        TARGET_PYTHON,
        "--only-binary=:all:",
    ]
    if pins.from_source:
        arguments.append("--no-binary=" + ",".join(pins.from_source))
    env = dict(os.environ)
    # A failing compiler makes packages with optional C speedups (markupsafe)
    # build their pure-Python variant.
    env["CC"] = "false"
    with tempfile.TemporaryDirectory(prefix="karajo-build-") as scratch:
        if pins.build:
            constraints = Path(scratch) / "build-constraints.txt"
            constraints.write_text("\n".join(pins.build) + "\n")
            # Also read by the pip that prepares each source build.
            env["PIP_CONSTRAINT"] = str(constraints)
        _pip_install(arguments + pins.bundled, env)


def build_docs(pyproject: Path) -> None:
    """Write the HTML documentation into karajo/www/doc/ with build_docs.py."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="karajo-docs-") as scratch:
        if importlib.util.find_spec(DOCS_TOOL) is None:
            tools = Path(scratch) / "tools"
            pin = _docs_tool_pin(pyproject)
            _pip_install(["--target", str(tools), "--no-deps", pin], env)
            env["PYTHONPATH"] = str(tools)
        command = [sys.executable, str(DOCS_SCRIPT)]
        result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"{DOCS_SCRIPT.name} failed; --no-docs builds without docs")


def _docs_tool_pin(pyproject: Path) -> str:
    extras = tomllib.loads(pyproject.read_text())["project"].get(
        "optional-dependencies", {}
    )
    for requirement in (pin for group in extras.values() for pin in group):
        if requirement.lower().startswith(DOCS_TOOL + "=="):
            return str(requirement)
    raise BuildError(f"{pyproject}: no {DOCS_TOOL}==VERSION pin to build the docs with")


def _pip_install(arguments: list[str], env: dict[str, str]) -> None:
    if importlib.util.find_spec("pip") is None:
        raise BuildError(
            f"{sys.executable} has no pip; install python3-pip or run this with "
            ".venv/bin/python"
        )
    command = [sys.executable, "-m", "pip", "install", "--quiet"]
    command += ["--disable-pip-version-check", "--no-input", "--no-compile"]
    # Builds run as root in containers and CI; pip's warning is about the
    # system's packages, which --target leaves alone.
    env = {"PIP_ROOT_USER_ACTION": "ignore"} | env
    result = subprocess.run(command + arguments, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"pip failed: {' '.join(command + arguments)}")


def check_dependency_closure(target: Path, pins: Pins) -> None:
    """Fail unless the pins hold exactly what the direct dependencies need."""
    # pip's own copy: this script runs on a Python that may have nothing else.
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

    installed = {
        canonicalize_name(dist.metadata["Name"]): dist
        for dist in importlib.metadata.distributions(path=[str(target)])
    }
    problems: list[str] = []
    needed: set[str] = set()
    pending = [(Requirement(pin), "pyproject.toml") for pin in pins.direct]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        dist = installed.get(name)
        if dist is None:
            problems.append(f"{wanted_by} needs {requirement}, which is not pinned")
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            problems.append(
                f"{wanted_by} needs {requirement}, but {dist.version} is pinned"
            )
        if name in needed:
            continue
        needed.add(name)
        extras = {""} | set(requirement.extras)
        for text in dist.requires or []:
            child = Requirement(text)
            if _applies(child, extras):
                pending.append((child, f"{name} {dist.version}"))
    for name in sorted(set(installed) - needed):
        problems.append(f"{name} is pinned in pyproject.toml but nothing needs it")
    if problems:
        raise BuildError("dependency pins are off:\n  " + "\n  ".join(problems))


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether a dependency's requirement holds on some supported Python."""
    marker = requirement.marker
    if marker is None:
        return True
    return any(
        marker.evaluate({"python_version": version, "extra": extra})
        for version in SUPPORTED_PYTHONS
        for extra in extras
    )


def check_pure_python(target: Path) -> None:
    """Fail when a compiled extension module slipped in, say from pip's cache."""
    compiled = sorted(
        str(path.relative_to(target))
        for path in target.rglob("*")
        if path.name.endswith(_EXTENSION_SUFFIXES)
        or (".cpython-" in path.name and path.suffix != ".pyc")
    )
    if compiled:
        raise BuildError(
            "compiled extension modules would land in the zipapp: "
            + ", ".join(compiled)
            + "; clear pip's cache of these packages (`pip cache remove NAME`)"
        )


def collect_dependencies(target: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in _walk(target):
        name = path.relative_to(target).as_posix()
        top, _, rest = name.partition("/")
        if top == "bin":
            # Console scripts of the dependencies; the zipapp has its own.
            continue
        if top.endswith(".dist-info") and not _DIST_INFO_KEPT.match(rest):
            continue
        if _is_skipped(name, allow_tests=False):
            continue
        files[name] = path.read_bytes()
    return files


def collect_package(source: Path) -> dict[str, bytes]:
    """Every file of the karajo package, whatever it is named, but caches."""
    files: dict[str, bytes] = {}
    for path in _walk(source):
        name = path.relative_to(source.parent).as_posix()
        if _is_skipped(name, allow_tests=True):
            continue
        if any(part.startswith(".") or part.endswith("~") for part in name.split("/")):
            continue
        files[name] = path.read_bytes()
    return files


def _walk(root: Path) -> Iterable[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def _is_skipped(name: str, *, allow_tests: bool) -> bool:
    *folders, base = name.split("/")
    skipped = {_CACHE_DIRECTORY} | (set() if allow_tests else set(_TEST_DIRECTORIES))
    if skipped.intersection(folders):
        return True
    return base in _SKIPPED_NAMES or base.endswith(_SKIPPED_SUFFIXES)


def add_bytecode(files: dict[str, bytes], names: Iterable[str]) -> None:
    """Put `x.pyc` beside each named `x.py`, where zipimport looks for it."""
    for name in sorted(names):
        source = files[name]
        code = compile(source, name, "exec", dont_inherit=True)
        files[name + "c"] = (
            importlib.util.MAGIC_NUMBER
            + _PYC_UNCHECKED_HASH
            + importlib.util.source_hash(source)
            + marshal.dumps(code)
        )


def build_id(files: dict[str, bytes]) -> str:
    """A digest of every entry, naming the archive's cache folder."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:24]


def add_main(files: dict[str, bytes], *, with_bytecode: bool) -> None:
    magic = importlib.util.MAGIC_NUMBER.hex() if with_bytecode else "none"
    main = MAIN_TEMPLATE.format(build_id=build_id(files), magic=magic)
    files["__main__.py"] = main.encode()
    if with_bytecode:
        add_bytecode(files, ["__main__.py"])


def write_zipapp(files: dict[str, bytes], output: Path, interpreter: str) -> None:
    """Write the archive behind a `#!` line, entries sorted, times fixed."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with open(partial, "wb") as stream:
        stream.write(f"#!{interpreter}\n".encode())
        with zipfile.ZipFile(stream, "w") as archive:
            for name in sorted(set(files) | _directories(files)):
                if name.endswith("/"):
                    archive.writestr(_entry(name, DIRECTORY_MODE), b"")
                else:
                    archive.writestr(_entry(name, FILE_MODE), files[name])
    partial.chmod(0o755)
    os.replace(partial, output)


def _directories(files: Iterable[str]) -> set[str]:
    """Every folder holding a file, as an entry of its own.

    zipimport on Python 3.11 finds namespace packages only through them.
    """
    folders: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            folders.add("/".join(parts[:end]) + "/")
    return folders


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    info.create_system = _UNIX
    info.external_attr = mode << 16
    if name.endswith("/"):
        info.external_attr |= _MSDOS_DIRECTORY
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build(
    output: Path, *, interpreter: str, with_bytecode: bool, with_docs: bool
) -> dict[str, bytes]:
    """Build the zipapp at `output` and return its entries."""
    pins = read_pins(ROOT / "pyproject.toml")
    if with_docs and DOCS_SCRIPT.exists():
        build_docs(ROOT / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="karajo-zipapp-") as scratch:
        target = Path(scratch) / "site"
        install_dependencies(pins, target)
        check_dependency_closure(target, pins)
        check_pure_python(target)
        files = collect_dependencies(target)
    package = collect_package(ROOT / "karajo")
    clashes = sorted(set(files) & set(package))
    if clashes:
        raise BuildError(f"a dependency ships files of karajo: {clashes}")
    files.update(package)
    if with_bytecode:
        add_bytecode(files, [name for name in files if name.endswith(".py")])
    add_main(files, with_bytecode=with_bytecode)
    write_zipapp(files, output, interpreter)
    return files


def has_docs(files: dict[str, bytes]) -> bool:
    return "karajo/www/doc/index.html" in files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build karajo.pyz, karajo and its dependencies in one file.",
        epilog=(
            "The HTML documentation is built first with scripts/build_docs.py "
            "into karajo/www/doc/.  With --no-docs, whatever that folder holds "
            "goes in; without docs the zipapp works and /karajo/doc/ says they "
            "are missing."
        ),
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="default dist/karajo.pyz"
    )
    parser.add_argument(
        "--interpreter",
        default=DEFAULT_INTERPRETER,
        help=f"program on the #! line (default {DEFAULT_INTERPRETER})",
    )
    parser.add_argument(
        "--no-bytecode",
        dest="with_bytecode",
        action="store_false",
        help="sources only, as a Python with other bytecode sees the file",
    )
    parser.add_argument(
        "--no-docs",
        dest="with_docs",
        action="store_false",
        help="do not run scripts/build_docs.py",
    )
    args = parser.parse_args(argv)
    try:
        files = build(
            args.output,
            interpreter=args.interpreter,
            with_bytecode=args.with_bytecode,
            with_docs=args.with_docs,
        )
    except BuildError as error:
        print(f"build_zipapp: {error}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: {args.output.stat().st_size} bytes, {len(files)} files")
    print(f"sha256 {digest}")
    if not has_docs(files):
        print(
            "note: no karajo/www/doc/index.html, so the zipapp has no documentation",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
