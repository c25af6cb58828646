"""What a person does on the dashboard, shared by the signed-in and secret tests."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Karajo, screenshot


def job_card(page: Page, job_id: str, kind: str = "job") -> Locator:
    return page.locator(f'li.job[data-kind="{kind}"][data-job-id="{job_id}"]')


def open_job(page: Page, job_id: str, kind: str = "job") -> Locator:
    """Open a job's details from its summary button; return its card."""
    card = job_card(page, job_id, kind)
    toggle = card.locator("button.job-summary")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    return card


def expect_every_job_listed(page: Page, karajo: Karajo) -> None:
    names = karajo.job_names()
    assert ("job", "Long task") in names and len(names) > 5
    for kind, name in names:
        cards = page.locator(f'li.job[data-kind="{kind}"][data-name="{name}"]')
        expect(cards).to_have_count(1)
        expect(cards.locator(".job-name")).to_have_text(name)
        expect(cards.locator(".job-summary .badge")).to_be_visible()
        expect(cards.locator(".job-timer")).not_to_be_empty()


def run_and_watch_log(page: Page, karajo: Karajo, shot: str | None = None) -> None:
    """Run Ticker, follow its log page while it runs, then see it end."""
    go_file = karajo.work_dir("ticker") / "go"
    go_file.unlink(missing_ok=True)
    card = open_job(page, "ticker")
    card.get_by_role("button", name="Run now").click()
    expect(card).to_have_attribute("data-status", "running")
    running_row = card.locator("table.run-table tbody tr").first
    expect(running_row.locator(".badge")).to_have_text("running")

    running_row.get_by_role("link").click()
    expect(page).to_have_url(
        re.compile(r"/karajo/app/job_exec/log/\?id=ticker&counter=\d+$")
    )
    log = page.locator("#log")
    expect(log).to_contain_text("job: ticker: tick 1")
    expect(page.locator("#status")).to_have_text("running")
    assert "tick 2" not in log.inner_text()
    if shot:
        screenshot(page, shot)

    go_file.touch()
    expect(log).to_contain_text("job: ticker: tick 2")
    expect(page.locator("#status")).to_have_text("success")
    expect(log).to_have_attribute("data-ended", "true")
    go_file.unlink()


def pause_and_resume(page: Page, job_id: str, kind: str = "job") -> None:
    card = open_job(page, job_id, kind)
    card.get_by_role("button", name="Pause").click()
    expect(card).to_have_attribute("data-status", "paused")
    expect(card.locator(".job-timer")).to_have_text("paused")
    expect(card.get_by_role("button", name="Run now")).to_be_disabled()

    card.get_by_role("button", name="Resume").click()
    expect(card).not_to_have_attribute("data-status", "paused")
    expect(card.get_by_role("button", name="Pause")).to_be_enabled()


def cancel_long_run(page: Page) -> None:
    card = open_job(page, "long_task")
    card.get_by_role("button", name="Run now").click()
    expect(card).to_have_attribute("data-status", "running")
    expect(card.get_by_role("button", name="Cancel")).to_be_enabled()

    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-status", "canceled")
    expect(
        card.locator("table.run-table tbody tr").first.locator(".badge")
    ).to_have_text("canceled")


def hostile_description_and_log_stay_inert(page: Page) -> None:
    """A description with script and a log with HTML: nothing runs, log is text."""
    card = open_job(page, "hostile")
    description = card.locator(".description")
    expect(description.locator("b")).to_have_text("still bold")
    assert description.locator("script, img").count() == 0
    assert page.evaluate("window.pwned") is None

    card.get_by_role("button", name="Run now").click()
    row = card.locator("table.run-table tbody tr").first
    expect(row.locator(".badge")).to_have_text("success")
    row.get_by_role("link").click()
    log = page.locator("#log")
    expect(log).to_contain_text('<img src=x onerror="window.pwned = 3"><b>not bold</b>')
    assert log.locator("img, b").count() == 0
    assert page.evaluate("window.pwned") is None


def run_http_job_and_read_log(page: Page) -> None:
    """Run the example's HTTP job and open its run's log page."""
    card = open_job(page, "trigger_deploy", kind="job_http")
    expect(card.locator(".work")).to_contain_text(
        "POST /karajo/api/job_exec/run/deploy (json)"
    )
    card.get_by_role("button", name="Run now").click()
    row = card.locator("table.run-table tbody tr").first
    expect(row.locator(".badge")).to_have_text("success")

    row.get_by_role("link").click()
    expect(page).to_have_url(
        re.compile(r"/karajo/app/job_http/log/\?id=trigger_deploy&")
    )
    expect(page.locator("#status")).to_have_text("success")
    expect(page.locator("#log")).to_contain_text("job_http: trigger_deploy: ")
