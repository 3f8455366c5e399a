"""ThreadSequencer: numbers, stores and announces one thread's messages; no actor, no Kafka.

The sequencer holds a thread's last seq and talks to the store and to an event publisher
through two small protocols, so its fencing and redelivery rules are tested against an
in-memory store (tests/core/test_sequencer.py).

1. seq = last_seq + 1 and an idempotent insert (unique message_id, unique (thread_id, seq));
   a redelivered record finds its stored message and keeps its original seq;
2. the stored message is published to `chat.events` and the broker's ack awaited.

An edit or a delete takes the same path with a seq of its own (handle_change): numbered,
stored once per change_id with its domain event in the same row (the outbox relay publishes
it), applied to its message (MongoStore.apply_change), announced.

If another core still believes it owns the thread (a zombie after a rebalance), the unique
(thread_id, seq) index refuses one of the two writes; the loser reloads last_seq from the
store and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from adapters import PoisonRecordError, SeqConflictError
from protocol.domain import change_event
from protocol.events import (
    ChangeCommand,
    DeleteMessage,
    MessageChange,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    PostMessage,
)

if TYPE_CHECKING:
    from adapters import StoredChange, StoredMessage
    from protocol.domain import DomainEvent

__all__ = ["EventPublisher", "MessageStore", "ThreadSequencer"]

log = logging.getLogger(__name__)

_MAX_SEQ_RETRIES = 5


class _WriteOutcome(Protocol):
    @property
    def duplicate(self) -> bool: ...


W = TypeVar("W", bound=_WriteOutcome)


class MessageStore(Protocol):
    async def last_seq(self, thread_id: str) -> int: ...
    async def insert_message(self, message: MessageEvent) -> StoredMessage: ...
    async def insert_new_messages(self, messages: Sequence[MessageEvent]) -> int: ...
    async def find_message(self, message_id: str) -> MessageEvent | None: ...
    async def apply_change(
        self, change: MessageChange, outbox: Sequence[DomainEvent] = ...
    ) -> StoredChange: ...


class EventPublisher(Protocol):
    """Announces events on chat.events, in order; returns once Kafka has all of them."""

    async def __call__(self, events: Sequence[MessageEvent | MessageChange]) -> None: ...


@dataclass
class ThreadSequencer:
    """The state and the work of one thread; the actor feeds it records in order."""

    thread_id: str
    store: MessageStore
    publish: EventPublisher
    last_seq: int | None = None
    stored: int = 0
    duplicates: int = 0
    # True while last_seq is a guess (see _known_last_seq), not read from the store.
    guessed: bool = False

    def _known_last_seq(self) -> int:
        if self.last_seq is None:
            # A thread this actor has not seen is most often new: guess 0 instead of asking.
            # If it has messages, seq 1 is taken, the unique (thread_id, seq) index refuses
            # the write, and the conflict path reads the real last seq. So only threads with
            # history pay a query, which on FerretDB scans the whole messages collection.
            self.last_seq, self.guessed = 0, True
        return self.last_seq

    async def _reload_after_conflict(self) -> None:
        if not self.guessed:
            # Someone else wrote this seq: we are not (or no longer) the only owner.
            log.warning("seq conflict; reloaded", extra={"thread_id": self.thread_id})
        self.guessed = False
        self.last_seq = await self.store.last_seq(self.thread_id)

    async def _write_numbered(self, write: Callable[[int], Awaitable[W]]) -> W:
        """`write(seq)` with seq = last_seq + 1 until the store takes it or finds it stored
        before; a seq taken by someone else reloads last_seq and tries the next."""
        for _attempt in range(_MAX_SEQ_RETRIES):
            seq = self._known_last_seq() + 1
            try:
                result = await write(seq)
            except SeqConflictError:
                await self._reload_after_conflict()
                continue
            if result.duplicate:
                self.duplicates += 1
            else:
                self.stored += 1
                self.last_seq, self.guessed = seq, False
            return result
        raise SeqConflictError(
            f"thread {self.thread_id}: seq kept conflicting after {_MAX_SEQ_RETRIES} reloads"
        )

    async def handle(self, post: PostMessage) -> tuple[MessageEvent, bool]:
        """Store and announce `post`; returns its event and whether it was stored before."""
        result = await self._write_numbered(
            lambda seq: self.store.insert_message(_numbered(post, seq))
        )
        await self.publish([result.message])
        return result.message, result.duplicate

    async def handle_new(self, posts: Sequence[PostMessage]) -> list[MessageEvent]:
        """Store and announce the leading posts that are new, in one write; returns their events.

        Stops at the first post that clashes (stored before, or its seq taken by someone
        else): that one and the rest are for handle(), which tells those cases apart.
        """
        first = self._known_last_seq() + 1
        messages = [_numbered(post, first + i) for i, post in enumerate(posts)]
        stored = await self.store.insert_new_messages(messages)
        if stored == 0:
            return []
        self.guessed = False
        self.last_seq = first - 1 + stored
        self.stored += stored
        events = messages[:stored]
        await self.publish(events)
        return events

    async def handle_change(self, command: ChangeCommand) -> tuple[MessageChange, bool]:
        """Number, store, apply and announce an edit or a delete, like a message.

        The gateway checked who may do it; this checks that the message is one of this
        thread's and (for an edit) not deleted, because a record that fails that can never
        be applied: PoisonRecordError sends it to the dead-letter topic.
        """
        target = await self.store.find_message(command.message_id)
        if target is None or target.thread_id != self.thread_id:
            raise PoisonRecordError(
                f"message {command.message_id} is not in thread {self.thread_id}"
            )
        if target.deleted_at is not None and not isinstance(command, DeleteMessage):
            raise PoisonRecordError(f"message {command.message_id} is deleted")

        def write(seq: int) -> Awaitable[StoredChange]:
            change = _numbered_change(command, seq)
            # Its domain event (message.edited / message.deleted) in the change's own row.
            return self.store.apply_change(change, [change_event(change)])

        result = await self._write_numbered(write)
        await self.publish([result.change])
        return result.change, result.duplicate


def _numbered_change(command: ChangeCommand, seq: int) -> MessageChange:
    if isinstance(command, DeleteMessage):
        return MessageDeleted(
            thread_id=command.thread_id,
            seq=seq,
            change_id=command.change_id,
            message_id=command.message_id,
            deleted_by=command.deleted_by,
            deleted_at=command.deleted_at,
        )
    return MessageEdited(
        thread_id=command.thread_id,
        seq=seq,
        change_id=command.change_id,
        message_id=command.message_id,
        editor_id=command.editor_id,
        text=command.text,
        edited_at=command.edited_at,
    )


def _numbered(post: PostMessage, seq: int) -> MessageEvent:
    return MessageEvent(
        thread_id=post.thread_id,
        seq=seq,
        message_id=post.message_id,
        sender_id=post.sender_id,
        text=post.text,
        created_at=post.created_at,
        client_msg_id=post.client_msg_id,
        turn_id=post.turn_id,
        turn_status=post.turn_status,
        turn_reason=post.turn_reason,
    )
