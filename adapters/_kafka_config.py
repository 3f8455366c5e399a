"""librdkafka settings Parley uses, in one place so the latency figures can name them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._options import KafkaOptions

__all__ = ["consumer_config", "producer_config"]

# librdkafka logs through Python logging (served by poll on the adapter thread), not stderr.
_LOG = logging.getLogger("adapters.librdkafka")


def producer_config(options: KafkaOptions, **overrides: Any) -> dict[str, Any]:
    """Idempotent producer tuned for per-message latency rather than batch throughput."""
    conf: dict[str, Any] = {
        "bootstrap.servers": options.bootstrap,
        "client.id": f"parley-producer-{options.client_name}",
        # Idempotence: acks=all, at most 5 requests in flight, retries without reordering
        # or duplicates within the producer session.
        "enable.idempotence": True,
        "acks": "all",
        # A chat message is one small record: send it at once rather than waiting to batch.
        # Under load batches still form while earlier requests are in flight (up to 5).
        # Measured with bench/kafka_latency.py on the local broker: linger 0 gives a lone
        # record p50 ~0.2 ms vs 1.5 ms (linger 1) and 5.6 ms (linger 5, librdkafka's default).
        "linger.ms": 0,
        # On loopback Nagle even helped 32 concurrent posters, but there every ACK is instant.
        # Across a network with acks=all the broker's reply (and so the TCP ACK) waits for the
        # replicas, and Nagle would hold the next small request behind it.
        "socket.nagle.disable": True,
        # Bound how long a record may sit unacknowledged before it fails as "unknown outcome".
        "message.timeout.ms": 30_000,
        "request.timeout.ms": 10_000,
        "socket.connection.setup.timeout.ms": 5_000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 2_000,
        "queue.buffering.max.messages": 100_000,
        "compression.type": "none",
        "logger": _LOG,
    }
    conf.update(overrides)
    return conf


def consumer_config(
    options: KafkaOptions, group_id: str, group_instance_id: str = "", **overrides: Any
) -> dict[str, Any]:
    """At-least-once consumer: offsets stored only after processing, committed by us."""
    conf: dict[str, Any] = {
        "bootstrap.servers": options.bootstrap,
        "group.id": group_id,
        "client.id": f"parley-consumer-{group_id}",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": options.session_timeout_ms,
        "heartbeat.interval.ms": max(250, options.session_timeout_ms // 5),
        # We keep polling while paused, so this bound is only reached by a hung thread.
        "max.poll.interval.ms": 300_000,
        "enable.auto.offset.store": False,
        # Commits are explicit (periodic, on revoke, before close) so "committed" is exact
        # and close() never commits something we did not decide to commit.
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "socket.nagle.disable": True,
        # With fetch.min.bytes=1 the broker answers a fetch as soon as a record arrives, so this
        # bounds how often an idle consumer asks again, and how long a partition newly assigned
        # or resumed may wait behind the fetch in flight for the others. Measured with an idle
        # `parley serve` (two consumers): the broker used 11% of a core at 25 ms, 2.5% at
        # 100 ms; a lone message after 1 s idle was delivered in 9 ms either way.
        "fetch.wait.max.ms": 100,
        "fetch.min.bytes": 1,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 2_000,
        "socket.connection.setup.timeout.ms": 5_000,
        "enable.partition.eof": False,
        "logger": _LOG,
    }
    if group_instance_id:
        conf["group.instance.id"] = group_instance_id
    conf.update(overrides)
    return conf
