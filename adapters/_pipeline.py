"""consume → handle → ack, with poison records sent to the dead-letter topic.

Records with the same key go to the same lane, one at a time and in log order (a thread's
messages keep their order); different keys run concurrently. A lane is a bounded channel,
so a slow handler backs up into the consumer's queue, which pauses the partitions.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable

import trio

from ._backoff import backoff_delays
from ._consumer import KafkaConsumer
from ._errors import (
    AdapterUnavailableError,
    InvalidDocumentError,
    PoisonRecordError,
    SeqConflictError,
    StoreError,
    UnknownOutcomeError,
)
from ._producer import KafkaProducer
from ._types import ConsumedRecord

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
            await _process(record, consumer, handler, producer)
            consumer.ack(record)


async def _process(
    record: ConsumedRecord,
    consumer: KafkaConsumer,
    handler: Handler,
    producer: KafkaProducer,
) -> None:
    delays = backoff_delays()
    while True:
        try:
            await handler(record)
            return
        except (PoisonRecordError, InvalidDocumentError) as exc:
            await _dead_letter(record, str(exc), consumer, producer)
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


async def _dead_letter(
    record: ConsumedRecord, reason: str, consumer: KafkaConsumer, producer: KafkaProducer
) -> None:
    log.warning(
        "record %s[%d]@%d to the DLQ: %s", record.topic, record.partition, record.offset, reason
    )
    delays = backoff_delays()
    while True:
        try:
            await producer.send_to_dlq(record, reason)
            consumer.counters.dlq += 1
            return
        except (AdapterUnavailableError, UnknownOutcomeError) as exc:
            # A duplicate in the DLQ is harmless; losing the record is not.
            log.warning("DLQ produce failed: %s", exc)
            await trio.sleep(next(delays))
