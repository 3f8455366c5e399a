"""History pages, replay and last_seq read by seq bucket (adapters/_buckets.py), against the
session's real FerretDB: every page is checked against the same page cut from the whole list."""

from __future__ import annotations

from functools import partial
from typing import Any

import pymongo
import pytest
import trio

from adapters import MongoStore
from adapters._buckets import MARKS
from config.settings import Settings
from parley._options import store_options
from protocol.events import MessageEdited
from tests.adapters._helpers import chat_message, unique

pytestmark = pytest.mark.integration

THREAD = "long"


async def _fill(store: MongoStore, thread: str, seqs: range) -> None:
    messages = [chat_message(f"{thread}-{s}", thread, f"text {s}", s) for s in seqs]
    assert await store.insert_new_messages(messages) == len(messages)


def _expected(
    seqs: list[int], after: int | None, before: int | None, limit: int
) -> tuple[list[int], int | None, int | None]:
    """The page the store gave before buckets (find + sort + limit), from the whole list."""
    if after is not None:
        rows = [s for s in seqs if s > after and (before is None or s < before)]
        page, more = rows[:limit], len(rows) > limit
        first = page[0] if page and after > 0 else None
        return page, first, page[-1] if page and more else None
    rows = [s for s in seqs if before is None or s < before]
    page, more = rows[-limit:] if rows else [], len(rows) > limit
    last = page[-1] if page and before is not None else None
    return page, page[0] if page and more else None, last


async def _page(
    store: MongoStore, thread: str, after: int | None, before: int | None, limit: int
) -> tuple[list[int], int | None, int | None]:
    got = await store.history(thread, after_seq=after, before_seq=before, limit=limit)
    return [m.seq for m in got.messages], got.next_before_seq, got.next_after_seq


async def test_pages_across_bucket_boundaries_match_the_whole_list(store: MongoStore) -> None:
    await _fill(store, THREAD, range(1, 251))
    seqs = list(range(1, 251))
    cases: list[tuple[int | None, int | None, int]] = [
        (None, None, 50),  # the newest page: buckets 2 and 1
        (None, None, 100),
        (None, None, 500),  # the whole thread, more than asked for never
        (None, 201, 100),  # exactly bucket 1, and more below
        (None, 200, 100),
        (None, 201, 101),  # 101: one row past a full bucket
        (None, 101, 100),  # exactly the 99 of bucket 0 and nothing more
        (None, 100, 1),
        (None, 1, 50),  # before the first seq
        (None, 2, 50),
        (None, 10_000, 50),  # far past the end
        (0, None, 100),
        (0, None, 99),
        (99, None, 2),  # across 99 | 100
        (99, None, 100),
        (100, None, 101),
        (199, None, 1),
        (200, None, 100),  # the end of the thread inside bucket 2
        (249, None, 50),
        (250, None, 50),  # nothing after the last
        (5000, None, 50),
        (-3, None, 5),
        (50, 151, 500),  # both bounds
        (150, 152, 10),
        (99, 100, 10),  # nothing between
    ]
    for after, before, limit in cases:
        assert await _page(store, THREAD, after, before, limit) == _expected(
            seqs, after, before, limit
        ), (after, before, limit)


async def test_an_empty_thread_has_empty_pages_and_last_seq_0(store: MongoStore) -> None:
    await _fill(store, "other", range(1, 120))
    for after, before in ((None, None), (None, 50), (None, 1), (0, None), (10, None), (0, 50)):
        page = await store.history("nothing", after_seq=after, before_seq=before)
        assert (page.messages, page.next_before_seq, page.next_after_seq) == ((), None, None)
    assert await store.last_seq("nothing") == 0


async def test_changes_have_seqs_in_the_buckets_too(store: MongoStore) -> None:
    await _fill(store, THREAD, range(1, 100))
    edit = MessageEdited(
        thread_id=THREAD,
        seq=100,
        change_id="e1",
        message_id=f"{THREAD}-5",
        editor_id="tester",
        text="edited",
        edited_at="2026-01-01T00:00:01.000Z",
    )
    await store.apply_change(edit)
    assert await store.last_seq(THREAD) == 100
    page = await store.history(THREAD, after_seq=98, limit=5)
    assert [m.seq for m in page.messages] == [99]
    assert [(c.seq, c.change_id) for c in page.changes] == [(100, "e1")]
    newest = await store.history(THREAD, limit=3)
    assert [m.seq for m in newest.messages] == [98, 99]
    assert [c.seq for c in newest.changes] == [100]


async def _replay(store: MongoStore, thread: str, since: int, page_size: int) -> list[int]:
    """The loop a WebSocket subscribe runs (gateway/ws/connection.py `_replay`)."""
    sent: list[int] = []
    last = since
    while True:
        after = last
        page = await store.history(thread, after_seq=after, limit=page_size)
        events = sorted([*page.messages, *page.changes], key=lambda e: e.seq)
        for event in events:
            if event.seq > last:
                sent.append(event.seq)
                last = event.seq
        if len(events) < page_size or last <= after:
            return sent


async def test_a_replay_sends_every_later_seq_once_in_order(store: MongoStore) -> None:
    await _fill(store, THREAD, range(1, 321))
    for since, page_size in ((0, 100), (0, 50), (99, 100), (137, 7), (300, 100), (320, 100)):
        assert await _replay(store, THREAD, since, page_size) == list(range(since + 1, 321))


async def test_last_seq_after_inserts_across_buckets(store: MongoStore) -> None:
    await _fill(store, THREAD, range(1, 97))
    for expected in range(97, 104):
        stored = await store.insert_message(chat_message(f"a{expected}", THREAD), assign_seq=True)
        assert stored.message.seq == expected
        assert await store.last_seq(THREAD) == expected
    # Concurrent numbering across the next boundary (199 | 200) never doubles a seq.
    await _fill(store, THREAD, range(104, 190))
    async with trio.open_nursery() as nursery:
        for i in range(20):
            message = chat_message(f"c{i}", THREAD)
            nursery.start_soon(partial(store.insert_message, message, assign_seq=True))
    assert await store.last_seq(THREAD) == 209
    page = await store.history(THREAD, after_seq=0, limit=500)
    assert [m.seq for m in page.messages] == list(range(1, 210))


async def _marks(store: MongoStore) -> Any:
    return await trio.to_thread.run_sync(
        lambda: {d["_id"]: d["bucket"] for d in store._collection(MARKS).find()}
    )


async def test_a_mark_left_behind_is_found_past_and_raised(store: MongoStore) -> None:
    """A write lands before its mark: a crash between the two leaves the mark behind; rows
    loaded past the store leave none. last_seq probes upward from it and raises it."""
    await _fill(store, THREAD, range(1, 1234))
    assert (await _marks(store))[THREAD] == 12
    for left in (0, 3, 11):
        await trio.to_thread.run_sync(
            lambda left=left: store._collection(MARKS).update_one(
                {"_id": THREAD}, {"$set": {"bucket": left}}
            )
        )
        other = MongoStore(store._options)  # a process that knows no mark
        await other.start()
        try:
            assert await other.last_seq(THREAD) == 1233
            newest = await other.history(THREAD, limit=2)
            assert [m.seq for m in newest.messages] == [1232, 1233]
        finally:
            await other.close()
        assert (await _marks(store))[THREAD] == 12
    await trio.to_thread.run_sync(lambda: store._collection(MARKS).delete_one({"_id": THREAD}))
    assert await store.last_seq(THREAD) == 1233
    # A process whose memory says bucket 12 is marked still raises the mark past it.
    await _fill(store, THREAD, range(1234, 1301))
    assert (await _marks(store))[THREAD] == 13


async def test_two_stores_number_one_thread_in_turn(store: MongoStore) -> None:
    other = MongoStore(store._options)
    await other.start()
    try:
        for i in range(1, 206):
            writer = store if (i // 37) % 2 == 0 else other
            stored = await writer.insert_message(chat_message(f"t{i}", THREAD), assign_seq=True)
            assert stored.message.seq == i
        assert await store.last_seq(THREAD) == await other.last_seq(THREAD) == 205
    finally:
        await other.close()


def _legacy_rows(thread: str, seqs: range) -> list[dict[str, Any]]:
    """Rows as a version before buckets stored them: no thread_bucket, and no marks."""
    return [
        {
            "message_id": f"{thread}-{s}",
            "thread_id": thread,
            "seq": s,
            "sender_id": "tester",
            "text": f"old {s}",
            "created_at": "2026-01-01T00:00:00.000Z",
        }
        for s in seqs
    ]


async def test_rows_stored_before_buckets_are_backfilled_once_on_start(
    settings: Settings,
) -> None:
    database = unique("db").replace("-", "_")
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri)
    try:
        old = client[database]["messages"]
        old.insert_many([*_legacy_rows("a", range(1, 305)), *_legacy_rows("b", range(1, 3))])
        old.create_index([("thread_id", 1), ("seq", 1)], unique=True, name="thread_seq_unique")
        store = MongoStore(store_options(settings, database=database))
        await store.start()
        try:
            assert await store.last_seq("a") == 304
            assert await store.last_seq("b") == 2
            newest = await store.history("a", limit=3)
            assert [m.text for m in newest.messages] == ["old 302", "old 303", "old 304"]
            older = await store.history("a", before_seq=102, limit=3)
            assert [m.seq for m in older.messages] == [99, 100, 101]
            replayed = await _replay(store, "a", 0, 100)
            assert replayed == list(range(1, 305))
            stored = await store.insert_message(chat_message("new", "a"), assign_seq=True)
            assert stored.message.seq == 305
        finally:
            await store.close()
        assert old.count_documents({"thread_bucket": {"$exists": False}}) == 0
        assert old.find_one({"message_id": "a-250"}, {"_id": 0, "thread_bucket": 1}) == {
            "thread_bucket": "a 2"
        }
        # No mark reads as bucket 0: thread b (seqs 1-2) needs none.
        assert {d["_id"]: d["bucket"] for d in client[database][MARKS].find()} == {"a": 3}
        step = client[database]["schema_steps"].find_one({"_id": "thread_bucket"})
        assert step is not None and step["rows"] == 306
        # A second start does not read the collection again: the step is recorded.
        old.insert_many(_legacy_rows("c", range(1, 3)))
        again = MongoStore(store_options(settings, database=database))
        await again.start()
        await again.close()
        assert old.count_documents({"thread_bucket": {"$exists": False}}) == 2
    finally:
        client.drop_database(database)
        client.close()


async def test_the_backfill_is_idempotent(settings: Settings) -> None:
    """Two processes may run it at once, or one may stop half way: the same values again."""
    from adapters import _buckets

    database = unique("db").replace("-", "_")
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri)
    try:
        db = client[database]
        db["messages"].insert_many(_legacy_rows("a", range(1, 150)))
        known = _buckets.KnownMarks()
        assert _buckets.backfill(db["messages"], db[MARKS], known) == 149
        assert _buckets.backfill(db["messages"], db[MARKS], _buckets.KnownMarks()) == 0
        assert db["messages"].count_documents({"thread_bucket": "a 1"}) == 50
        assert [d["bucket"] for d in db[MARKS].find({"_id": "a"})] == [1]
    finally:
        client.drop_database(database)
        client.close()
