"""The web interface without users: actions signed in the browser with the secret.

karajo listens on 127.0.0.2, a loopback address that is not `localhost`.
The page is opened as http://karajo.test:PORT, a name Chromium resolves to
127.0.0.2 by a host-resolver rule: like a LAN address over plain HTTP it is
not a secure context, so Web Crypto is missing and the page must sign with
its own JavaScript HMAC.  (Chromium counts the bare IP 127.0.0.2 as secure;
one test checks that origin too, where Web Crypto signs.)
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import flows
from tests.browser.conftest import (
    EXAMPLE_SECRET,
    Karajo,
    launch_chromium,
    start_karajo,
    stop_karajo,
)

pytestmark = pytest.mark.slow

HOST_NAME = "karajo.test"


@pytest.fixture(scope="module")
def karajo(tmp_path_factory) -> Iterator[Karajo]:
    started = start_karajo(
        tmp_path_factory.mktemp("secret"), "127.0.0.2:0", with_users=False
    )
    yield started
    stop_karajo(started)


@pytest.fixture(scope="module")
def browser(playwright) -> Iterator[Browser]:
    # Only this made-up name is mapped, and only to the loopback address.
    browser = launch_chromium(
        playwright, [f"--host-resolver-rules=MAP {HOST_NAME} 127.0.0.2"]
    )
    yield browser
    browser.close()


@pytest.fixture
def lan_url(karajo: Karajo) -> str:
    """karajo's address under a name, as a LAN address would be reached."""
    port = urlsplit(karajo.url).port
    return f"http://{HOST_NAME}:{port}"


@pytest.fixture
def page(browser: Browser, lan_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{lan_url}/karajo/")
    expect(page).to_have_url(f"{lan_url}/karajo/app/")
    expect(page.locator("#connection")).to_have_text("Live")
    yield page
    context.close()


def type_secret(page: Page, secret: str = EXAMPLE_SECRET) -> None:
    page.get_by_label("Secret").fill(secret)


def test_page_signs_without_web_crypto(page):
    assert page.evaluate("[isSecureContext, typeof crypto.subtle]") == [
        False,
        "undefined",
    ]
    expect(page.locator("body")).to_have_attribute("data-signing", "javascript")


def test_every_example_job_is_listed(page, karajo):
    expect(page.locator("#logout")).to_be_hidden()
    expect(page.get_by_label("Secret")).to_be_visible()
    flows.expect_every_job_listed(page, karajo)


def test_action_without_secret_asks_for_it(page):
    card = flows.open_job(page, "disk_space")

    card.get_by_role("button", name="Pause").click()

    expect(page.get_by_role("alert")).to_contain_text("type karajo's secret first")
    expect(page.get_by_label("Secret")).to_be_focused()
    expect(card).not_to_have_attribute("data-status", "paused")


def test_wrong_secret_shows_api_error(page):
    type_secret(page, "not-the-secret")
    card = flows.open_job(page, "disk_space")

    card.get_by_role("button", name="Pause").click()

    expect(page.get_by_role("alert")).to_contain_text("empty or invalid signature")
    expect(page.get_by_role("alert")).to_contain_text("HTTP 401")


def test_run_job_and_watch_its_log_live(page, karajo):
    type_secret(page)
    flows.run_and_watch_log(page, karajo)


def test_pause_and_resume(page):
    type_secret(page)
    flows.pause_and_resume(page, "disk_space")
    # HTTP jobs sign the query string instead of a form body.
    flows.pause_and_resume(page, "trigger_deploy", kind="job_http")


def test_cancel_long_run(page):
    type_secret(page)
    flows.cancel_long_run(page)


def test_hostile_description_and_log_stay_inert(page):
    type_secret(page)
    flows.hostile_description_and_log_stay_inert(page)


def test_http_job_run_and_its_log_page(page):
    type_secret(page)
    flows.run_http_job_and_read_log(page)


def test_web_crypto_signs_on_a_secure_origin(browser, karajo):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{karajo.url}/karajo/app/")
    expect(page.locator("body")).to_have_attribute("data-signing", "web-crypto")
    type_secret(page)

    flows.pause_and_resume(page, "disk_space")
    context.close()
