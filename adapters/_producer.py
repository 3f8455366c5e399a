"""Idempotent Kafka producer whose delivery reports come back into Trio.

`produce()` enqueues into librdkafka from the Trio thread: it never blocks (a full queue
raises BufferError at once), is thread-safe against `poll()`, and skipping a thread hop per
record is worth ~0.1 ms of latency. Everything that does block or runs callbacks (`poll`,
`flush`, `list_topics`) runs on the adapter's own thread. Reports are gathered per `poll()`
call and handed to Trio in one `run_sync_soon`, so the poll thread never waits for Trio.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio
from confluent_kafka import KafkaError, KafkaException, Producer

from ._backoff import backoff_delays
from ._errors import (
    AdapterClosedError,
    AdapterUnavailableError,
    ProduceRejectedError,
    UnknownOutcomeError,
)
from ._kafka_config import producer_config
from ._types import ConsumedRecord, DeliveryInfo, ProducerCounters, Readiness

if TYPE_CHECKING:
    from ._options import KafkaOptions

__all__ = ["KafkaProducer"]

log = logging.getLogger(__name__)

HeaderList = Sequence[tuple[str, bytes | str]]
_POLL_S = 0.1
_MAX_REASON = 1_000


ReportCallback = Callable[[UnknownOutcomeError | None], None]


class _Delivery:
    """One record's pending report; resolved on the Trio thread."""

    __slots__ = ("callback", "error", "event", "info")

    def __init__(self, callback: ReportCallback | None = None) -> None:
        self.event = trio.Event()
        self.info: DeliveryInfo | None = None
        self.error: UnknownOutcomeError | None = None
        self.callback = callback

    def resolved(self) -> None:
        self.event.set()
        callback = self.callback
        if callback is None:
            return
        try:
            callback(self.error)
        except Exception:
            # Runs from run_sync_soon, outside any task: an escaping error would end the
            # whole Trio run. A callback is expected not to fail; if it does, say so.
            log.exception("a delivery report callback failed")


async def _outcome(delivery: _Delivery) -> DeliveryInfo:
    await delivery.event.wait()
    if delivery.error is not None:
        raise delivery.error
    assert delivery.info is not None
    return delivery.info


class KafkaProducer:
    """Owns one confluent-kafka Producer; run it with `nursery.start(producer.run)`."""

    def __init__(
        self,
        options: KafkaOptions,
        *,
        max_in_flight: int = 10_000,
        flush_deadline_s: float | None = None,
        **config_overrides: Any,
    ) -> None:
        self._options = options
        self._conf = producer_config(options, **config_overrides)
        self._conf["error_cb"] = self._on_error_thread
        self._slots = trio.Semaphore(max_in_flight)
        self._flush_deadline_s = options.drain_s if flush_deadline_s is None else flush_deadline_s
        self._client: Producer | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._probe_limiter = trio.CapacityLimiter(1)
        self._thread_stop = threading.Event()
        self._thread_flush_s = 0.0
        self._reports: list[tuple[_Delivery, KafkaError | None, str, int, int]] = []
        self._stop_requested = False
        self._wake = trio.Event()  # set by stop() or by a fatal client error
        self._fatal = ""
        self._idle = trio.Event()
        self._idle.set()
        self._pending: set[_Delivery] = set()
        self._closing = False
        self._ready = False
        self._message = "producer not started"
        self.unflushed = 0
        self.counters = ProducerCounters()

    # --- public API -------------------------------------------------------------------
    @property
    def readiness(self) -> Readiness:
        return Readiness(self._ready, self._message)

    async def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None = None,
        headers: HeaderList | None = None,
    ) -> DeliveryInfo:
        """Return once every in-sync replica has the record.

        Waits for an in-flight slot first (backpressure). Raises ProduceRejectedError when
        the record was never queued, UnknownOutcomeError when the report carried an error,
        AdapterClosedError once the producer is stopping. If the caller is cancelled the
        record stays queued and its slot is freed by its report.
        """
        delivery = await self._queue(topic, value, key, headers)
        return await _outcome(delivery)

    async def produce_then(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None,
        on_report: ReportCallback,
    ) -> None:
        """Queue a record and return at once; `on_report(None | error)` runs on its report.

        For a caller with many records in flight that should not hold a task per record (a
        WebSocket connection pipelining its sends). `on_report` runs on the Trio thread,
        outside any task: it must not block or raise. Raises like produce() when the record
        cannot be queued, and then `on_report` is never called.
        """
        await self._queue(topic, value, key, None, on_report)

    async def produce_many(
        self, topic: str, records: Sequence[tuple[bytes | str | None, bytes | None]]
    ) -> list[DeliveryInfo]:
        """Queue every (key, value) record, then return once all are acknowledged, in order.

        One wait for a whole batch rather than a round trip per record: librdkafka sends what
        is queued together. Raises the first record's error, after every report is in.
        """
        deliveries = [await self._queue(topic, value, key, None) for key, value in records]
        for delivery in deliveries:
            await delivery.event.wait()
        return [await _outcome(delivery) for delivery in deliveries]

    async def _queue(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None,
        headers: HeaderList | None,
        on_report: ReportCallback | None = None,
    ) -> _Delivery:
        if self._closing or self._client is None:
            raise AdapterClosedError("the Kafka producer is not running")
        try:
            # No checkpoint per record of a batch while slots are free.
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            await self._slots.acquire()
        delivery = _Delivery(on_report)
        try:
            await self._enqueue(topic, value, key, headers, delivery)
        except BaseException:
            self._slots.release()
            raise
        if self.counters.in_flight == 0:
            self._idle = trio.Event()
        self.counters.in_flight += 1
        self._pending.add(delivery)
        return delivery

    async def send_to_dlq(self, record: ConsumedRecord, reason: str) -> DeliveryInfo:
        """Copy `record` to the dead-letter topic with why and where it came from."""
        headers: list[tuple[str, bytes | str]] = list(record.headers)
        headers += [
            ("dlq.reason", reason[:_MAX_REASON]),
            ("dlq.topic", record.topic),
            ("dlq.partition", str(record.partition)),
            ("dlq.offset", str(record.offset)),
            ("dlq.failed_at", datetime.now(UTC).isoformat()),
        ]
        info = await self.produce(self._options.dlq_topic, record.value, record.key, headers)
        self.counters.dlq += 1
        return info

    async def flush(self, deadline_s: float) -> int:
        """Wait up to `deadline_s` for every queued record's report; return how many remain."""
        with trio.move_on_after(deadline_s):
            await self._idle.wait()
        return self.counters.in_flight

    def stop(self) -> None:
        """Ask `run()` to refuse new records, flush within its deadline and return."""
        self._stop_requested = True
        self._wake.set()

    # --- actor body -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Create the client, serve reports, probe readiness; flush on stop or cancel."""
        # Fresh per-run state: a supervisor may run this again after a crash.
        self._token = trio.lowlevel.current_trio_token()
        self._thread_stop = threading.Event()
        self._reports = []
        self._closing = False
        self._fatal = ""
        self._stop_requested = False  # stop() ends the run in progress, not later ones
        self._wake = trio.Event()
        self._client = Producer(self._conf)
        thread_done = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._run_thread, thread_done)
                nursery.start_soon(self._probe_until_ready)
                task_status.started()
                try:
                    await self._wake.wait()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._drain(thread_done)
                    nursery.cancel_scope.cancel()
        finally:
            self._client = None
            self._ready = False
            self._message = self._fatal or "producer stopped"
        if self._fatal and not self._stop_requested:
            # An idempotent producer that hit a fatal error cannot send again: end this run
            # so the supervisor starts a fresh client.
            raise AdapterUnavailableError(self._fatal)

    async def _drain(self, thread_done: trio.Event) -> None:
        self._closing = True
        deadline = trio.current_time() + self._flush_deadline_s
        with trio.move_on_at(deadline):
            await self._idle.wait()
        # The thread's own flush() catches reports still queued inside librdkafka.
        self._thread_flush_s = max(0.0, deadline - trio.current_time())
        self._thread_stop.set()
        with trio.move_on_after(self._thread_flush_s + 5):
            await thread_done.wait()
        if self.unflushed:
            log.warning("producer stopped with %d records not flushed", self.unflushed)

    async def _run_thread(self, done: trio.Event) -> None:
        try:
            self.unflushed = await trio.to_thread.run_sync(self._poll_loop, limiter=self._limiter)
        finally:
            done.set()
            self._fail_pending("the producer stopped before the broker acknowledged the record")

    async def _probe_until_ready(self) -> None:
        delays = backoff_delays()
        while True:
            if not self._ready:
                try:
                    await trio.to_thread.run_sync(self._probe, limiter=self._probe_limiter)
                except KafkaException as exc:
                    self._message = f"Kafka at {self._options.bootstrap} unreachable: {exc}"
                    log.warning("%s", self._message)
                    await trio.sleep(next(delays))
                    continue
                self._ready, self._message = True, "producer connected"
                delays = backoff_delays()
            await trio.sleep(1.0)

    # --- Trio-side helpers --------------------------------------------------------------
    async def _enqueue(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None,
        headers: HeaderList | None,
        delivery: _Delivery,
    ) -> None:
        # Reports are resolved by object identity, so the callback captures `delivery`.
        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            self._reports.append((delivery, err, msg.topic(), msg.partition(), msg.offset()))

        while True:
            client = self._client
            if self._closing or client is None:
                raise AdapterClosedError("the Kafka producer is not running")
            try:
                client.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=list(headers) if headers else None,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                # librdkafka's own queue is full: its reports will free room shortly.
                await trio.sleep(0.005)
            except (KafkaException, TypeError, ValueError) as exc:
                self.counters.rejected += 1
                raise ProduceRejectedError(f"Kafka refused a record for {topic}: {exc}") from exc

    def _resolve(self, batch: list[tuple[_Delivery, KafkaError | None, str, int, int]]) -> None:
        for delivery, err, topic, partition, offset in batch:
            if delivery.event.is_set():
                continue
            if err is None:
                delivery.info = DeliveryInfo(topic, partition, offset)
                self.counters.produced += 1
                self._ready, self._message = True, "producer connected"
            else:
                self.counters.delivery_failures += 1
                delivery.error = UnknownOutcomeError(
                    f"delivery to {topic} failed, outcome unknown: {err.str()}",
                    code=err.name(),
                    retriable=err.retriable(),
                )
            self._pending.discard(delivery)
            self._release()
            delivery.resolved()

    def _release(self) -> None:
        self._slots.release()
        self.counters.in_flight -= 1
        if self.counters.in_flight == 0:
            self._idle.set()

    def _fail_pending(self, why: str) -> None:
        # Called when the thread has exited: nobody will ever report these records.
        batch, self._reports = self._reports, []
        self._resolve(batch)
        for delivery in list(self._pending):
            delivery.error = UnknownOutcomeError(why, code="_NOT_FLUSHED")
            self.counters.delivery_failures += 1
            self._pending.discard(delivery)
            self._release()
            delivery.resolved()

    def _on_client_error(self, name: str, text: str, fatal: bool) -> None:
        if fatal or name == "_ALL_BROKERS_DOWN":
            self._ready = False
            self._message = f"Kafka producer error {name}: {text}"
            log.warning("%s", self._message)
        if fatal:
            self._fatal = f"Kafka producer failed fatally ({name}: {text})"
            self._wake.set()

    # --- the producer thread --------------------------------------------------------------
    def _poll_loop(self) -> int:
        client = self._client
        assert client is not None
        while not self._thread_stop.is_set():
            client.poll(_POLL_S)
            self._hand_over()
        remaining = int(client.flush(self._thread_flush_s))
        self._hand_over()
        # Drop the last references here: librdkafka's destroy joins its threads and may
        # block, which must not happen on the Trio thread.
        self._client = None
        del client
        return remaining

    def _hand_over(self) -> None:
        if not self._reports:
            return
        batch, self._reports = self._reports, []
        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._resolve, batch)

    def _probe(self) -> None:
        client = self._client  # the poll thread may drop it at shutdown
        if client is not None:
            client.list_topics(timeout=2.0)

    def _on_error_thread(self, err: KafkaError) -> None:
        if self._token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._on_client_error, err.name(), err.str(), err.fatal())
