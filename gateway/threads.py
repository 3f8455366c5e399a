"""Threads and their members, as the gateway sees them: a short-lived cache over the store.

Membership is checked on every post and subscribe, so it is cached. A change made through any
gateway reaches every gateway as a MembershipEvent on chat.events, which drops the entry; the
age limits below are the safety net for an event a gateway did not see:

- an entry older than `_FRESH_S` is still used, and the refresher task fetches a new copy in
  the background, so no post waits on the store for it (each expiry used to stall every post
  to that thread behind one FerretDB lookup: e2e p99 at 250 msg/s went 16 → 91 ms once the
  store held 30k messages);
- an entry older than `_STALE_LIMIT_S` is not used: the request waits for a lookup. That
  bounds how long a removed member can keep posting through a gateway that missed the event.

Concurrent misses on one thread share a single store lookup: when an entry expired
under load (1,000 subscribes at once, or posts at 10/s per thread) every request used to start
its own, and on FerretDB those queued behind one another on the store's thread limiter until
posts and subscribes stalled for seconds. Changes made here also go out as a MembershipEvent
so every gateway drops the removed user's live subscriptions at once.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import trio
import uuid6

from adapters import AdapterError
from gateway.people import People, PeopleStore, unread
from gateway.schemas import _ID_PATTERN
from protocol.domain import (
    DomainEvent,
    MemberAdded,
    MemberRemoved,
    ThreadArchived,
    ThreadCreated,
    ThreadRenamed,
)
from protocol.events import (
    MembershipEvent,
    MessageChange,
    MessageEvent,
    ThreadEvent,
    encode,
    utc_now_iso,
)
from protocol.records import ThreadRecord
from protocol.refusals import ArchivedThread, Forbidden, NotFound, ValidationFailed

if TYPE_CHECKING:
    from adapters import HistoryPage, KafkaProducer
    from config.settings import Settings
    from gateway.recent import RecentMessages

log = logging.getLogger(__name__)

__all__ = ["ThreadDirectory", "ThreadStore", "public_thread"]

_FRESH_S = 2.0
_STALE_LIMIT_S = 10.0
# Background lookups at once, and how many threads may wait for one (more are skipped: their
# entries are refreshed on their next use, or fetched in line past the stale limit).
_REFRESH_CONCURRENCY = 4
_REFRESH_BACKLOG = 1024
_MAX_MEMBERS = 1000


class ThreadStore(PeopleStore, Protocol):
    async def create_thread(
        self, thread: ThreadRecord, outbox: Sequence[DomainEvent] = ...
    ) -> ThreadRecord: ...
    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...
    async def list_threads(self, member: str, limit: int = ...) -> list[ThreadRecord]: ...
    async def set_members(
        self, thread_id: str, members: list[str], outbox: Sequence[DomainEvent] = ...
    ) -> ThreadRecord | None: ...
    async def set_title(
        self, thread_id: str, title: str, outbox: Sequence[DomainEvent] = ...
    ) -> ThreadRecord | None: ...
    async def set_archived(
        self, thread_id: str, outbox: Sequence[DomainEvent] = ...
    ) -> ThreadRecord | None: ...
    async def last_seqs(self, thread_ids: Sequence[str]) -> dict[str, int]: ...
    async def find_message(self, message_id: str) -> MessageEvent | None: ...
    async def history(
        self,
        thread_id: str,
        *,
        after_seq: int | None = ...,
        before_seq: int | None = ...,
        limit: int = ...,
    ) -> HistoryPage: ...


def public_thread(thread: ThreadRecord) -> dict[str, Any]:
    """A thread as the REST API and the `thread` frame show it."""
    return {
        "thread_id": thread.thread_id,
        "title": thread.title,
        "members": list(thread.members),
        "created_by": thread.created_by,
        "created_at": thread.created_at,
        "archived": thread.archived,
    }


@dataclass(slots=True)
class _Cached:
    thread: ThreadRecord | None
    fetched_at: float  # trio.current_time() before the query: a change stored meanwhile counts


@dataclass(slots=True)
class _Lookup:
    """One store lookup in flight; others asking for the same thread wait for it."""

    done: trio.Event = field(default_factory=trio.Event)
    result: _Cached | None = None


class ThreadDirectory:
    def __init__(
        self,
        settings: Settings,
        store: ThreadStore,
        producer: KafkaProducer | None,
        recent: RecentMessages | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer
        self._recent = recent
        self._cache: dict[str, _Cached] = {}
        self._lookups: dict[str, _Lookup] = {}
        # Set while run_refresher() runs; without it (unit tests) old entries are fetched in line.
        self._refresh_requests: trio.MemorySendChannel[str] | None = None
        self._refresh_queued: set[str] = set()
        self.people = People(settings, store, producer)

    # --- membership -------------------------------------------------------------------
    async def _thread(self, thread_id: str) -> ThreadRecord:
        cached = self._cache.get(thread_id)
        age = -1.0 if cached is None else trio.current_time() - cached.fetched_at
        if cached is None or age > _STALE_LIMIT_S:
            cached = await self._fresh(thread_id)
        elif age > _FRESH_S and not self._refresh_soon(thread_id):
            # No refresher running (unit tests, or before it started): fetch in line.
            cached = await self._fresh(thread_id)
        if cached.thread is None:
            raise NotFound(f"thread {thread_id!r} does not exist", field="thread_id")
        return cached.thread

    async def _fresh(self, thread_id: str) -> _Cached:
        """The answer of a lookup that began after the cached one expired (shared)."""
        while True:
            lookup = self._lookups.get(thread_id)
            if lookup is None:
                return await self._look_up(thread_id)
            await lookup.done.wait()
            if lookup.result is not None:
                return lookup.result
            # That lookup failed or was cancelled: its error was its caller's; try again.

    def _refresh_soon(self, thread_id: str) -> bool:
        """Ask the refresher for a new copy; False if there is no refresher to ask."""
        if self._refresh_requests is None:
            return False
        if thread_id in self._refresh_queued or thread_id in self._lookups:
            return True
        try:
            self._refresh_requests.send_nowait(thread_id)
        except trio.WouldBlock:
            return True  # backlog full: served from the cache, refreshed on a later use
        self._refresh_queued.add(thread_id)
        return True

    async def run_refresher(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Fetch new copies of entries past `_FRESH_S` in the background, until cancelled."""
        send, receive = trio.open_memory_channel[str](_REFRESH_BACKLOG)
        slots = trio.Semaphore(_REFRESH_CONCURRENCY)  # released by the lookup's own task
        self._refresh_requests = send
        try:
            async with trio.open_nursery() as nursery, receive:
                task_status.started()
                async for thread_id in receive:
                    self._refresh_queued.discard(thread_id)
                    await slots.acquire()
                    nursery.start_soon(self._refresh, thread_id, slots)
        finally:
            self._refresh_requests = None
            self._refresh_queued.clear()

    async def _refresh(self, thread_id: str, slots: trio.Semaphore) -> None:
        try:
            if thread_id not in self._lookups:
                await self._look_up(thread_id)
        except AdapterError as exc:
            # The old entry stays in use until the stale limit; then requests see the error.
            log.debug("membership refresh of %s failed: %s", thread_id, exc)
        finally:
            slots.release()

    async def _look_up(self, thread_id: str) -> _Cached:
        lookup = self._lookups[thread_id] = _Lookup()
        try:
            fetched_at = trio.current_time()
            cached = _Cached(await self._store.get_thread(thread_id), fetched_at)
            if self._lookups.get(thread_id) is lookup:  # not forgotten meanwhile
                self._remember(thread_id, cached)
            lookup.result = cached
            return cached
        finally:
            if self._lookups.get(thread_id) is lookup:
                del self._lookups[thread_id]
            lookup.done.set()

    def _remember(self, thread_id: str, cached: _Cached) -> None:
        self._cache[thread_id] = cached
        if len(self._cache) > 100_000:
            self._cache.clear()

    def forget(self, thread_id: str) -> None:
        self._cache.pop(thread_id, None)
        # A lookup already running may predate the change: later callers start their own.
        self._lookups.pop(thread_id, None)

    async def require_member(self, user_id: str, thread_id: str) -> None:
        thread = await self._thread(thread_id)
        if user_id not in thread.members:
            raise Forbidden("you are not a member of this thread", field="thread_id")

    async def require_open(self, user_id: str, thread_id: str) -> None:
        """A member, and the thread takes new messages (it is not archived)."""
        thread = await self._thread(thread_id)
        if user_id not in thread.members:
            raise Forbidden("you are not a member of this thread", field="thread_id")
        if thread.archived:
            raise ArchivedThread(f"thread {thread_id!r} is archived", field="thread_id")

    async def mark_read(self, user_id: str, thread_id: str, seq: int) -> dict[str, Any]:
        """Raise the user's read marker of a thread (members only; archived ones too)."""
        await self.require_member(user_id, thread_id)
        read_seq = await self.people.mark_read(user_id, thread_id, seq)
        return {"thread_id": thread_id, "read_seq": read_seq}

    # --- threads ----------------------------------------------------------------------
    async def create(self, creator: str, title: str, members: list[str]) -> dict[str, Any]:
        for member in members:
            if not re.match(_ID_PATTERN, member):
                raise ValidationFailed(
                    f"member {member[:40]!r} is not a valid user id", field="members"
                )
        unique = list(dict.fromkeys([creator, *members]))
        if len(unique) > _MAX_MEMBERS:
            raise ValidationFailed(f"at most {_MAX_MEMBERS} members", field="members")
        thread_id = "t_" + secrets.token_hex(8)
        thread = ThreadRecord(
            thread_id=thread_id,
            title=title,
            members=tuple(unique),
            created_by=creator,
            created_at=utc_now_iso(),
        )
        generation = self._recent.generation() if self._recent is not None else 0
        fetched_at = trio.current_time()
        created = ThreadCreated(
            event_id=_event_id(),
            thread_id=thread_id,
            actor_id=creator,
            occurred_at=thread.created_at or utc_now_iso(),
            title=title,
            members=list(unique),
        )
        # The thread and its domain event in one document write (the outbox relay publishes).
        stored = await self._store.create_thread(thread, [created])
        # Its members subscribe and post next: spare them the lookup of what was just stored.
        self._remember(stored.thread_id, _Cached(stored, fetched_at))
        if self._recent is not None and stored.thread_id == thread_id:
            self._recent.learn_empty(thread_id, generation)
        await self._announce_new(stored)
        return public_thread(stored)

    async def _announce_new(self, thread: ThreadRecord) -> None:
        # Every gateway tells the members' open connections (a `thread` frame), so the thread
        # shows up for them at once. Best effort: the thread is stored and listed by
        # GET /api/threads anyway, so a Kafka hiccup must not fail its creation.
        if self._producer is None:
            return
        event = MembershipEvent(thread_id=thread.thread_id, members=thread.members)
        try:
            await self._producer.produce(
                self._settings.events_topic, encode(event), key=event.thread_id
            )
        except AdapterError as exc:
            log.warning("new thread not announced: %s", exc)

    async def list_for(self, user_id: str) -> list[dict[str, Any]]:
        return [public_thread(t) for t in await self._store.list_threads(user_id)]

    async def boot_threads(self, user_id: str) -> list[dict[str, Any]]:
        """The user's threads with each one's last seq (one store aggregation for all), the
        user's read marker and the unread count after it."""
        threads = await self._store.list_threads(user_id)
        ids = [t.thread_id for t in threads]
        last = await self._store.last_seqs(ids)
        read = await self.people.read_seqs(user_id, ids)
        booted = []
        for thread in threads:
            last_seq, read_seq = last.get(thread.thread_id, 0), read.get(thread.thread_id, 0)
            booted.append(
                {
                    **public_thread(thread),
                    "last_seq": last_seq,
                    "read_seq": read_seq,
                    "unread": unread(last_seq, read_seq),
                }
            )
        return booted

    async def get_for(self, user_id: str, thread_id: str) -> dict[str, Any]:
        await self.require_member(user_id, thread_id)
        return public_thread(await self._thread(thread_id))

    async def add_member(self, actor: str, thread_id: str, user_id: str) -> dict[str, Any]:
        thread = await self._require_creator(actor, thread_id)
        members = list(dict.fromkeys([*thread.members, user_id]))
        event = MemberAdded(_event_id(), thread_id, actor, utc_now_iso(), user_id, members)
        return await self._set_members(thread_id, members, event)

    async def remove_member(self, actor: str, thread_id: str, user_id: str) -> dict[str, Any]:
        thread = await self._require_creator(actor, thread_id)
        if user_id == thread.created_by:
            raise ValidationFailed("the creator cannot be removed", field="user_id")
        members = [m for m in thread.members if m != user_id]
        event = MemberRemoved(_event_id(), thread_id, actor, utc_now_iso(), user_id, members)
        return await self._set_members(thread_id, members, event)

    async def rename(self, actor: str, thread_id: str, title: str) -> dict[str, Any]:
        """The creator renames the thread: the title and its domain event in one write, then
        every member's connection on every gateway is told (a `thread` frame with the title)."""
        await self._require_creator(actor, thread_id, "renames it")
        event = ThreadRenamed(_event_id(), thread_id, actor, utc_now_iso(), title)
        updated = await self._store.set_title(thread_id, title, [event])
        return await self._announce_change(thread_id, updated)

    async def archive(self, actor: str, thread_id: str) -> dict[str, Any]:
        """The creator archives the thread: readable, closed to new messages (one write with
        its ``thread.archived`` event); every member's connection is told. Archiving an
        archived thread changes nothing and writes no event."""
        thread = await self._require_creator(actor, thread_id, "archives it")
        if thread.archived:
            return public_thread(thread)
        event = ThreadArchived(_event_id(), thread_id, actor, utc_now_iso())
        updated = await self._store.set_archived(thread_id, [event])
        return await self._announce_change(thread_id, updated)

    async def _announce_change(
        self, thread_id: str, updated: ThreadRecord | None
    ) -> dict[str, Any]:
        self.forget(thread_id)
        if updated is None:
            raise NotFound(f"thread {thread_id!r} does not exist", field="thread_id")
        if self._producer is not None:
            changed = MembershipEvent(
                thread_id=thread_id,
                members=updated.members,
                title=updated.title,
                archived=updated.archived,
            )
            await self._producer.produce(
                self._settings.events_topic, encode(changed), key=thread_id
            )
        return public_thread(updated)

    async def _require_creator(
        self, actor: str, thread_id: str, does: str = "changes its members"
    ) -> ThreadRecord:
        self.forget(thread_id)
        thread = await self._thread(thread_id)
        if actor not in thread.members:
            raise Forbidden("you are not a member of this thread", field="thread_id")
        if thread.created_by != actor:
            raise Forbidden(f"only the thread's creator {does}", field="thread_id")
        return thread

    async def _set_members(
        self, thread_id: str, members: list[str], event: MemberAdded | MemberRemoved
    ) -> dict[str, Any]:
        updated = await self._store.set_members(thread_id, members, [event])
        self.forget(thread_id)
        if updated is None:
            raise NotFound(f"thread {thread_id!r} does not exist", field="thread_id")
        if self._producer is not None:
            changed = MembershipEvent(thread_id=thread_id, members=tuple(members))
            await self._producer.produce(
                self._settings.events_topic, encode(changed), key=thread_id
            )
        return public_thread(updated)

    # --- messages ---------------------------------------------------------------------
    async def find_message(self, message_id: str) -> MessageEvent | None:
        return await self._store.find_message(message_id)

    async def require_may_change(
        self, user_id: str, thread_id: str, message_id: str, *, delete: bool
    ) -> MessageEvent:
        """The message `user_id` may edit (only its sender) or delete (its sender or the
        thread's creator); refusals name the field to fix."""
        await self.require_member(user_id, thread_id)
        message = await self._store.find_message(message_id)
        if message is None or message.thread_id != thread_id:
            raise NotFound(f"message {message_id!r} is not in this thread", field="message_id")
        if message.deleted_at is not None:
            raise NotFound(f"message {message_id!r} was deleted", field="message_id")
        if not delete and (await self._thread(thread_id)).archived:
            # Deletes still work: taking one's words back is not new content.
            raise ArchivedThread(f"thread {thread_id!r} is archived", field="thread_id")
        if message.sender_id == user_id:
            return message
        if not delete:
            raise Forbidden("only the sender may edit a message", field="message_id")
        if (await self._thread(thread_id)).created_by != user_id:
            raise Forbidden(
                "only the sender or the thread's creator may delete a message",
                field="message_id",
            )
        return message

    def observe(self, event: ThreadEvent) -> None:
        """A message, edit or delete this gateway consumed from chat.events."""
        if self._recent is not None:
            self._recent.observe(event)

    async def history(self, thread_id: str, after_seq: int, limit: int) -> list[ThreadEvent]:
        """Messages, edits and deletes after `after_seq` in seq order, for a replay: from
        memory when it can tell, else the store."""
        recent = self._recent
        if recent is None:
            page = await self._store.history(thread_id, after_seq=after_seq, limit=limit)
            return _in_seq_order(page.messages, page.changes)
        known = recent.page(thread_id, after_seq, limit)
        if known is not None:
            return known
        generation = recent.generation()
        page = await self._store.history(thread_id, after_seq=after_seq, limit=limit)
        events = _in_seq_order(page.messages, page.changes)
        recent.learn_page(
            thread_id,
            after_seq,
            events,
            reached_newest=page.next_after_seq is None,
            generation=generation,
        )
        return events

    async def history_page(
        self,
        user_id: str,
        thread_id: str,
        *,
        after_seq: int | None,
        before_seq: int | None,
        limit: int,
    ) -> dict[str, Any]:
        await self.require_member(user_id, thread_id)
        page = await self._store.history(
            thread_id, after_seq=after_seq, before_seq=before_seq, limit=limit
        )
        out: dict[str, Any] = {"messages": [m.client_frame() for m in page.messages]}
        if page.changes:
            # Additive: the edits and deletes in this seq range (their effect is already in
            # the messages), so a client that tracks seqs sees no hole where they are.
            out["changes"] = [asdict(change) for change in page.changes]
        if page.next_before_seq is not None:
            out["next_before_seq"] = page.next_before_seq
        if page.next_after_seq is not None:
            out["next_after_seq"] = page.next_after_seq
        return out


def _event_id() -> str:
    # Chosen once, at write time: the relay publishes it as is, consumers dedupe by it.
    return str(uuid6.uuid7())


def _in_seq_order(
    messages: Sequence[MessageEvent], changes: Sequence[MessageChange]
) -> list[ThreadEvent]:
    events: list[ThreadEvent] = [*messages, *changes]
    if changes:
        events.sort(key=lambda event: event.seq)
    return events
