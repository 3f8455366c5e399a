"""Edits and deletes end to end against the real broker, store and provider: live on two
clients, replayed after a reconnect with since_seq, refused for others with the field named,
and a deleted message's text gone from the store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from tests.support.server import ParleyProcess
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _url(thread: str, message_id: str) -> str:
    return f"/api/threads/{thread}/messages/{message_id}"


def _refusal(answer: httpx.Response) -> tuple[int, str, str | None]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error.get("field")


def _texts_in_store(mongo_uri: str, thread: str) -> list[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        db = client.get_default_database()
        return [d.get("text", "") for d in db["messages"].find({"thread_id": thread})]
    finally:
        client.close()


async def test_edit_and_delete_are_live_replayed_refused_and_forgotten(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    alice, bob, carol = tokens["alice"], tokens["bob"], tokens["carol"]
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        created = await http.post(
            "/api/threads", json={"title": "edits", "members": ["bob"]}, headers=_auth(alice)
        )
        thread = created.json()["thread_id"]
        async with (
            chat_socket(server.ws_url, alice) as alice_ws,
            chat_socket(server.ws_url, bob) as bob_ws,
        ):
            await alice_ws.subscribe(thread)
            await bob_ws.subscribe(thread)
            await alice_ws.send(
                {"type": "send", "thread_id": thread, "client_msg_id": "a1", "text": "helo"}
            )
            first = (await alice_ws.next_of("ack"))["message_id"]
            posted = await http.post(
                "/api/messages",
                json={"thread_id": thread, "text": "bob's secret"},
                headers=_auth(bob),
            )
            second = posted.json()["message_id"]
            await alice_ws.messages(thread, 2)
            await bob_ws.messages(thread, 2)

            # Refused, each naming the field, nothing written.
            refusals = [
                (bob, "patch", first, {"text": "mine now"}),  # not the sender
                (carol, "patch", first, {"text": "x"}),  # not a member
                (alice, "patch", first, {"text": "x" * 17_000}),  # oversized
                (alice, "patch", first, {"text": "x", "seq": 9}),  # server-owned field
                (alice, "patch", first, {"text": "x", "colour": "red"}),  # extra field
                (alice, "patch", first, {}),  # missing field
                (alice, "patch", "no-such-message", {"text": "x"}),
                (bob, "delete", first, None),  # neither the sender nor the creator
            ]
            seen = []
            for token, method, message_id, body in refusals:
                answer = await http.request(
                    method.upper(), _url(thread, message_id), json=body, headers=_auth(token)
                )
                seen.append(_refusal(answer))
            assert seen == [
                (403, "forbidden", "message_id"),
                (403, "forbidden", "thread_id"),
                (413, "too_large", "text"),
                (422, "invalid", "seq"),
                (422, "invalid", "colour"),
                (422, "invalid", "text"),
                (404, "not_found", "message_id"),
                (403, "forbidden", "message_id"),
            ]

            # The sender edits over REST; the creator deletes bob's message over the WebSocket.
            edit = await http.patch(
                _url(thread, first), json={"text": "hello"}, headers=_auth(alice)
            )
            assert edit.status_code == 202, edit.text
            assert edit.json()["message_id"] == first
            await alice_ws.send(
                {"type": "delete", "thread_id": thread, "message_id": second, "client_msg_id": "d1"}
            )
            assert (await alice_ws.next_of("ack"))["message_id"] == second
            for sock in (alice_ws, bob_ws):
                edited = await sock.next_of("message_edited", within=20)
                assert (edited["seq"], edited["message_id"], edited["text"]) == (3, first, "hello")
                deleted = await sock.next_of("message_deleted", within=20)
                assert (deleted["seq"], deleted["message_id"]) == (4, second)
                assert deleted["deleted_by"] == "alice"

        # A client that had seq 2 reconnects: the edit and the delete are replayed.
        async with chat_socket(server.ws_url, bob) as again:
            subscribed = await again.subscribe(thread, since_seq=2)
            assert subscribed["last_seq"] == 4
            replayed = [f for f in again.frames if f.get("thread_id") == thread and "seq" in f]
            assert [(f["type"], f["seq"]) for f in replayed] == [
                ("message_edited", 3),
                ("message_deleted", 4),
            ]

        history = await http.get(f"/api/threads/{thread}/messages", headers=_auth(bob))
        body = history.json()
        assert [(m["seq"], m["text"]) for m in body["messages"]] == [(1, "hello"), (2, "")]
        assert "edited_at" in body["messages"][0]
        assert "deleted_at" in body["messages"][1]
        assert [c["seq"] for c in body["changes"]] == [3, 4]
        again_delete = await http.delete(_url(thread, second), headers=_auth(alice))
        assert _refusal(again_delete) == (404, "not_found", "message_id")

    texts = await trio.to_thread.run_sync(_texts_in_store, server.settings.mongo_uri, thread)
    assert "bob's secret" not in texts
    assert "helo" not in texts
    assert sorted(texts) == sorted(["hello", "", "hello", ""])  # messages, then the edit row
