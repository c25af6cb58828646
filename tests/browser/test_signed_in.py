"""The web interface with users: sign in, act with session and CSRF token, sign out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import flows
from tests.browser.conftest import (
    PASSWORD,
    USER,
    Karajo,
    launch_chromium,
    screenshot,
    start_karajo,
    stop_karajo,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def karajo(tmp_path_factory) -> Iterator[Karajo]:
    started = start_karajo(
        tmp_path_factory.mktemp("signed-in"), "127.0.0.1:0", with_users=True
    )
    yield started
    stop_karajo(started)


@pytest.fixture(scope="module")
def browser(playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, karajo: Karajo, password: str = PASSWORD) -> None:
    page.goto(f"{karajo.url}/karajo/")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def signed_in(page: Page, karajo: Karajo) -> Page:
    sign_in(page, karajo)
    expect(page).to_have_url(f"{karajo.url}/karajo/app/")
    expect(page.locator("#connection")).to_have_text("Live")
    return page


def test_sign_in_shows_every_example_job(signed_in, karajo):
    page = signed_in

    expect(page.locator("#user")).to_have_text(f"Signed in as {USER}")
    expect(page.locator("#secret-box")).to_be_hidden()
    flows.expect_every_job_listed(page, karajo)


def test_run_job_and_watch_its_log_live(signed_in, karajo):
    flows.run_and_watch_log(signed_in, karajo, shot="log-running.png")


def test_pause_and_resume(signed_in):
    flows.pause_and_resume(signed_in, "disk_space")
    flows.pause_and_resume(signed_in, "trigger_deploy", kind="job_http")


def test_http_job_run_and_its_log_page(signed_in):
    flows.run_http_job_and_read_log(signed_in)


def test_cancel_long_run(signed_in):
    flows.cancel_long_run(signed_in)
    screenshot(signed_in, "dashboard.png")


def test_hostile_description_and_log_stay_inert(signed_in):
    flows.hostile_description_and_log_stay_inert(signed_in)


def test_sign_out_ends_session(signed_in, karajo):
    page = signed_in

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{karajo.url}/karajo/")
    page.goto(f"{karajo.url}/karajo/app/")
    expect(page).to_have_url(f"{karajo.url}/karajo/")
    status = page.evaluate("fetch('/karajo/api/environment').then(r => r.status)")
    assert status == 401


def test_times_in_viewer_zone_with_utc_on_hover(browser, karajo):
    context = browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB")
    page = context.new_page()
    sign_in(page, karajo)

    card = flows.open_job(page, "disk_space")
    last_run = card.locator("dd time").first

    expect(last_run).to_contain_text(re.compile(r"GMT\+5:30|IST"))
    expect(last_run).to_have_attribute(
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    context.close()


def test_keyboard_reaches_and_opens_a_job(signed_in):
    page = signed_in
    first = page.locator("button.job-summary").first

    for _ in range(12):
        page.keyboard.press("Tab")
        if first.evaluate("node => node === document.activeElement"):
            break
    page.keyboard.press("Enter")

    expect(first).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused in ("Run now", "Pause")


def test_controls_are_labelled(signed_in):
    page = signed_in
    flows.open_job(page, "deploy")

    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, a')]
            .filter(node => node.offsetParent !== null)
            .filter(node => !(node.labels && node.labels.length)
                && !node.getAttribute('aria-label')
                && !node.textContent.trim())
            .map(node => node.outerHTML)"""
    )
    assert unnamed == []


def test_phone_width_has_no_sideways_scroll(browser, karajo):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    sign_in(page, karajo)
    flows.open_job(page, "deploy")

    widths = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")

    assert widths[0] <= widths[1]
    screenshot(page, "dashboard-phone.png")
    context.close()


def test_docs_index_is_served(signed_in, karajo):
    page = signed_in

    page.get_by_role("link", name="Documentation").click()

    expect(page).to_have_url(f"{karajo.url}/karajo/doc/")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Webhooks")
    page.get_by_role("link", name="Configuration").first.click()
    expect(page.locator("h1#top")).to_have_text("Configuration")
    page.goto(f"{karajo.url}/karajo/doc/")
    screenshot(page, "docs-index.png")


# Last: a refused sign-in makes the server slow the next ones down.
def test_wrong_password_is_refused(page, karajo):
    sign_in(page, karajo, password=PASSWORD + "!")

    expect(page.get_by_role("alert")).to_contain_text(
        "invalid user name and/or password"
    )
    expect(page).to_have_url(f"{karajo.url}/karajo/")
    page.goto(f"{karajo.url}/karajo/app/")
    expect(page).to_have_url(f"{karajo.url}/karajo/")
