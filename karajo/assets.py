"""The web interface's files, `karajo/www/`, read as package resources.

They are read through `importlib.resources`, so the same code serves them
from a source tree, an installed wheel or the zipapp.  Normally each file
is read once and kept in memory with its ETag; with `is_development` every
request reads the file again, so that edits show on reload.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from quart import Response, request

_TEXT_TYPES = ("text/", "application/javascript", "application/json")
# Types the standard table may lack or get wrong on some systems.
_TYPES = {
    ".css": "text/css",
    ".html": "text/html",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class Asset:
    """One file of the web interface, ready to send."""

    data: bytes
    content_type: str
    etag: str

    def response(self) -> Response:
        """The file, or 304 when the browser's copy is current."""
        if self.etag in request.if_none_match:
            response = Response(b"", status=304)
        else:
            response = Response(self.data, content_type=self.content_type)
        response.set_etag(self.etag)
        # Cached, but checked at each use: an upgrade shows at once.
        response.headers["Cache-Control"] = "no-cache"
        return response


def package_www() -> Traversable:
    return resources.files("karajo").joinpath("www")


class Assets:
    """Looks files up under a root folder, refusing names that could leave it."""

    def __init__(self, root: Traversable, *, is_development: bool = False) -> None:
        self.root = root
        self.is_development = is_development
        self._cache: dict[str, Asset | None] = {}

    def get(self, relative: str) -> Asset | None:
        """The file at `relative` (slash-separated) under the root, or None."""
        if not self.is_development and relative in self._cache:
            return self._cache[relative]
        asset = self._read(relative)
        if not self.is_development:
            self._cache[relative] = asset
        return asset

    def exists(self, relative: str) -> bool:
        return self.get(relative) is not None

    def _read(self, relative: str) -> Asset | None:
        parts = relative.split("/")
        if not all(is_plain_name(part) for part in parts):
            return None
        node = self.root
        for part in parts:
            node = node.joinpath(part)
        try:
            if not node.is_file():
                return None
            data = node.read_bytes()
        except OSError:
            return None
        etag = hashlib.sha256(data).hexdigest()[:32]
        return Asset(data, content_type_of(parts[-1]), etag)


def is_plain_name(part: str) -> bool:
    """A file or folder name that stays where it is: no `..`, no separator."""
    return (
        part not in ("", ".", "..")
        and "/" not in part
        and "\\" not in part
        and "\x00" not in part
    )


def content_type_of(name: str) -> str:
    suffix = "." + name.rpartition(".")[2].lower() if "." in name else ""
    content_type = _TYPES.get(suffix) or (
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    if content_type.startswith(_TEXT_TYPES):
        content_type += "; charset=utf-8"
    return content_type
