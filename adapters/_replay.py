"""Reading a whole topic from its beginning, once (for `parley snapshots rebuild`).

Blocking by nature, so it lives with the other Kafka clients and runs on a worker thread.
No consumer group offsets are committed: a rebuild reads, it does not consume.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import trio
from confluent_kafka import Consumer, TopicPartition

if TYPE_CHECKING:
    from ._options import KafkaOptions

__all__ = ["read_whole_topic"]

_limiter = trio.CapacityLimiter(1)


async def read_whole_topic(
    options: KafkaOptions, topic: str, timeout_s: float = 30.0
) -> list[bytes]:
    """Every record value of `topic`, from the first offset to the high watermark at the call."""

    def run() -> list[bytes]:
        consumer = Consumer(
            {
                "bootstrap.servers": options.bootstrap,
                "group.id": f"parley-rebuild-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is None or meta.error is not None:
                return []
            ends: dict[int, int] = {}
            for partition in meta.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
                if high > low:
                    ends[partition] = high
            consumer.assign([TopicPartition(topic, p, 0) for p in ends])
            values: list[bytes] = []
            done: set[int] = set()
            deadline = time.monotonic() + timeout_s
            while len(done) < len(ends) and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        continue
                    value = message.value()
                    if value is not None:
                        values.append(value)
                    partition, offset = message.partition(), message.offset()
                    if (
                        partition is not None
                        and offset is not None
                        and offset + 1 >= ends[partition]
                    ):
                        done.add(partition)
            return values
        finally:
            consumer.close()

    return await trio.to_thread.run_sync(run, limiter=_limiter)
