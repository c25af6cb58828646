"""`dir_public` served at `/`: its files, a folder's `index.html`, or a listing.

`/karajo` and everything under it belong to karajo and never reach this
module.  A request path is checked on its raw, still-encoded form: a
segment that decodes to `.` or `..`, or that holds an encoded `/` or `\\`,
is refused before any file is looked at, and the file finally served must
resolve (symlinks followed) to a place inside `dir_public`.  Refusals are
plain 404s, so they tell nothing about what exists outside.
"""

from __future__ import annotations

import mimetypes
import os
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes

from quart import Blueprint, Response, abort, redirect, request, send_file
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response as WerkzeugResponse

from karajo.assets import is_plain_name

if TYPE_CHECKING:
    from quart.blueprints import BlueprintSetupState

    from karajo.server import Server

INDEX_FILE = "index.html"
# A folder with more entries than this is listed in part.
MAX_LISTED = 5000


class PublicPathConverter(PathConverter):
    """A path that is not karajo's own: anything but `karajo` and `karajo/...`."""

    regex = r"(?!karajo(?:/|$))[^/].*?"


def blueprint(server: Server) -> Blueprint:
    public = Blueprint("public_files", __name__)
    public.record_once(_add_converter)
    view = _PublicFiles(server).serve
    public.add_url_rule("/", view_func=view, methods=["GET"], endpoint="root")
    public.add_url_rule(
        "/<public_path:subpath>", view_func=view, methods=["GET"], endpoint="file"
    )
    return public


def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["public_path"] = PublicPathConverter


class _PublicFiles:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def serve(self, subpath: str = "") -> Response | WerkzeugResponse:
        directory = self.server.env.karajo.dir_public
        if not directory:
            if subpath:
                abort(404)
            # Nothing public: the root leads to the dashboard instead.
            return redirect("/karajo/")
        parts = request_segments(request_raw_path())
        if parts is None:
            abort(404)
        target = resolve_inside(directory, parts)
        if target is None:
            abort(404)
        if os.path.isdir(target):
            return await self._folder(directory, target, parts)
        return await file_response(target)

    async def _folder(
        self, directory: str, target: str, parts: list[str]
    ) -> Response | WerkzeugResponse:
        if not request.path.endswith("/"):
            # Relative links in the folder's page need the final slash.
            return redirect(quote(request.path) + "/", code=301)
        index = resolve_inside(directory, [*parts, INDEX_FILE])
        if index is not None and os.path.isfile(index):
            return await file_response(index)
        return Response(
            folder_listing(target, "/" + "".join(f"{part}/" for part in parts)),
            content_type="text/html; charset=utf-8",
        )


async def file_response(path: str) -> Response:
    """A file, with ranges and conditional requests; HEAD without opening it."""
    if request.method != "HEAD":
        return await send_file(path, conditional=True)
    # quart's file body is opened even for HEAD, and the server ends a HEAD
    # exchange after the headers, which can leave that file open.
    guessed = mimetypes.guess_type(os.path.basename(path))[0]
    response = Response(b"", mimetype=guessed or "application/octet-stream")
    response.content_length = os.path.getsize(path)
    return response


def request_raw_path() -> bytes:
    """The path as the client sent it, before any percent-decoding."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.partition(b"?")[0]
    return quote(request.path).encode()


def request_segments(raw_path: bytes) -> list[str] | None:
    """The decoded segments of a raw path, or None when one is unsafe."""
    parts = []
    for raw_part in raw_path.split(b"/"):
        if not raw_part:
            continue
        try:
            part = unquote_to_bytes(raw_part).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not is_plain_name(part):
            return None
        parts.append(part)
    return parts


def resolve_inside(directory: str, parts: list[str]) -> str | None:
    """The real path of `parts` under `directory`, if it exists there."""
    root = os.path.realpath(directory)
    target = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, target]) != root or not os.path.exists(target):
        return None
    return target


def folder_listing(folder: str, shown_path: str) -> str:
    """A plain HTML page linking to each entry of a folder."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(
                (entry.name + "/" if entry.is_dir() else entry.name)
                for entry in entries
            )
    except OSError:
        names = []
    links = [] if shown_path == "/" else ['<li><a href="../">../</a></li>']
    links += [
        f'<li><a href="{escape(quote(name), quote=True)}">{escape(name)}</a></li>'
        for name in names[:MAX_LISTED]
    ]
    if len(names) > MAX_LISTED:
        links.append(f"<li>… and {len(names) - MAX_LISTED} more</li>")
    title = escape(f"Index of {shown_path}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n<ul>\n"
        + "\n".join(links)
        + "\n</ul></body></html>\n"
    )
