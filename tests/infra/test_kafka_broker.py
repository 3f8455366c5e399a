"""The local Kafka broker: Parley's topics exist, and a record goes through it end to end."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from config.settings import Settings
from infra import Endpoints

pytestmark = pytest.mark.integration


def test_parley_topics_exist_with_configured_partitions(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    for name in (
        settings.commands_topic,
        settings.events_topic,
        settings.dlq_topic,
        settings.domain_changes_topic,
    ):
        assert name in topics
        assert len(topics[name].partitions) == settings.topic_partitions


def test_produce_then_consume_one_record(services: Endpoints) -> None:
    topic = f"test.infra.{uuid.uuid4().hex}"
    key, value = b"thread-1", uuid.uuid4().bytes
    producer = Producer(
        {"bootstrap.servers": services.kafka_bootstrap, "acks": "all", "enable.idempotence": True}
    )
    delivered: list[tuple[object, int | None]] = []
    producer.produce(
        topic,
        key=key,
        value=value,
        on_delivery=lambda err, msg: delivered.append((err, msg.offset())),
    )
    assert producer.flush(30) == 0
    assert delivered == [(None, 0)]

    consumer = Consumer(
        {
            "bootstrap.servers": services.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        got = None
        # A bound, not a timing assertion: the first group join waits for an assignment.
        end = time.monotonic() + 60
        while got is None and time.monotonic() < end:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got = msg
        assert got is not None
        assert (got.key(), got.value(), got.topic()) == (key, value, topic)
    finally:
        consumer.close()
