"""Topic creation through Kafka's AdminClient (blocking; run it via `ensure_topics`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ._errors import AdapterUnavailableError

if TYPE_CHECKING:
    from ._options import KafkaOptions

__all__ = ["ensure_topics"]

_admin_limiter = trio.CapacityLimiter(1)


async def ensure_topics(
    options: KafkaOptions,
    topics: list[str],
    *,
    partitions: int | None = None,
    replication_factor: int = 1,
    timeout_s: float = 15.0,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet; an existing topic is left as it is.

    Production topics want replication 3 and min.insync.replicas=2 (reliability notes);
    the single local broker can only hold 1. `config` is the new topics' configuration
    (`{"cleanup.policy": "compact"}` for a topic that keeps the newest record per key).
    """

    def create() -> None:
        admin = AdminClient({"bootstrap.servers": options.bootstrap, "socket.nagle.disable": True})
        new = [
            NewTopic(
                t,
                num_partitions=partitions or options.topic_partitions,
                replication_factor=replication_factor,
                config=config or {},
            )
            for t in topics
        ]
        futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
        for topic, fut in futures.items():
            try:
                fut.result(timeout=timeout_s)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise AdapterUnavailableError(f"could not create topic {topic}: {exc}") from exc
        # Wait until the broker's metadata names every topic, so a consumer subscribing
        # right after gets its assignment instead of an unknown-topic error.
        for _ in range(int(timeout_s * 10)):
            md = admin.list_topics(timeout=timeout_s)
            if all(t in md.topics and not md.topics[t].error for t in topics):
                return
            time.sleep(0.1)  # on a worker thread
        raise AdapterUnavailableError(f"topics {topics} did not appear in time")

    await trio.to_thread.run_sync(create, limiter=_admin_limiter)
