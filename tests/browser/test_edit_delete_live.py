"""Edits and deletes shown live: alice edits and deletes her message from her page, bob's page
follows without a reload (Debian's chromium against a real `parley serve`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from _browser_support import PageLog, ParleyServer, login, screenshot
from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PIPELINE_MS = 45_000


def _say(page: Page, text: str) -> None:
    box = page.get_by_label("Message to")
    box.fill(text)
    box.press("Enter")


def test_an_edit_and_a_delete_show_live_on_the_other_page(
    browser: Browser, chat_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    alice = login(browser, chat_server, "erin", page_logs)
    bob = login(browser, chat_server, "frank", page_logs)
    title = f"Edits {uuid.uuid4().hex[:6]}"
    alice.get_by_role("button", name="New thread").click()
    alice.get_by_label("Title", exact=True).fill(title)
    alice.get_by_label("Members", exact=True).fill("frank")
    alice.get_by_role("button", name="Create").click()
    expect(alice.locator("#chat-title")).to_have_text(title, timeout=20_000)
    bob.get_by_role("button", name="Refresh threads").click()
    bob.get_by_role("button", name=title).click()
    expect(bob.locator("#chat-title")).to_have_text(title, timeout=20_000)

    _say(alice, "helo frank")
    bob_texts = bob.locator("[data-testid=message] .text")
    expect(bob_texts).to_have_text(["helo frank"], timeout=PIPELINE_MS)
    expect(alice.get_by_test_id("pending")).to_have_count(0, timeout=PIPELINE_MS)

    def answer(dialog: Dialog) -> None:
        dialog.accept("hello frank")

    alice.once("dialog", answer)
    alice.get_by_role("button", name="Edit message 1").click()
    expect(bob_texts).to_have_text(["hello frank"], timeout=PIPELINE_MS)
    expect(bob.get_by_test_id("edited")).to_have_count(1)
    # frank is neither the sender nor the thread's creator: no buttons for him.
    expect(bob.get_by_role("button", name="Edit message 1")).to_have_count(0)
    expect(bob.get_by_role("button", name="Delete message 1")).to_have_count(0)
    screenshot(bob, "07-edited-bob")

    alice.get_by_role("button", name="Delete message 1").click()
    expect(bob.get_by_test_id("deleted")).to_have_text("Message deleted", timeout=PIPELINE_MS)
    expect(bob.get_by_text("hello frank")).to_have_count(0)
    screenshot(bob, "08-deleted-bob")

    # A reload reads the same from history: the tombstone stays, the text does not.
    bob.reload()
    bob.get_by_role("button", name=title, exact=True).click()
    expect(bob.get_by_test_id("deleted")).to_have_count(1, timeout=20_000)
    expect(bob.get_by_text("hello frank")).to_have_count(0)
    alice.context.close()
    bob.context.close()
