"""Values the adapters hand to their callers: immutable, typed, no client objects inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.events import MessageChange, MessageEvent

__all__ = [
    "ConsumedRecord",
    "ConsumerCounters",
    "DeliveryInfo",
    "HistoryPage",
    "ProducerCounters",
    "Readiness",
    "StoreCounters",
    "StoredChange",
    "StoredMessage",
]

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """Where the broker wrote a record, once every in-sync replica has it (acks=all)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """One record handed out by the consumer; give it back with `consumer.ack(record)`."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0
    # Assignment generation of the partition when the record was fetched; an ack from an
    # older generation (after a revoke and re-assign) must not move the new offsets.
    generation: int = field(default=0, compare=False)

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether an adapter can serve, and if not, one sentence saying why."""

    ready: bool
    message: str


@dataclass(frozen=True, slots=True)
class StoredChange:
    """Result of `apply_change`: the change as stored; duplicate=True if stored before (then
    with the seq it was stored with first)."""

    change: MessageChange
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """Result of `insert_message`: the message as stored; duplicate=True if it existed before
    (then `message` is the one stored first, with its seq, not the one handed in)."""

    message: MessageEvent
    duplicate: bool


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a thread's messages in ascending seq order.

    `next_before_seq` is set when older messages may exist, `next_after_seq` when newer ones
    may exist (the values to pass back as `before_seq` / `after_seq`).
    """

    messages: tuple[MessageEvent, ...]
    next_before_seq: int | None
    next_after_seq: int | None
    # Edits and deletes in the same seq range (each has a seq of its own); the messages
    # above already show their effect (current text, edited_at, deleted_at).
    changes: tuple[MessageChange, ...] = ()


@dataclass(slots=True)
class ProducerCounters:
    """Monotonic counters the gateway's /metrics exports (plain ints, read without locks)."""

    produced: int = 0
    delivery_failures: int = 0
    rejected: int = 0
    dlq: int = 0
    in_flight: int = 0


@dataclass(slots=True)
class ConsumerCounters:
    consumed: int = 0
    acked: int = 0
    commits: int = 0
    commit_failures: int = 0
    rebalances: int = 0
    paused: bool = False
    # Per "topic[partition]": last committed offset and lag (high watermark - committed).
    committed: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    # How many lag reports arrived (about one a second): lets a caller wait for a fresh one.
    lag_reports: int = 0


@dataclass(slots=True)
class StoreCounters:
    stored: int = 0
    duplicates: int = 0
    seq_conflicts: int = 0
    unavailable: int = 0
