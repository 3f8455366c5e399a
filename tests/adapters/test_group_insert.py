"""GroupInsert with an in-memory ordered writer (the real store: tests/adapters/test_store.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from adapters._group_insert import GroupInsert


class OrderedWriter:
    """insert_many(ordered=True) over a unique message_id: stops at the first clash."""

    def __init__(self) -> None:
        self.stored: list[str] = []
        self.writes: list[list[str]] = []
        self.gate = trio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def __call__(self, docs: list[dict[str, Any]]) -> int:
        self.writes.append([d["message_id"] for d in docs])
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        for n, doc in enumerate(docs):
            if doc["message_id"] in self.stored:
                return n
            self.stored.append(doc["message_id"])
        return len(docs)


def docs(*ids: str) -> list[dict[str, Any]]:
    return [{"message_id": i} for i in ids]


async def test_batches_arriving_during_a_write_go_together_in_the_next() -> None:
    writer = OrderedWriter()
    group = GroupInsert(writer)
    results: dict[str, int] = {}

    async def insert(name: str, *ids: str) -> None:
        results[name] = await group.insert(docs(*ids))

    writer.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(insert, "first", "a1")
        await trio.testing.wait_all_tasks_blocked()  # the first write is in flight
        for name, ids in (("b", ("b1", "b2")), ("c", ("c1",)), ("d", ("d1",))):
            nursery.start_soon(insert, name, *ids)
        await trio.testing.wait_all_tasks_blocked()
        writer.gate.set()
    # Trio runs the waiting tasks in no promised order; what matters is one write for them.
    assert writer.writes[0] == ["a1"] and len(writer.writes) == 2
    assert sorted(writer.writes[1]) == ["b1", "b2", "c1", "d1"]
    assert results == {"first": 1, "b": 2, "c": 1, "d": 1}
    assert group.writes == 2


async def test_a_clash_stops_the_write_and_later_callers_get_nothing_stored() -> None:
    writer = OrderedWriter()
    writer.stored.append("c1")  # c1 was stored before: a redelivery
    group = GroupInsert(writer)
    results: dict[str, int] = {}

    async def insert(name: str, *ids: str) -> None:
        results[name] = await group.insert(docs(*ids))

    writer.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(insert, "first", "a1")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(insert, "b", "b1", "b2")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(insert, "c", "c0", "c1", "c2")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(insert, "d", "d1")
        await trio.testing.wait_all_tasks_blocked()
        writer.gate.set()
    assert results == {"first": 1, "b": 2, "c": 1, "d": 0}
    assert "c2" not in writer.stored and "d1" not in writer.stored


async def test_a_failed_write_fails_every_caller_in_it() -> None:
    writer = OrderedWriter()
    writer.fail = ConnectionError("store gone")
    group = GroupInsert(writer)
    failures: list[str] = []

    async def insert(*ids: str) -> None:
        with pytest.raises(ConnectionError, match=r"^store gone$"):
            await group.insert(docs(*ids))
        failures.append(ids[0])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(insert, "a1")
        nursery.start_soon(insert, "b1")
    assert sorted(failures) == ["a1", "b1"]


async def test_a_cancelled_writer_leaves_the_others_to_write_without_it() -> None:
    writer = OrderedWriter()
    group = GroupInsert(writer)
    results: dict[str, int] = {}
    writer.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        leader = trio.CancelScope()

        async def lead() -> None:
            with leader:
                await group.insert(docs("a1"))

        async def follow() -> None:
            results["b"] = await group.insert(docs("b1"))

        nursery.start_soon(lead)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(follow)
        await trio.testing.wait_all_tasks_blocked()
        leader.cancel()
        await trio.testing.wait_all_tasks_blocked()
        writer.gate.set()
    assert results == {"b": 1}
    assert writer.writes[-1] == ["b1"]
    assert "a1" not in writer.stored
