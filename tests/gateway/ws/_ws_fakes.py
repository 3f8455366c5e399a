"""In-memory fakes of the ports a connection uses (our own interfaces, not Kafka/Mongo)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from gateway.auth import Principal
from gateway.ingest import Accepted
from gateway.ws import FanoutHub
from gateway.ws._interfaces import AcceptedMessage
from protocol.events import MessageEvent, PresenceEvent, TypingEvent
from protocol.refusals import BadSignature, ExpiredToken, Forbidden, NotFound, RateLimited, Refusal

_CREATED = "2026-01-01T00:00:00Z"


class FakeVerifier:
    def __init__(self) -> None:
        self.tokens: dict[str, Principal] = {}
        self._n = itertools.count(1)

    def issue(self, user: str, ttl_s: float = 3600.0) -> str:
        token = f"tok-{user}-{next(self._n)}"
        self.tokens[token] = Principal(user, time.time() + ttl_s, {"sub": user})
        return token

    async def verify(self, token: object) -> Principal:
        await trio.lowlevel.checkpoint()
        principal = self.tokens.get(token) if isinstance(token, str) else None
        if principal is None:
            raise BadSignature("the token signature does not verify")
        if principal.expires_at <= time.time():
            raise ExpiredToken("the token has expired")
        return principal


@dataclass
class FakeThreads:
    members: dict[str, set[str]] = field(default_factory=dict)
    messages: dict[str, list[MessageEvent]] = field(default_factory=dict)
    # Runs inside history() before (or after) the page is read: live traffic mid-replay.
    on_history: Callable[[], Awaitable[None]] | None = None
    snapshot_before_hook: bool = False
    history_calls: int = 0

    async def require_member(self, user_id: str, thread_id: str) -> None:
        await trio.lowlevel.checkpoint()
        if thread_id not in self.members:
            raise NotFound(f"thread {thread_id!r} does not exist", field="thread_id")
        if user_id not in self.members[thread_id]:
            raise Forbidden("you are not a member of this thread", field="thread_id")

    async def history(self, thread_id: str, after_seq: int, limit: int) -> list[MessageEvent]:
        self.history_calls += 1

        def page() -> list[MessageEvent]:
            rows = [m for m in self.messages.get(thread_id, []) if m.seq > after_seq]
            return rows[:limit]

        before = page()
        hook, self.on_history = self.on_history, None
        if hook is not None:
            await hook()
        await trio.lowlevel.checkpoint()
        return before if self.snapshot_before_hook else page()

    def store(self, thread_id: str, text: str, sender: str = "alice") -> MessageEvent:
        rows = self.messages.setdefault(thread_id, [])
        seq = len(rows) + 1
        event = MessageEvent(
            thread_id, seq, f"m-{thread_id}-{seq}", sender, text, "2026-01-01T00:00:00Z"
        )
        rows.append(event)
        return event


@dataclass
class FakeIngest:
    hub: FanoutHub
    threads: FakeThreads
    accepted: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)
    ephemeral: list[TypingEvent | PresenceEvent] = field(default_factory=list)
    rate_limited: bool = False

    async def accept(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
    ) -> Accepted:
        await trio.lowlevel.checkpoint()
        if self.rate_limited:
            raise RateLimited("more than 20 messages per second", retry_after_s=0.5)
        await self.threads.require_member(principal.user_id, thread_id)
        self.accepted.append((principal.user_id, thread_id, text, client_msg_id, via))
        return Accepted(f"m-{client_msg_id}", thread_id, "2026-01-01T00:00:00Z")

    async def submit(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
        on_outcome: Callable[[AcceptedMessage | Refusal], None],
    ) -> None:
        accepted = await self.accept(principal, thread_id, text, client_msg_id, via)
        # Like the producer's delivery report: later, from run_sync_soon, outside any task.
        trio.lowlevel.current_trio_token().run_sync_soon(on_outcome, accepted)

    async def publish_ephemeral(self, event: TypingEvent | PresenceEvent) -> None:
        await trio.lowlevel.checkpoint()
        self.ephemeral.append(event)
        self.hub.publish(event)  # what chat.events would bring back

    def post(self, thread_id: str, text: str, sender: str = "alice") -> MessageEvent:
        """Core + events bridge in one step: store with the next seq, then fan out."""
        event = self.threads.store(thread_id, text, sender)
        self.hub.publish(event)
        return event
