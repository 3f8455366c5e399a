"""The consumer's own OS thread: the only code that ever touches the confluent-kafka Consumer.

Everything librdkafka does for a consumer (fetch, rebalance callbacks, store, commit,
pause, close) happens here, so `close()` can never overlap a `poll()`. The Trio side talks
to this thread through a command queue drained between short polls; the thread talks back
with `run_sync_soon` (fire and forget, FIFO) except on revoke, where it must wait for the
Trio side to finish the revoked partitions' records and name the offsets to commit.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from ._errors import AdapterUnavailableError
from ._offsets import TopicPartitionKey
from ._types import ConsumedRecord

__all__ = ["ConsumerWorker", "StoreOffsets", "TrioSide"]

log = logging.getLogger(__name__)

_POLL_S = 0.1
_BATCH = 500
_LAG_EVERY_S = 1.0


def _next_batch(consumer: Consumer) -> list[Message]:
    """Wait for one record, then take what else is already fetched, without waiting.

    consume(n, timeout) returns only once it has n records or the timeout passed (measured:
    ~45 ms added to a message's trip at chat rates, where batches never fill). poll() returns
    as soon as one record is there.
    """
    first = consumer.poll(_POLL_S)
    if first is None:
        return []
    return [first, *consumer.consume(num_messages=_BATCH - 1, timeout=0)]


@dataclass(frozen=True, slots=True)
class StoreOffsets:
    """Command: store these offsets (next offset to read) for the next commit."""

    offsets: tuple[tuple[TopicPartitionKey, int], ...]


@dataclass(frozen=True, slots=True)
class Pause:
    """Command: pause (True) or resume (False) every assigned partition."""

    paused: bool


Command = StoreOffsets | Pause


class TrioSide(Protocol):
    """What the thread calls back on the Trio thread (all but `revoke` via run_sync_soon)."""

    def on_records(self, batch: list[ConsumedRecord]) -> None: ...
    def on_assigned(self, tps: list[tuple[TopicPartitionKey, int]]) -> None: ...
    async def on_revoke(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]: ...
    def on_lost(self, tps: list[TopicPartitionKey]) -> None: ...
    def on_committed(self, offsets: dict[TopicPartitionKey, int]) -> None: ...
    def on_lag(self, lag: dict[TopicPartitionKey, int]) -> None: ...
    def on_status(self, ready: bool, message: str) -> None: ...


class ConsumerWorker:
    """Runs in `trio.to_thread.run_sync(thread.run)`; returns after commit and close."""

    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        side: TrioSide,
        token: trio.lowlevel.TrioToken,
        commit_interval_s: float,
        pin_start_offsets: bool = False,
    ) -> None:
        self._conf = dict(conf)
        self._pin_start_offsets = pin_start_offsets
        self._conf["error_cb"] = self._on_error
        self._conf["on_commit"] = self._on_commit
        self._topics = topics
        self._side = side
        self._token = token
        self._commit_interval_s = commit_interval_s
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.stop = threading.Event()
        self._assigned: set[TopicPartitionKey] = set()
        self._generation: dict[TopicPartitionKey, int] = {}
        self._paused = False
        self._dirty = False
        self._ready = False
        self._committed: dict[TopicPartitionKey, int] = {}
        self._consumer: Consumer | None = None
        self._fatal = ""

    # --- thread body ----------------------------------------------------------------------
    def run(self) -> None:
        consumer = self._consumer = Consumer(self._conf)
        try:
            if not self._wait_for_broker(consumer):
                return
            consumer.subscribe(
                self._topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            next_commit = next_lag = time.monotonic()
            while not self.stop.is_set():
                if self._fatal:
                    # e.g. fenced by another member with our group.instance.id: this client
                    # can never consume again; end the run so the supervisor starts afresh.
                    raise AdapterUnavailableError(self._fatal)
                self._apply_commands(consumer)
                msgs = _next_batch(consumer)
                if msgs:
                    self._hand_over(msgs)
                now = time.monotonic()
                if now >= next_commit:
                    self._commit(consumer, asynchronous=True)
                    next_commit = now + self._commit_interval_s
                if now >= next_lag:
                    self._report_lag(consumer)
                    next_lag = now + _LAG_EVERY_S
            # Shutdown: the Trio side queued its final StoreOffsets before setting `stop`.
            self._apply_commands(consumer)
            self._commit(consumer, asynchronous=False)
        finally:
            # Same thread as every poll: close() cannot race a poll.
            consumer.close()
            self._consumer = None

    def _wait_for_broker(self, consumer: Consumer) -> bool:
        delay = 0.2
        while not self.stop.is_set():
            try:
                consumer.list_topics(timeout=2.0)
            except KafkaException as exc:
                self._call(
                    self._side.on_status,
                    False,
                    f"Kafka at {self._conf['bootstrap.servers']} unreachable: {exc}",
                )
                self.stop.wait(delay)
                delay = min(5.0, delay * 2)
                continue
            self._ready = True
            self._call(self._side.on_status, True, "consumer connected")
            return True
        return False

    def _hand_over(self, msgs: list[Any]) -> None:
        batch: list[ConsumedRecord] = []
        for m in msgs:
            err = m.error()
            if err is not None:
                self._on_error(err)
                continue
            tp = (m.topic(), m.partition())
            headers = tuple((k, v or b"") for k, v in (m.headers() or ()))
            batch.append(
                ConsumedRecord(
                    topic=tp[0],
                    partition=tp[1],
                    offset=m.offset(),
                    key=m.key(),
                    value=m.value(),
                    headers=headers,
                    timestamp_ms=m.timestamp()[1],
                    generation=self._generation.get(tp, 0),
                )
            )
        if batch:
            if not self._ready:
                self._ready = True
                self._call(self._side.on_status, True, "consumer connected")
            self._call(self._side.on_records, batch)

    def _apply_commands(self, consumer: Consumer) -> None:
        stores: dict[TopicPartitionKey, int] = {}
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                break
            if isinstance(cmd, StoreOffsets):
                stores.update(cmd.offsets)
            elif cmd.paused != self._paused:
                self._paused = cmd.paused
                parts = [TopicPartition(t, p) for t, p in self._assigned]
                if parts:
                    (consumer.pause if cmd.paused else consumer.resume)(parts)
        self._store(consumer, stores)

    def _store(self, consumer: Consumer, offsets: dict[TopicPartitionKey, int]) -> None:
        # A partition revoked since the Trio side acked is not ours to store any more.
        parts = [
            TopicPartition(t, p, o) for (t, p), o in offsets.items() if (t, p) in self._assigned
        ]
        if not parts:
            return
        try:
            consumer.store_offsets(offsets=parts)
            self._dirty = True
        except KafkaException as exc:
            log.warning("store_offsets failed: %s", exc)

    def _commit(self, consumer: Consumer, *, asynchronous: bool) -> None:
        if not self._dirty:
            return
        try:
            result = None if asynchronous else consumer.commit(asynchronous=False)
            if asynchronous:
                consumer.commit(asynchronous=True)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError._NO_OFFSET:
                self._dirty = False
                return
            log.warning("commit failed: %s", exc)
            return
        self._dirty = False
        if result is not None:
            self._record_committed(result)

    def _record_committed(self, parts: list[TopicPartition]) -> None:
        done = {
            (p.topic, p.partition): p.offset
            for p in parts
            if p.error is None and p.offset != OFFSET_INVALID and p.offset >= 0
        }
        if done:
            self._committed.update(done)
            self._call(self._side.on_committed, done)

    def _report_lag(self, consumer: Consumer) -> None:
        lag: dict[TopicPartitionKey, int] = {}
        for tp in self._assigned:
            try:
                _low, high = consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
            except KafkaException:
                continue
            if high >= 0 and tp in self._committed:
                lag[tp] = max(0, high - self._committed[tp])
        if lag:
            self._call(self._side.on_lag, lag)

    # --- librdkafka callbacks (run inside consume() on this thread) -------------------------
    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        keys: list[tuple[TopicPartitionKey, int]] = []
        for p in parts:
            tp = (p.topic, p.partition)
            self._generation[tp] = self._generation.get(tp, 0) + 1
            self._assigned.add(tp)
            keys.append((tp, self._generation[tp]))
        if self._pin_start_offsets:
            parts = self._pinned(consumer, parts)
        # Tell Trio before any record of the new assignment is handed over (FIFO).
        self._call(self._side.on_assigned, keys)
        # Assign here (not after the callback) so a paused consumer can pause them at once.
        consumer.incremental_assign(parts)
        if self._paused and parts:
            consumer.pause(parts)

    def _pinned(self, consumer: Consumer, parts: list[TopicPartition]) -> list[TopicPartition]:
        """Start never-committed partitions at their end, and commit that start at once.

        With `auto.offset.reset=latest` alone, a partition that saw no record before a group
        rebalance (a broker restart) would reset to the end *again* and skip what arrived in
        between; a committed start position makes the consumer resume from it instead.
        """
        # A topic created a moment ago may have no leader yet: retry for a few seconds.
        deadline = time.monotonic() + 10.0
        while True:
            try:
                committed = consumer.committed(parts, timeout=5)
                fresh = []
                for p in committed:
                    if p.offset < 0:
                        _low, high = consumer.get_watermark_offsets(
                            TopicPartition(p.topic, p.partition), timeout=5
                        )
                        p.offset = high
                        fresh.append(TopicPartition(p.topic, p.partition, high))
                if fresh:
                    consumer.commit(offsets=fresh, asynchronous=False)
                return list(committed)
            except KafkaException as exc:
                if time.monotonic() > deadline or self.stop.is_set():
                    log.warning("could not pin start offsets (%s); using auto.offset.reset", exc)
                    return parts
                time.sleep(0.2)

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in parts]
        try:
            final = trio.from_thread.run(self._side.on_revoke, tps, trio_token=self._token)
        except trio.RunFinishedError:
            final = {}
        # Stores queued before the revoke first, then the final ones (never lower).
        self._apply_commands(consumer)
        self._store(consumer, final)
        self._commit(consumer, asynchronous=False)
        self._assigned.difference_update(tps)
        consumer.incremental_unassign(parts)

    def _on_lost(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in parts]
        # Someone else may own these already: committing now could move their offsets back.
        self._assigned.difference_update(tps)
        self._call(self._side.on_lost, tps)
        consumer.incremental_unassign(parts)

    def _on_commit(self, err: KafkaError | None, parts: list[TopicPartition]) -> None:
        if err is None:
            self._record_committed(parts)
        elif err.code() != KafkaError._NO_OFFSET:
            log.warning("async commit failed: %s", err)
            self._dirty = True

    def _on_error(self, err: KafkaError) -> None:
        # A fatal error can come as a consume() error message (code _FATAL, fatal() False).
        fatal = err.fatal() or err.code() == KafkaError._FATAL
        if fatal and not self._fatal:
            self._fatal = f"Kafka consumer failed fatally: {err.str()}"
        if fatal or err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._ready = False
            self._call(self._side.on_status, False, f"Kafka consumer error: {err.str()}")
        else:
            log.info("consumer: %s", err.str())

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(fn, *args)
