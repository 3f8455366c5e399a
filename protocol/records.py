"""The records the store keeps, as the layers above it see them: typed, immutable, no BSON.

    messages   MessageEvent (protocol.events): every stored field of a message is one of
               its fields, so the store hands back the very value the core announces and
               the gateway replays; there is no second message type to keep in step
    threads    ThreadRecord (here)

How a record looks in MongoDB is the store's business (adapters/_codec.py); what is here
is only what the gateway and the core read and write.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ThreadRecord"]


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """A chat thread: who is in it and who may change that (its creator).

    `created_by` and `created_at` are None only for a thread stored without them.
    """

    thread_id: str
    title: str = ""
    members: tuple[str, ...] = ()
    created_by: str | None = None
    created_at: str | None = None
    archived: bool = False  # readable, but refuses new messages
