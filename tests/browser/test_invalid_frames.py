"""A server frame the generated protocol module refuses is reported on the page, not rendered.

The browser validates every incoming frame with frontend/app/protocol.js (generated from the
server's models). Playwright sits between the page and the real server's WebSocket and slips
in a forged ``message`` frame without its ``seq``: the page says so in its banner and shows no
trace of the forged text, while the real frames around it keep flowing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from _browser_support import PageLog, ParleyServer, login, screenshot
from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Browser, WebSocketRoute

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_invalid_frame_is_reported_not_rendered(
    browser: Browser, chat_server: ParleyServer, page_logs: list[PageLog]
) -> None:
    page = login(browser, chat_server, "dave", page_logs)
    routes: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()  # frames pass both ways untouched
        routes.append(ws)

    page.context.route_web_socket(lambda _url: True, through)
    page.reload()  # the next connection goes through the route
    expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "online", timeout=30_000
    )
    assert routes
    forged = {
        "type": "message",
        "thread_id": "t_forged",
        "message_id": "m_forged",
        "sender_id": "mallory",
        "text": "forged text that must not appear",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    routes[-1].send(json.dumps(forged))
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text('Ignored an invalid "message" frame', timeout=10_000)
    expect(banner).to_contain_text("(field seq)")
    expect(page.get_by_text("forged text that must not appear")).to_have_count(0)
    # Still online: a bad frame is reported, the link stays up.
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    screenshot(page, "06-invalid-frame-reported")
    page.context.close()
