"""The operator page in Debian's chromium: an admin sees the processes, the supervision tree
and a chart that moves while a load runs; a non-admin is told the page is for operators."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from _browser_support import PageLog, ParleyServer, screenshot
from playwright.sync_api import expect

from infra.token import fetch_access_token

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from infra import Endpoints

pytestmark = [pytest.mark.browser, pytest.mark.integration]

_SLOW_MS = 45_000


def _login(browser: Browser, server: ParleyServer, user: str) -> Page:
    """Through the provider's login page (the real code flow). Nothing is typed into the
    provider's claims box: the local provider gives its user `admin` the admin claim."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.base_url}/")
    page.get_by_role("button", name="Sign in").click()
    username = page.locator("input[name=username]")
    username.wait_for(timeout=20_000)
    username.fill(user)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url(f"{server.base_url}/", timeout=20_000)
    expect(page.get_by_test_id("current-user")).to_have_text(user, timeout=20_000)
    page.goto(f"{server.base_url}/ops")
    return page


def _load(server: ParleyServer, token: str, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        thread = http.post("/api/threads", json={"title": "load", "members": []})
        thread.raise_for_status()
        thread_id = thread.json()["thread_id"]
        n = 0
        while not stop.is_set():
            http.post("/api/messages", json={"thread_id": thread_id, "text": f"load {n}"})
            n += 1
            stop.wait(0.02)


def test_operator_page_shows_processes_tree_and_a_moving_chart(
    browser: Browser, chat_server: ParleyServer, services: Endpoints, page_logs: list[PageLog]
) -> None:
    page = _login(browser, chat_server, "admin")
    log = PageLog("admin")
    log.attach(page)
    page_logs.append(log)
    rows = page.locator("[data-testid=ops-processes] tbody tr")
    expect(rows.first).to_have_attribute("data-state", "running", timeout=_SLOW_MS)
    expect(rows.first.locator("td").nth(1)).to_have_text("all")
    expect(page.locator("[data-testid=ops-tree] li[data-path='/parley/threads']")).to_have_count(1)

    chart = page.get_by_test_id("chart-messages")
    expect(chart.locator("canvas")).to_have_count(1)
    token = fetch_access_token(services.oidc_issuer, f"loader-{uuid.uuid4().hex[:6]}")
    stop = threading.Event()
    loader = threading.Thread(target=_load, args=(chat_server, token, stop), daemon=True)
    loader.start()
    try:
        # The rate leaves zero once messages are stored between two heartbeats.
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=chart-messages]')"
            ".dataset.last || 0) > 0",
            timeout=_SLOW_MS,
        )
        screenshot(page, "ops-page-under-load")
    finally:
        stop.set()
        loader.join(timeout=15)
    points = int(chart.get_attribute("data-points") or 0)
    assert points >= 2


def test_operator_page_refuses_a_user_without_the_claim(
    browser: Browser, chat_server: ParleyServer
) -> None:
    page = _login(browser, chat_server, "alice")
    expect(page.get_by_test_id("ops-status")).to_have_text(
        "Operators only: this account has no admin claim.", timeout=_SLOW_MS
    )
    expect(page.locator("[data-testid=ops-processes] tbody tr")).to_have_count(0)
