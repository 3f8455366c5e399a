"""The announcer's chart figures: quantiles from histogram buckets like Prometheus computes."""

from __future__ import annotations

import math

import pytest
import trio

from actors import ActorSystem, open_actor_system, start_service
from config.settings import load_settings
from parley._announce import Announcer, _Stats, histogram_quantile
from protocol.ops import CommandKind, CommandState, Liveness, OpsCommand, ProcessAnnouncement
from telemetry import Metrics, ProcessStatus


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.01: 0.0, 0.02: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.015)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.0199)


def test_quantile_without_data_or_beyond_the_last_bucket() -> None:
    assert histogram_quantile(0.5, {}) is None
    assert histogram_quantile(0.5, {0.01: 0.0, math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.01: 0.0, 0.02: 0.0, math.inf: 5.0}) == 0.02


def test_stats_give_totals_and_the_quantiles_of_the_last_interval_only() -> None:
    metrics = Metrics()
    stats = _Stats()
    for _ in range(10):
        metrics.end_to_end.observe(1.0)
    metrics.persisted.inc(10)
    metrics.ws_connections.set(7)
    first, gauges = stats.take(metrics.registry)
    assert gauges["parley_ws_connections"] == 7.0  # read in the same pass
    assert first["persisted"] == 10.0
    assert 0.5 < first["e2e_p99_s"] <= 1.0
    for _ in range(10):
        metrics.end_to_end.observe(0.003)
    second, _ = stats.take(metrics.registry)
    assert second["e2e_p99_s"] <= 0.005
    assert "e2e_p50_s" not in stats.take(metrics.registry)[0]


class FakeBoard:
    """The store side of the announcer, in memory; `hang` makes every call wait forever."""

    def __init__(self, commands: list[OpsCommand] | None = None, *, hang: bool = False) -> None:
        self.announced: list[ProcessAnnouncement] = []
        self.commands = {c.command_id: c for c in commands or []}
        self.hang = hang

    async def _maybe_hang(self) -> None:
        if self.hang:
            await trio.sleep_forever()

    async def announce(self, announcement: ProcessAnnouncement) -> None:
        await self._maybe_hang()
        self.announced.append(announcement)

    async def pending(self, process_id: str) -> list[OpsCommand]:
        await self._maybe_hang()
        return [
            c
            for c in self.commands.values()
            if c.process_id == process_id and c.state is CommandState.PENDING
        ]

    async def finish(self, command: OpsCommand) -> None:
        self.commands[command.command_id] = command


def _announcer(system: ActorSystem, board: FakeBoard) -> Announcer:
    settings = load_settings(heartbeat_s=1.0, heartbeat_timeout_s=5.0)
    status = ProcessStatus(role="core", process_id="p1")
    status.add_plugins(lambda: [{"id": "echo", "version": "1.0.0"}])
    return Announcer(system, settings, status, board)  # type: ignore[arg-type]


async def test_commands_are_taken_and_answered(autojump_clock: trio.abc.Clock) -> None:
    missing = OpsCommand.new("p1", CommandKind.RESTART, "admin", 0.0, "/parley/nothing")
    other = OpsCommand.new("p2", CommandKind.DRAIN, "admin", 0.0)
    board = FakeBoard([missing, other])
    async with open_actor_system() as system:
        await start_service(system, "announcer", _announcer(system, board))
        await trio.sleep(3.0)
        assert board.commands[missing.command_id].state is CommandState.FAILED
        assert board.commands[missing.command_id].error_code == "not_found"
        assert board.commands[other.command_id].state is CommandState.PENDING
        assert board.announced[-1].state is Liveness.RUNNING
        assert board.announced[-1].actors[0]["path"] == "/parley"
        assert board.announced[-1].plugins == [{"id": "echo", "version": "1.0.0"}]
    assert board.announced[-1].state is Liveness.STOPPED


async def test_drain_writes_its_outcome_then_shuts_the_system_down(
    autojump_clock: trio.abc.Clock,
) -> None:
    drain = OpsCommand.new("p1", CommandKind.DRAIN, "admin", 0.0)
    board = FakeBoard([drain])
    async with open_actor_system() as system:
        await start_service(system, "announcer", _announcer(system, board))
        await system.wait_stopped()
    assert board.commands[drain.command_id].outcome == "draining"
    assert board.announced[-1].state is Liveness.STOPPED


async def test_a_hung_store_does_not_hold_up_the_stop(autojump_clock: trio.abc.Clock) -> None:
    board = FakeBoard(hang=True)
    with trio.fail_after(10):
        async with open_actor_system() as system:
            await start_service(system, "announcer", _announcer(system, board))
            await trio.sleep(2.0)
    assert board.announced == []


async def test_a_heartbeat_refreshes_only_the_cheap_gauges() -> None:
    """A scrape-only refresh (a walk of every actor) never runs on the 2 s heartbeat."""
    calls = {"cheap": 0, "walk": 0}
    async with open_actor_system() as system:
        announcer = _announcer(system, FakeBoard())
        status = announcer._status
        status.add_gauges(lambda: calls.__setitem__("cheap", calls["cheap"] + 1))
        status.add_gauges(lambda: calls.__setitem__("walk", calls["walk"] + 1), scrape_only=True)
        status.metrics.ws_connections.set(3)
        announced = announcer.announcement()
        assert calls == {"cheap": 1, "walk": 0}
        assert announced.connections == 3
        status.refresh_gauges()  # what /metrics does
        assert calls == {"cheap": 2, "walk": 1}
