"""The pages under /karajo/, their event streams and sign-in, on a real server."""

from __future__ import annotations

import re
import sys
import time
from importlib import resources
from pathlib import Path

import bcrypt
import httpx
import pytest
import trio
from quart_trio import QuartTrio

from karajo import pages
from karajo.assets import Assets
from karajo.csrf import CSRF_HEADER
from karajo.server import Server
from tests.conftest import SECRET, sign
from tests.sse import last_is, open_events

USER = 'a&b=c%d "ü"+;#'
PASSWORD = "p@ss w&rd=%+\"'<>ü;#\\"
SLOW_JOB = """\
    [job "Slow"]
    description = <i>waits</i> for a file
    path = /slow
    command = echo first line
    command = "while [ ! -e go ]; do sleep 0.05; done"
    command = "echo '<b>last</b> line'"

    [job.http "Ping"]
    http_url = /karajo/api/environment
    """
# The owner of this user.conf section has every awkward character in the name.
USER_CONF = '[user "a&b=c%d \\"ü\\"+;#"]\npassword = {hash}\n'


def hash_password(password: str) -> str:
    # The lowest cost: the tests check the flow, not bcrypt's strength.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def with_user(tree):
    tree.write("user.conf", USER_CONF.format(hash=hash_password(PASSWORD)))


async def sign_in(client, name: str = USER, password: str = PASSWORD):
    return await client.post(
        "/karajo/api/auth/login", data={"name": name, "password": password}
    )


async def snapshot(client) -> dict:
    async with open_events(client, "/karajo/api/events") as events:
        assert events.status == 200
        [(_, data)] = await events.until(last_is("snapshot"))
    return data


def signed_form(job_id: str) -> tuple[bytes, dict[str, str]]:
    body = f"_karajo_epoch={int(time.time())}&id={job_id}".encode()
    return body, {
        "X-Karajo-Sign": sign(body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


# Where each page leads.


async def test_index_leads_to_app_when_no_users(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await running.client.get("/karajo/")

    assert response.status_code == 302
    assert response.headers["location"] == "/karajo/app/"


async def test_index_shows_login_form_when_users_exist(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    index = await running.client.get("/karajo/")
    app = await running.client.get("/karajo/app/")
    log_page = await running.client.get("/karajo/app/job_exec/log/?id=slow&counter=1")

    assert index.status_code == 200
    assert 'id="login-form"' in index.text
    assert (app.status_code, app.headers["location"]) == (302, "/karajo/")
    assert (log_page.status_code, log_page.headers["location"]) == (302, "/karajo/")


async def test_sign_in_with_any_characters_opens_app(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await sign_in(running.client)
    index = await running.client.get("/karajo/")
    app = await running.client.get("/karajo/app/")

    assert response.status_code == 200
    assert (index.status_code, index.headers["location"]) == (302, "/karajo/app/")
    assert app.status_code == 200
    assert 'id="job-list"' in app.text


async def test_wrong_password_is_refused(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await sign_in(running.client, password=PASSWORD + "x")
    app = await running.client.get("/karajo/app/")

    assert response.status_code == 400
    assert response.json()["name"] == "ERR_AUTH_LOGIN"
    assert app.status_code == 302


async def test_session_cookie_is_httponly_and_strict(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    cookie = (await sign_in(running.client)).headers["set-cookie"]

    assert re.match(r"karajo=[^;]+;", cookie)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_is_secure_over_tls(tree, with_user):
    tree.write_main(SLOW_JOB)
    client = Server(tree.load()).app.test_client()

    response = await client.post(
        "/karajo/api/auth/login",
        form={"name": USER, "password": PASSWORD},
        scheme="https",
    )

    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"]


async def test_expired_session_leads_back_to_login(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    running.server.sessions.lifetime = 0

    await sign_in(running.client)
    app = await running.client.get("/karajo/app/")

    assert (app.status_code, app.headers["location"]) == (302, "/karajo/")


async def test_log_out_ends_session(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    await sign_in(running.client)

    await running.client.post("/karajo/api/auth/logout")
    app = await running.client.get("/karajo/app/")

    assert app.status_code == 302


# Files and headers.


async def test_pages_carry_security_headers(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await running.client.get("/karajo/app/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_www_loads_nothing_from_elsewhere_and_has_no_inline_script():
    www = resources.files("karajo").joinpath("www")
    html_files = [
        www / "index.html",
        www / "app" / "index.html",
        www / "app" / "log.html",
    ]

    for page in html_files:
        text = page.read_text()
        for tag, url in re.findall(
            r"<(script|link|img)\b[^>]*?(?:src|href)=\"([^\"]*)\"", text
        ):
            assert url.startswith("/karajo/"), f"{page.name}: <{tag}> loads {url}"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page.name
        assert not re.search(r"\son[a-z]+=", text), page.name


async def test_asset_has_type_and_revalidates(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    first = await running.client.get("/karajo/assets/dashboard.js")
    again = await running.client.get(
        "/karajo/assets/dashboard.js",
        headers={"If-None-Match": first.headers["etag"]},
    )

    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/karajo/assets/nope.js",
        "/karajo/assets/..%2Fapp%2Findex.html",
        "/karajo/assets/%2e%2e/index.html",
    ],
)
async def test_unknown_asset_is_404(tree, start_server, path):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await running.client.get(path)

    assert response.status_code == 404


def test_assets_refuse_names_leaving_their_root(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    assets = Assets(tmp_path / "www")

    assert assets.get("../secret.txt") is None
    assert assets.get("a/../../secret.txt") is None


def test_assets_in_development_mode_read_each_time(tmp_path):
    (tmp_path / "page.html").write_text("one")
    assets = Assets(tmp_path, is_development=True)

    first = assets.get("page.html")
    (tmp_path / "page.html").write_text("two")

    assert first is not None and first.data == b"one"
    assert assets.get("page.html").data == b"two"


# The documentation.


def _docs_app(tree, www: Path) -> QuartTrio:
    tree.write_main(SLOW_JOB)
    server = Server(tree.load())
    app = QuartTrio("docs-test", static_folder=None)
    app.register_blueprint(pages.blueprint(server, Assets(www)))
    return app


async def test_missing_docs_are_reported_not_fatal(tree, tmp_path, caplog):
    app = _docs_app(tree, tmp_path)

    response = await app.test_client().get("/karajo/doc/")

    assert response.status_code == 404
    assert "python scripts/build_docs.py" in await response.get_data(as_text=True)
    assert "documentation is not built" in caplog.text


async def test_built_docs_are_served(tree, tmp_path, built_docs):
    app = _docs_app(tree, built_docs.parent)

    index = await app.test_client().get("/karajo/doc/")
    page = await app.test_client().get("/karajo/doc/webhooks.html")

    assert index.status_code == 200
    assert '<h1 id="top">karajo</h1>' in await index.get_data(as_text=True)
    assert page.status_code == 200


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> Path:
    """The documentation, built once for this module by scripts/build_docs.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_docs", Path(__file__).parent.parent / "scripts" / "build_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules.setdefault("build_docs", module)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("www") / "doc"
    module.build_docs(output_dir=out)
    return out


def test_docs_have_no_script_and_no_broken_links(built_docs):
    pages_by_name = {path.name: path.read_text() for path in built_docs.glob("*.html")}

    for name, text in pages_by_name.items():
        assert "<script" not in text, name
        assert ' style="' not in text, name
        for target, anchor in re.findall(r'href="([a-z-]+\.html)(?:#([^"]*))?"', text):
            assert target in pages_by_name, f"{name} links to missing {target}"
            if anchor:
                assert f'id="{anchor}"' in pages_by_name[target], (
                    f"{name} links to missing #{anchor} of {target}"
                )


def test_docs_cover_every_configuration_key():
    from karajo import config

    text = (Path(__file__).parent.parent / "docs" / "configuration.adoc").read_text()
    key_tables = [
        value
        for name, value in vars(config).items()
        if name.startswith("_") and name.endswith("_KEYS") and isinstance(value, dict)
    ]

    missing = [key for table in key_tables for key in table if f"`{key}`" not in text]
    assert len(key_tables) >= 4
    assert missing == []


def test_docs_cover_every_command():
    from karajo.cli import build_parser

    text = (Path(__file__).parent.parent / "docs" / "command-line.adoc").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices

    assert [name for name in commands if f"karajo {name}" not in text] == []


def test_docs_cover_every_api_path(tree):
    tree.write_main(SLOW_JOB)
    text = (Path(__file__).parent.parent / "docs" / "http-api.adoc").read_text()
    paths = {
        re.sub(r"/?<[^>]*>", "", rule.rule)
        for rule in Server(tree.load()).app.url_map.iter_rules()
        if rule.rule.startswith("/karajo/api/")
    }

    missing = [
        path
        for path in sorted(paths)
        if not re.search(re.escape(path) + r"(?![\w])", text)
    ]
    assert missing == []


def test_docs_webhook_examples_carry_right_signatures():
    import hashlib
    import hmac

    text = (Path(__file__).parent.parent / "docs" / "webhooks.adoc").read_text()
    body = b'{"ref":"refs/heads/main"}'

    for secret in ("deploy-secret", "github-secret", "gitea-secret"):
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert digest in text, secret
    assert hmac.new(b"github-secret", body, hashlib.sha1).hexdigest() in text


# The event streams.


async def test_events_send_snapshot_then_changes(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    client = running.client

    async with open_events(client, "/karajo/api/events") as stream:
        [(_, first)] = await stream.until(last_is("snapshot"))
        body, headers = signed_form("slow")
        await client.post("/karajo/api/job_exec/pause", content=body, headers=headers)
        events = await stream.until(
            lambda got: got[-1][0] == "job" and got[-1][1]["status"] == "paused"
        )

    assert stream.headers["content-type"].startswith("text/event-stream")
    assert [job["id"] for job in first["jobs"]] == ["slow"]
    assert [job["id"] for job in first["http_jobs"]] == ["ping"]
    assert first["jobs"][0]["description_html"] == "<i>waits</i> for a file"
    assert events[-1][1]["id"] == "slow"


async def test_events_need_session_when_users_exist(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    refused = await running.client.get("/karajo/api/events")
    await sign_in(running.client)
    data = await snapshot(running.client)

    assert refused.status_code == 401
    assert data["session"]["user"] == USER
    assert re.fullmatch(r"[0-9a-f]{64}", data["session"]["csrf_token"])


async def test_log_stream_follows_running_run(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    job = running.server.jobs["slow"]
    body = b"{}"
    await running.client.post(
        "/karajo/api/job_exec/run/slow",
        content=body,
        headers={"X-Karajo-Sign": sign(body)},
    )
    with trio.fail_after(10):
        while job.status != "running":
            await trio.sleep(0.01)

    async with open_events(
        running.client, "/karajo/api/events/log/job_exec?id=slow&counter=1"
    ) as stream:
        before = await stream.until(lambda got: "first line" in _text_of(got))
        (job.work_dir / "go").touch()
        after = await stream.until(last_is("end"))

    assert before[0] == (
        "meta",
        {
            "kind": "job",
            "job_id": "slow",
            "name": "Slow",
            "counter": 1,
            "status": "running",
        },
    )
    assert "<b>last</b> line" not in _text_of(before)
    assert "job: slow: <b>last</b> line\n" in _text_of(after)
    assert after[-1] == ("end", {"status": "success"})


def _text_of(events: list) -> str:
    return "".join(data for name, data in events if name == "chunk")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("job_exec?id=nope&counter=1", 404),
        ("job_exec?id=slow&counter=1", 404),
        ("job_exec?id=slow&counter=x", 400),
        ("job_http?id=slow&counter=1", 404),
        ("other?id=slow&counter=1", 404),
    ],
)
async def test_log_stream_refuses_unknown_runs(tree, start_server, query, status):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    response = await running.client.get(f"/karajo/api/events/log/{query}")

    assert response.status_code == status
    assert response.json()["code"] == status


# Acting from a signed-in browser: session and CSRF token instead of the secret.


async def pause_slow_from_browser(client: httpx.AsyncClient, token: str):
    """Pause job "slow" as the dashboard does: a form with the CSRF token."""
    return await client.post(
        "/karajo/api/job_exec/pause",
        content=b"id=slow",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            CSRF_HEADER: token,
        },
    )


async def test_signed_in_user_acts_with_csrf_token(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    await sign_in(running.client)
    token = (await snapshot(running.client))["session"]["csrf_token"]
    form = {"Content-Type": "application/x-www-form-urlencoded", CSRF_HEADER: token}

    pause = await running.client.post(
        "/karajo/api/job_exec/pause", content=b"id=slow", headers=form
    )
    resume = await running.client.post(
        "/karajo/api/job_exec/resume", content=b"id=slow", headers=form
    )
    http_pause = await running.client.post(
        "/karajo/api/job_http/pause?id=ping", headers={CSRF_HEADER: token}
    )

    assert (pause.status_code, pause.json()["data"]["status"]) == (200, "paused")
    assert resume.status_code == 200
    assert (http_pause.status_code, http_pause.json()["data"]["status"]) == (
        200,
        "paused",
    )


@pytest.mark.parametrize("token", ["", "0" * 64])
async def test_session_without_right_csrf_token_is_refused(
    tree, with_user, start_server, token
):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    await sign_in(running.client)

    response = await pause_slow_from_browser(running.client, token)

    assert response.status_code == 401
    assert running.server.jobs["slow"].status != "paused"


async def test_csrf_token_of_ended_session_is_refused(tree, with_user, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    await sign_in(running.client)
    token = (await snapshot(running.client))["session"]["csrf_token"]
    cookie = running.client.cookies["karajo"]
    await running.client.post("/karajo/api/auth/logout")
    running.client.cookies.set("karajo", cookie)

    response = await pause_slow_from_browser(running.client, token)

    assert response.status_code == 401


async def test_without_users_only_the_signature_counts(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()

    unsigned = await running.client.post(
        "/karajo/api/job_exec/pause",
        content=b"id=slow",
        headers={CSRF_HEADER: "anything"},
    )
    body, headers = signed_form("slow")
    signed = await running.client.post(
        "/karajo/api/job_exec/pause", content=body, headers=headers
    )

    assert unsigned.status_code == 401
    assert signed.status_code == 200
    assert SECRET not in signed.text
