"""start_core: the core role assembled in one place.

Start order (stopped in reverse): thread registry → chat.commands consumer → dispatcher →
outbox relay (domain events to parley.domain-changes).
On drain the dispatcher settles first (catches up with what was accepted just before), the
consumer then waits for the thread actors' acks and commits, and the registry stops last.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from actors import start_service
from adapters import KafkaConsumer
from core._dispatcher import Core
from core._outbox_relay import OutboxRelay

if TYPE_CHECKING:
    from actors import ActorSystem
    from adapters import SharedAdapters
    from config.settings import Settings
    from telemetry import Metrics, ProcessStatus

__all__ = ["start_core"]


async def start_core(
    system: ActorSystem,
    settings: Settings,
    status: ProcessStatus,
    adapters: SharedAdapters,
) -> Core:
    commands = KafkaConsumer(
        adapters.kafka,
        [settings.commands_topic],
        settings.core_group,
        group_instance_id=settings.group_instance_id,
    )
    core = Core(settings, adapters.store, adapters.producer, commands, status.metrics)
    registry = await core.start_registry(system)
    await start_service(system, "commands-consumer", commands)
    await start_service(system, "dispatcher", core)
    if settings.outbox_relay:
        relay = OutboxRelay(adapters.store, adapters.producer, settings.domain_changes_topic)
        await start_service(system, "outbox-relay", relay)
    metrics = status.metrics
    status.add_partitions("commands", lambda: [f"{t}[{p}]" for t, p in commands.assignment])
    status.add_gauges(lambda: metrics.thread_actors.set(registry.live_count))
    status.add_gauges(
        lambda: metrics.consumer_lag.labels(settings.core_group).set(
            sum(commands.counters.lag.values())
        )
    )
    status.add_gauges(partial(_partition_lag, metrics, settings.core_group, commands))
    status.add_gauges(
        lambda: metrics.rebalances.labels(settings.core_group).set(commands.counters.rebalances)
    )
    return core


def _partition_lag(metrics: Metrics, group: str, consumer: KafkaConsumer) -> None:
    # Only the partitions this core owns now: a revoked one is another core's to report.
    owned = {f"{topic}[{partition}]" for topic, partition in consumer.assignment}
    gauge = metrics.partition_lag
    for labels in [s.labels for m in gauge.collect() for s in m.samples]:
        if labels.get("group") == group and labels.get("partition") not in owned:
            gauge.remove(group, labels["partition"])
    for partition, lag in consumer.counters.lag.items():
        if partition in owned:
            gauge.labels(group, partition).set(lag)
