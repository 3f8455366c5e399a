"""The outboxes against the session's real FerretDB: a change and its domain event in one
write (a thread's document, a user's document, an edit's or delete's own row), pending until
marked published; read markers that only move forward."""

from __future__ import annotations

import pytest

from adapters import MongoStore
from protocol.domain import (
    MemberAdded,
    MessageDeletedEvent,
    MessageEditedEvent,
    ThreadArchived,
    ThreadCreated,
    UserProfileUpdated,
    change_event,
)
from protocol.events import MessageDeleted, MessageEdited, MessageEvent
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

    await store.mark_published([created])
    assert await store.pending_outbox() == [added]
    await store.mark_published([added])
    assert await store.pending_outbox() == []
    await store.mark_published([added])  # a second mark (a relay restarted) is harmless
    assert await store.pending_outbox() == []


async def test_archive_profile_and_changes_each_write_their_event_with_their_state(
    store: MongoStore,
) -> None:
    await store.create_thread(ThreadRecord("th2", "t", ("alice",), "alice", AT))
    archived = ThreadArchived("ev3", "th2", "alice", AT)
    thread = await store.set_archived("th2", [archived])
    assert thread is not None
    assert thread.archived is True
    assert (await store.get_thread("th2")) == thread

    profile = UserProfileUpdated("ev4", "alice", "alice", AT, "Alice A.")
    await store.set_profile("alice", "Alice A.", [profile])
    assert await store.profiles(["alice", "bob"]) == {"alice": "Alice A."}

    await store.insert_message(MessageEvent("th2", 1, "m1", "alice", "hello", AT))
    edit = MessageEdited("th2", 2, "c1", "m1", "alice", "hello!", AT)
    delete = MessageDeleted("th2", 3, "c2", "m1", "alice", AT)
    await store.apply_change(edit, [change_event(edit)])
    await store.apply_change(delete, [change_event(delete)])
    again = await store.apply_change(delete, [change_event(delete)])  # a redelivery
    assert again.duplicate

    pending = await store.pending_outbox()
    assert pending == [
        archived,
        profile,
        MessageEditedEvent("c1", "th2", "alice", AT, "m1", 2),
        MessageDeletedEvent("c2", "th2", "alice", AT, "m1", 3),
    ]
    await store.mark_published(pending)
    assert await store.pending_outbox() == []
    # The edit's text is in neither the event nor, after the delete, the store.
    assert (await store.find_message("m1")) is not None
    page = await store.history("th2", after_seq=0)
    assert [m.text for m in page.messages] == [""]
    assert [getattr(c, "text", "") for c in page.changes] == ["", ""]


async def test_a_read_marker_only_moves_forward(store: MongoStore) -> None:
    assert await store.read_seqs("alice", ["th3"]) == {}
    assert await store.mark_read("alice", "th3", 5) == 5
    assert await store.mark_read("alice", "th3", 2) == 5  # an older tab: not lowered
    assert await store.mark_read("alice", "th3", 9) == 9
    assert await store.mark_read("bob", "th3", 1) == 1
    assert await store.read_seqs("alice", ["th3", "th4"]) == {"th3": 9}
