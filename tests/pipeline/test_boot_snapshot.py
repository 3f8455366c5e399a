"""`GET /api/v1/server` is the signed-in user's boot snapshot, and `GET /api/messages` the
original chat system's listing path, against the real services."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import ParleyProcess
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_boot_snapshot_and_listing_path(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    alice, bob, carol = tokens["alice"], tokens["bob"], tokens["carol"]
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        assert (await http.get("/api/v1/server")).status_code == 401
        assert (await http.get("/api/messages", params={"thread_id": "t_x"})).status_code == 401

        created = await http.post(
            "/api/threads", json={"title": "boot", "members": ["bob"]}, headers=_auth(alice)
        )
        thread = created.json()["thread_id"]
        empty = await http.post(
            "/api/threads", json={"title": "quiet", "members": []}, headers=_auth(alice)
        )
        async with chat_socket(server.ws_url, bob) as bob_ws:
            await bob_ws.subscribe(thread)
            for i in range(3):
                await bob_ws.send(
                    {"type": "send", "thread_id": thread, "client_msg_id": f"b{i}", "text": f"m{i}"}
                )
            await bob_ws.messages(thread, 3)

            snapshot = (await http.get("/api/v1/server", headers=_auth(alice))).json()
            assert snapshot["profile"]["user_id"] == "alice"
            by_id = {t["thread_id"]: t for t in snapshot["threads"]}
            assert set(by_id) == {thread, empty.json()["thread_id"]}
            assert by_id[thread]["last_seq"] == 3
            assert by_id[thread]["members"] == ["alice", "bob"]
            assert by_id[thread]["title"] == "boot"
            assert by_id[empty.json()["thread_id"]]["last_seq"] == 0
            assert by_id[thread]["online"] == ["bob"]
            assert snapshot["online"] == ["bob"]

        carols = (await http.get("/api/v1/server", headers=_auth(carol))).json()
        assert carols["threads"] == []

        listed = await http.get(
            "/api/messages",
            params={"thread_id": thread, "after_seq": 1, "limit": 1},
            headers=_auth(bob),
        )
        same = await http.get(
            f"/api/threads/{thread}/messages",
            params={"after_seq": 1, "limit": 1},
            headers=_auth(bob),
        )
        assert listed.status_code == 200
        assert listed.json() == same.json()
        assert [m["seq"] for m in listed.json()["messages"]] == [2]

        refusals = [
            (await http.get("/api/messages", headers=_auth(bob))),
            (await http.get("/api/messages", params={"thread_id": thread}, headers=_auth(carol))),
            (
                await http.get(
                    "/api/messages", params={"thread_id": thread, "limit": "x"}, headers=_auth(bob)
                )
            ),
        ]
        assert [(r.status_code, r.json()["error"]["field"]) for r in refusals] == [
            (422, "thread_id"),
            (403, "thread_id"),
            (422, "limit"),
        ]
