"""The consumer's Trio side without a broker: the thread's callbacks are called directly."""

from __future__ import annotations

import queue
from types import SimpleNamespace

import pytest
import trio

from adapters import AdapterClosedError, ConsumedRecord, KafkaConsumer
from adapters._consumer_worker import Pause, StoreOffsets
from config.settings import load_settings
from parley._options import kafka_options

TP0, TP1 = ("t", 0), ("t", 1)


def make(
    max_outstanding: int = 100, revoke_drain_s: float = 5.0
) -> tuple[KafkaConsumer, queue.SimpleQueue[object]]:
    consumer = KafkaConsumer(
        kafka_options(load_settings()),
        ["t"],
        "g",
        max_outstanding=max_outstanding,
        revoke_drain_s=revoke_drain_s,
    )
    commands: queue.SimpleQueue[object] = queue.SimpleQueue()
    consumer._thread = SimpleNamespace(commands=commands)  # type: ignore[assignment]
    return consumer, commands


def recs(tp: tuple[str, int], offsets: range, generation: int = 1) -> list[ConsumedRecord]:
    return [
        ConsumedRecord(tp[0], tp[1], o, b"k", b"v%d" % o, generation=generation) for o in offsets
    ]


def stored(
    commands: queue.SimpleQueue[object], *extra: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """Offsets the thread would store: queued StoreOffsets, then what revoke returned."""
    out: dict[tuple[str, int], int] = {}
    for cmd in drain(commands):
        if isinstance(cmd, StoreOffsets):
            out.update(cmd.offsets)
    for more in extra:
        out.update(more)
    return out


def drain(commands: queue.SimpleQueue[object]) -> list[object]:
    out = []
    while not commands.empty():
        out.append(commands.get_nowait())
    return out


async def test_records_come_out_in_order_and_acks_store_contiguous_offsets() -> None:
    c, cmds = make()
    c.on_assigned([(TP0, 1), (TP1, 1)])
    c.on_records(recs(TP0, range(3)) + recs(TP1, range(10, 12)))
    got = [await c.get() for _ in range(5)]
    assert [(r.partition, r.offset) for r in got] == [(0, 0), (0, 1), (0, 2), (1, 10), (1, 11)]
    c.ack(got[1])
    assert drain(cmds) == []
    c.ack(got[0])
    assert drain(cmds) == [StoreOffsets(((TP0, 2),))]
    c.ack(got[4])
    c.ack(got[3])
    assert drain(cmds) == [StoreOffsets(((TP1, 12),))]
    assert c.counters.consumed == 5 and c.counters.acked == 4


async def test_outstanding_records_pause_and_resume_all_partitions() -> None:
    c, cmds = make(max_outstanding=4)
    c.on_assigned([(TP0, 1)])
    c.on_records(recs(TP0, range(3)))
    assert drain(cmds) == []
    c.on_records(recs(TP0, range(3, 5)))
    assert drain(cmds) == [Pause(True)]
    assert c.counters.paused
    got = [await c.get() for _ in range(5)]
    for r in got[:3]:
        c.ack(r)
    assert Pause(False) in drain(cmds)
    assert not c.counters.paused


async def test_revoke_drops_queued_records_and_waits_for_handed_out_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c, cmds = make()
    c.on_assigned([(TP0, 1), (TP1, 1)])
    c.on_records(recs(TP0, range(4)) + recs(TP1, range(2)))
    first, second = await c.get(), await c.get()
    result: dict[tuple[str, int], int] = {}

    async def revoke() -> None:
        result.update(await c.on_revoke([TP0]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(revoke)
        await trio.sleep(1)
        c.ack(second)
        await trio.sleep(1)
        assert result == {}  # still waiting for `first`
        assert stored(cmds) == {}
        c.ack(first)
    assert stored(cmds, result) == {TP0: 2}
    # Offsets 2 and 3 were never handed out: dropped, redelivered to the next owner.
    remaining = [await c.get(), await c.get()]
    assert [(r.partition, r.offset) for r in remaining] == [(1, 0), (1, 1)]
    assert c.assignment == [TP1]


async def test_revoke_gives_up_waiting_after_its_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c, cmds = make(revoke_drain_s=3.0)
    c.on_assigned([(TP0, 1)])
    c.on_records(recs(TP0, range(3)))
    got = [await c.get() for _ in range(3)]
    c.ack(got[0])
    start = trio.current_time()
    assert stored(cmds, await c.on_revoke([TP0])) == {TP0: 1}
    assert trio.current_time() - start == pytest.approx(3.0)
    c.ack(got[1])  # too late: the partition is gone
    assert c.counters.acked == 1
    assert stored(cmds) == {}


async def test_ack_from_an_older_assignment_moves_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c, cmds = make()
    c.on_assigned([(TP0, 1)])
    c.on_records(recs(TP0, range(2)))
    old = await c.get()
    assert await c.on_revoke([TP0]) == {}
    c.on_assigned([(TP0, 2)])
    c.on_records(recs(TP0, range(0, 2), generation=1))  # fetched before the revoke: dropped
    c.on_records(recs(TP0, range(0, 2), generation=2))
    fresh = await c.get()
    assert (fresh.offset, fresh.generation) == (0, 2)
    c.ack(old)
    assert drain(cmds) == []
    c.ack(fresh)
    assert drain(cmds) == [StoreOffsets(((TP0, 1),))]


async def test_lost_partitions_forget_everything_without_offsets() -> None:
    c, cmds = make()
    c.on_assigned([(TP0, 1)])
    c.on_records(recs(TP0, range(3)))
    got = await c.get()
    c.on_lost([TP0])
    c.ack(got)
    assert drain(cmds) == []
    assert c.assignment == []


async def test_get_fails_once_closing() -> None:
    c, _ = make()
    c.on_assigned([(TP0, 1)])
    c._closing = True
    c._arrived.unpark_all()
    with pytest.raises(AdapterClosedError, match=r"^the Kafka consumer is stopping$"):
        await c.get()
    assert [r async for r in c] == []
