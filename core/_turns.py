"""A thread's assistant turns, owned by its ThreadActor: queued, run one at a time, stoppable.

    ThreadActor stores a user's message ─▶ ThreadTurns.on_stored ─▶ queue (per assistant)
    runner task (the actor's nursery) ─▶ Turn.run ─▶ chat.turns (started, deltas, finished)
                                                 └▶ the reply ─▶ chat.commands ─▶ stored once

Rules:
- A message from a person (not a bot member) in a thread with assistant members starts a
  turn of each assistant, one turn at a time per thread. Messages posted while a turn runs
  are answered together by the next turn: it replies to the newest of them, and its prompt
  holds all of them (the thread's history within the budget).
- The reply is stored as an ordinary message (with `turn_id`) through chat.commands, with a
  message_id derived from the turn, so a redelivery stores it once. `finished` goes out
  after Kafka has the reply, so a client that sees `finished` will see the message.
- Deltas go to chat.turns without waiting for the broker per delta (lossy by design).
- `stop` (a `turn.stop` record on the thread's partition) stops the upstream request; the
  partial reply is stored with status `stopped`.
- Each running turn holds a lease in collection `turns`; a core that dies mid-turn leaves
  the lease to expire, and any core's `TurnSweeper` then finishes the turn as `error`
  (decided: not re-run; the model's output so far was never durable).
- On drain (SIGTERM) the running turn is stopped and its partial reply stored directly by
  the thread's sequencer within the actor's stop grace (the commands consumer has stopped).
- Limits: `TurnRate` per user per minute (over it: the turn finishes at once as `error`,
  saying when to retry) and a process-wide `trio.CapacityLimiter` (queued, not refused).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from adapters import AdapterError, ChatRequest, DocumentCollection
from assistants import (
    AssistantConfig,
    AssistantDirectory,
    PromptBudgetError,
    Turn,
    TurnRate,
    is_bot,
)
from protocol.events import MessageEvent, PostMessage, TurnStopRequest, encode, utc_now_iso
from protocol.turns import TurnFinished, TurnRecord, TurnStarted, encode_turn

if TYPE_CHECKING:
    from adapters import ChatCompletions, KafkaProducer, MongoStore

__all__ = ["ThreadTurns", "TurnDeps", "TurnSweeper", "reply_id", "turn_id_for"]

log = logging.getLogger("parley.turns")

# History read for a prompt: the newest messages only, so a long thread costs what a short
# one does (the budget holds fewer than this many messages anyway).
HISTORY_MESSAGES = 100
# A running turn renews its lease this often; a lease this old means its core is gone.
LEASE_RENEW_S = 2.0
LEASE_S = 10.0
SWEEP_EVERY_S = 3.0
MEMBERS_CACHE_S = 5.0


def turn_id_for(message_id: str, assistant_id: str) -> str:
    """The turn answering `message_id` by `assistant_id`: the same after any redelivery."""
    digest = hashlib.sha256(f"{message_id}\0{assistant_id}".encode()).hexdigest()[:32]
    return f"turn-{digest}"


def reply_id(turn_id: str) -> str:
    """The message_id the turn's reply is stored under: stored once, however often sent."""
    return f"reply-{turn_id.removeprefix('turn-')}"


@dataclass(frozen=True)
class TurnDeps:
    """What every thread's turns in one core share."""

    llm: ChatCompletions
    producer: KafkaProducer
    store: MongoStore
    assistants: AssistantDirectory
    ledger: DocumentCollection
    rate: TurnRate
    limiter: trio.CapacityLimiter
    commands_topic: str
    turns_topic: str
    context_tokens: int
    deadline_s: float


@dataclass(frozen=True, slots=True)
class _Pending:
    message: MessageEvent
    assistant_id: str
    config: AssistantConfig


class ThreadTurns:
    """The turns of one thread; lives in its ThreadActor, runs in the actor's nursery."""

    def __init__(
        self,
        thread_id: str,
        deps: TurnDeps,
        nursery: Callable[[], trio.Nursery],
        store_now: Callable[[PostMessage], Awaitable[None]],
    ) -> None:
        self.thread_id = thread_id
        self._deps = deps
        self._nursery = nursery
        self._store_now = store_now
        self._queue: dict[str, _Pending] = {}  # assistant_id -> newest message to answer
        self._current: Turn | None = None
        self._idle = trio.Event()
        self._idle.set()
        self._draining = False
        self._members: tuple[float, tuple[str, ...]] | None = None

    @property
    def running(self) -> str | None:
        return None if self._current is None else self._current.turn_id

    async def on_stored(self, events: list[MessageEvent]) -> None:
        """New messages were stored: queue a turn for each assistant when a person wrote."""
        if self._draining:
            return
        people = [e for e in events if not is_bot(e.sender_id) and e.turn_id is None]
        if not people:
            return
        for assistant_id in await self._assistant_members():
            config = await self._deps.assistants.get(assistant_id)
            if config is not None:
                # A newer message replaces a queued one: the next turn answers the newest,
                # and its prompt holds the others.
                self._queue[assistant_id] = _Pending(people[-1], assistant_id, config)
        if self._queue and self._idle.is_set():
            self._idle = trio.Event()
            self._nursery().start_soon(self._run_queue)

    def stop(self, request: TurnStopRequest) -> None:
        turn = self._current
        if turn is not None and turn.turn_id == request.turn_id:
            turn.stop(f"stopped by {request.stopped_by}")

    async def drain(self) -> None:
        """Stop the running turn, drop the queue, and wait until the partial reply is stored."""
        self._draining = True
        self._queue.clear()
        if self._current is not None:
            self._current.stop("the server is shutting down")
        await self._idle.wait()

    async def _assistant_members(self) -> tuple[str, ...]:
        now = time.monotonic()
        if self._members is None or now - self._members[0] > MEMBERS_CACHE_S:
            thread = await self._deps.store.get_thread(self.thread_id)
            members = thread.members if thread is not None else ()
            self._members = (now, tuple(m for m in members if is_bot(m)))
        return self._members[1]

    async def _run_queue(self) -> None:
        try:
            while self._queue and not self._draining:
                assistant_id = next(iter(self._queue))
                pending = self._queue.pop(assistant_id)
                try:
                    await self._run_one(pending)
                except AdapterError as exc:
                    # Kafka or the store failed around the turn; the thread carries on.
                    log.warning("turn failed", extra={"thread_id": self.thread_id, "why": str(exc)})
        finally:
            self._current = None
            self._idle.set()

    async def _run_one(self, pending: _Pending) -> None:
        deps = self._deps
        message = pending.message
        turn_id = turn_id_for(message.message_id, pending.assistant_id)
        started = TurnStarted(
            thread_id=self.thread_id,
            turn_id=turn_id,
            assistant_id=pending.assistant_id,
            reply_to=message.message_id,
            message_id=reply_id(turn_id),
            started_at=utc_now_iso(),
        )
        wait_s = deps.rate.check(message.sender_id, time.monotonic())
        if wait_s is not None:
            reason = f"rate_limited: too many assistant turns; retry in {wait_s:.0f}s"
            await self._refuse(started, reason)
            return
        async with deps.limiter:
            try:
                request = await self._request(pending)
            except PromptBudgetError as exc:
                await self._refuse(started, f"the prompt does not fit: {exc}")
                return
            turn = Turn(started, deps.llm, request, self._sink(pending.assistant_id))
            self._current = turn
            await self._hold_lease(started)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._renew_lease, started)
                    nursery.start_soon(self._enforce_deadline, turn)
                    await turn.run()
                    nursery.cancel_scope.cancel()
            finally:
                self._current = None
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await deps.ledger.delete(turn_id)

    async def _request(self, pending: _Pending) -> ChatRequest:
        page = await self._deps.store.history(self.thread_id, limit=HISTORY_MESSAGES)
        history = [
            (m.sender_id, m.text)
            for m in page.messages
            if m.deleted_at is None and m.seq <= pending.message.seq
        ]
        config = pending.config
        prompt = config.prompt(
            history, assistant_id=pending.assistant_id, context_tokens=self._deps.context_tokens
        )
        return ChatRequest(
            prompt.messages,
            max_tokens=config.max_reply_tokens,
            temperature=config.temperature,
            seed=config.seed,
            model=config.model or None,
        )

    def _sink(self, assistant_id: str) -> Callable[[TurnRecord], Awaitable[None]]:
        deps = self._deps

        async def sink(record: TurnRecord) -> None:
            if isinstance(record, TurnFinished):
                await self._store_reply(record, assistant_id)
                # Awaited: once this returns, every gateway can have the whole turn.
                await deps.producer.produce(
                    deps.turns_topic, encode_turn(record), key=record.thread_id
                )
                return
            # Queued without waiting for the broker: deltas are lossy by design, and the
            # producer keeps a partition's records in order.
            await deps.producer.produce_then(
                deps.turns_topic, encode_turn(record), record.thread_id, _ignore_report
            )

        return sink

    async def _store_reply(self, finished: TurnFinished, assistant_id: str) -> None:
        turn = self._current
        if finished.message_id is None or turn is None:
            return
        post = PostMessage(
            message_id=finished.message_id,
            thread_id=self.thread_id,
            sender_id=assistant_id,
            text=turn.text.text,
            created_at=utc_now_iso(),
            turn_id=finished.turn_id,
            turn_status=finished.status,
            turn_reason=finished.reason,
        )
        if self._draining:
            # The commands consumer has stopped: the thread's own sequencer stores it now.
            await self._store_now(post)
            return
        await self._deps.producer.produce(
            self._deps.commands_topic, encode(post), key=self.thread_id
        )

    async def _refuse(self, started: TurnStarted, reason: str) -> None:
        """A turn that cannot run: started and finished as `error`, so clients see why."""
        finished = TurnFinished(started.thread_id, started.turn_id, "error", 0, reason)
        topic = self._deps.turns_topic
        await self._deps.producer.produce_many(
            topic,
            [(self.thread_id, encode_turn(started)), (self.thread_id, encode_turn(finished))],
        )

    async def _hold_lease(self, started: TurnStarted) -> None:
        await self._deps.ledger.put(
            started.turn_id,
            {
                "thread_id": started.thread_id,
                "assistant_id": started.assistant_id,
                "started_at": started.started_at,
                "lease_until": time.time() + LEASE_S,
            },
        )

    async def _renew_lease(self, started: TurnStarted) -> None:
        while True:
            await trio.sleep(LEASE_RENEW_S)
            try:
                await self._hold_lease(started)
            except AdapterError as exc:
                log.warning("turn lease not renewed", extra={"why": str(exc)})

    async def _enforce_deadline(self, turn: Turn) -> None:
        await trio.sleep(self._deps.deadline_s)
        turn.stop(f"the turn ran past its deadline of {self._deps.deadline_s:g}s", as_error=True)


def _ignore_report(_error: object) -> None:
    # A lost delta is recovered by the next snapshot a client asks for; nothing to do.
    return


class TurnSweeper:
    """Finishes as `error` the turns whose core died (their lease in `turns` expired).

    Runs in every core; deleting the lease document is the claim, so one core finishes each.
    """

    def __init__(self, ledger: DocumentCollection, producer: KafkaProducer, turns_topic: str):
        self._ledger = ledger
        self._producer = producer
        self._topic = turns_topic
        self.finished = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.sweep()
            except AdapterError as exc:
                log.warning("turn sweep failed", extra={"why": str(exc)})
            await trio.sleep(SWEEP_EVERY_S)

    async def sweep(self) -> int:
        expired = await self._ledger.find({"lease_until": {"$lt": time.time()}}, limit=500)
        done = 0
        for doc in expired:
            turn_id = str(doc["_id"])
            if not await self._ledger.delete(turn_id):
                continue  # another core claimed it
            finished = TurnFinished(
                thread_id=str(doc["thread_id"]),
                turn_id=turn_id,
                status="error",
                deltas=0,
                reason="the server running this turn stopped before it finished",
            )
            await self._producer.produce(self._topic, encode_turn(finished), key=finished.thread_id)
            done += 1
        self.finished += done
        return done
