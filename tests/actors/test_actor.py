"""Actor, ActorRef: tell/ask, lifecycle hooks, restarts keep the mailbox, owned loops."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass

import pytest
import trio
import trio.testing
from _actor_support import Add, Boom, Counter, Get, Hang, Journal, all_tasks, ask_total, counter

from actors import (
    Actor,
    ActorCrashed,
    ActorState,
    ActorStopped,
    AskTimeout,
    Down,
    ExitReason,
    Reply,
    open_actor_system,
)


async def test_tell_then_ask_sees_every_message_in_order() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        for n in range(1, 11):
            ref.tell(Add(n))
        assert await ask_total(ref) == 55
        assert ref.path == "/parley/c"
        assert ref.state is ActorState.RUNNING


async def test_tell_never_yields(autojump_clock: trio.abc.Clock) -> None:
    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        with trio.testing.assert_no_checkpoints():
            for _ in range(10):
                ref.tell(Add(1))
        assert await ask_total(ref) == 10


async def test_ask_times_out_with_a_clear_error(autojump_clock: trio.abc.Clock) -> None:
    @dataclass(frozen=True)
    class Ignored:
        reply: Reply[int]

    class Silent(Actor[Ignored]):
        async def receive(self, msg: Ignored) -> None:
            pass  # never answers

    async with open_actor_system() as system:
        ref = system.spawn(Silent, name="silent")
        with pytest.raises(AskTimeout, match=r"^no reply from /parley/silent within 2s$"):
            await ref.ask(lambda reply: Ignored(reply), timeout=2)


async def test_a_late_reply_after_timeout_is_ignored(autojump_clock: trio.abc.Clock) -> None:
    held: list[Reply[int]] = []

    class Slow(Actor[Get]):
        async def receive(self, msg: Get) -> None:
            held.append(msg.reply)

    async with open_actor_system() as system:
        ref = system.spawn(Slow, name="slow")
        with pytest.raises(AskTimeout, match=r"^no reply from /parley/slow within 1s$"):
            await ref.ask(lambda reply: Get(reply), timeout=1)
        held[0].send(7)  # must not raise although nobody waits any more
        assert held[0].done


async def test_reply_fail_raises_in_the_asker() -> None:
    class Refuser(Actor[Get]):
        async def receive(self, msg: Get) -> None:
            msg.reply.fail(PermissionError("not yours"))

    async with open_actor_system() as system:
        ref = system.spawn(Refuser, name="r")
        with pytest.raises(PermissionError, match=r"^not yours$"):
            await ref.ask(lambda reply: Get(reply))


async def test_tell_to_a_stopped_actor_raises_actor_stopped() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        ref.stop()
        down = await ref.wait_stopped()
        assert down.reason is ExitReason.NORMAL
        with pytest.raises(ActorStopped, match=r"^actor /parley/c is stopped$"):
            ref.tell(Add(1))
        with pytest.raises(ActorStopped, match=r"^actor /parley/c is stopped$"):
            await ref.ask(lambda reply: Get(reply))
        assert not ref.alive


async def test_stop_handles_queued_messages_then_runs_hooks_in_order() -> None:
    journal = Journal()
    seen: list[int] = []

    class Recorder(Counter):
        async def receive(self, msg: object) -> None:
            if isinstance(msg, Add):
                seen.append(msg.n)

    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder(journal, "r"), name="r")
        for n in range(5):
            ref.tell(Add(n))
        ref.stop()
        await ref.wait_stopped()
    assert seen == [0, 1, 2, 3, 4]
    assert journal.events == ["started r", "stopping r", "stopped r"]


async def test_crash_restarts_with_a_fresh_instance_and_keeps_the_mailbox(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        ref = system.spawn(lambda: counter(journal), name="c")
        ref.tell(Add(5))
        ref.tell(Boom("bad input"))
        ref.tell(Add(2))  # queued behind the crash: handled by the next incarnation
        await trio.sleep(1)
        assert await ask_total(ref) == 2
        assert ref.restarts == 1
        assert ref.last_failure == "ValueError: bad input"
        assert journal.instances == 2
    assert journal.events[:3] == [
        "started counter",
        "stopping counter",
        "stopped counter bad input",
    ]


async def test_watchers_are_told_down_with_the_reason() -> None:
    downs: list[Down] = []

    class Watcher(Actor[Down]):
        async def receive(self, msg: Down) -> None:
            downs.append(msg)

    async with open_actor_system() as system:
        watcher = system.spawn(Watcher, name="w")
        ref = system.spawn(Counter, name="c")
        ref.watch(watcher.tell)
        ref.stop()
        await ref.wait_stopped()
        await trio.testing.wait_all_tasks_blocked()
    assert [(d.path, d.reason, d.ref) for d in downs] == [("/parley/c", ExitReason.NORMAL, ref)]


async def test_watching_an_ended_actor_reports_at_once() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        ref.stop()
        await ref.wait_stopped()
        down = await ref.wait_stopped()
        assert down.path == "/parley/c"


async def test_run_loop_owns_a_nursery_and_returning_stops_the_actor() -> None:
    events: list[str] = []

    class Reader(Actor[Add]):
        async def run(self) -> None:
            self.nursery.start_soon(self._helper)
            for n in range(3):
                self.ref.tell(Add(n))
            await trio.sleep(0.01)
            events.append("run done")

        async def _helper(self) -> None:
            try:
                await trio.sleep_forever()
            finally:
                events.append("helper cancelled")

        async def receive(self, msg: Add) -> None:
            events.append(f"msg {msg.n}")

        async def on_stopping(self) -> None:
            events.append("stopping")

    async with open_actor_system() as system:
        ref = system.spawn(Reader, name="reader")
        down = await ref.wait_stopped()
    assert down.reason is ExitReason.NORMAL
    assert events == ["msg 0", "msg 1", "msg 2", "run done", "stopping", "helper cancelled"]


async def test_a_crash_in_run_restarts_the_actor(autojump_clock: trio.abc.Clock) -> None:
    starts: list[int] = []

    class Flaky(Actor[object]):
        async def run(self) -> None:
            starts.append(1)
            if len(starts) == 1:
                raise ConnectionError("socket reset")
            await trio.sleep_forever()

    async with open_actor_system() as system:
        ref = system.spawn(Flaky, name="flaky")
        await trio.sleep(1)
        assert len(starts) == 2
        assert ref.last_failure == "ConnectionError: socket reset"
        assert ref.state is ActorState.RUNNING


async def test_nursery_is_refused_for_message_only_actors() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(
            RuntimeError,
            match=r"^Counter has no nursery: set uses_nursery = True or override run\(\)$",
        ):
            _ = ref._actor.nursery


async def test_hang_in_a_handler_is_cancelled_at_shutdown(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    async with open_actor_system(shutdown_timeout=3) as system:
        ref = system.spawn(lambda: counter(journal), name="c", shutdown=1)
        ref.tell(Hang())
        await trio.sleep(0.1)
    assert journal.events[-1] == "stopped counter"


async def test_no_task_is_left_behind(autojump_clock: trio.abc.Clock) -> None:
    before = all_tasks()
    async with open_actor_system() as system:
        for i in range(5):
            system.spawn(Counter, name=f"c{i}").tell(Add(i))
        sup = await system.start_supervisor("s")
        sup.spawn(Counter, shutdown=0.5).tell(Hang())
        reg = await system.start_registry("r", lambda key: Counter(), idle_timeout=60)  # type: ignore[var-annotated]
        reg.tell("k", Add(1))
        await trio.testing.wait_all_tasks_blocked()
        assert len(all_tasks()) > len(before) + 8
    assert all_tasks() == before


async def test_shutdown_gives_a_child_its_stop_grace_by_default(
    autojump_clock: trio.abc.Clock,
) -> None:
    events: list[str] = []

    class Service(Actor[object]):
        stop_grace = 30.0

        def __init__(self) -> None:
            self.stopping = trio.Event()
            self.ended = trio.Event()

        async def run(self) -> None:
            try:
                await self.stopping.wait()
                await trio.sleep(20)  # a final commit that takes a while
                events.append("committed")
            finally:
                self.ended.set()

        async def on_stopping(self) -> None:
            self.stopping.set()
            await self.ended.wait()

    async with open_actor_system(shutdown_timeout=60) as system:
        await system.start(Service, name="svc")
    assert events == ["committed"]


async def test_a_broken_watcher_does_not_break_the_ending_actor() -> None:
    def broken(down: Down) -> None:
        raise RuntimeError("watcher bug")

    async with open_actor_system() as system:
        ref = system.spawn(Counter, name="c")
        ref.watch(broken)
        ref.stop()
        down = await ref.wait_stopped()
        assert down.reason is ExitReason.NORMAL
        assert system.spawn(Counter, name="d").alive


def test_a_mailbox_needs_room_for_one_message() -> None:
    with pytest.raises(ValueError, match=r"^Tiny.mailbox_capacity must be at least 1$"):

        class Tiny(Actor[object]):
            mailbox_capacity = 0


async def test_an_ask_that_crashes_the_actor_fails_at_once(autojump_clock: trio.abc.Clock) -> None:
    @dataclass(frozen=True)
    class Divide:
        by: int
        reply: Reply[float]

    class Divider(Actor[Divide]):
        async def receive(self, msg: Divide) -> None:
            msg.reply.send(1 / msg.by)

    async with open_actor_system() as system:
        ref = system.spawn(Divider, name="div")
        start = trio.current_time()
        with pytest.raises(
            ActorCrashed,
            match=r"^actor /parley/div crashed handling the request: "
            r"ZeroDivisionError: division by zero$",
        ):
            await ref.ask(lambda reply: Divide(0, reply), timeout=60)
        assert trio.current_time() - start < 60  # not the deadline: at once
        await trio.sleep(1)
        assert await ref.ask(lambda reply: Divide(4, reply)) == 0.25


async def test_stop_before_the_first_run_still_starts_then_stops_once() -> None:
    journal = Journal()
    async with open_actor_system() as system:
        ref = system.spawn(lambda: counter(journal))
        ref.tell(Add(1))
        ref.stop()  # before the actor's task ever ran
        await ref.wait_stopped()
    assert journal.events == ["started counter", "stopping counter", "stopped counter"]


async def test_stop_during_on_started_runs_each_hook_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()

    class SlowStart(Counter):
        async def on_started(self) -> None:
            await trio.sleep(1)
            await super().on_started()

    async with open_actor_system() as system:
        sup = await system.start_supervisor("s")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sup.start, lambda: SlowStart(journal))
            await trio.testing.wait_all_tasks_blocked()  # inside on_started
            (ref,) = sup.children
            assert ref.state is ActorState.STARTING
            ref.stop()  # type: ignore[attr-defined]
        await ref.wait_stopped()
    assert journal.events == ["started counter", "stopping counter", "stopped counter"]


async def test_an_ended_actor_is_freed_by_reference_counting() -> None:
    """Ref and actor pointed at each other: every ended actor (one per closed WebSocket
    connection) was cyclic garbage until a full collection, which then stopped the event loop
    for as long as it took to walk all of it."""
    gc.collect()
    gc.disable()
    try:
        async with open_actor_system() as system:
            ref = system.spawn(Counter, name="c")
            assert await ask_total(ref) == 0
            instance = ref._actor
            gone = weakref.ref(instance)
            ref.stop()
            await ref.wait_stopped()
            instance.stop()  # on an ended actor: nothing to do, and no error
            del instance, ref
            assert gone() is None, gc.get_referrers(gone())
    finally:
        gc.enable()
