"""Prometheus metrics of one Parley process, in a registry of its own.

A registry per process (not the global default) keeps tests that build several apps in one
interpreter from colliding, and lets `/metrics` show exactly this process's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["Metrics"]


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
        self.thread_actors = Gauge("parley_thread_actors", "Live thread actors", registry=r)
        self.replays_from_memory = Gauge(
            "parley_replays_from_memory",
            "Replay pages answered from the gateway's recent messages instead of the store",
            registry=r,
        )
