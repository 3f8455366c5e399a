"""start_core: the core role assembled in one place.

Start order (stopped in reverse): model client → turn sweeper → thread registry →
chat.commands consumer → dispatcher → outbox relay (domain events to parley.domain-changes).
On drain the dispatcher settles first (catches up with what was accepted just before), the
consumer then waits for the thread actors' acks and commits, and the registry stops last.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio

from actors import TaskService, start_service
from adapters import ChatCompletions, DocumentCollection, KafkaConsumer, LlmOptions
from assistants import AssistantDirectory, TurnRate
from core._dispatcher import Core
from core._outbox_relay import OutboxRelay
from core._turns import TurnDeps, TurnSweeper

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
    turns = await _start_turns(system, settings, adapters)
    core = Core(settings, adapters.store, adapters.producer, commands, status.metrics, turns)
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


async def _start_turns(
    system: ActorSystem, settings: Settings, adapters: SharedAdapters
) -> TurnDeps:
    llm = ChatCompletions(
        LlmOptions(
            base_url=settings.llm_url,
            api_key=settings.llm_api_key.get_secret_value(),
            model=settings.llm_model,
        )
    )
    await start_service(system, "model-client", TaskService(partial(_close_at_stop, llm)))
    ledger = DocumentCollection(adapters.store, "turns")
    sweeper = TurnSweeper(ledger, adapters.producer, settings.turns_topic)
    await start_service(system, "turn-sweeper", TaskService(sweeper.run))
    return TurnDeps(
        llm=llm,
        producer=adapters.producer,
        store=adapters.store,
        assistants=AssistantDirectory(adapters.store, context_tokens=settings.llm_context_tokens),
        ledger=ledger,
        rate=TurnRate(settings.turns_per_user_per_minute),
        limiter=trio.CapacityLimiter(settings.turn_concurrency),
        commands_topic=settings.commands_topic,
        turns_topic=settings.turns_topic,
        context_tokens=settings.llm_context_tokens,
        deadline_s=settings.turn_deadline_s,
    )


async def _close_at_stop(
    llm: ChatCompletions, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    try:
        await trio.sleep_forever()
    finally:
        await llm.aclose()


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
