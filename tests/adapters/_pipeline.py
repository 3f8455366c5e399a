"""Test support: consume → handle → ack, with poison records sent to the dead-letter topic.

The adapter tests drive the real KafkaConsumer, KafkaProducer and MongoStore with chat-like
records through this small loop (the core's dispatcher and thread actors need Parley's own
records and the actor runtime). It gives up on a record the same way the core does, through
`adapters.send_to_dead_letter`, so the tests exercise the production dead-letter path.

Records with the same key go to the same lane, one at a time and in log order (a thread's
messages keep their order); different keys run concurrently. A lane is a bounded channel,
so a slow handler backs up into the consumer's queue, which pauses the partitions.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable

import trio

from adapters import (
    AdapterUnavailableError,
    ConsumedRecord,
    InvalidDocumentError,
    KafkaConsumer,
    KafkaProducer,
    PoisonRecordError,
    SeqConflictError,
    StoreError,
    UnknownOutcomeError,
    backoff_delays,
    send_to_dead_letter,
)

__all__ = ["Handler", "run_pipeline"]

log = logging.getLogger(__name__)

Handler = Callable[[ConsumedRecord], Awaitable[None]]

# Failures of the infrastructure, not of the record: retry the same record with backoff.
_TRANSIENT = (AdapterUnavailableError, UnknownOutcomeError, SeqConflictError, StoreError)


async def run_pipeline(
    consumer: KafkaConsumer,
    handler: Handler,
    producer: KafkaProducer,
    *,
    lanes: int = 8,
    lane_depth: int = 16,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Feed `consumer`'s records to `handler` until the consumer stops.

    `handler` raising PoisonRecordError (or InvalidDocumentError) sends the record to the
    DLQ with the reason; infrastructure errors retry the same record; once either is done
    the record is acked, so its offset can be committed and the partition moves on.
    """
    senders: list[trio.MemorySendChannel[ConsumedRecord]] = []
    async with trio.open_nursery() as nursery:
        for _ in range(lanes):
            send, receive = trio.open_memory_channel[ConsumedRecord](lane_depth)
            senders.append(send)
            nursery.start_soon(_lane, receive, consumer, handler, producer)
        task_status.started()
        try:
            async for record in consumer:
                lane = zlib.crc32(record.key or b"") % lanes
                await senders[lane].send(record)
        finally:
            for send in senders:
                send.close()


async def _lane(
    receive: trio.MemoryReceiveChannel[ConsumedRecord],
    consumer: KafkaConsumer,
    handler: Handler,
    producer: KafkaProducer,
) -> None:
    async with receive:
        async for record in receive:
            await _process(record, handler, producer)
            consumer.ack(record)


async def _process(record: ConsumedRecord, handler: Handler, producer: KafkaProducer) -> None:
    delays = backoff_delays()
    while True:
        try:
            await handler(record)
            return
        except (PoisonRecordError, InvalidDocumentError) as exc:
            await send_to_dead_letter(producer, record, str(exc))
            return
        except _TRANSIENT as exc:
            delay = next(delays)
            log.warning(
                "record %s[%d]@%d: %s; retrying in %.1fs",
                record.topic,
                record.partition,
                record.offset,
                exc,
                delay,
            )
            await trio.sleep(delay)
