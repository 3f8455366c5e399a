"""The thread document's outbox against the session's real FerretDB: a change and its domain
event in one write, pending until marked published."""

from __future__ import annotations

import pytest

from adapters import MongoStore
from protocol.domain import MemberAdded, ThreadCreated
from protocol.records import ThreadRecord

pytestmark = pytest.mark.integration

AT = "2026-11-22T00:00:00.000Z"


async def test_pending_until_marked_published(store: MongoStore) -> None:
    thread = ThreadRecord("th1", "t", ("alice",), "alice", AT)
    created = ThreadCreated("ev1", "th1", "alice", AT, "t", ["alice"])
    await store.create_thread(thread, [created])
    added = MemberAdded("ev2", "th1", "alice", AT, "bob", ["alice", "bob"])
    updated = await store.set_members("th1", ["alice", "bob"], [added])
    assert updated is not None
    assert updated.members == ("alice", "bob")
    assert await store.pending_outbox() == [created, added]

    await store.mark_published("th1", [created])
    assert await store.pending_outbox() == [added]
    await store.mark_published("th1", [added])
    assert await store.pending_outbox() == []
    await store.mark_published("th1", [added])  # a second mark (a relay restarted) is harmless
    assert await store.pending_outbox() == []
