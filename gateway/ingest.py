"""Accepting a message: validate, authorise, name it, and answer only once Kafka has it.

The order is the design's: validate → authorise → assign message_id and server time →
produce to `chat.commands` and await the broker's ack → answer. Nothing is written to the
store here; the core does that exactly once, later, from Kafka.

Retries: with a `client_msg_id` the message_id is derived from (sender, client_msg_id), so a
retry through any gateway, before or after a crash, names the same message and the store's
unique index keeps one copy. A retry with *different* text is refused with 409 when this
gateway remembers the first (its posts of the last two minutes, at most 50,000); elsewhere the
first text stands.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uuid6

from adapters import AdapterError, UnknownOutcomeError
from gateway.schemas import _ID_PATTERN, check_text
from protocol.events import (
    DeleteMessage,
    EditMessage,
    PostMessage,
    PresenceEvent,
    TurnStopRequest,
    TypingEvent,
    encode,
    utc_now_iso,
)
from protocol.refusals import Conflict, RateLimited, Unavailable, ValidationFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters import KafkaProducer
    from config.settings import Settings
    from gateway.auth import Principal
    from gateway.limits import UserRateLimiter
    from gateway.threads import ThreadDirectory
    from protocol.refusals import Refusal
    from telemetry.metrics import Metrics
    from telemetry.readiness import Readiness

__all__ = ["Accepted", "AcceptedChange", "Ingest", "message_id_for"]

_RECENT_POSTS = 50_000
# Retries come within seconds; the memory follows the current post rate rather than growing
# for as long as 50,000 posts take to arrive (8 minutes at 100 posts/s, the soak's rate).
_REMEMBER_S = 120.0
# Records awaiting the broker's ack beyond which a new post is refused with 503 rather than
# queued: a client told to retry later is better served than one whose request hangs.
OVERLOAD_IN_FLIGHT = 8_000
_ID = re.compile(_ID_PATTERN)
_NAMESPACE = uuid.UUID("6f1c7e52-3b1d-4f44-9a51-0e6b8a0c2d11")


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    thread_id: str
    accepted_at: str

    def body(self) -> dict[str, str]:
        return {
            "message_id": self.message_id,
            "thread_id": self.thread_id,
            "accepted_at": self.accepted_at,
        }


@dataclass(frozen=True, slots=True)
class AcceptedChange:
    """An edit or a delete Kafka has: ``message_edited``/``message_deleted`` follows."""

    change_id: str
    message_id: str
    thread_id: str
    accepted_at: str

    def body(self) -> dict[str, str]:
        return {
            "change_id": self.change_id,
            "message_id": self.message_id,
            "thread_id": self.thread_id,
            "accepted_at": self.accepted_at,
        }


def message_id_for(sender_id: str, client_msg_id: str | None) -> str:
    """UUIDv7 for a fresh message; a stable UUIDv5 when the client named its attempt."""
    if client_msg_id is None:
        return str(uuid6.uuid7())
    return str(uuid.uuid5(_NAMESPACE, f"{sender_id}\x00{client_msg_id}"))


def _digest(thread_id: str, text: str) -> bytes:
    return hashlib.blake2b(f"{thread_id}\x00{text}".encode(), digest_size=16).digest()


class Ingest:
    def __init__(
        self,
        settings: Settings,
        producer: KafkaProducer,
        threads: ThreadDirectory,
        rate_limiter: UserRateLimiter,
        metrics: Metrics,
        readiness: Readiness,
    ) -> None:
        self._settings = settings
        self._producer = producer
        self._threads = threads
        self._rate = rate_limiter
        self._metrics = metrics
        self._readiness = readiness
        # (sender, client_msg_id) → (digest of what was accepted, when), for 409 on reuse.
        self._recent: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    async def accept(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
    ) -> Accepted:
        """Validate, authorise and produce; returns once Kafka acknowledged the message."""
        post = await self._prepare(principal, thread_id, text, client_msg_id)
        try:
            await self._producer.produce(self._settings.commands_topic, encode(post), key=thread_id)
        except AdapterError as exc:
            raise self._refusal_for(exc) from None
        return self._accepted(post, via)

    async def submit(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
        on_outcome: Callable[[Accepted | Refusal], None],
    ) -> None:
        """Like accept(), but returns once the message is queued for Kafka.

        `on_outcome` gets the Accepted (Kafka has it) or the refusal to tell the client, from
        the producer's delivery report (on the Trio thread, outside any task). Refusals found
        before producing are raised here, as accept() does. This is how one WebSocket
        connection keeps many sends in flight with no task per send.
        """
        post = await self._prepare(principal, thread_id, text, client_msg_id)

        def reported(error: AdapterError | None) -> None:
            if error is None:
                on_outcome(self._accepted(post, via))
            else:
                on_outcome(self._refusal_for(error))

        try:
            await self._producer.produce_then(
                self._settings.commands_topic, encode(post), thread_id, reported
            )
        except AdapterError as exc:
            raise self._refusal_for(exc) from None

    async def _prepare(
        self, principal: Principal, thread_id: str, text: str, client_msg_id: str | None
    ) -> PostMessage:
        self._refuse_when_busy()
        check_text(text, self._settings.max_text_bytes)
        user = principal.user_id
        try:
            self._rate.check(user)
        except RateLimited:
            self._metrics.refused.labels("rate").inc()
            raise
        await self._threads.require_open(user, thread_id)

        message_id = message_id_for(user, client_msg_id)
        if client_msg_id is not None:
            self._check_reuse(user, client_msg_id, thread_id, text)
        return PostMessage(
            message_id=message_id,
            thread_id=thread_id,
            sender_id=user,
            text=text,
            created_at=utc_now_iso(),
            client_msg_id=client_msg_id,
        )

    def _accepted(self, post: PostMessage, via: str) -> Accepted:
        if post.client_msg_id is not None:
            self._remember(post.sender_id, post.client_msg_id, post.thread_id, post.text)
        self._metrics.ingested.labels(via).inc()
        return Accepted(
            message_id=post.message_id, thread_id=post.thread_id, accepted_at=post.created_at
        )

    def _refusal_for(self, error: AdapterError) -> Unavailable:
        if isinstance(error, UnknownOutcomeError):
            self._metrics.refused.labels("kafka_unknown").inc()
            return Unavailable(
                "Kafka did not confirm the message; retry with the same client_msg_id",
                retry_after_s=1,
            )
        self._metrics.refused.labels("kafka_unavailable").inc()
        return Unavailable("Kafka is not reachable; retry later", retry_after_s=2)

    def _check_reuse(self, user: str, client_msg_id: str, thread_id: str, text: str) -> None:
        # Only this gateway's memory of recent posts is consulted: a store lookup per post
        # costs a collection scan on FerretDB (measured: 6 → 50 ms per post as a thread
        # grows). A reuse this gateway does not remember names the same message_id, so the
        # store keeps the first text and the retry is answered as a duplicate.
        seen = self._recent.get((user, client_msg_id))
        if seen is None or time.monotonic() - seen[1] > _REMEMBER_S:
            return
        if seen[0] != _digest(thread_id, text):
            raise Conflict(
                "client_msg_id was already used for a different message; use a new one",
                field="client_msg_id",
            )

    def _remember(self, user: str, client_msg_id: str, thread_id: str, text: str) -> None:
        now = time.monotonic()
        recent = self._recent
        recent[(user, client_msg_id)] = (_digest(thread_id, text), now)
        recent.move_to_end((user, client_msg_id))
        cutoff = now - _REMEMBER_S
        while len(recent) > _RECENT_POSTS or next(iter(recent.values()))[1] < cutoff:
            recent.popitem(last=False)

    async def accept_change(
        self,
        principal: Principal,
        thread_id: str,
        message_id: str,
        text: str | None,
        client_msg_id: str | None,
        via: str,
    ) -> AcceptedChange:
        """An edit (``text`` given) or a delete (``text`` None) of a message: validate,
        authorise (edit: the sender; delete: the sender or the thread's creator), produce to
        chat.commands like a post, and return once Kafka acknowledged it. The core gives it
        a seq of its own in the thread and applies it to the stored message."""
        self._refuse_when_busy()
        if _ID.match(message_id) is None:
            raise ValidationFailed(
                "message_id must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", field="message_id"
            )
        if text is not None:
            check_text(text, self._settings.max_text_bytes)
        user = principal.user_id
        try:
            self._rate.check(user)
        except RateLimited:
            self._metrics.refused.labels("rate").inc()
            raise
        await self._threads.require_may_change(user, thread_id, message_id, delete=text is None)
        # A retry with the same client_msg_id names the same change: stored once.
        change_id = message_id_for(
            user, None if client_msg_id is None else f"change:{client_msg_id}"
        )
        now = utc_now_iso()
        command: EditMessage | DeleteMessage
        if text is not None:
            command = EditMessage(change_id, thread_id, message_id, user, text, now)
        else:
            command = DeleteMessage(change_id, thread_id, message_id, user, now)
        try:
            await self._producer.produce(
                self._settings.commands_topic, encode(command), key=thread_id
            )
        except AdapterError as exc:
            raise self._refusal_for(exc) from None
        self._metrics.ingested.labels(via).inc()
        return AcceptedChange(change_id, message_id, thread_id, now)

    async def request_stop(self, principal: Principal, thread_id: str, turn_id: str) -> str:
        """Ask the core that runs the thread's turn `turn_id` to stop it (any member may);
        returns when Kafka has the request (its time). On the thread's partition, so it
        reaches the ThreadActor that owns the turn; a turn already over ignores it."""
        self._refuse_when_busy()
        for field, value in (("thread_id", thread_id), ("turn_id", turn_id)):
            if _ID.match(value) is None:
                raise ValidationFailed(
                    f"{field} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", field=field
                )
        await self._threads.require_member(principal.user_id, thread_id)
        now = utc_now_iso()
        request = TurnStopRequest(thread_id, turn_id, principal.user_id, now)
        try:
            await self._producer.produce(
                self._settings.commands_topic, encode(request), key=thread_id
            )
        except AdapterError as exc:
            raise self._refusal_for(exc) from None
        return now

    def _refuse_when_busy(self) -> None:
        if self._readiness.draining.is_set():
            self._metrics.refused.labels("draining").inc()
            raise Unavailable("server is shutting down; retry on another gateway", retry_after_s=1)
        if self._producer.counters.in_flight >= OVERLOAD_IN_FLIGHT:
            self._metrics.refused.labels("overloaded").inc()
            raise Unavailable("too many messages in flight; retry shortly", retry_after_s=1)

    async def publish_ephemeral(self, event: TypingEvent | PresenceEvent) -> None:
        """Typing and presence go straight to chat.events: never stored, best effort."""
        try:
            await self._producer.produce(
                self._settings.events_topic, encode(event), key=event.thread_id
            )
        except AdapterError:
            # Losing a typing indicator is harmless; it must never fail the connection.
            return
