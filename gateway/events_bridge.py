"""Every gateway reads all of `chat.events` (and `chat.turns`) and hands each to its FanoutHub.

Each gateway is a consumer group of its own (it needs every partition) that starts at the
log's end: a client that was away recovers from the store with `since_seq`, so the gateway
never replays history and commits nothing worth keeping.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from protocol.events import (
    EventDecodeError,
    MembershipEvent,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    decode_event,
)
from protocol.turns import decode_turn
from telemetry import seconds_since_iso

if TYPE_CHECKING:
    from adapters import ConsumedRecord, KafkaConsumer
    from gateway.threads import ThreadDirectory
    from gateway.ws import FanoutHub

__all__ = ["events_group_id", "pump_events", "pump_turns", "turns_group_id"]

log = logging.getLogger(__name__)


def events_group_id(gateway_id: str) -> str:
    return f"parley-gateway-{gateway_id}"


def turns_group_id(gateway_id: str) -> str:
    return f"parley-gateway-turns-{gateway_id}"


async def pump_turns(
    hub: FanoutHub,
    consumer: KafkaConsumer,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Deliver assistant turn records (started, deltas, finished) as they stream.

    Not durable and never replayed: a gateway starts at the end of `chat.turns`; a client
    that joins mid-turn gets the text so far from the hub's `ActiveTurns`.
    """
    task_status.started()
    async for record in consumer:
        try:
            turn = decode_turn(record.value or b"")
        except EventDecodeError as exc:
            log.error(
                "skipping malformed turn record",
                extra={"partition": record.partition, "offset": record.offset, "why": str(exc)},
            )
            consumer.ack(record)
            continue
        if turn is not None:
            hub.publish_turn(turn)
        consumer.ack(record)


async def pump_events(
    threads: ThreadDirectory,
    hub: FanoutHub,
    consumer: KafkaConsumer,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Deliver events until the consumer stops; a malformed event is logged and skipped."""
    task_status.started()
    async for record in consumer:
        try:
            event = decode_event(record.value or b"")
        except EventDecodeError as exc:
            log.error(
                "skipping malformed event",
                extra={"partition": record.partition, "offset": record.offset, "why": str(exc)},
            )
            consumer.ack(record)
            continue
        if event is not None:
            if isinstance(event, MessageEvent | MessageEdited | MessageDeleted):
                threads.observe(event)
            elif isinstance(event, MembershipEvent):
                threads.forget(event.thread_id)
            hub.publish(event)
            if isinstance(event, MessageEvent):
                _observe_delivery(hub, event, record)
        consumer.ack(record)


def _observe_delivery(hub: FanoutHub, event: MessageEvent, record: ConsumedRecord) -> None:
    metrics = hub.metrics
    now = time.time()
    if record.timestamp_ms > 0:
        metrics.stored_to_delivered.observe(max(0.0, now - record.timestamp_ms / 1000))
    since_accepted = seconds_since_iso(event.created_at, now)
    if since_accepted is not None:
        metrics.end_to_end.observe(since_accepted)
