"""Read markers, archived threads and display names in the browser (Debian's chromium
against a real `parley serve`): the unread badge counts what arrived after the server's read
marker, opening a thread clears it on every device, and an archive and a new display name
show on the other page without a reload."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from _browser_support import PageLog, ParleyServer, login, screenshot
from playwright.sync_api import expect

from infra import Endpoints, fetch_access_token

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PIPELINE_MS = 45_000


def _say(page: Page, text: str) -> None:
    box = page.get_by_label("Message to")
    box.fill(text)
    box.press("Enter")


def test_unread_from_the_server_marker_archive_and_names_live(
    browser: Browser,
    chat_server: ParleyServer,
    services: Endpoints,
    page_logs: list[PageLog],
) -> None:
    gina = login(browser, chat_server, "gina", page_logs)
    hank = login(browser, chat_server, "hank", page_logs)
    title = f"Marked {uuid.uuid4().hex[:6]}"
    gina.get_by_role("button", name="New thread").click()
    gina.get_by_label("Title", exact=True).fill(title)
    gina.get_by_label("Members", exact=True).fill("hank")
    gina.get_by_role("button", name="Create").click()
    expect(gina.locator("#chat-title")).to_have_text(title, timeout=20_000)
    _say(gina, "one")
    _say(gina, "two")
    expect(gina.get_by_test_id("pending")).to_have_count(0, timeout=PIPELINE_MS)

    hank.get_by_role("button", name="Refresh threads").click()
    side = hank.locator(f"button.thread:has-text('{title}')")
    expect(side.get_by_test_id("unread")).to_have_text("2", timeout=PIPELINE_MS)
    side.click()
    expect(hank.locator("[data-testid=message] .text")).to_have_text(["one", "two"])
    expect(side.get_by_test_id("unread")).to_have_count(0)

    # A new device (fresh context: no localStorage) boots from the server's read marker.
    elsewhere = login(browser, chat_server, "hank", page_logs)
    other_side = elsewhere.locator(f"button.thread:has-text('{title}')")
    expect(other_side).to_have_count(1, timeout=20_000)
    expect(other_side.get_by_test_id("unread")).to_have_count(0, timeout=PIPELINE_MS)
    elsewhere.context.close()

    token = fetch_access_token(services.oidc_issuer, "gina")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=chat_server.base_url, timeout=10, headers=auth) as http:
        named = http.patch("/api/v1/me", json={"display_name": "Gina G."})
        assert named.status_code == 200, named.text
        expect(hank.locator(".message .sender").first).to_have_text("Gina G.", timeout=PIPELINE_MS)
        expect(hank.locator(".members")).to_contain_text("Gina G.")

        thread_id = hank.locator("button.thread", has_text=title).get_attribute("data-thread-id")
        archived = http.patch(f"/api/threads/{thread_id}", json={"archived": True})
        assert archived.status_code == 200, archived.text
    expect(hank.get_by_test_id("archived")).to_have_text("Archived: read-only", timeout=PIPELINE_MS)
    expect(hank.get_by_label("Message to")).to_have_count(0)
    expect(side.get_by_test_id("archived-mark")).to_have_count(1)
    expect(hank.locator("[data-testid=message] .text")).to_have_text(["one", "two"])
    screenshot(hank, "09-archived-named-hank")
    gina.context.close()
    hank.context.close()
