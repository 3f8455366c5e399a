"""Two people chat in Debian's chromium against a real `parley serve` and the real services.

alice and bob each log in through the provider's login page in their own browser context,
create a thread, talk both ways (Enter sends, Shift+Enter is a new line, typing shows), a
reload keeps the history, and a server restart mid-conversation ends with every message on
both pages exactly once and in order. Screenshots go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from _browser_support import PageLog, ParleyServer, login, screenshot
from playwright.sync_api import expect

from infra.token import fetch_access_token

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from infra import Endpoints

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# The first message of a fresh server crosses Kafka and the store while consumer groups settle.
PIPELINE_MS = 45_000


def _say(page: Page, text: str) -> None:
    box = page.get_by_label("Message to")
    box.fill(text)
    box.press("Enter")


def _texts(page: Page) -> list[str]:
    return page.locator("[data-testid=message] .text").all_inner_texts()


def _expect_texts(page: Page, texts: list[str], timeout: int = PIPELINE_MS) -> None:
    expect(page.locator("[data-testid=message] .text")).to_have_text(texts, timeout=timeout)
    expect(page.get_by_test_id("pending")).to_have_count(0, timeout=timeout)


def _assert_once_in_order(page: Page) -> None:
    rows = page.locator("[data-testid=message]")
    seqs = [int(s) for s in rows.evaluate_all("els => els.map(e => e.dataset.seq)")]
    ids = rows.evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert len(set(ids)) == len(ids), ids


def _start_thread(alice: Page, bob: Page, title: str) -> None:
    alice.get_by_role("button", name="New thread").click()
    alice.get_by_label("Title", exact=True).fill(title)
    alice.get_by_label("Members", exact=True).fill("bob")
    alice.get_by_role("button", name="Create").click()
    expect(alice.locator("#chat-title")).to_have_text(title, timeout=20_000)
    # bob's list refreshes on its own every few seconds; the button makes it immediate.
    bob.get_by_role("button", name="Refresh threads").click()
    bob.get_by_role("button", name=title).click()
    expect(bob.locator("#chat-title")).to_have_text(title, timeout=20_000)


def test_demo_ui_module_is_loaded_through_the_import_map(
    browser: Browser, parley_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    # The shell loads plugin modules before and regardless of the WebSocket.
    page = login(browser, parley_server, "carol", page_logs, wait_online=False)
    panel = page.get_by_test_id("demo-panel")
    expect(panel).to_be_visible(timeout=20_000)
    expect(panel).to_contain_text("parley-ui/demo-panel")
    mounted = page.locator("[data-ui-module=demo-panel]")
    # "importmap": the bare name resolved through the map the shell added at run time.
    expect(mounted).to_have_attribute("data-loaded-via", "importmap")
    maps = page.locator("script[type=importmap]").evaluate_all(
        "els => els.map(e => JSON.parse(e.textContent).imports)"
    )
    assert any("parley-ui/demo-panel" in m for m in maps), maps
    screenshot(page, "02-demo-ui-module")
    page.context.close()


def test_alice_and_bob_chat_and_a_reload_keeps_history(
    browser: Browser, chat_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    alice = login(browser, chat_server, "alice", page_logs)
    bob = login(browser, chat_server, "bob", page_logs)
    title = f"Lunch {uuid.uuid4().hex[:6]}"
    _start_thread(alice, bob, title)

    _say(alice, "hi bob")
    _expect_texts(alice, ["hi bob"])
    _expect_texts(bob, ["hi bob"])

    box = bob.get_by_label("Message to")
    box.press_sequentially("hello")
    expect(alice.get_by_test_id("typing")).to_have_text("bob is typing…", timeout=20_000)
    box.press("Shift+Enter")
    box.press_sequentially("alice")
    box.press("Enter")
    _expect_texts(bob, ["hi bob", "hello\nalice"])
    _expect_texts(alice, ["hi bob", "hello\nalice"])
    screenshot(alice, "03-chat-alice")
    screenshot(bob, "04-chat-bob")

    # A second thread bob is not looking at: its badge counts alice's message, opening clears it.
    side = f"Side {uuid.uuid4().hex[:6]}"
    alice.get_by_role("button", name="New thread").click()
    alice.get_by_label("Title", exact=True).fill(side)
    alice.get_by_label("Members", exact=True).fill("bob")
    alice.get_by_role("button", name="Create").click()
    expect(alice.locator("#chat-title")).to_have_text(side, timeout=20_000)
    _say(alice, "psst")
    _expect_texts(alice, ["psst"])
    bob.get_by_role("button", name="Refresh threads").click()
    side_button = bob.locator("button.thread", has_text=side)
    expect(side_button.get_by_test_id("unread")).to_have_text("1", timeout=PIPELINE_MS)
    expect(side_button).to_have_attribute("aria-label", f"{side}, 1 unread")
    side_button.click()
    _expect_texts(bob, ["psst"])
    expect(side_button.get_by_test_id("unread")).to_have_count(0)
    bob.get_by_role("button", name=title, exact=True).click()

    bob.reload()
    expect(bob.get_by_test_id("current-user")).to_have_text("bob", timeout=20_000)
    bob.get_by_role("button", name=title, exact=True).click()
    _expect_texts(bob, ["hi bob", "hello\nalice"], timeout=20_000)
    _assert_once_in_order(bob)

    # Refused by the server (text over the size limit): the reason is shown, nothing is stored.
    _say(alice, "x" * 17_000)
    refused = alice.get_by_test_id("pending")
    expect(refused).to_have_attribute("data-status", "failed", timeout=20_000)
    expect(refused.get_by_role("alert")).not_to_be_empty()
    expect(refused.get_by_role("button", name="Retry")).to_be_visible()
    screenshot(alice, "05-refused-alice")
    refused.get_by_role("button", name="Discard").click()
    _expect_texts(alice, ["psst"])  # alice is in the side thread now

    _assert_labelled(bob)
    # Narrow screen: the thread list folds behind a "Threads" button.
    bob.set_viewport_size({"width": 380, "height": 720})
    nav = bob.get_by_role("navigation", name="Threads")
    expect(nav).to_be_hidden()
    toggle = bob.get_by_role("button", name="Threads", exact=True)
    toggle.click()
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    screenshot(bob, "06-narrow-threads-bob")
    nav.get_by_role("button", name=title, exact=True).click()
    expect(nav).to_be_hidden()
    screenshot(bob, "07-narrow-chat-bob")
    alice.context.close()
    bob.context.close()


def _assert_labelled(page: Page) -> None:
    """Every control a keyboard or screen-reader user meets has a name."""
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, textarea, [role=log]')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []


def test_both_pages_recover_from_a_server_restart_without_loss_or_doubles(
    browser: Browser, chat_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    alice = login(browser, chat_server, "alice", page_logs)
    bob = login(browser, chat_server, "bob", page_logs)
    title = f"Restart {uuid.uuid4().hex[:6]}"
    _start_thread(alice, bob, title)
    _say(alice, "one")
    _expect_texts(bob, ["one"])
    _say(bob, "two")
    _expect_texts(alice, ["one", "two"])

    # In flight while the server stops: acknowledged or not, it must end up stored once.
    _say(alice, "two and a half, sent as the server stops")
    chat_server.stop()
    for page in (alice, bob):
        expect(page.get_by_test_id("connection")).not_to_have_attribute(
            "data-state", "online", timeout=20_000
        )
    # Written while the server is down: it waits, then goes out with its client_msg_id.
    _say(alice, "three, written while the server was down")
    expect(alice.get_by_test_id("pending").last).to_have_attribute("data-status", "waiting")
    screenshot(alice, "08-offline-alice")

    chat_server.start()
    for page in (alice, bob):
        expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "online", timeout=60_000
        )
    _say(bob, "four")
    _say(alice, "five")
    expected = [
        "one",
        "two",
        "two and a half, sent as the server stops",
        "three, written while the server was down",
        "four",
        "five",
    ]
    # "four" and "five" race each other: compare as sets first, then the order by seq.
    for page in (alice, bob):
        expect(page.locator("[data-testid=message]")).to_have_count(6, timeout=PIPELINE_MS)
        expect(page.get_by_test_id("pending")).to_have_count(0, timeout=PIPELINE_MS)
        assert sorted(_texts(page)) == sorted(expected)
        _assert_once_in_order(page)
    assert _texts(alice) == _texts(bob)
    assert _texts(alice)[:4] == expected[:4]
    screenshot(alice, "09-after-restart-alice")
    screenshot(bob, "10-after-restart-bob")
    alice.context.close()
    bob.context.close()


def test_silent_renew_and_logout(
    browser: Browser, parley_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    page = login(browser, parley_server, "dave", page_logs, wait_online=False)
    # What automaticSilentRenew does before expiry: a new token without leaving the page.
    renewed = page.evaluate(
        """async () => {
            const auth = window.parleyDebug.auth;
            const before = auth.user.access_token;
            const user = await auth.renew();
            return {changed: user.access_token !== before, sub: user.profile.sub};
        }"""
    )
    assert renewed == {"changed": True, "sub": "dave"}
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=20_000)
    # The provider ended its session too (RP-initiated logout), then sent us back.
    assert any("/endsession" in url for url in visited), visited
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('oidc.user'))") == []
    page.context.close()


def test_scroll_back_pages_older_history(
    browser: Browser, chat_server: ParleyServer, services: Endpoints, page_logs: list[PageLog]
) -> None:
    page = login(browser, chat_server, "erin", page_logs)
    token = fetch_access_token(services.oidc_issuer, "erin")
    api = httpx.Client(
        base_url=f"{chat_server.base_url}/api", headers={"Authorization": f"Bearer {token}"}
    )
    title = f"Long history {uuid.uuid4().hex[:6]}"
    thread = api.post("/threads", json={"title": title, "members": ["erin"]})
    assert thread.status_code == 201, thread.text
    thread_id = thread.json()["thread_id"]
    page.get_by_role("button", name="Refresh threads").click()
    page.get_by_role("button", name=title).click()
    total = 65
    for n in range(1, total + 1):
        body = {"text": f"old {n}", "client_msg_id": f"c{n}"}
        answer = api.post(f"/threads/{thread_id}/messages", json=body)
        while answer.status_code == 429:  # the per-user rate limit: wait as told, same id
            time.sleep(float(answer.json()["error"].get("retry_after_s", 0.1)))
            answer = api.post(f"/threads/{thread_id}/messages", json=body)
        assert answer.status_code == 202, answer.text
    rows = page.locator("[data-testid=message] .text")
    expect(rows).to_have_count(total, timeout=PIPELINE_MS)  # live, while the thread was open

    # After a reload only the newest page is fetched; scrolling to the top asks for the rest.
    page.reload()
    page.get_by_role("button", name=title).click()
    expect(rows.last).to_have_text(f"old {total}", timeout=20_000)
    assert rows.count() < total
    expect(page.get_by_role("button", name="Load older messages")).to_be_visible()
    page.get_by_role("log").evaluate("el => { el.scrollTop = 0; }")
    expect(rows).to_have_count(total, timeout=20_000)
    expect(rows.first).to_have_text("old 1")
    expect(page.get_by_role("button", name="Load older messages")).to_have_count(0)
    _assert_once_in_order(page)
    screenshot(page, "11-scroll-back")
    page.context.close()


def test_keyboard_only_new_thread_and_message(
    browser: Browser, chat_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    page = login(browser, chat_server, "frank", page_logs)
    # Tab to "New thread" the way a keyboard user would, never clicking.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "New thread":
            break
    else:
        pytest.fail("Tab never reached the New thread button")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Title", exact=True)).to_be_focused()
    title = f"Keys {uuid.uuid4().hex[:6]}"
    page.keyboard.type(title)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Members", exact=True)).to_be_focused()
    page.keyboard.type("grace")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#chat-title")).to_have_text(title, timeout=20_000)
    expect(page.get_by_label("Message to")).to_be_focused()
    page.keyboard.type("typed, not clicked")
    page.keyboard.press("Enter")
    _expect_texts(page, ["typed, not clicked"])
    page.context.close()
