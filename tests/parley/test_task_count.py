"""TaskCount: the serve process's parley_trio_tasks, kept by a Trio instrument (no walk)."""

from __future__ import annotations

import trio
import trio.testing

from telemetry.tasks import TaskCount


async def _nest(children: int, *, task_status: trio.TaskStatus[None]) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(children):
            nursery.start_soon(trio.sleep_forever)
        task_status.started()


async def test_the_count_follows_tasks_at_every_depth_and_forgets_finished_ones() -> None:
    counter = TaskCount.install()
    try:
        before = counter.alive
        assert before >= 1  # at least this test's own task, counted by the start-up walk
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(trio.sleep_forever)
            await nursery.start(_nest, 3)  # one task holding a nursery of three
            assert counter.alive == before + 5 + 1 + 3
            nursery.cancel_scope.cancel()
        assert counter.alive == before
    finally:
        counter.uninstall()


async def test_an_uninstalled_count_stops_following() -> None:
    counter = TaskCount.install()
    counter.uninstall()
    frozen = counter.alive
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        assert counter.alive == frozen
        nursery.cancel_scope.cancel()
