"""ThreadSequencer: seq assignment, redelivery, and fencing, against an in-memory store.

The store here is a stand-in for the MongoStore port with the same unique-index semantics
(message_id, (thread_id, seq)); the real store is exercised by tests/pipeline and
tests/adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from adapters import PoisonRecordError, SeqConflictError, StoredChange, StoredMessage
from core import ThreadSequencer
from protocol.domain import DomainEvent, MessageDeletedEvent, MessageEditedEvent
from protocol.events import (
    DeleteMessage,
    EditMessage,
    MessageChange,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    PostMessage,
)


class UniqueIndexStore:
    def __init__(self) -> None:
        self.by_id: dict[str, MessageEvent] = {}
        self.by_seq: dict[tuple[str, int], str] = {}
        self.last_seq_calls = 0
        self.changes: dict[str, MessageChange] = {}
        self.outbox: list[DomainEvent] = []  # what each change wrote with it

    async def last_seq(self, thread_id: str) -> int:
        self.last_seq_calls += 1
        return max((s for (t, s) in self.by_seq if t == thread_id), default=0)

    async def insert_message(self, message: MessageEvent) -> StoredMessage:
        if message.message_id in self.by_id:
            return StoredMessage(self.by_id[message.message_id], duplicate=True)
        key = (message.thread_id, message.seq)
        if key in self.by_seq:
            raise SeqConflictError(f"seq {message.seq} taken")
        self.by_id[message.message_id] = message
        self.by_seq[key] = message.message_id
        return StoredMessage(message, duplicate=False)

    async def insert_new_messages(self, messages: Sequence[MessageEvent]) -> int:
        # The real store's ordered insert_many: everything before the first clash is kept.
        for n, message in enumerate(messages):
            key = (message.thread_id, message.seq)
            if message.message_id in self.by_id or key in self.by_seq:
                return n
            self.by_id[message.message_id] = message
            self.by_seq[key] = message.message_id
        return len(messages)

    async def find_message(self, message_id: str) -> MessageEvent | None:
        return self.by_id.get(message_id)

    async def apply_change(
        self, change: MessageChange, outbox: Sequence[DomainEvent] = ()
    ) -> StoredChange:
        if change.change_id in self.changes:
            return StoredChange(self.changes[change.change_id], duplicate=True)
        key = (change.thread_id, change.seq)
        if key in self.by_seq:
            raise SeqConflictError(f"seq {change.seq} taken")
        self.changes[change.change_id] = change
        self.outbox += outbox
        self.by_seq[key] = change.change_id
        target = self.by_id[change.message_id]
        if isinstance(change, MessageEdited):
            self.by_id[target.message_id] = replace(
                target, text=change.text, edited_at=change.edited_at
            )
        else:
            self.by_id[target.message_id] = replace(target, text="", deleted_at=change.deleted_at)
        return StoredChange(change, duplicate=False)


def _post(n: int, thread: str = "t1") -> PostMessage:
    return PostMessage(
        message_id=f"m{n}",
        thread_id=thread,
        sender_id="alice",
        text=f"text {n}",
        created_at="2026-11-22T00:00:00.000Z",
    )


@pytest.fixture
def published() -> list[MessageEvent]:
    return []


@pytest.fixture
def store() -> UniqueIndexStore:
    return UniqueIndexStore()


def _sequencer(store: UniqueIndexStore, published: list[MessageEvent]) -> ThreadSequencer:
    async def publish(events: Sequence[MessageEvent]) -> None:
        published.extend(events)

    return ThreadSequencer("t1", store, publish)


async def test_messages_get_consecutive_seqs_and_are_announced_in_order(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    for n in range(1, 4):
        event, duplicate = await seq.handle(_post(n))
        assert not duplicate
        assert event.seq == n
    assert [(e.seq, e.message_id) for e in published] == [(1, "m1"), (2, "m2"), (3, "m3")]
    assert store.last_seq_calls == 0  # a new thread: seq 1 was free, nothing was read


async def test_a_redelivered_message_keeps_its_seq_and_is_announced_again(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    await seq.handle(_post(2))
    event, duplicate = await seq.handle(_post(1))
    assert duplicate
    assert event.seq == 1
    assert seq.last_seq == 2
    assert [e.message_id for e in published] == ["m1", "m2", "m1"]
    nxt, _ = await seq.handle(_post(3))
    assert nxt.seq == 3


async def test_a_zombie_writer_is_fenced_by_the_seq_index(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    ours = _sequencer(store, published)
    await ours.handle(_post(1))
    # Another core took the thread over and stored seq 2 meanwhile.
    other = _sequencer(store, [])
    await other.handle(_post(2))
    event, duplicate = await ours.handle(_post(3))
    assert not duplicate
    assert event.seq == 3
    assert sorted(store.by_seq) == [("t1", 1), ("t1", 2), ("t1", 3)]


async def test_a_restarted_sequencer_continues_from_the_store(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    await _sequencer(store, published).handle(_post(1))
    again = _sequencer(store, published)
    event, _ = await again.handle(_post(2))
    assert event.seq == 2


async def test_a_batch_of_new_messages_is_numbered_stored_and_announced_at_once(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    events = await seq.handle_new([_post(n) for n in range(2, 6)])
    assert [(e.seq, e.message_id) for e in events] == [(2, "m2"), (3, "m3"), (4, "m4"), (5, "m5")]
    assert [e.seq for e in published] == [1, 2, 3, 4, 5]
    assert seq.last_seq == 5 and seq.stored == 5


async def test_a_batch_stops_at_a_redelivered_message_and_leaves_the_rest_to_handle(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    for n in (1, 2):
        await seq.handle(_post(n))
    # m3 is new, m1 is a redelivery: only m3 goes in the batch write.
    events = await seq.handle_new([_post(3), _post(1), _post(4)])
    assert [e.message_id for e in events] == ["m3"]
    event, duplicate = await seq.handle(_post(1))
    assert duplicate and event.seq == 1
    event, duplicate = await seq.handle(_post(4))
    assert not duplicate and event.seq == 4
    assert sorted(store.by_seq.values()) == ["m1", "m2", "m3", "m4"]


async def test_a_batch_whose_first_seq_is_taken_stores_nothing(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    store.by_seq[("t1", 2)] = "written-by-a-zombie"
    assert await seq.handle_new([_post(2), _post(3)]) == []
    assert published[-1].message_id == "m1"
    event, _ = await seq.handle(_post(2))  # one at a time reloads last_seq and moves on
    assert event.seq == 3


async def test_a_thread_with_history_is_read_once_when_the_guess_of_a_new_thread_fails(
    store: UniqueIndexStore, published: list[MessageEvent], caplog: pytest.LogCaptureFixture
) -> None:
    before = _sequencer(store, published)
    for n in range(1, 4):
        await before.handle(_post(n))
    after_restart = _sequencer(store, published)
    event, duplicate = await after_restart.handle(_post(4))
    assert (event.seq, duplicate) == (4, False)
    events = await after_restart.handle_new([_post(5), _post(6)])
    assert [e.seq for e in events] == [5, 6]
    assert store.last_seq_calls == 1
    assert "seq conflict" not in caplog.text  # a failed guess is no sign of a second owner


async def test_a_batch_on_a_thread_with_history_falls_back_and_finds_the_real_seq(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    before = _sequencer(store, published)
    await before.handle(_post(1))
    after_restart = _sequencer(store, published)
    assert await after_restart.handle_new([_post(2), _post(3)]) == []  # seq 1 is taken
    event, _ = await after_restart.handle(_post(2))
    assert event.seq == 2
    assert [e.seq for e in await after_restart.handle_new([_post(3)])] == [3]


def _edit(n: int, target: str = "m1", thread: str = "t1") -> EditMessage:
    return EditMessage(f"e{n}", thread, target, "alice", f"edited {n}", "2026-11-22T00:00:01.000Z")


def _delete(n: int, target: str = "m1", thread: str = "t1") -> DeleteMessage:
    return DeleteMessage(f"d{n}", thread, target, "alice", "2026-11-22T00:00:02.000Z")


async def test_edits_and_deletes_take_their_own_seq_and_are_announced(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    edited, duplicate = await seq.handle_change(_edit(1))
    assert (edited.seq, duplicate) == (2, False)
    assert isinstance(edited, MessageEdited)
    await seq.handle(_post(3))
    deleted, _ = await seq.handle_change(_delete(1))
    assert isinstance(deleted, MessageDeleted)
    assert [e.seq for e in published] == [1, 2, 3, 4]
    assert store.by_id["m1"].text == ""
    assert store.by_id["m1"].deleted_at == "2026-11-22T00:00:02.000Z"
    # Each change wrote its domain event with it, keyed by its change_id, its seq in it.
    assert [(type(e), e.event_id, e.seq) for e in store.outbox] == [
        (MessageEditedEvent, edited.change_id, 2),
        (MessageDeletedEvent, deleted.change_id, 4),
    ]


async def test_a_redelivered_change_keeps_its_first_seq(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    first, _ = await seq.handle_change(_edit(1))
    again, duplicate = await seq.handle_change(_edit(1))
    assert (again.seq, duplicate) == (first.seq, True)
    assert seq.last_seq == 2


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (_edit(1, target="m404"), r"^message m404 is not in thread t1$"),
        (_delete(1, target="m404"), r"^message m404 is not in thread t1$"),
    ],
)
async def test_a_change_to_a_message_not_in_the_thread_is_poison(
    store: UniqueIndexStore,
    published: list[MessageEvent],
    command: EditMessage | DeleteMessage,
    message: str,
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    with pytest.raises(PoisonRecordError, match=message):
        await seq.handle_change(command)
    assert [e.seq for e in published] == [1]


async def test_an_edit_of_a_deleted_message_is_poison_but_a_second_delete_is_not(
    store: UniqueIndexStore, published: list[MessageEvent]
) -> None:
    seq = _sequencer(store, published)
    await seq.handle(_post(1))
    await seq.handle_change(_delete(1))
    with pytest.raises(PoisonRecordError, match=r"^message m1 is deleted$"):
        await seq.handle_change(_edit(2))
    _, duplicate = await seq.handle_change(_delete(1))
    assert duplicate
