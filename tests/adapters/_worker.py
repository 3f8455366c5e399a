"""A consuming process for the crash tests: chat-like records → store → events topic.

Run as `python -m tests.adapters._worker '<json config>'` from the repository's root (so it
runs this checkout's code, not whatever the virtualenv has installed). The adapters run as
supervised service actors of the real actor system (as in `parley serve`), which traps
SIGTERM/SIGINT and drains.
Prints `STARTED` once running and, after the drain, one JSON line of counters; exits 0.
"""

from __future__ import annotations

import json
import sys
from functools import partial

import trio

from actors import ActorSystem, Restart, open_actor_system
from actors._service import Service, ServiceActor
from adapters import KafkaConsumer, KafkaProducer, MongoStore
from config.settings import load_settings
from parley._options import kafka_options, store_options
from tests.adapters._helpers import chat_handler
from tests.adapters._pipeline import run_pipeline


async def main(cfg: dict[str, object]) -> None:
    settings = load_settings(
        kafka_bootstrap=cfg["bootstrap"],
        mongo_uri=cfg["mongo_uri"],
        dlq_topic=cfg["dlq_topic"],
        kafka_session_timeout_ms=6_000,
        shutdown_grace_s=40.0,  # drain bound 20 s: generous on a loaded machine
    )
    delay = float(cfg.get("delay_s", 0.0))  # type: ignore[arg-type]
    events_topic = str(cfg["events_topic"])
    store = MongoStore(store_options(settings, database=str(cfg["database"])))
    producer = KafkaProducer(kafka_options(settings))
    consumer = KafkaConsumer(
        kafka_options(settings),
        [str(cfg["topic"])],
        str(cfg["group"]),
        group_instance_id=str(cfg.get("instance_id", "")),
        max_outstanding=50,
    )

    handle = chat_handler(store, producer, events_topic, delay_s=delay)

    class Pipeline:
        """run_pipeline as a Service: stopping it stops the consumer, which ends the loop."""

        async def run(
            self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            await run_pipeline(consumer, handle, producer, task_status=task_status)

        def stop(self) -> None:
            consumer.stop()

    async def body(system: ActorSystem) -> None:
        # Started in dependency order; the system's SIGTERM drain stops them in reverse:
        # the consumer stops handing out, in-flight records are acked, offsets committed and
        # the consumer closed; then the producer flushes; then the store closes.
        services: list[tuple[str, Service]] = [
            ("store", store),
            ("producer", producer),
            ("consumer", consumer),
            ("pipeline", Pipeline()),
        ]
        for name, service in services:
            await system.start(partial(ServiceActor, service), name=name, restart=Restart.PERMANENT)
        print("STARTED", flush=True)
        await trio.sleep_forever()

    async with open_actor_system("worker", trap_signals=True, shutdown_timeout=60.0) as system:
        await body(system)
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
