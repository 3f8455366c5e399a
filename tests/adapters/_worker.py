"""A consuming process for the crash tests: chat-like records → store → events topic.

Run as `python _worker.py '<json config>'`. Prints `STARTED` once running and, after a
SIGTERM/SIGINT drain, one JSON line of counters; exits 0 after a clean drain.
"""

from __future__ import annotations

import json
import signal
import sys

import trio

from adapters import (
    ConsumedRecord,
    KafkaConsumer,
    KafkaProducer,
    MongoStore,
    PoisonRecordError,
    run_pipeline,
)
from parley.settings import load_settings


async def main(cfg: dict[str, object]) -> None:
    settings = load_settings(
        kafka_bootstrap=cfg["bootstrap"],
        mongo_uri=cfg["mongo_uri"],
        dlq_topic=cfg["dlq_topic"],
        kafka_session_timeout_ms=6_000,
        shutdown_grace_s=20.0,
    )
    delay = float(cfg.get("delay_s", 0.0))  # type: ignore[arg-type]
    events_topic = str(cfg["events_topic"])
    store = MongoStore(settings, database=str(cfg["database"]))
    producer = KafkaProducer(settings)
    consumer = KafkaConsumer(
        settings,
        [str(cfg["topic"])],
        str(cfg["group"]),
        group_instance_id=str(cfg.get("instance_id", "")),
        max_outstanding=50,
    )

    async def handle(record: ConsumedRecord) -> None:
        try:
            body = json.loads(record.value or b"")
            message_id, thread_id = body["message_id"], body["thread_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise PoisonRecordError(f"not a chat record: {exc!r}") from None
        if delay:
            await trio.sleep(delay)
        stored = await store.insert_message(
            {"message_id": message_id, "thread_id": thread_id, "text": body.get("text", "")},
            assign_seq=True,
        )
        await producer.produce(events_topic, json.dumps(stored.doc).encode(), key=thread_id)

    async with trio.open_nursery() as outer:
        await outer.start(store.run)
        await outer.start(producer.run)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as inner:
                await inner.start(consumer.run)
                await inner.start(run_pipeline, consumer, handle, producer)
                print("STARTED", flush=True)
                async for _ in signals:
                    break
                # Drain order: consumer stops handing out, in-flight acked, commit, close...
                consumer.stop()
        # ...then the producer flushes, then the store closes.
        producer.stop()
        store.stop()
    print(
        json.dumps(
            {
                "stored": store.counters.stored,
                "duplicates": store.counters.duplicates,
                "consumed": consumer.counters.consumed,
                "acked": consumer.counters.acked,
                "committed": consumer.counters.committed,
                "unflushed": producer.unflushed,
                "producer_in_flight": producer.counters.in_flight,
                "produced": producer.counters.produced,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    trio.run(main, json.loads(sys.argv[1]))
