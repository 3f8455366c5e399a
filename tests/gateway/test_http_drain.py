"""When Hypercorn is told to stop after a drain began (gateway.http_drain)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from gateway.http_drain import RequestActivity, stop_when_quiet


class _SlowApp:
    """An ASGI app that answers HTTP after `delay` seconds and records other scopes."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(scope["type"])
        await trio.sleep(self.delay)


async def _noop(*_: Any) -> Any:
    return None


async def _request(activity: RequestActivity, kind: str = "http") -> None:
    await activity({"type": kind}, _noop, _noop)


async def _stop_time(
    draining: trio.Event, activity: RequestActivity, quiet_s: float = 0.5, cap_s: float = 3.0
) -> float:
    await stop_when_quiet(draining, activity, quiet_s=quiet_s, cap_s=cap_s)
    return trio.current_time()


async def test_waits_for_the_drain_then_a_quiet_spell(autojump_clock: trio.abc.Clock) -> None:
    activity = RequestActivity(_SlowApp())
    draining = trio.Event()
    stopped_at: list[float] = []

    async def trigger() -> None:
        stopped_at.append(await _stop_time(draining, activity))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trigger)
        await trio.sleep(10)
        assert stopped_at == [], "stopped before the drain began"
        draining.set()
        # Requests every 0.2 s keep it open; the last one begins at 10.8.
        for _ in range(5):
            await _request(activity)
            await trio.sleep(0.2)
    assert stopped_at == [pytest.approx(10.8 + 0.5)]


async def test_a_request_being_answered_is_not_quiet(autojump_clock: trio.abc.Clock) -> None:
    activity = RequestActivity(_SlowApp(delay=1.2))
    draining = trio.Event()
    draining.set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_request, activity)
        await trio.testing.wait_all_tasks_blocked()
        assert activity.in_flight == 1
        stopped = await _stop_time(draining, activity)
    # The request ran from 0 to 1.2 s; quiet counts from its start but not while it runs.
    assert stopped == pytest.approx(1.2, abs=0.06)
    assert activity.in_flight == 0


async def test_the_cap_ends_the_wait_for_clients_that_never_pause(
    autojump_clock: trio.abc.Clock,
) -> None:
    activity = RequestActivity(_SlowApp())
    draining = trio.Event()
    draining.set()
    stopped_at: list[float] = []

    async def trigger() -> None:
        stopped_at.append(await _stop_time(draining, activity, cap_s=2.0))
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trigger)
        while True:
            await _request(activity)
            await trio.sleep(0.1)
    assert stopped_at == [pytest.approx(2.0)]


async def test_websockets_and_lifespan_do_not_count_as_requests(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = _SlowApp()
    activity = RequestActivity(app)
    await _request(activity, "websocket")
    await _request(activity, "lifespan")
    assert app.seen == ["websocket", "lifespan"]
    assert activity.last_start == -float("inf")
    await _request(activity)
    assert activity.last_start == trio.current_time()
