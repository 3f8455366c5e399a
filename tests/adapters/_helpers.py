"""Helpers for the adapter tests: unique topics, chat-like records, polling, offsets."""

from __future__ import annotations

import json
import time
import uuid

import trio
from confluent_kafka import Consumer, Message, TopicPartition

from adapters import (
    ConsumedRecord,
    KafkaProducer,
    MongoStore,
    PoisonRecordError,
    ensure_topics,
)
from config.settings import Settings
from parley._options import kafka_options
from protocol.events import MessageEvent, encode
from tests.adapters._pipeline import Handler


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_topic(settings: Settings, partitions: int = 3) -> str:
    topic = unique("t")
    await ensure_topics(kafka_options(settings), [topic], partitions=partitions)
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


# --- chat-like records, as the core consumes them -------------------------------------------
THREADS = [f"th{i}" for i in range(8)]


async def produce_chat(producer: KafkaProducer, topic: str, n: int, *, start: int = 0) -> list[str]:
    """Produce n records (keys spread over THREADS) concurrently; returns their message ids."""
    ids = [f"msg-{i:05d}" for i in range(start, start + n)]

    async def one(i: int, mid: str) -> None:
        thread = THREADS[i % len(THREADS)]
        body = {"message_id": mid, "thread_id": thread, "text": f"text {i}"}
        await producer.produce(topic, json.dumps(body).encode(), key=thread)

    async with trio.open_nursery() as nursery:
        for i, mid in enumerate(ids, start):
            nursery.start_soon(one, i, mid)
    return ids


def chat_message(message_id: str, thread_id: str, text: str = "", seq: int = 0) -> MessageEvent:
    """A message as the store keeps it; seq 0 for one the store numbers (assign_seq)."""
    return MessageEvent(
        thread_id=thread_id,
        seq=seq,
        message_id=message_id,
        sender_id="tester",
        text=text,
        created_at="2026-01-01T00:00:00.000Z",
    )


def chat_handler(
    store: MongoStore, producer: KafkaProducer, events_topic: str, delay_s: float = 0.0
) -> Handler:
    """Store a chat-like record with the next seq of its thread, then announce it."""

    async def handle(record: ConsumedRecord) -> None:
        try:
            body = json.loads(record.value or b"")
            message_id, thread_id = body["message_id"], body["thread_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise PoisonRecordError(f"not a chat record: {exc!r}") from None
        if delay_s:
            await trio.sleep(delay_s)
        stored = await store.insert_message(
            chat_message(message_id, thread_id, body.get("text", "")), assign_seq=True
        )
        await producer.produce(events_topic, encode(stored.message), key=thread_id)

    return handle


async def assert_stored_exactly(store: MongoStore, ids: list[str]) -> None:
    """Every id stored once, each thread numbered 1..k without gaps or repeats."""
    seen: list[str] = []
    for thread in THREADS:
        page = await store.history(thread, after_seq=0, limit=500)
        seqs = [m.seq for m in page.messages]
        assert seqs == list(range(1, len(seqs) + 1)), f"{thread}: {seqs}"
        seen += [m.message_id for m in page.messages]
    assert sorted(seen) == sorted(ids)
    assert await store.count_messages() == len(ids)
