"""Domain events: what changed in a thread, told to the rest of a deployment.

    parley.domain-changes  key=thread_id  value=ThreadCreated | ThreadRenamed
                                                | MemberAdded | MemberRemoved

Each event is written in the SAME document write as the change it describes (the thread
document's ``outbox``; the store has no multi-document transactions), then published by the
outbox relay (core/_outbox_relay.py) and marked published. ``event_id`` is chosen at write
time and never changes, so a consumer that dedupes by it sees each event once, even when the
relay published it twice (a crash between the publish and the mark).

Every event has a ``type`` ("thread.created", ...) and a schema version (``v``, also listed in
``protocol.catalog``), like every other payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from protocol.events import NonEmpty

__all__ = [
    "DOMAIN_VERSION",
    "DomainEvent",
    "MemberAdded",
    "MemberRemoved",
    "ThreadCreated",
    "ThreadRenamed",
    "ThreadState",
    "decode_domain_event",
    "domain_document",
    "encode_domain_event",
    "fold_threads",
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


DomainEvent = ThreadCreated | ThreadRenamed | MemberAdded | MemberRemoved
_BY_TYPE: dict[str, type[DomainEvent]] = {
    "thread.created": ThreadCreated,
    "thread.renamed": ThreadRenamed,
    "member.added": MemberAdded,
    "member.removed": MemberRemoved,
}


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


def fold_threads(events: list[DomainEvent]) -> dict[str, ThreadState]:
    """Replay domain events (deduped by event_id, in the order given) into thread states."""
    seen: set[str] = set()
    states: dict[str, ThreadState] = {}
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        current = states.get(event.thread_id)
        if isinstance(event, ThreadCreated):
            states[event.thread_id] = ThreadState(event.title, tuple(event.members))
        elif current is None:
            continue  # its creation is not in the log (older than the topic's retention)
        elif isinstance(event, ThreadRenamed):
            states[event.thread_id] = ThreadState(event.title, current.members)
        elif isinstance(event, MemberAdded | MemberRemoved):
            states[event.thread_id] = ThreadState(current.title, tuple(event.members))
    return states
