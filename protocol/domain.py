"""Domain events: what changed in a thread, told to the rest of a deployment.

    parley.domain-changes  key=thread_id  value=ThreadCreated | ThreadRenamed | ThreadArchived
                                                | MemberAdded | MemberRemoved
                                                | MessageEditedEvent | MessageDeletedEvent
                           key=user_id    value=UserProfileUpdated

Where each is written (one document write with the state it describes):

    thread.*, member.*        the thread document's ``outbox`` (gateway)
    message.edited/.deleted   the change's own row in ``messages`` (core, MongoStore.apply_change)
    user.profile_updated      the user's document in ``users`` (gateway)

Each event is written in the SAME document write as the change it describes (the thread
document's ``outbox``; the store has no multi-document transactions), then published by the
outbox relay (core/_outbox_relay.py) and marked published. ``event_id`` is chosen at write
time and never changes, so a consumer that dedupes by it sees each event once, even when the
relay published it twice (a crash between the publish and the mark).

Every event has a ``type`` ("thread.created", ...) and a schema version (``v``, also listed in
``protocol.catalog``), like every other payload.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from protocol.events import MessageChange, MessageDeleted, NonEmpty

__all__ = [
    "DOMAIN_VERSION",
    "DomainEvent",
    "MemberAdded",
    "MemberRemoved",
    "MessageDeletedEvent",
    "MessageEditedEvent",
    "ReadModel",
    "ThreadArchived",
    "ThreadCreated",
    "ThreadRenamed",
    "ThreadState",
    "UserProfileUpdated",
    "change_event",
    "decode_domain_event",
    "domain_document",
    "encode_domain_event",
    "fold",
    "fold_threads",
    "key_of",
]

DOMAIN_VERSION = 1


@dataclass(frozen=True, slots=True)
class ThreadCreated:
    """A thread was created with its first members (the creator is one)."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    title: str
    members: list[str]
    v: int = DOMAIN_VERSION
    type: Literal["thread.created"] = "thread.created"


@dataclass(frozen=True, slots=True)
class ThreadRenamed:
    """The thread's creator gave it a new title."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    title: str
    v: int = DOMAIN_VERSION
    type: Literal["thread.renamed"] = "thread.renamed"


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """The thread's creator added a member; ``members`` is the list after the change."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    user_id: NonEmpty
    members: list[str]
    v: int = DOMAIN_VERSION
    type: Literal["member.added"] = "member.added"


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """The thread's creator removed a member; ``members`` is the list after the change."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    user_id: NonEmpty
    members: list[str]
    v: int = DOMAIN_VERSION
    type: Literal["member.removed"] = "member.removed"


@dataclass(frozen=True, slots=True)
class ThreadArchived:
    """The thread's creator archived it: still readable, refuses new messages."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    v: int = DOMAIN_VERSION
    type: Literal["thread.archived"] = "thread.archived"


@dataclass(frozen=True, slots=True)
class MessageEditedEvent:
    """A message's sender changed its text; ``seq`` is the edit's own seq in the thread.

    The text is not in the event: a later delete must leave it nowhere, and the domain
    topic cannot be blanked the way the store is."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    message_id: NonEmpty
    seq: int
    v: int = DOMAIN_VERSION
    type: Literal["message.edited"] = "message.edited"


@dataclass(frozen=True, slots=True)
class MessageDeletedEvent:
    """A message was deleted (by its sender or the thread's creator); ``seq`` is the
    delete's own seq in the thread."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    message_id: NonEmpty
    seq: int
    v: int = DOMAIN_VERSION
    type: Literal["message.deleted"] = "message.deleted"


@dataclass(frozen=True, slots=True)
class UserProfileUpdated:
    """A user changed their profile (display name). Keyed by user_id, not a thread."""

    event_id: NonEmpty
    user_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    display_name: str
    v: int = DOMAIN_VERSION
    type: Literal["user.profile_updated"] = "user.profile_updated"


DomainEvent = (
    ThreadCreated
    | ThreadRenamed
    | ThreadArchived
    | MemberAdded
    | MemberRemoved
    | MessageEditedEvent
    | MessageDeletedEvent
    | UserProfileUpdated
)
_BY_TYPE: dict[str, type[DomainEvent]] = {
    "thread.created": ThreadCreated,
    "thread.renamed": ThreadRenamed,
    "thread.archived": ThreadArchived,
    "member.added": MemberAdded,
    "member.removed": MemberRemoved,
    "message.edited": MessageEditedEvent,
    "message.deleted": MessageDeletedEvent,
    "user.profile_updated": UserProfileUpdated,
}


def key_of(event: DomainEvent) -> str:
    """The Kafka key: the thread's id, or the user's for a profile event (per-key order)."""
    return event.user_id if isinstance(event, UserProfileUpdated) else event.thread_id


def change_event(change: MessageChange) -> MessageEditedEvent | MessageDeletedEvent:
    """The domain event of a stored edit or delete; its event_id is the change_id, chosen
    by the gateway that accepted it, so a redelivered change writes the same event."""
    if isinstance(change, MessageDeleted):
        return MessageDeletedEvent(
            change.change_id,
            change.thread_id,
            change.deleted_by,
            change.deleted_at,
            change.message_id,
            change.seq,
        )
    return MessageEditedEvent(
        change.change_id,
        change.thread_id,
        change.editor_id,
        change.edited_at,
        change.message_id,
        change.seq,
    )


def domain_document(event: DomainEvent) -> dict[str, Any]:
    """The event as its outbox entry (and its Kafka value): a plain JSON object."""
    doc: dict[str, Any] = orjson.loads(orjson.dumps(event))
    return doc


def encode_domain_event(event: DomainEvent) -> bytes:
    return orjson.dumps(event)


def decode_domain_event(doc: dict[str, Any]) -> DomainEvent | None:
    """An outbox entry or Kafka value back to its event; None for a type or version this
    reader does not know (a newer writer's)."""
    kind = _BY_TYPE.get(str(doc.get("type")))
    if kind is None or doc.get("v") != DOMAIN_VERSION:
        return None
    fields = {k: v for k, v in doc.items() if k != "type"}
    return kind(**fields)


@dataclass(frozen=True, slots=True)
class ThreadState:
    """A thread as its domain events say it is (the read model `snapshots rebuild` checks)."""

    title: str
    members: tuple[str, ...]
    archived: bool = False
    # The highest seq an edit or delete of the thread took (0: none in the log); the
    # thread's last seq in the store can only be at least this.
    changed_seq: int = 0


@dataclass(frozen=True, slots=True)
class ReadModel:
    """Everything the domain events say: threads, deleted messages, and profiles."""

    threads: dict[str, ThreadState]
    deleted: dict[str, str]  # message_id -> thread_id
    profiles: dict[str, str]  # user_id -> display name


def fold_threads(events: list[DomainEvent]) -> dict[str, ThreadState]:
    """Replay domain events (deduped by event_id, in the order given) into thread states."""
    return fold(events).threads


def fold(events: list[DomainEvent]) -> ReadModel:
    """Replay domain events (deduped by event_id, in the order given) into the read model."""
    seen: set[str] = set()
    states: dict[str, ThreadState] = {}
    deleted: dict[str, str] = {}
    profiles: dict[str, str] = {}
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        if isinstance(event, UserProfileUpdated):
            profiles[event.user_id] = event.display_name
            continue
        current = states.get(event.thread_id)
        if isinstance(event, ThreadCreated):
            states[event.thread_id] = ThreadState(event.title, tuple(event.members))
        elif current is None:
            continue  # its creation is not in the log (older than the topic's retention)
        elif isinstance(event, ThreadRenamed):
            states[event.thread_id] = replace(current, title=event.title)
        elif isinstance(event, ThreadArchived):
            states[event.thread_id] = replace(current, archived=True)
        elif isinstance(event, MemberAdded | MemberRemoved):
            states[event.thread_id] = replace(current, members=tuple(event.members))
        else:
            if isinstance(event, MessageDeletedEvent):
                deleted[event.message_id] = event.thread_id
            seq = max(current.changed_seq, event.seq)
            states[event.thread_id] = replace(current, changed_seq=seq)
    return ReadModel(states, deleted, profiles)
