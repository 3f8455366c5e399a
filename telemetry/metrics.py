"""Prometheus metrics of one Parley process, in a registry of its own.

A registry per process (not the global default) keeps tests that build several apps in one
interpreter from colliding, and lets `/metrics` show exactly this process's figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS_S", "Metrics", "seconds_since_iso"]

# From a quick local hop to a store outage: the e2e p99 goal is 50 ms (README, bench), and
# the upper buckets catch redeliveries after a broker or store failure.
LATENCY_BUCKETS_S = (
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


def seconds_since_iso(stamp: str, now: float | None = None) -> float | None:
    """Seconds from an ISO-8601 UTC time ("2026-12-02T13:31:33.070Z") to now; None if the
    stamp cannot be read. Clocks of different hosts may disagree: never below zero."""
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(0.0, (time.time() if now is None else now) - then)


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=_registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.ingested = Counter(
            "parley_messages_ingested", "Messages accepted (Kafka acked)", ["via"], registry=r
        )
        self.refused = Counter(
            "parley_messages_refused", "Messages refused before Kafka", ["reason"], registry=r
        )
        self.persisted = Counter("parley_messages_persisted", "Messages stored", registry=r)
        self.duplicates = Counter(
            "parley_messages_duplicate", "Redelivered messages already stored", registry=r
        )
        self.failed = Counter(
            "parley_messages_failed", "Records sent to the dead-letter topic", registry=r
        )
        self.broadcast = Counter(
            "parley_events_broadcast", "Event frames delivered to connections", registry=r
        )
        self.ws_connections = Gauge(
            "parley_ws_connections", "Open WebSocket connections", registry=r
        )
        self.slow_consumers = Counter(
            "parley_ws_slow_consumer_closes", "Connections closed as slow readers", registry=r
        )
        self.actor_restarts = Gauge(
            "parley_actor_restarts", "Actor restarts since start", registry=r
        )
        self.mailbox_depth = Gauge(
            "parley_mailbox_depth_max", "Deepest actor mailbox", registry=r
        )
        self.consumer_lag = Gauge(
            "parley_consumer_lag", "Kafka consumer lag (records)", ["group"], registry=r
        )
        self.rebalances = Gauge(
            "parley_consumer_rebalances",
            "Assignment changes (assigned, revoked, lost) this process's consumer saw",
            ["group"],
            registry=r,
        )
        self.partition_lag = Gauge(
            "parley_consumer_partition_lag",
            "Kafka consumer lag per partition (records behind the high watermark)",
            ["group", "partition"],
            registry=r,
        )
        # The message's path, in three legs. Accepted is the gateway's created_at (Kafka has
        # it); stored is when the core's write returned (the chat.events record's timestamp
        # as the gateway sees it); delivered is when the gateway queued the frame to its
        # subscribed connections.
        self.accepted_to_stored = Histogram(
            "parley_accepted_to_stored_seconds",
            "From accepted (Kafka acked) to stored by the core",
            registry=r,
            buckets=LATENCY_BUCKETS_S,
        )
        self.stored_to_delivered = Histogram(
            "parley_stored_to_delivered_seconds",
            "From stored (chat.events record written) to queued to the subscribers",
            registry=r,
            buckets=LATENCY_BUCKETS_S,
        )
        self.end_to_end = Histogram(
            "parley_end_to_end_seconds",
            "From accepted to queued to the subscribers on this gateway",
            registry=r,
            buckets=LATENCY_BUCKETS_S,
        )
        self.thread_actors = Gauge("parley_thread_actors", "Live thread actors", registry=r)
        self.trio_tasks = Gauge(
            "parley_trio_tasks",
            "Trio tasks alive in this process (counted when gauges refresh: scrape, heartbeat)",
            registry=r,
        )
        self.replays_from_memory = Gauge(
            "parley_replays_from_memory",
            "Replay pages answered from the gateway's recent messages instead of the store",
            registry=r,
        )
