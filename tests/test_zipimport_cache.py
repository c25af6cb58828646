"""karajo.zipimport_cache on a small archive, in child Pythons."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Imports a two-module package from the archive through the cache and prints
# DOUBLE, then how many times code from the archive was compiled.
CHILD = """\
import builtins, sys
archive = sys.argv[1]
sys.path.insert(0, archive)
from karajo.zipimport_cache import install
compiled = []
real_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    if str(filename).startswith(archive):
        compiled.append(filename)
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile
print(install(archive, "test-build"), file=sys.stderr)
import pkg.mod
print(pkg.mod.DOUBLE, len(compiled))
"""


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "app.pyz"
    with zipfile.ZipFile(path, "w") as zip_file:
        zip_file.writestr("pkg/__init__.py", "VALUE = 21\n")
        zip_file.writestr("pkg/mod.py", "from pkg import VALUE\nDOUBLE = VALUE * 2\n")
    return path


def run_child(
    archive: Path, cache_home: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {"XDG_CACHE_HOME": str(cache_home), "HOME": str(cache_home / "home")}
    return subprocess.run(
        [sys.executable, *options, "-c", textwrap.dedent(CHILD), str(archive)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def test_cache_compiles_each_module_once(archive: Path, tmp_path: Path) -> None:
    first = run_child(archive, tmp_path / "cache")
    second = run_child(archive, tmp_path / "cache")

    assert first.stdout == "42 2\n"
    assert second.stdout == "42 0\n"
    cached = sorted(path.name for path in (tmp_path / "cache").rglob("*.pyc"))
    assert cached == ["pkg.mod.pyc", "pkg.pyc"]


def test_cache_is_not_written_with_dont_write_bytecode(
    archive: Path, tmp_path: Path
) -> None:
    result = run_child(archive, tmp_path / "cache", "-B")

    assert result.stdout == "42 2\n"
    assert not (tmp_path / "cache").exists()


def test_cache_missing_folder_leaves_imports_working(
    archive: Path, tmp_path: Path
) -> None:
    # A file where the folders would go: no cache can be made below it.
    blocked = tmp_path / "blocked"
    blocked.write_text("")

    result = run_child(archive, blocked)

    assert result.stdout.startswith("42 ")
    assert "every start compiles them" in result.stderr
