"""Registry: one actor per key, passivation after idle, reactivation, restarts in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
from _actor_support import Add, Boom, Counter, Get, all_tasks

from actors import Actor, ActorStopped, Backoff, ExitReason, Registry, open_actor_system

NO_BACKOFF = Backoff(initial=0.0, maximum=0.0, jitter=0.0)


class Keyed(Counter):
    """A Counter that keeps its total across passivation, and counts live instances."""

    live = 0
    peak = 0
    built: list[str] = []

    def __init__(self, key: str) -> None:
        super().__init__(name=key)
        self.key = key
        Keyed.built.append(key)

    async def on_started(self) -> None:
        Keyed.live += 1
        Keyed.peak = max(Keyed.peak, Keyed.live)

    async def on_stopped(self, error: BaseException | None) -> None:
        Keyed.live -= 1

    def on_passivate(self) -> object:
        return self.total

    def on_reactivate(self, state: object) -> None:
        assert isinstance(state, int)
        self.total = state


@pytest.fixture(autouse=True)
def _reset_keyed() -> None:
    Keyed.live = Keyed.peak = 0
    Keyed.built = []


async def total(registry: Registry[str, Any], key: str) -> int:
    value: int = await registry.ask(key, lambda reply: Get(reply), timeout=1)
    return value


async def test_get_or_spawn_gives_exactly_one_actor_per_key() -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed)
        for _ in range(3):
            registry.tell("t1", Add(1))
            registry.tell("t2", Add(10))
        assert registry.get("t1") is registry.get("t1")
        assert await total(registry, "t1") == 3
        assert await total(registry, "t2") == 30
        assert sorted(Keyed.built) == ["t1", "t2"]
        assert registry.get("t1").path == "/parley/threads/t1"
        assert (len(registry), registry.live_count) == (2, 2)


async def test_idle_actors_are_passivated_and_reactivated_with_their_state(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed, idle_timeout=10)
        registry.tell("t1", Add(5))
        old = registry.get("t1")
        await trio.sleep(16)  # passivated within 1.5x the idle timeout
        assert not registry.is_live("t1")
        assert "t1" in registry
        assert (len(registry), registry.live_count, Keyed.live) == (1, 0, 0)
        down = await old.wait_stopped()
        assert down.reason is ExitReason.PASSIVATED
        with pytest.raises(ActorStopped, match=r"^actor /parley/threads/t1 is stopped$"):
            old.tell(Add(1))
        registry.tell("t1", Add(1))  # reactivation on the next message
        assert await total(registry, "t1") == 6
        assert registry.get("t1") is not old
        assert Keyed.built == ["t1", "t1"]


async def test_activity_keeps_an_actor_live(autojump_clock: trio.abc.Clock) -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed, idle_timeout=10)
        for _ in range(10):
            registry.tell("busy", Add(1))
            await trio.sleep(4)
        assert registry.is_live("busy")
        assert Keyed.built == ["busy"]


async def test_passivated_keys_keep_no_task() -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed)
        await trio.testing.wait_all_tasks_blocked()
        before = all_tasks()
        for i in range(20):
            registry.tell(f"t{i}", Add(i))
        await trio.testing.wait_all_tasks_blocked()
        assert len(all_tasks()) == len(before) + 20
        for i in range(20):
            assert registry.passivate(f"t{i}")
        await trio.testing.wait_all_tasks_blocked()
        assert all_tasks() == before
        assert (len(registry), registry.live_count) == (20, 0)
        assert not registry.passivate("t0")


async def test_messages_during_passivation_go_to_a_successor_started_afterwards() -> None:
    @dataclass(frozen=True)
    class Slow:
        gate: trio.Event

    class Gated(Keyed):
        async def receive(self, msg: object) -> None:
            if isinstance(msg, Slow):
                await msg.gate.wait()
                return
            await super().receive(msg)  # type: ignore[arg-type]

    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Gated)
        gate = trio.Event()
        registry.tell("t", Add(2))
        registry.tell("t", Slow(gate))  # type: ignore[arg-type]
        await trio.testing.wait_all_tasks_blocked()
        registry.passivate("t")  # the actor is busy: it drains, then ends
        registry.tell("t", Add(3))  # queued for the successor
        await trio.testing.wait_all_tasks_blocked()
        assert Keyed.live == 1
        gate.set()
        assert await total(registry, "t") == 5  # the passivated total came across
        assert Keyed.peak == 1  # never two live actors for one key


async def test_a_crashed_actor_restarts_in_place(autojump_clock: trio.abc.Clock) -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed, backoff=NO_BACKOFF)
        ref = registry.get("t")
        registry.tell("t", Add(4))
        registry.tell("t", Boom())
        registry.tell("t", Add(1))
        await trio.sleep(1)
        assert registry.get("t") is ref
        assert ref.restarts == 1
        assert system.restarts == 1  # the process's total, kept without a walk
        assert await total(registry, "t") == 1


async def test_a_registry_that_gives_up_forgets_live_actors(autojump_clock: trio.abc.Clock) -> None:
    class Fragile(Actor[Boom | Get]):
        def __init__(self, key: str) -> None:
            self.key = key

        async def receive(self, msg: Boom | Get) -> None:
            if isinstance(msg, Boom):
                raise RuntimeError(self.key)
            msg.reply.send(0)

    async with open_actor_system() as system:
        registry = await system.start_registry(
            "threads", Fragile, max_restarts=1, within=10, backoff=NO_BACKOFF
        )
        first = registry.get("a")
        registry.tell("a", Boom())
        await trio.sleep(0.1)
        registry.tell("a", Boom())
        await trio.sleep(1)
        assert registry.restarts == 1
        assert not first.alive
        assert "a" not in registry
        assert await registry.ask("a", lambda reply: Get(reply)) == 0


async def test_the_deepest_mailbox_is_found_below_supervisors_and_registries() -> None:
    gate = trio.Event()

    class Held(Actor[int]):
        def __init__(self, key: str) -> None:
            self.key = key

        async def receive(self, msg: int) -> None:
            await gate.wait()

    async with open_actor_system() as system:
        assert system.deepest_mailbox() == 0
        registry = await system.start_registry("threads", Held)
        for _ in range(4):
            registry.tell("a", 1)  # the first is taken and held, three wait
        registry.tell("b", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert system.deepest_mailbox() == 3
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert system.deepest_mailbox() == 0


async def test_snapshot_lists_registry_counts() -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Keyed)
        registry.tell("a", Add(1))
        registry.tell("b", Add(1))
        registry.passivate("b")
        await trio.testing.wait_all_tasks_blocked()
        rows = {row["path"]: row for row in system.snapshot()}
        assert rows["/parley/threads"]["entries"] == 2
        assert rows["/parley/threads"]["live"] == 1
        assert rows["/parley/threads"]["passivated"] == 1
        assert rows["/parley/threads/a"]["mailbox"] == {
            "depth": 0,
            "capacity": 64,
            "policy": "reject",
        }


async def test_shutdown_with_a_waiting_successor_does_not_hang(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    @dataclass(frozen=True)
    class Slow:
        gate: trio.Event

    class Gated(Keyed):
        async def receive(self, msg: object) -> None:
            if isinstance(msg, Slow):
                await msg.gate.wait()
                return
            await super().receive(msg)  # type: ignore[arg-type]

    gate = trio.Event()
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", Gated)
        registry.tell("t", Slow(gate))  # type: ignore[arg-type]
        await trio.testing.wait_all_tasks_blocked()
        registry.passivate("t")
        successor = registry.get("t")  # waits for the busy predecessor
        successor.tell(Add(1))
        gate.set()
        system.shutdown()
        await system.wait_stopped()
        assert not successor.alive
    assert not [r for r in caplog.records if "did not stop" in r.getMessage()]
