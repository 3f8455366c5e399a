"""Which offset may be committed, per partition: pure bookkeeping, no I/O.

Records of one partition are handed out in log order and may be acknowledged in any order
(handlers run concurrently, a slow store delays one record and not the next). An offset is
committable only when every record handed out before it has been acknowledged, otherwise a
crash would skip the unacknowledged one. "Contiguous" is about the records handed out, not
about offset integers: compaction and transaction markers leave holes in the numbering.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["OffsetTracker", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]


@dataclass
class _Partition:
    in_flight: deque[int] = field(default_factory=deque)
    acked: set[int] = field(default_factory=set)
    last_dispatched: int = -1
    # Next offset to consume once everything before it is done (what Kafka calls committed).
    watermark: int | None = None
    reported: int | None = None


class OffsetTracker:
    """Tracks handed-out and acknowledged offsets and yields the committable ones."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartitionKey, _Partition] = {}

    def assign(self, tps: Iterable[TopicPartitionKey]) -> None:
        """Start (or restart) tracking; a re-assigned partition may replay older offsets."""
        for tp in tps:
            self._parts[tp] = _Partition()

    def revoke(self, tps: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Forget `tps`; return their committable offsets not yet taken (to commit now).

        Acknowledgements that arrive later for these partitions are ignored: the records
        will be redelivered to the partition's next owner.
        """
        out: dict[TopicPartitionKey, int] = {}
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None and part.watermark is not None and part.watermark != part.reported:
                out[tp] = part.watermark
        return out

    def dispatch(self, tp: TopicPartitionKey, offset: int) -> None:
        """Record that `offset` was handed to a handler; offsets must increase per partition."""
        part = self._parts.get(tp)
        if part is None:
            part = self._parts[tp] = _Partition()
        if offset <= part.last_dispatched:
            raise ValueError(
                f"offset {offset} of {tp[0]}[{tp[1]}] is not after {part.last_dispatched}"
            )
        part.last_dispatched = offset
        part.in_flight.append(offset)

    def rewinds(self, tp: TopicPartitionKey, offset: int) -> bool:
        """Whether handing out `offset` would go back over offsets already handed out."""
        part = self._parts.get(tp)
        return part is not None and offset <= part.last_dispatched

    def restart_from(self, tp: TopicPartitionKey, offset: int) -> None:
        """The client went back to `offset` within one assignment (librdkafka resets a
        partition's position to the committed offset after a fetch it no longer trusts):
        offsets from `offset` on will be handed out again, so stop waiting for their first
        handout. Acks of that first handout that arrive later count for the second (the
        record was processed: processing is idempotent). The committable offset never moves
        back: what was done before the rewind stays done.
        """
        part = self._parts.get(tp)
        if part is None:
            return
        part.in_flight = deque(o for o in part.in_flight if o < offset)
        part.acked = {o for o in part.acked if o < offset}
        part.last_dispatched = offset - 1

    def ack(self, tp: TopicPartitionKey, offset: int) -> bool:
        """Mark `offset` done; return True when the partition's committable offset moved."""
        part = self._parts.get(tp)
        if part is None or offset in part.acked:
            return False
        if not part.in_flight or offset < part.in_flight[0] or offset > part.last_dispatched:
            return False
        part.acked.add(offset)
        moved = False
        while part.in_flight and part.in_flight[0] in part.acked:
            done = part.in_flight.popleft()
            part.acked.discard(done)
            if part.watermark is None or done + 1 > part.watermark:
                part.watermark = done + 1
                moved = True
        return moved

    def take_committable(self) -> dict[TopicPartitionKey, int]:
        """Offsets that moved since the last call (offset = last done + 1)."""
        out: dict[TopicPartitionKey, int] = {}
        for tp, part in self._parts.items():
            if part.watermark is not None and part.watermark != part.reported:
                out[tp] = part.watermark
                part.reported = part.watermark
        return out

    def committable(self, tp: TopicPartitionKey) -> int | None:
        part = self._parts.get(tp)
        return None if part is None else part.watermark

    def in_flight(self, tps: Iterable[TopicPartitionKey] | None = None) -> int:
        """Handed-out records not yet acknowledged, over `tps` (default: all partitions)."""
        keys = self._parts.keys() if tps is None else tps
        return sum(
            len(self._parts[tp].in_flight) - len(self._parts[tp].acked)
            for tp in keys
            if tp in self._parts
        )

    def partitions(self) -> list[TopicPartitionKey]:
        return list(self._parts)
