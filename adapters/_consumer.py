"""Kafka consumer actor, Trio side: hands out records, tracks acks, drives backpressure.

The blocking client lives in `_consumer_worker.ConsumerWorker`. This side owns the
OffsetTracker (so acks never cross a thread), a queue of fetched records not yet handed
out, and the pause/resume decision: outstanding records (queued + handed out, unacked)
above `max_outstanding` pause every partition; at half of it they resume. Polling never
stops, so the group never evicts us for being slow.

Shutdown (`stop()` or cancellation): stop handing out and drop queued records (they were
never processed, so they will be redelivered), wait up to `drain_s` for handed-out
records to be acked, queue the final offsets, then the thread commits synchronously and
closes. A record acked after that point is redelivered to the next owner.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import trio

from ._consumer_worker import ConsumerWorker, Pause, StoreOffsets
from ._errors import AdapterClosedError
from ._kafka_config import consumer_config
from ._offsets import OffsetTracker, TopicPartitionKey
from ._types import ConsumedRecord, ConsumerCounters, Readiness

if TYPE_CHECKING:
    from ._options import KafkaOptions

__all__ = ["KafkaConsumer"]

log = logging.getLogger(__name__)


def _label(tp: TopicPartitionKey) -> str:
    return f"{tp[0]}[{tp[1]}]"


class KafkaConsumer:
    """At-least-once consumer of `topics`; run it with `nursery.start(consumer.run)`."""

    def __init__(
        self,
        options: KafkaOptions,
        topics: list[str],
        group_id: str,
        *,
        group_instance_id: str = "",
        max_outstanding: int = 1_000,
        commit_interval_s: float = 1.0,
        revoke_drain_s: float = 5.0,
        drain_s: float | None = None,
        pin_start_offsets: bool = False,
        **config_overrides: Any,
    ) -> None:
        self._conf = consumer_config(options, group_id, group_instance_id, **config_overrides)
        self._topics = list(topics)
        self._max_outstanding = max_outstanding
        self._pin_start_offsets = pin_start_offsets
        self._commit_interval_s = commit_interval_s
        self._revoke_drain_s = revoke_drain_s
        self._drain_s = options.drain_s if drain_s is None else drain_s
        self._tracker = OffsetTracker()
        self._generation: dict[TopicPartitionKey, int] = {}
        self._queue: deque[ConsumedRecord] = deque()
        self._arrived = trio.lowlevel.ParkingLot()
        self._acked = trio.lowlevel.ParkingLot()
        self._thread: ConsumerWorker | None = None
        self._stop_requested = trio.Event()
        self._closing = False
        self._drained = False  # the shutdown drain finished: close() may revoke at once
        self._paused = False
        self._ready = False
        self._message = "consumer not started"
        self.counters = ConsumerCounters()

    # --- public API ---------------------------------------------------------------------
    @property
    def readiness(self) -> Readiness:
        return Readiness(self._ready, self._message)

    @property
    def assignment(self) -> list[TopicPartitionKey]:
        return sorted(self._generation)

    @property
    def assigned(self) -> bool:
        """Whether any partition is assigned; cheap enough to ask once per record."""
        return bool(self._generation)

    async def get(self) -> ConsumedRecord:
        """Next record in partition order; raises AdapterClosedError once stopping."""
        while not self._queue:
            if self._closing:
                raise AdapterClosedError("the Kafka consumer is stopping")
            await self._arrived.park()
        if self._closing:
            raise AdapterClosedError("the Kafka consumer is stopping")
        rec = self._queue.popleft()
        tp = (rec.topic, rec.partition)
        if self._tracker.rewinds(tp, rec.offset):
            # Seen in the zombie chaos test under load: a partition assigned to a core that
            # had just been frozen past its session timeout handed out 88.. and then 83..
            # (its position reset to the committed offset). Raising here crash-looped the
            # dispatcher until the process gave up; the records are simply handed out again.
            log.warning(
                "%s went back to offset %d; handing out again from there", _label(tp), rec.offset
            )
            self._tracker.restart_from(tp, rec.offset)
        self._tracker.dispatch(tp, rec.offset)
        return rec

    def __aiter__(self) -> KafkaConsumer:
        return self

    async def __anext__(self) -> ConsumedRecord:
        try:
            return await self.get()
        except AdapterClosedError:
            raise StopAsyncIteration from None

    def ack(self, record: ConsumedRecord) -> None:
        """Mark `record` done (stored, or sent to the DLQ); never blocks."""
        tp = (record.topic, record.partition)
        if self._generation.get(tp) != record.generation:
            return  # revoked (and maybe re-assigned) since: the next owner redoes it
        self.counters.acked += 1
        if self._tracker.ack(tp, record.offset):
            self._flush_offsets()
        self._acked.unpark_all()
        self._update_flow()

    def stop(self) -> None:
        """Ask `run()` to stop handing out, drain, commit and close."""
        self._stop_requested.set()

    # --- actor body -----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Fresh per-run state: a supervisor may run this again after a crash.
        self._tracker = OffsetTracker()
        self._generation = {}
        self._queue.clear()
        self._closing = self._drained = self._paused = self.counters.paused = False
        self._stop_requested = trio.Event()
        thread = self._thread = ConsumerWorker(
            self._conf,
            self._topics,
            self,
            trio.lowlevel.current_trio_token(),
            self._commit_interval_s,
            self._pin_start_offsets,
        )
        thread_done = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_thread, thread, thread_done)
            task_status.started()
            try:
                await self._stop_requested.wait()
            finally:
                with trio.CancelScope(shield=True):
                    await self._drain(thread, thread_done)

    async def _run_thread(self, thread: ConsumerWorker, done: trio.Event) -> None:
        # Shielded: the thread ends through `stop` (set by _drain), after its final commit,
        # so its revoke callback never sees this task cancelled.
        try:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(thread.run, limiter=trio.CapacityLimiter(1))
        finally:
            done.set()
            self._ready, self._message = False, "consumer stopped"
            self._closing = True
            self._arrived.unpark_all()

    async def _drain(self, thread: ConsumerWorker, thread_done: trio.Event) -> None:
        try:
            self._closing = True
            self._queue.clear()
            self._arrived.unpark_all()
            with trio.move_on_after(self._drain_s):
                while self._tracker.in_flight() > 0 and not thread_done.is_set():
                    await self._acked.park()
            if self._tracker.in_flight():
                log.warning("consumer closing with %d records unacked", self._tracker.in_flight())
            self._flush_offsets()
        finally:
            self._drained = True
            thread.stop.set()
            await thread_done.wait()

    # --- flow control -------------------------------------------------------------------------
    def _flush_offsets(self) -> None:
        offsets = self._tracker.take_committable()
        if offsets and self._thread is not None:
            self._thread.commands.put(StoreOffsets(tuple(offsets.items())))

    def _update_flow(self) -> None:
        outstanding = len(self._queue) + self._tracker.in_flight()
        if not self._paused and outstanding >= self._max_outstanding:
            self._set_paused(True)
        elif self._paused and outstanding <= self._max_outstanding // 2:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        self._paused = self.counters.paused = paused
        if self._thread is not None:
            self._thread.commands.put(Pause(paused))

    # --- called on the Trio thread by the consumer thread -------------------------------------
    def on_records(self, batch: list[ConsumedRecord]) -> None:
        if self._closing:
            return
        for rec in batch:
            if self._generation.get((rec.topic, rec.partition)) == rec.generation:
                self._queue.append(rec)
                self.counters.consumed += 1
        self._arrived.unpark_all()
        self._update_flow()

    def on_assigned(self, tps: list[tuple[TopicPartitionKey, int]]) -> None:
        self.counters.rebalances += 1
        for tp, generation in tps:
            self._generation[tp] = generation
        self._tracker.assign(tp for tp, _ in tps)
        log.info("assigned %s", ", ".join(_label(tp) for tp, _ in tps))

    async def on_revoke(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        self.counters.rebalances += 1
        gone = set(tps)
        self._drop(gone)
        # During close() the shutdown drain has already waited for in-flight records.
        with trio.move_on_after(0 if self._drained else self._revoke_drain_s):
            while self._tracker.in_flight(tps) > 0:
                await self._acked.park()
        final = self._tracker.revoke(tps)
        for tp in tps:
            self._generation.pop(tp, None)
        self._update_flow()
        log.info("revoked %s", ", ".join(_label(tp) for tp in tps))
        return final

    def on_lost(self, tps: list[TopicPartitionKey]) -> None:
        self.counters.rebalances += 1
        self._drop(set(tps))
        self._tracker.revoke(tps)
        for tp in tps:
            self._generation.pop(tp, None)
        self._update_flow()
        log.warning("lost %s", ", ".join(_label(tp) for tp in tps))

    def on_committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        self.counters.commits += 1
        for tp, offset in offsets.items():
            self.counters.committed[_label(tp)] = offset

    def on_lag(self, lag: dict[TopicPartitionKey, int]) -> None:
        self.counters.lag_reports += 1
        for tp, value in lag.items():
            self.counters.lag[_label(tp)] = value

    def on_status(self, ready: bool, message: str) -> None:
        if not ready and self._ready:
            log.warning("%s", message)
        self._ready, self._message = ready, message

    def _drop(self, tps: set[TopicPartitionKey]) -> None:
        if self._queue:
            self._queue = deque(r for r in self._queue if (r.topic, r.partition) not in tps)
