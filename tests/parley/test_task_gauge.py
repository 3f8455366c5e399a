"""parley_trio_tasks: the serve process counts its Trio tasks when its gauges refresh."""

from __future__ import annotations

import trio

from parley.serve import _task_gauge
from telemetry import ProcessStatus


def _tasks(status: ProcessStatus) -> float | None:
    return status.metrics.registry.get_sample_value("parley_trio_tasks")


async def _nest(children: int, *, task_status: trio.TaskStatus[None]) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(children):
            nursery.start_soon(trio.sleep_forever)
        task_status.started()


async def test_the_gauge_counts_tasks_at_every_depth_and_forgets_finished_ones() -> None:
    status = ProcessStatus(role="gateway", process_id="p1")
    _task_gauge(status)
    before = _tasks(status)
    assert before is not None and before >= 1  # at least this test's own task
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(trio.sleep_forever)
        await nursery.start(_nest, 3)  # one task holding a nursery of three
        _task_gauge(status)
        assert _tasks(status) == before + 5 + 1 + 3
        nursery.cancel_scope.cancel()
    _task_gauge(status)
    assert _tasks(status) == before


def test_outside_trio_the_gauge_is_left_alone() -> None:
    status = ProcessStatus(role="gateway", process_id="p1")
    _task_gauge(status)
    assert _tasks(status) == 0.0
