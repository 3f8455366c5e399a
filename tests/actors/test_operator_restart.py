"""ActorSystem.find / restart: an operator restarts a subtree by path; what may not be restarted
says why; the snapshot shows restarts and when the last failure happened."""

from __future__ import annotations

import pytest
import trio
from _actor_support import Add, Boom, Counter, Journal, ask_total, counter

from actors import (
    Backoff,
    ChildSpec,
    NoSuchActor,
    NotRestartable,
    Restart,
    TaskService,
    open_actor_system,
    start_service,
)

NO_BACKOFF = Backoff(initial=0.0, maximum=0.0, jitter=0.0)


def _entry(snapshot: list[dict[str, object]], path: str) -> dict[str, object]:
    return next(e for e in snapshot if e["path"] == path)


async def test_restart_an_actor_keeps_its_ref_and_counts_the_restart() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        ref = await system.start(lambda: counter(journal), name="counter")
        ref.tell(Add(5))
        assert await ask_total(ref) == 5
        node = await system.restart("/parley/counter")
        assert node is ref
        # A fresh incarnation: its state starts over, the ref and the name stay.
        assert await ask_total(ref) == 0
        entry = _entry(system.snapshot(), "/parley/counter")
        assert entry["restarts"] == 1
        assert entry["state"] == "running"
        assert entry["last_failure"] is None
    assert journal.events[:3] == ["started counter", "stopping counter", "stopped counter"]


async def test_restart_a_supervisor_restarts_its_children_in_order() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        await system.start_supervisor(
            "group",
            children=[
                ChildSpec("a", lambda: counter(journal, "a")),
                ChildSpec("b", lambda: counter(journal, "b")),
            ],
        )
        journal.events.clear()
        await system.restart("/parley/group")
        snap = system.snapshot()
        assert _entry(snap, "/parley/group")["restarts"] == 1
        assert _entry(snap, "/parley/group/a")["restarts"] == 1
        assert _entry(snap, "/parley/group/b")["restarts"] == 1
    assert journal.events[:4] == ["stopping b", "stopped b", "stopping a", "stopped a"]
    assert journal.events[4:6] == ["started a", "started b"]


async def test_restart_a_registry_forgets_live_actors_which_come_back_on_demand() -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", lambda key: Counter(name=key))
        registry.tell("t1", Add(2))
        assert await ask_total(registry.get("t1")) == 2
        await system.restart("/parley/threads")
        assert registry.live_count == 0
        registry.tell("t1", Add(1))
        assert await ask_total(registry.get("t1")) == 1
        assert _entry(system.snapshot(), "/parley/threads")["restarts"] == 1


async def test_restart_one_registry_actor_by_its_key() -> None:
    async with open_actor_system() as system:
        registry = await system.start_registry("threads", lambda key: Counter(name=key))
        registry.tell("t1", Add(2))
        assert await ask_total(registry.get("t1")) == 2
        await system.restart("/parley/threads/t1")
        assert await ask_total(registry.get("t1")) == 0
        assert _entry(system.snapshot(), "/parley/threads/t1")["restarts"] == 1


async def test_unknown_paths_are_refused() -> None:
    async with open_actor_system() as system:
        await system.start(Counter, name="counter")
        for path in ("/parley/nothing", "/other/counter", "", "/parley/counter/deeper"):
            with pytest.raises(NoSuchActor, match=r"^no actor at .*$"):
                await system.restart(path)


async def test_root_services_and_temporary_actors_are_not_restartable() -> None:
    async with open_actor_system() as system:
        await start_service(system, "server", TaskService(_idle))
        await system.start(Counter, name="temp", restart=Restart.TEMPORARY)
        sup = await system.start_supervisor("holder")
        await start_service(sup, "inner", TaskService(_idle))
        with pytest.raises(NotRestartable, match=r"^/parley is the root: drain the process"):
            await system.restart("/parley")
        with pytest.raises(NotRestartable, match=r"^/parley/server is a service \(an adapter"):
            await system.restart("/parley/server")
        with pytest.raises(NotRestartable, match=r"^/parley/temp is temporary: it is never"):
            await system.restart("/parley/temp")
        with pytest.raises(
            NotRestartable, match=r"^/parley/holder holds /parley/holder/inner, which is a service"
        ):
            await system.restart("/parley/holder")


async def test_snapshot_says_how_long_ago_the_last_failure_was(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with open_actor_system(backoff=NO_BACKOFF) as system:
        ref = await system.start(Counter, name="counter", restart=Restart.PERMANENT)
        entry = _entry(system.snapshot(), "/parley/counter")
        assert entry["last_failure_ago"] is None
        ref.tell(Boom("kaput"))
        await trio.sleep(1.0)
        await trio.sleep(30.0)
        entry = _entry(system.snapshot(), "/parley/counter")
        assert entry["last_failure"] == "ValueError: kaput"
        assert entry["restarts"] == 1
        assert isinstance(entry["last_failure_ago"], float)
        assert entry["last_failure_ago"] >= 30.0


async def _idle(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()
