"""Helpers for the adapter tests: unique topics and databases on the session's services."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import trio
from confluent_kafka import Consumer, Message, TopicPartition

from adapters import MongoStore, ensure_topics
from parley.settings import Settings


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_topic(settings: Settings, partitions: int = 3) -> str:
    topic = unique("t")
    await ensure_topics(settings, [topic], partitions=partitions)
    return topic


def committed_offsets_sync(settings: Settings, group: str, topic: str, partitions: int) -> int:
    """Sum of the group's committed offsets over the topic (0 for a partition never committed)."""
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(0, p.offset) for p in parts)
    finally:
        c.close()


async def committed_offsets(settings: Settings, group: str, topic: str, partitions: int) -> int:
    return await trio.to_thread.run_sync(committed_offsets_sync, settings, group, topic, partitions)


def read_topic_sync(
    settings: Settings, topic: str, expect: int, timeout_s: float = 20
) -> list[Message]:
    """Every record of `topic` (at least `expect` of them), read without a group commit."""
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": unique("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    out: list[Message] = []
    end = time.monotonic() + timeout_s
    try:
        while time.monotonic() < end and len(out) < expect:
            for m in c.consume(100, 0.2):
                if m.error() is None:
                    out.append(m)
        # Anything beyond `expect` would be a duplicate: give it a moment to show up.
        for m in c.consume(100, 0.5):
            if m.error() is None:
                out.append(m)
    finally:
        c.close()
    return out


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[MongoStore]:
    s = MongoStore(settings, database=unique("db").replace("-", "_"))
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def eventually(predicate: object, timeout_s: float = 30.0, what: str = "") -> None:
    """Poll `predicate` (sync or async callable) until true; fail after `timeout_s`."""
    import inspect

    with trio.fail_after(timeout_s):
        for _ in range(10**9):
            result = predicate()  # type: ignore[operator]
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await trio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover
