"""The product, end to end against the real broker, store and provider: post, fan out, recover."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.server import ParleyProcess
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _new_thread(http: httpx.AsyncClient, token: str, members: list[str]) -> str:
    answer = await http.post(
        "/api/threads", json={"title": "test", "members": members}, headers=_auth(token)
    )
    assert answer.status_code == 201, answer.text
    thread_id: str = answer.json()["thread_id"]
    return thread_id


async def _post(http: httpx.AsyncClient, token: str, thread_id: str, text: str) -> dict[str, Any]:
    answer = await http.post(
        "/api/messages", json={"thread_id": thread_id, "text": text}, headers=_auth(token)
    )
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_two_websocket_clients_exchange_and_rest_reaches_both(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        thread = await _new_thread(http, tokens["alice"], ["bob"])
        async with (
            chat_socket(server.ws_url, tokens["alice"]) as alice,
            chat_socket(server.ws_url, tokens["bob"]) as bob,
        ):
            assert (await alice.subscribe(thread))["last_seq"] == 0
            assert (await bob.subscribe(thread))["last_seq"] == 0

            await alice.send(
                {"type": "send", "thread_id": thread, "client_msg_id": "a1", "text": "hi bob"}
            )
            ack = await alice.next_of("ack")
            assert ack["client_msg_id"] == "a1"
            await bob.send(
                {"type": "send", "thread_id": thread, "client_msg_id": "b1", "text": "hi alice"}
            )
            assert (await bob.next_of("ack"))["client_msg_id"] == "b1"
            posted = await _post(http, tokens["alice"], thread, "over REST")

            for sock in (alice, bob):
                got = await sock.messages(thread, 3)
                assert [m["seq"] for m in got] == [1, 2, 3]
                assert [m["text"] for m in got] == ["hi bob", "hi alice", "over REST"]
                assert [m["sender_id"] for m in got] == ["alice", "bob", "alice"]
                assert got[0]["message_id"] == ack["message_id"]
                assert got[2]["message_id"] == posted["message_id"]

        older = await http.get(
            f"/api/threads/{thread}/messages",
            params={"before_seq": 3, "limit": 1},
            headers=_auth(tokens["bob"]),
        )
        assert older.status_code == 200
        assert [m["seq"] for m in older.json()["messages"]] == [2]
        assert older.json()["next_before_seq"] == 2
        newer = await http.get(
            f"/api/threads/{thread}/messages",
            params={"after_seq": 1, "limit": 1},
            headers=_auth(tokens["bob"]),
        )
        assert [m["seq"] for m in newer.json()["messages"]] == [2]
        assert newer.json()["next_after_seq"] == 2


async def test_reconnect_with_since_seq_gets_exactly_what_was_missed(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        thread = await _new_thread(http, tokens["alice"], ["bob"])
        async with chat_socket(server.ws_url, tokens["bob"]) as bob:
            await bob.subscribe(thread)
            await _post(http, tokens["alice"], thread, "before")
            (first,) = await bob.messages(thread, 1)
        last_seen = first["seq"]

        missed = [await _post(http, tokens["alice"], thread, f"missed {i}") for i in range(50)]

        async with chat_socket(server.ws_url, tokens["bob"]) as bob:
            await bob.subscribe(thread, since_seq=last_seen)
            await _post(http, tokens["alice"], thread, "live after reconnect")
            got = await bob.messages(thread, 51)
            assert [m["message_id"] for m in got[:50]] == [m["message_id"] for m in missed]
            assert [m["seq"] for m in got] == list(range(2, 53))
            assert got[50]["text"] == "live after reconnect"
            # Nothing twice at the seam between history and live events.
            raw = bob.raw_messages(thread)
            assert len(raw) == len({m["message_id"] for m in raw})
        # The gateway watched the thread from its creation: the replay came from its memory.
        metrics = (await http.get("/metrics")).text
        assert _gauge(metrics, "parley_replays_from_memory") >= 1


def _gauge(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


async def test_sends_pipelined_on_one_connection_are_all_acked_and_stored_in_order(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        thread = await _new_thread(http, tokens["alice"], ["bob"])
        async with chat_socket(server.ws_url, tokens["alice"]) as alice:
            await alice.subscribe(thread)
            # All sent before the first ack can arrive: many in flight on one connection.
            for i in range(40):
                await alice.send(
                    {"type": "send", "thread_id": thread, "client_msg_id": f"p{i}", "text": f"{i}"}
                )
            acks = [await alice.next_of("ack") for _ in range(40)]
            assert sorted(a["client_msg_id"] for a in acks) == sorted(f"p{i}" for i in range(40))
            got = await alice.messages(thread, 40)
            assert [m["text"] for m in got] == [str(i) for i in range(40)]
            assert [m["seq"] for m in got] == list(range(1, 41))
            assert {a["message_id"] for a in acks} == {m["message_id"] for m in got}


async def test_a_member_online_hears_of_a_new_thread_at_once(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
        chat_socket(server.ws_url, tokens["bob"]) as bob,
    ):
        thread = await _new_thread(http, tokens["alice"], ["bob"])
        told = await bob.next_of("thread")
        assert told == {"type": "thread", "thread_id": thread, "members": ["alice", "bob"]}
