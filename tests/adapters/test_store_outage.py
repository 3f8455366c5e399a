"""The store goes away for 20 s under load: consumption pauses, nothing is lost or doubled.

The store is the local stack's own kind (FerretDB on PostgreSQL), private to this test: its
FerretDB is stopped and started again while PostgreSQL behind it keeps the data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from adapters import KafkaConsumer, KafkaProducer, MongoStore
from config.settings import Settings
from infra import find_free_port
from infra._ferretdb import FerretDB  # a private FerretDB of our own: others keep theirs
from infra._postgres import Postgres
from parley._options import kafka_options, store_options
from tests.adapters._helpers import (
    assert_stored_exactly,
    chat_handler,
    committed_offsets,
    eventually,
    new_topic,
    produce_chat,
    unique,
)
from tests.adapters._pipeline import run_pipeline

pytestmark = pytest.mark.integration

OUTAGE_S = 20.0


@pytest.fixture
def own_ferretdb(tmp_path: Path) -> Iterator[FerretDB]:
    postgres = Postgres(tmp_path, die_with_parent=True, ephemeral=True)
    db = FerretDB(tmp_path, find_free_port(), postgres=postgres, die_with_parent=True)
    postgres.launch()
    try:
        postgres.wait_ready(_deadline(60))
        db.launch()
        db.wait_ready(_deadline(30))
        yield db
    finally:
        _stop(db)
        _stop(postgres)


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def _stop(service: FerretDB | Postgres) -> None:
    pid = service.pid()
    if pid is not None:
        os.kill(pid, service.stop_signal)
    if service.proc is not None:
        service.proc.wait(timeout=20)


async def test_store_outage_pauses_and_recovers_without_loss(
    settings: Settings, own_ferretdb: FerretDB
) -> None:
    cfg = settings.model_copy(
        update={
            "mongo_uri": f"mongodb://127.0.0.1:{own_ferretdb.port}/parley",
            "dlq_topic": await new_topic(settings, partitions=1),
            "kafka_session_timeout_ms": 6_000,
        }
    )
    topic, events = await new_topic(cfg), await new_topic(cfg)
    group = unique("core")
    database = unique("db").replace("-", "_")
    store = MongoStore(replace(store_options(cfg, database=database), server_timeout_ms=1_000))
    producer = KafkaProducer(kafka_options(cfg))
    # A poll loop that stalled for the outage would be evicted after 10 s.
    overrides: dict[str, Any] = {"max.poll.interval.ms": 10_000}
    consumer = KafkaConsumer(kafka_options(cfg), [topic], group, max_outstanding=40, **overrides)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await nursery.start(producer.run)
        await nursery.start(consumer.run)
        await nursery.start(run_pipeline, consumer, chat_handler(store, producer, events), producer)
        ids = await produce_chat(producer, topic, 100)
        await eventually(lambda: store.counters.stored >= 50, 60)

        await trio.to_thread.run_sync(_stop, own_ferretdb)
        ids += await produce_chat(producer, topic, 200, start=100)
        await eventually(lambda: consumer.counters.paused, 30)
        await eventually(lambda: not store.readiness.ready, 30)
        assert "unavailable" in store.readiness.message
        await trio.sleep(OUTAGE_S)
        assert consumer.counters.rebalances == 1  # still the first assignment: not evicted
        assert len(consumer.assignment) == 3

        await trio.to_thread.run_sync(own_ferretdb.launch)
        await eventually(lambda: store.counters.stored + store.counters.duplicates >= 300, 90)
        await eventually(lambda: sum(consumer.counters.committed.values()) == 300, 15)
        assert store.readiness.ready
        assert not consumer.counters.paused
        consumer.stop()
        producer.stop()
        store.stop()
    assert consumer.counters.rebalances == 2  # the first assignment and the final revoke
    check = MongoStore(store_options(cfg, database=store.database))
    await check.start()
    try:
        await assert_stored_exactly(check, ids)
    finally:
        await check.close()
    assert await committed_offsets(cfg, group, topic, 3) == 300
