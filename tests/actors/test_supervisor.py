"""Supervisor: strategies, restart intensity and escalation, ordered start and stop."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import trio
import trio.testing
from _actor_support import Add, Boom, Counter, Hang, Journal, all_tasks, ask_total, counter

from actors import (
    Actor,
    ActorRef,
    ActorState,
    ActorStopped,
    Backoff,
    ChildSpec,
    ExitReason,
    Registry,
    Restart,
    RestartIntensityExceeded,
    StopTimeout,
    Strategy,
    Supervisor,
    open_actor_system,
)

NO_BACKOFF = Backoff(initial=0.0, maximum=0.0, jitter=0.0)


def specs(journal: Journal, *names: str) -> list[ChildSpec]:
    return [ChildSpec(n, lambda n=n: counter(journal, n)) for n in names]  # type: ignore[misc]


async def prime(sup: Supervisor, *names: str) -> None:
    """Give each child a distinct total so that a restart (which resets it) is visible."""
    for i, name in enumerate(names, start=1):
        sup.child(name).tell(Add(i))  # type: ignore[attr-defined]
    await trio.testing.wait_all_tasks_blocked()


async def totals(sup: Supervisor, *names: str) -> list[int]:
    return [await ask_total(sup.child(n)) for n in names]


async def test_children_start_in_order_and_stop_in_reverse_order() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        await system.start_supervisor("s", children=specs(journal, "a", "b", "c"))
        assert journal.events == ["started a", "started b", "started c"]
        journal.events.clear()
    assert journal.events == [
        "stopping c",
        "stopped c",
        "stopping b",
        "stopped b",
        "stopping a",
        "stopped a",
    ]


async def test_one_for_one_restarts_only_the_failed_child(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor("s", children=specs(journal, "a", "b", "c"))
        await prime(sup, "a", "b", "c")
        sup.child("b").tell(Boom())  # type: ignore[attr-defined]
        await trio.sleep(1)
        assert await totals(sup, "a", "b", "c") == [1, 0, 3]
        assert [c.restarts for c in sup.children] == [0, 1, 0]


async def test_one_for_all_restarts_every_child_in_order(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor(
            "s", strategy=Strategy.ONE_FOR_ALL, children=specs(journal, "a", "b", "c")
        )
        await prime(sup, "a", "b", "c")
        journal.events.clear()
        sup.child("b").tell(Boom())  # type: ignore[attr-defined]
        await trio.sleep(1)
        assert await totals(sup, "a", "b", "c") == [0, 0, 0]
        assert [c.restarts for c in sup.children] == [1, 1, 1]
    assert journal.events[:9] == [
        "stopping b",
        "stopped b boom",
        "stopping c",
        "stopped c",
        "stopping a",
        "stopped a",
        "started a",
        "started b",
        "started c",
    ]


async def test_rest_for_one_restarts_the_failed_child_and_later_ones(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor(
            "s", strategy=Strategy.REST_FOR_ONE, children=specs(journal, "a", "b", "c")
        )
        await prime(sup, "a", "b", "c")
        sup.child("b").tell(Boom())  # type: ignore[attr-defined]
        await trio.sleep(1)
        assert await totals(sup, "a", "b", "c") == [1, 0, 0]
        assert [c.restarts for c in sup.children] == [0, 1, 1]


async def test_intensity_exceeded_escalates_to_the_parent_and_is_logged_once(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal()
    caplog.set_level(logging.WARNING, logger="actors")
    async with open_actor_system(max_restarts=5, within=60) as system:
        sup = await system.start_supervisor(
            "s", max_restarts=2, within=10, backoff=NO_BACKOFF, children=specs(journal, "a")
        )
        for _ in range(3):
            sup.child("a").tell(Boom())  # type: ignore[attr-defined]
            await trio.sleep(0.1)
        await trio.sleep(1)
        # The root restarted the supervisor, which started its child afresh.
        assert sup.restarts == 1
        assert sup.state is ActorState.RUNNING
        assert sup.last_failure is not None
        assert sup.last_failure.startswith("RestartIntensityExceeded: supervisor /parley/s gave up")
        assert await ask_total(sup.child("a")) == 0
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 1
    assert gave_up[0].levelno == logging.ERROR
    assert gave_up[0].exc_info is not None and gave_up[0].exc_info[0] is ValueError


async def test_root_intensity_exceeded_stops_the_system_with_the_cause(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    with pytest.raises(
        RestartIntensityExceeded,
        match=r"^supervisor /parley gave up after 1 restarts within 5s; last failure: "
        r"ValueError: boom$",
    ) as caught:
        async with open_actor_system(max_restarts=1, within=5, backoff=NO_BACKOFF) as system:
            ref = system.spawn(lambda: counter(journal, "x"), name="x")
            ref.tell(Boom())
            await trio.sleep(0.1)
            ref.tell(Boom())
            await trio.sleep_forever()
    assert isinstance(caught.value.__cause__, ValueError)
    assert journal.events[-1] == "stopped x boom"


async def test_restart_types(autojump_clock: trio.abc.Clock) -> None:
    class Quits(Actor[Add]):
        async def receive(self, msg: Add) -> None:
            self.stop()

    async with open_actor_system() as system:
        temporary = system.spawn(lambda: counter(Journal()), name="t", restart=Restart.TEMPORARY)
        transient = system.spawn(Quits, name="q", restart=Restart.TRANSIENT)
        temporary.tell(Boom())
        transient.tell(Add(1))
        down_t = await temporary.wait_stopped()
        down_q = await transient.wait_stopped()
        assert (down_t.reason, str(down_t.error)) == (ExitReason.FAILED, "boom")
        assert (down_q.reason, down_q.error) == (ExitReason.NORMAL, None)
        assert [c.name for c in system.root.children] == []


async def test_restart_waits_for_the_backoff(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    backoff = Backoff(initial=2.0, maximum=10.0, jitter=0.0)
    async with open_actor_system() as system:
        sup = await system.start_supervisor("s", backoff=backoff, children=specs(journal, "a"))
        sup.child("a").tell(Boom())  # type: ignore[attr-defined]
        await trio.sleep(1.9)
        assert sup.child("a").state is ActorState.RESTARTING
        await trio.sleep(0.2)
        assert sup.child("a").state is ActorState.RUNNING


async def test_a_child_stuck_past_its_shutdown_fails_its_group(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal()
    children = [
        ChildSpec("a", lambda: counter(journal, "a"), shutdown=1.0),
        ChildSpec("b", lambda: counter(journal, "b"), shutdown=1.0),
    ]
    async with open_actor_system() as system:
        sup = await system.start_supervisor(
            "s", strategy=Strategy.ONE_FOR_ALL, backoff=NO_BACKOFF, children=children
        )
        sup.child("a").tell(Hang())  # type: ignore[attr-defined]
        await trio.testing.wait_all_tasks_blocked()
        sup.child("b").tell(Boom())  # type: ignore[attr-defined]
        await trio.sleep(5)
        assert sup.restarts == 1  # the root restarted the whole group
        assert sup.last_failure == (
            "StopTimeout: /parley/s/a did not stop within 1s; its group was cancelled"
        )
        assert sup.state is ActorState.RUNNING
    assert any(
        isinstance(r.msg, StopTimeout) or "did not stop" in r.getMessage() for r in caplog.records
    )


async def test_stop_child_and_duplicate_names() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor("s", children=specs(journal, "a", "b"))
        with pytest.raises(ValueError, match=r"^/parley/s already has a child named 'a'$"):
            sup.spawn(lambda: counter(journal), name="a")
        await sup.stop_child("a")
        assert [c.name for c in sup.children] == ["b"]
        ref = await sup.start(lambda: counter(journal, "late"), name="late")
        assert ref.state is ActorState.RUNNING
        assert journal.events[-1] == "started late"


async def test_anonymous_children_get_a_unique_path() -> None:
    async with open_actor_system() as system:
        one = system.spawn(lambda: counter(Journal()))
        two = system.spawn(lambda: counter(Journal()))
        assert one.path != two.path
        assert one.path.startswith("/parley/Counter@")


async def test_stopping_a_child_supervisor_stops_its_subtree_in_reverse_order() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        outer = await system.start_supervisor("outer")
        inner = await outer.start_supervisor("inner", children=specs(journal, "a", "b"))
        ref_a = inner.child("a")
        journal.events.clear()
        await outer.stop_child("inner")
        assert inner.state is ActorState.STOPPED
        assert ref_a.state is ActorState.STOPPED
        assert outer.children == []
    assert journal.events == ["stopping b", "stopped b", "stopping a", "stopped a"]


async def test_an_actor_may_stop_itself_while_starting() -> None:
    class Quitter(Actor[object]):
        async def on_started(self) -> None:
            self.stop()

    async with open_actor_system() as system:
        ref = await system.start(Quitter, name="q")
        down = await ref.wait_stopped()
        assert down.reason is ExitReason.NORMAL


class Looper(Counter):
    """A Counter that also owns a loop (so it has a nursery and is cancelled on its own)."""

    async def run(self) -> None:
        await trio.sleep_forever()


def settled(sup: Supervisor, *names: str) -> bool:
    children = [sup.child(n) for n in names]
    return sup.state is ActorState.RUNNING and all(
        isinstance(c, ActorRef) and c.state is ActorState.RUNNING and c.mailbox_depth == 0
        for c in children
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("strategy", list(Strategy))
async def test_random_failures_never_wedge_the_tree(
    seed: int, strategy: Strategy, autojump_clock: trio.abc.Clock
) -> None:
    """Crashes at random across nested groups; the tree keeps serving and stops cleanly."""
    rng = random.Random(seed)
    journal = Journal()
    before = all_tasks()
    async with open_actor_system(max_restarts=1000, within=1) as system:
        sup = await system.start_supervisor(
            "s",
            strategy=strategy,
            max_restarts=5,
            within=1,
            children=[*specs(journal, "a", "b", "c"), ChildSpec("d", lambda: Looper(journal))],
        )
        inner = await sup.start_supervisor(
            "inner", strategy=strategy, max_restarts=3, within=1, children=specs(journal, "x")
        )
        registry: Registry[str, Any] = await sup.start_registry(
            "r", lambda key: Counter(journal), max_restarts=3
        )
        for _ in range(200):
            target = rng.choice(["a", "b", "c", "d", "x", "r"])
            msg = Boom() if rng.random() < 0.3 else Add(1)
            try:
                if target == "x":
                    inner.child("x").tell(msg)  # type: ignore[attr-defined]
                elif target == "r":
                    registry.tell(rng.choice("pqrs"), msg)
                else:
                    sup.child(target).tell(msg)  # type: ignore[attr-defined]
            except ActorStopped:
                pass  # a group is between incarnations right now
            await trio.sleep(rng.random() * 0.05)
        # Queued Booms keep crashing the restarted actors for a while: wait until it settles
        # (virtual time; polling is the point, there is no event for "nothing left to do").
        with trio.fail_after(600):
            while not settled(sup, "a", "b", "c", "d"):  # noqa: ASYNC110
                await trio.sleep(0.5)
        for name in ("a", "b", "c"):
            assert await ask_total(sup.child(name)) >= 0
    assert all_tasks() == before
    assert sup.state is ActorState.STOPPED


async def test_anonymous_children_stop_together_before_the_named_ones() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor("s", children=specs(journal, "first"))
        for i in range(50):
            sup.spawn(lambda i=i: counter(journal, f"anon{i}"))  # type: ignore[misc]
        await trio.testing.wait_all_tasks_blocked()
        journal.events.clear()
    stopped = [e for e in journal.events if e.startswith("stopped")]
    assert len(stopped) == 51
    assert stopped[-1] == "stopped first"
