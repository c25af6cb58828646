"""dir_public at `/`: files, index.html, listings; nothing outside it, ever."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import trio

SECRET_TEXT = "outside dir_public"


@pytest.fixture
def public(tree):
    """A dir_public with a sub-folder, links in and out, and a file beside it."""
    root = tree.base / "public"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home page</h1>")
    (root / "sub" / "file.txt").write_text("in sub")
    (root / "sub" / "<script>.txt").write_text("odd name")
    (root / "with space.txt").write_text("spaced")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("docs index")
    (tree.base / "secret.txt").write_text(SECRET_TEXT)
    os.symlink(tree.base, root / "out")
    os.symlink(tree.base / "secret.txt", root / "leak.txt")
    os.symlink(root / "sub", root / "inner")
    tree.write_main("", karajo=f"dir_public = {root}\n")
    return root


async def raw_get(url: str, path: str, method: str = "GET") -> tuple[int, dict, str]:
    """Send `path` exactly as written, with no client normalising it."""
    address = urlsplit(url)
    stream = await trio.open_tcp_stream(address.hostname, address.port)
    async with stream:
        request = f"{method} {path} HTTP/1.0\r\nHost: {address.netloc}\r\n\r\n"
        await stream.send_all(request.encode())
        with trio.fail_after(10):
            data = await _receive_through(stream, b"", b"\r\n\r\n")
            head, _, body = data.partition(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines)
            }
            length = 0 if method == "HEAD" else int(headers.get("content-length", 0))
            while len(body) < length:
                body += await stream.receive_some(65536)
    return int(status_line.split()[1]), headers, body.decode("utf-8", "replace")


async def _receive_through(
    stream: trio.SocketStream, data: bytes, marker: bytes
) -> bytes:
    while marker not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/out/secret.txt",
        "/leak.txt",
        "/sub/file.txt%00.html",
        "/%ff",
        "/missing.txt",
    ],
)
async def test_paths_leaving_dir_public_are_404(public, start_server, path):
    running = await start_server()

    status, _, body = await raw_get(running.url, path)

    assert status == 404
    assert SECRET_TEXT not in body


async def test_root_serves_index_html(public, start_server):
    running = await start_server()

    status, headers, body = await raw_get(running.url, "/")

    assert status == 200
    assert body == "<h1>home page</h1>"
    assert headers["x-content-type-options"] == "nosniff"
    # The owner's own site is not bound by the dashboard's policy.
    assert "content-security-policy" not in headers


async def test_folder_without_index_is_listed_escaped(public, start_server):
    running = await start_server()

    status, headers, body = await raw_get(running.url, "/sub/")

    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert '<a href="file.txt">file.txt</a>' in body
    assert "&lt;script&gt;.txt" in body and "<script>" not in body
    assert '<a href="../">../</a>' in body


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/sub/file.txt", "in sub"),
        ("/inner/file.txt", "in sub"),
        ("/with%20space.txt", "spaced"),
        ("/docs/", "docs index"),
    ],
)
async def test_files_inside_are_served(public, start_server, path, text):
    running = await start_server()

    status, _, body = await raw_get(running.url, path)

    assert (status, body) == (200, text)


async def test_folder_without_slash_redirects(public, start_server):
    running = await start_server()

    status, headers, _ = await raw_get(running.url, "/sub")

    assert status == 301
    assert headers["location"].endswith("/sub/")


async def test_head_answers_without_body(public, start_server):
    running = await start_server()

    status, headers, body = await raw_get(running.url, "/sub/file.txt", "HEAD")

    assert (status, body) == (200, "")
    assert headers["content-length"] == "6"


@pytest.mark.parametrize("path", ["/karajo/nothing", "/karajo/app/nothing"])
async def test_karajo_paths_stay_reserved(public, start_server, path):
    (public / "karajo").mkdir()
    (public / "karajo" / "nothing").write_text("public copy")
    running = await start_server()

    status, _, body = await raw_get(running.url, path)

    assert status == 404
    assert "public copy" not in body


async def test_api_keeps_method_not_allowed(public, start_server):
    running = await start_server()

    status, _, body = await raw_get(running.url, "/karajo/api/auth/login")

    assert status == 405
    assert '"code":405' in body


async def test_without_dir_public_root_leads_to_dashboard(tree, start_server):
    tree.write_main("")
    running = await start_server()

    root = await raw_get(running.url, "/")
    other = await raw_get(running.url, "/index.html")

    assert (root[0], root[1]["location"]) == (302, "/karajo/")
    assert other[0] == 404
