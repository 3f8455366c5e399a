"""Producer, consumer and pipeline against the session's real Kafka broker and FerretDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.lowlevel

from adapters import (
    AdapterClosedError,
    AdapterUnavailableError,
    KafkaConsumer,
    KafkaProducer,
    MongoStore,
    ProduceRejectedError,
    UnknownOutcomeError,
)
from config.settings import Settings
from infra import find_free_port
from parley._options import kafka_options
from tests.adapters._helpers import (
    assert_stored_exactly,
    chat_handler,
    committed_offsets,
    eventually,
    new_topic,
    produce_chat,
    read_topic_sync,
    unique,
)
from tests.adapters._pipeline import run_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
async def kafka_settings(settings: Settings) -> Settings:
    dlq = await new_topic(settings, partitions=1)
    return settings.model_copy(
        update={"dlq_topic": dlq, "kafka_session_timeout_ms": 6_000, "shutdown_grace_s": 10.0}
    )


@pytest.fixture
async def producer(kafka_settings: Settings) -> AsyncIterator[KafkaProducer]:
    p = KafkaProducer(kafka_options(kafka_settings))
    async with trio.open_nursery() as nursery:
        await nursery.start(p.run)
        yield p
        p.stop()


async def test_produce_returns_once_the_broker_has_it(
    kafka_settings: Settings, producer: KafkaProducer
) -> None:
    topic = await new_topic(kafka_settings, partitions=1)
    infos = [await producer.produce(topic, b"v%d" % i, key="k") for i in range(5)]
    assert [(i.topic, i.partition, i.offset) for i in infos] == [(topic, 0, n) for n in range(5)]
    assert producer.counters.produced == 5
    assert producer.counters.in_flight == 0
    assert await producer.flush(1.0) == 0
    records = await trio.to_thread.run_sync(read_topic_sync, kafka_settings, topic, 5)
    assert [m.value() for m in records] == [b"v%d" % i for i in range(5)]


async def test_in_flight_records_are_bounded(kafka_settings: Settings) -> None:
    topic = await new_topic(kafka_settings, partitions=1)
    producer = KafkaProducer(kafka_options(kafka_settings), max_in_flight=3)
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, producer.counters.in_flight)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        await nursery.start(producer.run)
        nursery.start_soon(watch)
        async with trio.open_nursery() as posters:
            for i in range(30):
                posters.start_soon(producer.produce, topic, b"%d" % i)
        nursery.cancel_scope.cancel()
    assert producer.counters.produced == 30
    assert 1 <= most <= 3


async def test_a_record_too_large_is_rejected_before_queueing(
    kafka_settings: Settings, producer: KafkaProducer
) -> None:
    topic = await new_topic(kafka_settings, partitions=1)
    with pytest.raises(
        ProduceRejectedError,
        match=rf"^Kafka refused a record for {topic}: KafkaError\{{code=MSG_SIZE_TOO_LARGE,val=10,"
        r'str="Unable to produce message: Broker: Message size too large"\}$',
    ):
        await producer.produce(topic, b"x" * 2_000_000)
    assert producer.counters.rejected == 1
    assert producer.counters.in_flight == 0


async def test_unreachable_broker_is_not_ready_and_delivery_is_unknown_outcome(
    settings: Settings,
) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{find_free_port()}"})
    overrides = {"message.timeout.ms": 1_000}
    producer = KafkaProducer(kafka_options(dead), flush_deadline_s=0.5, **overrides)
    consumer = KafkaConsumer(kafka_options(dead), ["nowhere"], unique("g"), drain_s=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(producer.run)
        await nursery.start(consumer.run)
        with pytest.raises(
            UnknownOutcomeError,
            match=r"^delivery to nowhere failed, outcome unknown: Local: Message timed out$",
        ):
            await producer.produce("nowhere", b"lost?")
        assert producer.counters.delivery_failures == 1
        await eventually(lambda: "unreachable" in consumer.readiness.message, 20)
        await eventually(lambda: "unreachable" in producer.readiness.message, 20)
        assert not producer.readiness.ready and not consumer.readiness.ready
        assert producer.readiness.message.startswith(f"Kafka at {dead.kafka_bootstrap} unreachable")
        consumer.stop()
        producer.stop()
    with pytest.raises(AdapterClosedError, match=r"^the Kafka producer is not running$"):
        await producer.produce("nowhere", b"late")


async def test_round_trip_stores_n_and_commits_n(
    kafka_settings: Settings, producer: KafkaProducer, store: MongoStore
) -> None:
    topic, events = await new_topic(kafka_settings), await new_topic(kafka_settings)
    group = unique("core")
    ids = await produce_chat(producer, topic, 300)
    consumer = KafkaConsumer(kafka_options(kafka_settings), [topic], group, max_outstanding=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(consumer.run)
        await nursery.start(run_pipeline, consumer, chat_handler(store, producer, events), producer)
        await eventually(lambda: store.counters.stored == 300, 60)
        await eventually(lambda: sum(consumer.counters.committed.values()) == 300, 10)
        await eventually(lambda: len(consumer.counters.lag) == 3, 10)
        await eventually(lambda: sum(consumer.counters.lag.values()) == 0, 10)
        consumer.stop()
    await assert_stored_exactly(store, ids)
    assert await committed_offsets(kafka_settings, group, topic, 3) == 300
    assert consumer.counters.consumed == 300
    assert consumer.counters.acked == 300
    assert store.counters.duplicates == 0
    assert producer.counters.produced == 600  # 300 commands + 300 events


async def test_poison_goes_to_the_dlq_and_its_partition_moves_on(
    kafka_settings: Settings, producer: KafkaProducer, store: MongoStore
) -> None:
    topic, events = await new_topic(kafka_settings, partitions=1), await new_topic(kafka_settings)
    group = unique("core")
    ids = await produce_chat(producer, topic, 5)
    await producer.produce(topic, b"{not json", key="th0", headers=[("trace", b"abc")])
    await producer.produce(topic, b'{"thread_id": "th1"}', key="th1")
    ids += await produce_chat(producer, topic, 5, start=5)
    consumer = KafkaConsumer(kafka_options(kafka_settings), [topic], group)
    async with trio.open_nursery() as nursery:
        await nursery.start(consumer.run)
        await nursery.start(run_pipeline, consumer, chat_handler(store, producer, events), producer)
        await eventually(lambda: store.counters.stored == 10 and producer.counters.dlq == 2, 30)
        consumer.stop()
    await assert_stored_exactly(store, ids)
    assert await committed_offsets(kafka_settings, group, topic, 1) == 12
    dead = await trio.to_thread.run_sync(
        read_topic_sync, kafka_settings, kafka_settings.dlq_topic, 2
    )
    # Different keys run in different lanes: order the two by their source offset.
    by_offset = sorted(
        ((_headers(m.headers()), m.value()) for m in dead), key=lambda hv: hv[0]["dlq.offset"]
    )
    assert [v for _, v in by_offset] == [b"{not json", b'{"thread_id": "th1"}']
    first, second = by_offset[0][0], by_offset[1][0]
    assert first["trace"] == b"abc"
    assert first["dlq.reason"].startswith(b"not a chat record: JSONDecodeError(")
    assert (first["dlq.topic"], first["dlq.partition"], first["dlq.offset"]) == (
        topic.encode(),
        b"0",
        b"5",
    )
    assert second["dlq.reason"] == b"not a chat record: KeyError('message_id')"
    assert second["dlq.offset"] == b"6"
    assert producer.counters.dlq == 2


def _headers(raw: Any) -> dict[str, bytes]:
    pairs = raw.items() if isinstance(raw, dict) else (raw or [])
    return {k: v.encode() if isinstance(v, str) else (v or b"") for k, v in pairs}


async def test_second_consumer_joins_then_leaves_mid_stream(
    kafka_settings: Settings, producer: KafkaProducer, store: MongoStore
) -> None:
    topic, events = await new_topic(kafka_settings, partitions=4), await new_topic(kafka_settings)
    group = unique("core")
    handler = chat_handler(store, producer, events, delay_s=0.005)
    # Generous drain bounds: on a loaded machine a drain that gave up would redeliver.
    a, b = (
        KafkaConsumer(
            kafka_options(kafka_settings),
            [topic],
            group,
            max_outstanding=40,
            revoke_drain_s=30,
            drain_s=30,
        )
        for _ in range(2)
    )
    ids: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(run_pipeline, a, handler, producer)
        ids += await produce_chat(producer, topic, 150)
        await eventually(lambda: store.counters.stored >= 50, 30)
        async with trio.open_nursery() as second:
            await second.start(b.run)
            await second.start(run_pipeline, b, handler, producer)
            await eventually(lambda: len(b.assignment) > 0, 30)
            assert b.assigned
            ids += await produce_chat(producer, topic, 150, start=150)
            await eventually(lambda: b.counters.acked >= 20, 30)
            b.stop()
        await eventually(lambda: len(a.assignment) == 4, 30)
        assert a.assigned and not b.assigned
        ids += await produce_chat(producer, topic, 100, start=300)
        await eventually(lambda: store.counters.stored + store.counters.duplicates >= 400, 60)
        await eventually(lambda: sum(a.counters.committed.values()) == 400, 15)
        a.stop()
    await assert_stored_exactly(store, ids)
    assert await committed_offsets(kafka_settings, group, topic, 4) == 400
    assert b.counters.acked > 0 and a.counters.acked > 0
    # Cooperative rebalances drain before handing over: no record is processed twice.
    assert store.counters.duplicates == 0


async def test_a_fenced_static_member_ends_its_run(kafka_settings: Settings) -> None:
    topic = await new_topic(kafka_settings, partitions=1)
    group, instance = unique("core"), unique("core-1")
    options = kafka_options(kafka_settings)
    first = KafkaConsumer(options, [topic], group, group_instance_id=instance)
    second = KafkaConsumer(options, [topic], group, group_instance_id=instance)
    failure: list[BaseException] = []

    async def run_first() -> None:
        try:
            await first.run()
        except* AdapterUnavailableError as group:
            failure.extend(group.exceptions)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_first)
        await eventually(lambda: first.assignment == [(topic, 0)], 30)
        await nursery.start(second.run)
        await eventually(lambda: bool(failure), 30)
        await eventually(lambda: second.assignment == [(topic, 0)], 30)
        second.stop()
    assert str(failure[0]).startswith("Kafka consumer failed fatally: ")
    assert not first.readiness.ready


async def test_adapters_run_again_after_a_crash_or_a_stop(
    kafka_settings: Settings, store: MongoStore
) -> None:
    """What a supervisor does: run() again on the same object."""
    topic = await new_topic(kafka_settings, partitions=1)
    group = unique("core")
    producer = KafkaProducer(kafka_options(kafka_settings))
    consumer = KafkaConsumer(kafka_options(kafka_settings), [topic], group)
    got: list[int] = []
    for attempt in range(2):
        async with trio.open_nursery() as nursery:
            await nursery.start(producer.run)
            await nursery.start(consumer.run)
            info = await producer.produce(topic, b"%d" % attempt)
            record = await consumer.get()
            got.append(record.offset)
            consumer.ack(record)
            assert info.offset == attempt
            if attempt == 0:
                nursery.cancel_scope.cancel()  # a crash elsewhere cancels the adapters
            else:
                consumer.stop()
                producer.stop()
    assert got == [0, 1]
    assert await committed_offsets(kafka_settings, group, topic, 1) == 2


async def test_stop_reports_what_could_not_be_flushed(settings: Settings) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{find_free_port()}"})
    producer = KafkaProducer(kafka_options(dead), flush_deadline_s=0.5)
    outcome: list[BaseException] = []

    async def post() -> None:
        try:
            await producer.produce("nowhere", b"pending")
        except UnknownOutcomeError as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        await nursery.start(producer.run)
        nursery.start_soon(post)
        await eventually(lambda: producer.counters.in_flight == 1, 10)
        producer.stop()
    assert producer.unflushed == 1
    assert producer.counters.in_flight == 0
    assert [str(e) for e in outcome] == [
        "the producer stopped before the broker acknowledged the record"
    ]
