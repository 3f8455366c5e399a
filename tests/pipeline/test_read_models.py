"""Read markers, archiving, display names and the edits' domain events against the real
broker and store, then `parley snapshots rebuild` agreeing with the store, and naming each
thing a tampered store got wrong."""

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


def _db(mongo_uri: str) -> tuple[MongoClient[dict[str, Any]], Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    return client, client.get_default_database()


def _nothing_pending(mongo_uri: str) -> bool:
    client, db = _db(mongo_uri)
    try:
        return all(
            db[name].count_documents({"outbox_pending": True}) == 0
            for name in ("threads", "users", "messages")
        )
    finally:
        client.close()


async def _snapshot_thread(http: httpx.AsyncClient, token: str, thread_id: str) -> dict[str, Any]:
    boot = await http.get("/api/v1/server", headers=_auth(token))
    assert boot.status_code == 200, boot.text
    found: dict[str, Any] = next(t for t in boot.json()["threads"] if t["thread_id"] == thread_id)
    return found


async def _last_seq_is(http: httpx.AsyncClient, token: str, thread_id: str, seq: int) -> None:
    async def reached() -> bool:
        return (await _snapshot_thread(http, token, thread_id))["last_seq"] == seq

    await eventually(reached, 30, f"last_seq never reached {seq}")


async def test_read_markers_archive_profiles_and_their_rebuild(
    settings: Settings, tmp_path: Path, tokens: dict[str, str]
) -> None:
    topic = f"d{uuid.uuid4().hex[:10]}.domain-changes"
    server_settings = isolated_settings(settings, domain_changes_topic=topic)
    server = ParleyProcess(server_settings, "all", log_dir=tmp_path).start()
    alice, bob, carol = (_auth(tokens[u]) for u in ("alice", "bob", "carol"))
    try:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            created = await http.post(
                "/api/threads", json={"title": "read me", "members": ["bob"]}, headers=alice
            )
            thread_id = created.json()["thread_id"]
            ids = []
            for n in range(3):
                posted = await http.post(
                    f"/api/threads/{thread_id}/messages", json={"text": f"m{n}"}, headers=alice
                )
                assert posted.status_code == 202, posted.text
                ids.append(posted.json()["message_id"])
            await _last_seq_is(http, tokens["bob"], thread_id, 3)
            booted = await _snapshot_thread(http, tokens["bob"], thread_id)
            assert (booted["read_seq"], booted["unread"], booted["archived"]) == (0, 3, False)

            # Read markers: monotonic, bounded by the log, members only.
            read = f"/api/threads/{thread_id}/read"
            marked = await http.post(read, json={"seq": 2}, headers=bob)
            assert marked.json() == {"thread_id": thread_id, "read_seq": 2}
            older = await http.post(read, json={"seq": 1}, headers=bob)
            assert older.json()["read_seq"] == 2
            ahead = await http.post(read, json={"seq": 99}, headers=bob)
            assert (ahead.status_code, ahead.json()["error"]["field"]) == (422, "seq")
            negative = await http.post(read, json={"seq": -1}, headers=bob)
            assert (negative.status_code, negative.json()["error"]["field"]) == (422, "seq")
            stranger = await http.post(read, json={"seq": 1}, headers=carol)
            assert (stranger.status_code, stranger.json()["error"]["field"]) == (403, "thread_id")
            assert (await _snapshot_thread(http, tokens["bob"], thread_id))["unread"] == 1

            async with chat_socket(server.ws_url, tokens["bob"]) as bob_ws:
                await bob_ws.subscribe(thread_id)
                # The WebSocket `read` command: silent when it works, an error naming the field
                # when not.
                await bob_ws.send({"type": "read", "thread_id": thread_id, "seq": 100})
                refused = await bob_ws.next_of("error", within=10)
                assert (refused["code"], refused["field"]) == ("invalid", "seq")
                await bob_ws.send({"type": "read", "thread_id": thread_id, "seq": 3})

                async def all_read() -> bool:
                    return (await _snapshot_thread(http, tokens["bob"], thread_id))["unread"] == 0

                await eventually(all_read, 10, "the WS read command did not move the marker")

                # An edit and a delete: domain events of their own.
                edited = await http.patch(
                    f"/api/threads/{thread_id}/messages/{ids[0]}",
                    json={"text": "m0!"},
                    headers=alice,
                )
                assert edited.status_code == 202, edited.text
                deleted = await http.delete(
                    f"/api/threads/{thread_id}/messages/{ids[1]}", headers=alice
                )
                assert deleted.status_code == 202, deleted.text
                await _last_seq_is(http, tokens["bob"], thread_id, 5)
                assert (await _snapshot_thread(http, tokens["bob"], thread_id))["unread"] == 2

                # A display name: stored, in the snapshot, and live for whoever shares a thread.
                blank = await http.patch("/api/v1/me", json={"display_name": "  "}, headers=alice)
                assert (blank.status_code, blank.json()["error"]["field"]) == (422, "display_name")
                named = await http.patch(
                    "/api/v1/me", json={"display_name": " Alice A. "}, headers=alice
                )
                assert named.json() == {"user_id": "alice", "display_name": "Alice A."}
                told = await bob_ws.next_of("profile", within=20)
                assert (told["user_id"], told["display_name"]) == ("alice", "Alice A.")
                boot = (await http.get("/api/v1/server", headers=bob)).json()
                assert boot["display_names"] == {"alice": "Alice A."}
                mine = (await http.get("/api/v1/server", headers=alice)).json()["profile"]
                assert mine["display_name"] == "Alice A."

                # Archive: the creator only, live, readable, closed to new messages and edits.
                not_creator = await http.patch(
                    f"/api/threads/{thread_id}", json={"archived": True}, headers=bob
                )
                assert not_creator.status_code == 403
                unarchive = await http.patch(
                    f"/api/threads/{thread_id}", json={"archived": False}, headers=alice
                )
                assert (unarchive.status_code, unarchive.json()["error"]["field"]) == (
                    422,
                    "archived",
                )
                archived = await http.patch(
                    f"/api/threads/{thread_id}", json={"archived": True}, headers=alice
                )
                assert archived.json()["archived"] is True
                frame = await bob_ws.next_of("thread", within=20)
                assert (frame["thread_id"], frame["archived"]) == (thread_id, True)
                again = await http.patch(
                    f"/api/threads/{thread_id}", json={"archived": True}, headers=alice
                )
                assert again.status_code == 200  # no second event (checked on the topic)
            post = await http.post(
                f"/api/threads/{thread_id}/messages", json={"text": "late"}, headers=alice
            )
            assert post.status_code == 409
            assert post.json()["error"]["code"] == "thread_archived"
            assert post.json()["error"]["field"] == "thread_id"
            edit = await http.patch(
                f"/api/threads/{thread_id}/messages/{ids[2]}", json={"text": "x"}, headers=alice
            )
            assert (edit.status_code, edit.json()["error"]["code"]) == (409, "thread_archived")
            history = await http.get(f"/api/threads/{thread_id}/messages", headers=bob)
            assert [m["text"] for m in history.json()["messages"]] == ["m0!", "", "m2"]
            assert (await _snapshot_thread(http, tokens["bob"], thread_id))["archived"] is True

        await eventually(
            lambda: _nothing_pending(server_settings.mongo_uri), 60, "the relay did not publish"
        )
        records = await trio.to_thread.run_sync(read_topic_sync, server_settings, topic, 5)
    finally:
        assert server.terminate() == 0
    values = [json.loads(r.value()) for r in records]
    # Per key (the thread's, the user's) in the order written; keys may interleave.
    by_key: dict[bytes, list[str]] = {}
    for record, value in zip(records, values, strict=True):
        by_key.setdefault(record.key(), []).append(value["type"])
    assert by_key == {
        thread_id.encode(): [
            "thread.created",
            "message.edited",
            "message.deleted",
            "thread.archived",
        ],
        b"alice": ["user.profile_updated"],
    }
    values = [v for v in values if v["type"] != "user.profile_updated"]
    assert (values[1]["message_id"], values[1]["seq"]) == (ids[0], 4)
    assert "text" not in values[1]  # a later delete could not take it back from the topic
    assert (values[2]["message_id"], values[2]["seq"]) == (ids[1], 5)

    rebuilt = await trio.to_thread.run_sync(rebuild_snapshots, server_settings)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "no difference" in rebuilt.stdout

    await trio.to_thread.run_sync(_tamper, server_settings.mongo_uri, thread_id, ids)
    rebuilt = await trio.to_thread.run_sync(rebuild_snapshots, server_settings)
    assert rebuilt.returncode == 1
    assert sorted(rebuilt.stdout.splitlines()) == sorted(
        [
            f"{thread_id}: title 'tampered' in the store, 'read me' from the events",
            f"{thread_id}: members ['alice'] in the store, ['alice', 'bob'] from the events",
            f"{thread_id}: archived False in the store, True from the events",
            f"{thread_id}: last seq 4 in the store, 5 from the events",
            f"{thread_id}: message {ids[1]} is deleted in the events, not a tombstone in the store",
            "user alice: display name 'Mallory' in the store, 'Alice A.' from the events",
            "user bob: display name 'Bobby' in the store, None from the events",
        ]
    )


def _tamper(mongo_uri: str, thread_id: str, ids: list[str]) -> None:
    """Change each thing the read model holds behind the events' back."""
    client, db = _db(mongo_uri)
    try:
        db["threads"].update_one(
            {"_id": thread_id},
            {"$set": {"title": "tampered", "members": ["alice"]}, "$unset": {"archived": ""}},
        )
        db["users"].update_one({"_id": "alice"}, {"$set": {"display_name": "Mallory"}})
        db["users"].insert_one({"_id": "bob", "user_id": "bob", "display_name": "Bobby"})
        db["messages"].update_one({"message_id": ids[1]}, {"$set": {"text": "back again"}})
        db["messages"].delete_one({"message_id": ids[2]})
    finally:
        client.close()
