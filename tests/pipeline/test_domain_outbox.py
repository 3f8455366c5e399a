"""Domain events through the outbox, against the real broker and store: SIGKILL in the window
between a change's write and its publish loses nothing.

The hook that holds the window open is the ``outbox_relay`` setting: a process started with
it off writes changes (state and pending event in one document) but never publishes them.
That process is SIGKILLed; a process started after it (relay on) publishes each pending
event once, with the event_id written with the change, and marks it published.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from config.settings import Settings
from tests.adapters._helpers import eventually, read_topic_sync
from tests.support.server import ParleyProcess, isolated_settings, rebuild_snapshots
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _thread_doc(mongo_uri: str, thread_id: str) -> dict[str, Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        doc = client.get_default_database()["threads"].find_one({"thread_id": thread_id})
        assert doc is not None
        return doc
    finally:
        client.close()


async def test_sigkill_between_the_write_and_the_publish_loses_nothing(
    settings: Settings, tmp_path: Path, tokens: dict[str, str]
) -> None:
    topic = f"d{uuid.uuid4().hex[:10]}.domain-changes"
    held_settings = isolated_settings(settings, domain_changes_topic=topic, outbox_relay=False)
    held = ParleyProcess(held_settings, "all", log_dir=tmp_path, name="held").start()
    try:
        async with httpx.AsyncClient(base_url=held.http_url, timeout=10) as http:
            created = await http.post(
                "/api/threads",
                json={"title": "outbox", "members": ["bob"]},
                headers=_auth(tokens["alice"]),
            )
            assert created.status_code == 201, created.text
            thread_id = created.json()["thread_id"]
            added = await http.post(
                f"/api/threads/{thread_id}/members",
                json={"user_id": "carol"},
                headers=_auth(tokens["alice"]),
            )
            assert added.status_code == 200, added.text
        doc = await trio.to_thread.run_sync(_thread_doc, held_settings.mongo_uri, thread_id)
        # The window: both changes are stored, each with its event, nothing is published.
        assert doc["members"] == ["alice", "bob", "carol"]
        assert doc["outbox_pending"] is True
        pending = [(e["type"], e["event_id"]) for e in doc["outbox"]]
        assert [kind for kind, _ in pending] == ["thread.created", "member.added"]
    finally:
        held.kill()  # SIGKILL

    relay_settings = held_settings.model_copy(update={"outbox_relay": True})
    relay = ParleyProcess(relay_settings, "all", log_dir=tmp_path, name="relay").start()
    try:

        async def published() -> bool:
            doc = await trio.to_thread.run_sync(_thread_doc, relay_settings.mongo_uri, thread_id)
            return "outbox_pending" not in doc and doc["outbox"] == []

        await eventually(published, 60, "the relay did not mark the events published")
        records = await trio.to_thread.run_sync(read_topic_sync, relay_settings, topic, 2)
    finally:
        assert relay.terminate() == 0
    values = [json.loads(r.value()) for r in records]
    assert [(v["type"], v["event_id"]) for v in values] == pending
    assert {r.key() for r in records} == {thread_id.encode()}
    assert values[0]["members"] == ["alice", "bob"]
    assert values[1]["user_id"] == "carol"
    assert all(v["v"] == 1 for v in values)

    # The read model rebuilt from the events agrees with the store; a tampered store does not.
    rebuilt = await trio.to_thread.run_sync(rebuild_snapshots, relay_settings)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "no difference" in rebuilt.stdout
    await trio.to_thread.run_sync(_set_title, relay_settings.mongo_uri, thread_id, "tampered")
    rebuilt = await trio.to_thread.run_sync(rebuild_snapshots, relay_settings)
    assert rebuilt.returncode == 1
    assert f"{thread_id}: title 'tampered' in the store, 'outbox' from the events" in rebuilt.stdout


def _set_title(mongo_uri: str, thread_id: str, title: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        client.get_default_database()["threads"].update_one(
            {"thread_id": thread_id}, {"$set": {"title": title}}
        )
    finally:
        client.close()


async def test_a_rename_reaches_members_live_and_the_domain_topic_once(
    settings: Settings, tmp_path: Path, tokens: dict[str, str]
) -> None:
    topic = f"d{uuid.uuid4().hex[:10]}.domain-changes"
    server_settings = isolated_settings(settings, domain_changes_topic=topic)
    server = ParleyProcess(server_settings, "all", log_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            created = await http.post(
                "/api/threads",
                json={"title": "before", "members": ["bob"]},
                headers=_auth(tokens["alice"]),
            )
            thread_id = created.json()["thread_id"]
            async with chat_socket(server.ws_url, tokens["bob"]) as bob:
                await bob.subscribe(thread_id)
                refused = await http.patch(
                    f"/api/threads/{thread_id}",
                    json={"title": "mine"},
                    headers=_auth(tokens["bob"]),
                )
                assert refused.status_code == 403
                assert refused.json()["error"]["field"] == "thread_id"
                empty = await http.patch(
                    f"/api/threads/{thread_id}", json={"title": ""}, headers=_auth(tokens["alice"])
                )
                assert (empty.status_code, empty.json()["error"]["field"]) == (422, "title")
                renamed = await http.patch(
                    f"/api/threads/{thread_id}",
                    json={"title": "after"},
                    headers=_auth(tokens["alice"]),
                )
                assert renamed.status_code == 200, renamed.text
                told = await bob.next_of("thread", within=20)
                assert (told["thread_id"], told["title"]) == (thread_id, "after")
            listed = await http.get("/api/threads", headers=_auth(tokens["bob"]))
            assert [t["title"] for t in listed.json()["threads"]] == ["after"]

        async def published() -> bool:
            doc = await trio.to_thread.run_sync(_thread_doc, server_settings.mongo_uri, thread_id)
            return "outbox_pending" not in doc

        await eventually(published, 60, "the relay did not publish the rename")
        records = await trio.to_thread.run_sync(read_topic_sync, server_settings, topic, 2)
    finally:
        assert server.terminate() == 0
    kinds = [json.loads(r.value())["type"] for r in records]
    assert kinds == ["thread.created", "thread.renamed"]
    assert json.loads(records[1].value())["title"] == "after"
