"""What the gateway keeps per user rather than per thread: display names and read markers.

- A display name change is the user's document and its ``user.profile_updated`` domain event
  in ONE upsert (MongoStore.set_profile; the outbox relay publishes it), then a ``profile``
  record on chat.events so every gateway tells the connections of the people who share a
  thread with that user (and their own other tabs): names change on screen at once.
- A read marker is one document per (user, thread) raised with ``$max``, so two tabs racing
  cannot move it back; the boot snapshot counts ``unread`` = last seq - marker from it. Not a
  domain event (the issue's list has none for it): it is private to its user and changes on
  every thread a person looks at.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import uuid6

from adapters import AdapterError
from protocol.domain import DomainEvent, UserProfileUpdated
from protocol.events import ProfileEvent, encode, utc_now_iso
from protocol.records import ThreadRecord
from protocol.refusals import ValidationFailed

if TYPE_CHECKING:
    from adapters import KafkaProducer
    from config.settings import Settings

__all__ = ["People", "PeopleStore", "unread"]

log = logging.getLogger(__name__)

MAX_DISPLAY_NAME = 80


class PeopleStore(Protocol):
    async def set_profile(
        self, user_id: str, display_name: str, outbox: Sequence[DomainEvent] = ...
    ) -> None: ...
    async def profiles(self, user_ids: Sequence[str]) -> dict[str, str]: ...
    async def mark_read(self, user_id: str, thread_id: str, seq: int) -> int: ...
    async def read_seqs(self, user_id: str, thread_ids: Sequence[str]) -> dict[str, int]: ...
    async def last_seq(self, thread_id: str) -> int: ...
    async def list_threads(self, member: str, limit: int = ...) -> list[ThreadRecord]: ...


def unread(last_seq: int, read_seq: int) -> int:
    """Seqs after the read marker (messages, edits and deletes all take one)."""
    return max(0, last_seq - read_seq)


def check_display_name(name: str) -> str:
    """The name as stored (surrounding blanks dropped); refusals name ``display_name``."""
    cleaned = name.strip()
    if not cleaned:
        raise ValidationFailed("display_name must not be empty", field="display_name")
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise ValidationFailed(
            f"display_name is {len(cleaned)} characters; the limit is {MAX_DISPLAY_NAME}",
            field="display_name",
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise ValidationFailed(
            "display_name must not contain control characters", field="display_name"
        )
    return cleaned


class People:
    def __init__(
        self, settings: Settings, store: PeopleStore, producer: KafkaProducer | None
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer

    async def update_profile(self, user_id: str, display_name: str) -> dict[str, Any]:
        name = check_display_name(display_name)
        event = UserProfileUpdated(str(uuid6.uuid7()), user_id, user_id, utc_now_iso(), name)
        await self._store.set_profile(user_id, name, [event])
        await self._announce(user_id, name)
        return {"user_id": user_id, "display_name": name}

    async def _announce(self, user_id: str, name: str) -> None:
        # Best effort, like a new thread's announcement: the name is stored and every boot
        # snapshot has it, so a Kafka hiccup must not fail the change.
        if self._producer is None:
            return
        threads = await self._store.list_threads(user_id)
        audience = {user_id}
        for thread in threads:
            audience.update(thread.members)
        record = ProfileEvent(user_id=user_id, display_name=name, audience=tuple(sorted(audience)))
        try:
            await self._producer.produce(self._settings.events_topic, encode(record), key=user_id)
        except AdapterError as exc:
            log.warning("profile change not announced: %s", exc)

    async def names(self, user_ids: Sequence[str]) -> dict[str, str]:
        return await self._store.profiles(user_ids)

    async def mark_read(self, user_id: str, thread_id: str, seq: int) -> int:
        """Raise the marker (the caller checked membership); a seq beyond the thread's last
        is refused naming ``seq``: a marker ahead of the log would hide what comes next."""
        last = await self._store.last_seq(thread_id)
        if seq > last:
            raise ValidationFailed(f"seq {seq} is beyond the thread's last seq {last}", field="seq")
        return await self._store.mark_read(user_id, thread_id, seq)

    async def read_seqs(self, user_id: str, thread_ids: Sequence[str]) -> dict[str, int]:
        return await self._store.read_seqs(user_id, thread_ids)
