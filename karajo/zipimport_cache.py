"""A bytecode cache on disk for modules imported from the zipapp.

zipimport loads `module.pyc` from the archive only when it was compiled by a
Python with the same bytecode magic number; otherwise it compiles the source
at every import, since it cannot write into the archive, and even twice (once
to learn the module's file name).  For karajo.pyz that means compiling trio,
quart, hypercorn and httpx at every start: 1.5 s where the server starts in
0.4 s otherwise.  `build_zipapp.py` ships bytecode for the Python that built
the file, and the zipapp's `__main__` calls `install` when the running Python
differs: compiled code is then kept in a cache folder, named by the
archive's build id and the interpreter's cache tag, so that only the first
start compiles, and once.

The folder is the first usable of `sys.pycache_prefix` (PYTHONPYCACHEPREFIX),
`$CACHE_DIRECTORY` (set by systemd's CacheDirectory=), `$XDG_CACHE_HOME` and
`~/.cache`, each followed by `karajo/bytecode/<build id>/<cache tag>`.  When
none can be written the zipapp still works and compiles at each start.
"""

from __future__ import annotations

import marshal
import os
import sys
import zipimport
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType

# Flags word of a .pyc header (PEP 552): the code was checked when it was
# written; the cache folder's name, which holds the build id, stands for
# the source hash.
_PYC_FLAGS = (0b01).to_bytes(4, "little")
_PYC_HEADER_SIZE = 16


class CachingZipImporter(zipimport.zipimporter):
    """A zipimporter that keeps the code it compiles in `cache_dir`, if any."""

    def __init__(self, path: str, cache_dir: Path | None, *, can_write: bool) -> None:
        super().__init__(path)
        self.cache_dir = cache_dir
        self.can_write = can_write

    def get_code(self, fullname: str) -> CodeType:
        if self.cache_dir is None:
            return super().get_code(fullname)
        cached = self.cache_dir / f"{fullname}.pyc"
        code = _read_cached(cached)
        if code is None:
            code = super().get_code(fullname)
            if self.can_write:
                _write_cached(cached, code)
        return code

    def get_filename(self, fullname: str) -> str:
        # zipimport's own loads the module's code to learn its file name,
        # which here means compiling it, a second time, at every import.
        name = fullname.rpartition(".")[2]
        if self.is_package(fullname):
            name += os.sep + "__init__"
        relative = self.prefix + name + ".py"
        if relative not in self._files:  # type: ignore[attr-defined]
            return str(super().get_filename(fullname))
        return self.archive + os.sep + relative


def install(archive: str, build_id: str) -> Path | None:
    """Route imports from `archive` through the cache; return its folder.

    Returns None when no folder could be used: each start then compiles the
    modules it imports, once each.
    """
    cache_dir = _usable_cache_dir(build_id)
    # -B and PYTHONDONTWRITEBYTECODE: read what is there, write nothing.
    can_write = not sys.dont_write_bytecode

    def is_inside(path: str) -> bool:
        return path == archive or path.startswith(archive + os.sep)

    def path_hook(path: str) -> zipimport.zipimporter:
        if not is_inside(path):
            raise ImportError("not inside the karajo zipapp", path=path)
        return CachingZipImporter(path, cache_dir, can_write=can_write)

    sys.path_hooks.insert(0, path_hook)
    # Folders of the archive already seen, such as the karajo package that
    # holds this module, would keep their plain zipimporter.
    for path in list(sys.path_importer_cache):
        if is_inside(path):
            sys.path_importer_cache[path] = path_hook(path)
    return cache_dir


def cache_roots() -> list[Path]:
    """Candidate folders under which the cache goes, best first."""
    roots: list[Path] = []
    if sys.pycache_prefix:
        roots.append(Path(sys.pycache_prefix) / "karajo")
    for variable in ("CACHE_DIRECTORY", "XDG_CACHE_HOME"):
        value = os.environ.get(variable, "")
        # systemd may list several folders separated by colons.
        first = value.split(":")[0]
        if os.path.isabs(first):
            roots.append(Path(first) / "karajo")
    roots.append(Path.home() / ".cache" / "karajo")
    return roots


def _usable_cache_dir(build_id: str) -> Path | None:
    tag = sys.implementation.cache_tag or "unknown"
    folders = [root / "bytecode" / build_id / tag for root in cache_roots()]
    if sys.dont_write_bytecode:
        return next((folder for folder in folders if folder.is_dir()), None)
    for folder in folders:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    print(
        "karajo: no writable cache folder for compiled modules, so every start "
        "compiles them; set XDG_CACHE_HOME to a writable folder",
        file=sys.stderr,
    )
    return None


def _read_cached(path: Path) -> CodeType | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:4] != MAGIC_NUMBER or len(data) < _PYC_HEADER_SIZE:
        return None
    try:
        code = marshal.loads(data[_PYC_HEADER_SIZE:])
    except (EOFError, ValueError, TypeError):
        # A file cut short by a crash: compile again and overwrite it.
        return None
    return code if isinstance(code, CodeType) else None


def _write_cached(path: Path, code: CodeType) -> None:
    data = MAGIC_NUMBER + _PYC_FLAGS + bytes(8) + marshal.dumps(code)
    # Written aside and renamed, so that a concurrent start never reads half.
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        try:
            partial.unlink()
        except OSError:
            pass
