"""The one way a record that can never be processed leaves its partition: the dead-letter topic.

Whoever gives up on a record (the core's dispatcher for what is not a command, a thread actor
for what the store refuses) sends it here and then acknowledges it, so its partition moves
on. Acknowledging before Kafka has the copy would lose the record; so this retries, with
backoff, for as long as Kafka is unreachable or the outcome unknown (a duplicate in the
dead-letter topic is harmless). It raises only when the producer is closed or refuses the
record outright, and then the record stays unacknowledged and is redelivered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from ._backoff import backoff_delays
from ._errors import AdapterUnavailableError, UnknownOutcomeError

if TYPE_CHECKING:
    from ._producer import KafkaProducer
    from ._types import ConsumedRecord

__all__ = ["send_to_dead_letter"]

log = logging.getLogger(__name__)


async def send_to_dead_letter(producer: KafkaProducer, record: ConsumedRecord, reason: str) -> None:
    """Copy `record` to the producer's dead-letter topic with `reason`; return once Kafka has it.

    Counted in `producer.counters.dlq`; the caller acknowledges the record afterwards.
    """
    log.warning(
        "record to the DLQ",
        extra={"partition": record.partition, "offset": record.offset, "why": reason},
    )
    delays = backoff_delays()
    while True:
        try:
            await producer.send_to_dlq(record, reason)
            return
        except (AdapterUnavailableError, UnknownOutcomeError) as exc:
            # A duplicate in the DLQ is harmless; losing the record is not.
            log.warning("DLQ produce failed; retrying", extra={"why": str(exc)})
            await trio.sleep(next(delays))
