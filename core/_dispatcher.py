"""The core's dispatcher: `chat.commands` records to their thread's actor, in log order.

The dispatcher only decodes and routes; a record that is not a valid command goes to the
dead-letter topic with its reason and is acknowledged at once (no poison loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from actors import MailboxFull, Registry
from adapters import ConsumedRecord, send_to_dead_letter
from core._thread_actor import CoreDeps, ThreadActor, Work
from protocol.events import EventDecodeError, MessageEvent, decode_thread_command
from telemetry import seconds_since_iso

if TYPE_CHECKING:
    from actors import ActorSystem
    from adapters import KafkaConsumer, KafkaProducer, MongoStore
    from config.settings import Settings
    from core._turns import TurnDeps
    from telemetry.metrics import Metrics

__all__ = ["Core"]

# A thread with no traffic for this long gives back its task and mailbox.
_IDLE_S = 120.0
# At shutdown, how long the core keeps consuming to catch up with what was accepted just
# before (in one process, the gateway stops first): leaving it is safe (the next core takes
# it), catching up makes "SIGTERM, exit, lag 0" hold whenever nothing new is arriving.
_SETTLE_S = 4.0
_FULL_MAILBOX_RETRY_S = 0.01


class Core:
    def __init__(
        self,
        settings: Settings,
        store: MongoStore,
        producer: KafkaProducer,
        consumer: KafkaConsumer,
        metrics: Metrics,
        turns: TurnDeps | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer
        self._consumer = consumer
        self._metrics = metrics
        self._stop_requested = trio.Event()
        self.registry: Registry[str, Work] | None = None
        self.deps = CoreDeps(
            store=store,
            producer=producer,
            consumer=consumer,
            events_topic=settings.events_topic,
            dead_letter=self.dead_letter,
            on_stored=self._on_stored,
            on_duplicate=lambda _event: metrics.duplicates.inc(),
            turns=turns,
        )

    async def start_registry(self, system: ActorSystem) -> Registry[str, Work]:
        deps = self.deps
        self.registry = await system.start_registry(
            "threads",
            lambda thread_id: ThreadActor(thread_id, deps),
            idle_timeout=_IDLE_S,
            max_restarts=100,
            within=10.0,
        )
        return self.registry

    def _on_stored(self, event: MessageEvent) -> None:
        self._metrics.persisted.inc()
        waited = seconds_since_iso(event.created_at)
        if waited is not None:
            self._metrics.accepted_to_stored.observe(waited)

    async def dead_letter(self, record: ConsumedRecord, reason: str) -> None:
        await send_to_dead_letter(self._producer, record, reason)
        self._metrics.failed.inc()

    # --- Service protocol: run the dispatcher as a supervised actor --------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        registry = self.registry
        if registry is None:
            raise RuntimeError("start_registry() must run before the dispatcher")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._stop_after_settling)
            task_status.started()
            await self._dispatch(registry)
            nursery.cancel_scope.cancel()

    async def _stop_after_settling(self) -> None:
        await self._stop_requested.wait()
        counters = self._consumer.counters
        reports = counters.lag_reports
        with trio.move_on_after(_SETTLE_S):
            # Two fresh reports: the first may predate the last commit.
            # Polled: the counters are plain fields the consumer thread updates once a second.
            while counters.lag_reports < reports + 2 or any(counters.lag.values()):  # noqa: ASYNC110
                await trio.sleep(0.05)
        # The consumer ends the dispatch loop: it stops handing out, waits for the thread
        # actors to acknowledge what they hold, commits, and closes.
        self._consumer.stop()

    async def _dispatch(self, registry: Registry[str, Work]) -> None:
        async for record in self._consumer:
            try:
                post = decode_thread_command(record.value or b"")
                if record.key is not None and record.key.decode(errors="replace") != post.thread_id:
                    raise EventDecodeError("record key does not match thread_id")
            except EventDecodeError as exc:
                await self.dead_letter(record, str(exc))
                self._consumer.ack(record)
                continue
            await self._hand_to_thread(registry, Work(post, record))

    async def _hand_to_thread(self, registry: Registry[str, Work], work: Work) -> None:
        # A thread far behind (its store writes slower than its posts arrive) can have a
        # whole mailbox queued before the consumer's pause takes hold, since records already
        # fetched still arrive. Wait for room rather than fail the dispatcher (which crashed
        # the whole core under the bench's WebSocket ingest): the consumer stays paused, so
        # the other threads' records wait only as long as this one needs to catch up.
        while True:
            try:
                registry.tell(work.post.thread_id, work)
                return
            except MailboxFull:
                await trio.sleep(_FULL_MAILBOX_RETRY_S)

    def stop(self) -> None:
        self._stop_requested.set()
