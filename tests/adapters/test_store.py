"""MongoStore against the session's real FerretDB."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any
from unittest.mock import ANY

import pytest
import trio

from adapters import InvalidDocumentError, MongoStore, SeqConflictError
from config.settings import Settings
from parley._options import store_options
from protocol.events import MessageEvent
from protocol.records import ThreadRecord
from tests.adapters._helpers import chat_message, eventually

pytestmark = pytest.mark.integration


def msg(i: int, thread: str = "th1", *, seq: int = 0, text: str | None = None) -> MessageEvent:
    return chat_message(f"m{i}", thread, f"hello {i}" if text is None else text, seq)


def refused(message: MessageEvent, text: Any) -> MessageEvent:
    """A record carrying a value no server takes (the types say str; nothing checks at run time)."""
    return replace(message, text=text)


async def _raw(store: MongoStore, collection: str, query: dict[str, Any]) -> Any:
    """The document as the server holds it, read past the store's codec."""
    found = store._messages() if collection == "messages" else store._threads()
    return await trio.to_thread.run_sync(found.find_one, query)


async def test_indexes_exist(store: MongoStore) -> None:
    assert store.readiness.ready
    assert store.readiness.message == "store connected"
    # A second start is harmless (another process may run it at the same time).
    await store.start()


async def test_insert_is_idempotent_by_message_id(store: MongoStore) -> None:
    first = await store.insert_message(msg(1, seq=1))
    assert first.duplicate is False
    assert first.message == msg(1, seq=1)
    again = await store.insert_message(msg(1, seq=2, text="retry"))
    assert again.duplicate is True
    assert again.message == first.message
    assert await store.count_messages("th1") == 1
    assert store.counters.stored == 1
    assert store.counters.duplicates == 1


async def test_seq_clash_of_another_message_is_a_conflict(store: MongoStore) -> None:
    await store.insert_message(msg(1, seq=1))
    with pytest.raises(SeqConflictError, match=r"^seq 1 of thread th1 is taken$"):
        await store.insert_message(msg(2, seq=1))
    assert await store.find_message("m2") is None


async def test_a_batch_is_stored_up_to_its_first_clash_and_not_beyond(store: MongoStore) -> None:
    assert await store.insert_new_messages([msg(i, seq=i) for i in (1, 2, 3)]) == 3
    # m5 is new, m2 was stored before (a redelivery), m6 after it must not be written.
    batch = [msg(5, seq=4), msg(2, seq=5), msg(6, seq=6)]
    assert await store.insert_new_messages(batch) == 1
    assert await store.find_message("m6") is None
    # A taken seq stops a batch the same way.
    assert await store.insert_new_messages([msg(7, seq=4), msg(8, seq=7)]) == 0
    page = await store.history("th1", after_seq=0, limit=10)
    assert [(m.seq, m.message_id) for m in page.messages] == [
        (1, "m1"), (2, "m2"), (3, "m3"), (4, "m5"),
    ]
    assert store.counters.stored == 4


@pytest.mark.parametrize(("size", "clash_at"), [(150, 0), (150, 120), (250, 130)])
async def test_a_batch_past_100_documents_stops_at_its_clash_too(
    store: MongoStore, size: int, clash_at: int
) -> None:
    """FerretDB inserts in chunks of 100 and went on with the next chunk after a clash,
    reporting those in nInserted: a thread's seqs got holes (the zombie chaos test)."""
    assert await store.insert_new_messages([msg(1000, seq=clash_at + 1)]) == 1
    batch = [msg(i, seq=i + 1) for i in range(size)]
    assert await store.insert_new_messages(batch) == clash_at
    page = await store.history("th1", after_seq=0, limit=500)
    assert [m.seq for m in page.messages] == list(range(1, clash_at + 2))
    assert await store.find_message(f"m{clash_at + 1}") is None


async def test_a_batch_with_a_document_the_servers_refuse_writes_nothing(
    store: MongoStore,
) -> None:
    with pytest.raises(
        InvalidDocumentError, match=r"^document key '\$bad' at 'text' is not allowed$"
    ):
        await store.insert_new_messages([msg(1, seq=1), refused(msg(2, seq=2), {"$bad": 1})])
    assert await store.count_messages("th1") == 0


async def test_assign_seq_numbers_each_thread_from_one(store: MongoStore) -> None:
    for i in range(5):
        await store.insert_message(msg(i, "a"), assign_seq=True)
    await store.insert_message(msg(9, "b"), assign_seq=True)
    dup = await store.insert_message(msg(2, "a"), assign_seq=True)
    assert dup.duplicate and dup.message.seq == 3
    assert await store.last_seq("a") == 5
    assert await store.last_seq("b") == 1
    assert await store.last_seq("none") == 0


async def test_concurrent_assign_seq_never_doubles_a_seq(store: MongoStore) -> None:
    async with trio.open_nursery() as n:
        for i in range(20):
            n.start_soon(partial(store.insert_message, msg(i, "c"), assign_seq=True))
    page = await store.history("c", after_seq=0, limit=100)
    assert [m.seq for m in page.messages] == list(range(1, 21))


async def test_history_pages_both_directions(store: MongoStore) -> None:
    for i in range(1, 11):
        await store.insert_message(msg(i, "h", seq=i))
    newest = await store.history("h", limit=3)
    assert [m.seq for m in newest.messages] == [8, 9, 10]
    assert (newest.next_before_seq, newest.next_after_seq) == (8, None)
    older = await store.history("h", before_seq=8, limit=3)
    assert [m.seq for m in older.messages] == [5, 6, 7]
    assert (older.next_before_seq, older.next_after_seq) == (5, 7)
    oldest = await store.history("h", before_seq=3, limit=3)
    assert [m.seq for m in oldest.messages] == [1, 2]
    assert oldest.next_before_seq is None
    forward = await store.history("h", after_seq=0, limit=4)
    assert [m.seq for m in forward.messages] == [1, 2, 3, 4]
    assert (forward.next_before_seq, forward.next_after_seq) == (None, 4)
    tail = await store.history("h", after_seq=8, limit=4)
    assert [m.seq for m in tail.messages] == [9, 10]
    assert (tail.next_before_seq, tail.next_after_seq) == (9, None)
    assert (await store.history("nothing")).messages == ()


THREAD = ThreadRecord(
    thread_id="t1",
    title="T",
    members=("alice",),
    created_by="alice",
    created_at="2026-01-01T00:00:00.000Z",
)


async def test_threads_and_members(store: MongoStore) -> None:
    thread = THREAD
    assert await store.create_thread(thread) == thread
    assert await store.create_thread(replace(thread, title="again")) == thread
    await store.create_thread(
        replace(thread, thread_id="t2", created_at="2026-01-02T00:00:00.000Z")
    )
    assert await store.get_thread("t1") == thread
    assert await store.get_thread("nope") is None
    updated = await store.add_member("t1", "bob")
    assert updated is not None and updated.members == ("alice", "bob")
    assert [t.thread_id for t in await store.list_threads("alice")] == ["t2", "t1"]
    assert [t.thread_id for t in await store.list_threads("bob")] == ["t1"]
    removed = await store.remove_member("t1", "bob")
    assert removed is not None and removed.members == ("alice",)
    assert await store.list_threads("bob") == []
    replaced = await store.set_members("t1", ["carol", "alice"])
    assert replaced is not None and replaced.members == ("carol", "alice")
    assert await store.set_members("nope", ["x"]) is None
    assert await store.add_member("nope", "x") is None


async def test_documents_the_servers_refuse_are_refused_first(store: MongoStore) -> None:
    with pytest.raises(
        InvalidDocumentError, match=r"^document key '\$ne' at 'text' is not allowed$"
    ):
        await store.insert_message(refused(msg(1), {"$ne": None}))
    with pytest.raises(
        InvalidDocumentError, match=r"^document key 'a\.b' at 'title' is not allowed$"
    ):
        await store.create_thread(replace(THREAD, title={"a.b": 1}))  # type: ignore[arg-type]
    assert await store.count_messages() == 0


async def test_unreachable_store_is_not_ready_and_does_not_crash(settings: Settings) -> None:
    from infra import find_free_port

    dead = settings.model_copy(update={"mongo_uri": f"mongodb://127.0.0.1:{find_free_port()}/x"})
    store = MongoStore(replace(store_options(dead), server_timeout_ms=300))
    async with trio.open_nursery() as n:
        await n.start(store.run)
        await eventually(lambda: "unavailable" in store.readiness.message, 20)
        assert store.readiness.ready is False
        assert store.readiness.message.startswith(f"store at {dead.mongo_uri} unavailable: ")
        store.stop()
    assert store.readiness.message == "store closed"


async def test_threads_are_keyed_by_id_and_older_threads_are_still_found(
    store: MongoStore,
) -> None:
    thread = replace(THREAD, thread_id="t-new", title="N")
    await store.create_thread(thread)
    raw = await trio.to_thread.run_sync(store._threads().find_one, {"_id": "t-new"})
    assert raw is not None and raw["thread_id"] == "t-new"
    # A thread written before threads were keyed by _id (an ObjectId _id).
    legacy = {
        "thread_id": "t-old",
        "title": "N",
        "members": ["alice"],
        "created_by": "alice",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    await trio.to_thread.run_sync(store._threads().insert_one, dict(legacy))
    assert await store.get_thread("t-old") == replace(thread, thread_id="t-old")
    updated = await store.add_member("t-old", "bob")
    assert updated is not None and updated.members == ("alice", "bob")
    assert await store.set_members("t-new", ["alice", "carol"]) == replace(
        thread, members=("alice", "carol")
    )
    assert await store.add_member("t-none", "bob") is None


async def test_documents_keep_the_shape_every_stored_one_has(store: MongoStore) -> None:
    """Existing data and the indexes read these fields: the typed records change nothing."""
    await store.insert_message(replace(msg(1, seq=1), client_msg_id="c1"))
    await store.insert_message(msg(2, seq=2))
    assert await _raw(store, "messages", {"message_id": "m1"}) == {
        "_id": ANY,
        "message_id": "m1",
        "thread_id": "th1",
        "seq": 1,
        "thread_bucket": "th1 0",
        "sender_id": "tester",
        "text": "hello 1",
        "created_at": "2026-01-01T00:00:00.000Z",
        "client_msg_id": "c1",
    }
    second = await _raw(store, "messages", {"message_id": "m2"})
    assert second is not None and "client_msg_id" not in second
    await store.create_thread(THREAD)
    assert await _raw(store, "threads", {"_id": "t1"}) == {
        "_id": "t1",
        "thread_id": "t1",
        "title": "T",
        "members": ["alice"],
        "created_by": "alice",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
