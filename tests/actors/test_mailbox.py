"""Bounded mailboxes: each full-mailbox policy, and the ask reply handle."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _actor_support import Add, Get

from actors import (
    Actor,
    ActorStopped,
    ExitReason,
    MailboxFull,
    MailboxPolicy,
    Reply,
    open_actor_system,
)


class Gate(Actor[Add | Get]):
    """Blocks on its first message until `gate` is set, so the mailbox fills up."""

    mailbox_capacity = 3
    gate: trio.Event
    seen: list[int]

    async def receive(self, msg: Add | Get) -> None:
        if isinstance(msg, Get):
            msg.reply.send(sum(self.seen))
            return
        await self.gate.wait()
        self.seen.append(msg.n)


def gated(policy: MailboxPolicy, gate: trio.Event, seen: list[int]) -> type[Gate]:
    return type(
        f"Gate{policy.name}",
        (Gate,),
        {"mailbox_policy": policy, "gate": gate, "seen": seen},
    )


async def fill(ref: object, first: int, count: int) -> None:
    ref.tell(Add(first))  # type: ignore[attr-defined]
    await trio.testing.wait_all_tasks_blocked()  # the actor now holds message `first`
    for n in range(first + 1, first + 1 + count):
        ref.tell(Add(n))  # type: ignore[attr-defined]


async def test_reject_raises_mailbox_full_and_queues_nothing() -> None:
    gate, seen = trio.Event(), list[int]()
    async with open_actor_system() as system:
        ref = system.spawn(gated(MailboxPolicy.REJECT, gate, seen), name="g")
        await fill(ref, 0, 3)
        assert ref.mailbox_depth == 3
        with pytest.raises(MailboxFull, match=r"^mailbox of /parley/g is full \(3 messages\)$"):
            ref.tell(Add(99))
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
    assert seen == [0, 1, 2, 3]


async def test_drop_oldest_keeps_the_newest_messages() -> None:
    gate, seen = trio.Event(), list[int]()
    async with open_actor_system() as system:
        ref = system.spawn(gated(MailboxPolicy.DROP_OLDEST, gate, seen), name="g")
        await fill(ref, 0, 6)  # 1..6 into room for 3: 1, 2, 3 are dropped
        assert ref.mailbox_depth == 3
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
    assert seen == [0, 4, 5, 6]


async def test_close_slow_consumer_stops_the_actor_and_later_tells_fail() -> None:
    gate, seen = trio.Event(), list[int]()
    async with open_actor_system() as system:
        ref = system.spawn(gated(MailboxPolicy.CLOSE_SLOW_CONSUMER, gate, seen), name="g")
        await fill(ref, 0, 3)
        ref.tell(Add(4))  # overflow: the actor is closed, this send does not raise
        with pytest.raises(ActorStopped, match=r"^actor /parley/g is stopped$"):
            ref.tell(Add(5))
        gate.set()
        down = await ref.wait_stopped()
    assert down.reason is ExitReason.SLOW_CONSUMER
    assert seen == [0]  # queued messages of a slow consumer are discarded


async def test_reply_first_answer_wins() -> None:
    reply: Reply[int] = Reply()
    reply.send(1)
    reply.send(2)
    reply.fail(RuntimeError("ignored"))
    assert await reply._wait() == 1


async def test_ask_to_a_full_mailbox_raises_mailbox_full() -> None:
    gate, seen = trio.Event(), list[int]()
    async with open_actor_system() as system:
        ref = system.spawn(gated(MailboxPolicy.REJECT, gate, seen), name="g")
        await fill(ref, 0, 3)
        with pytest.raises(MailboxFull, match=r"^mailbox of /parley/g is full \(3 messages\)$"):
            await ref.ask(lambda reply: Get(reply))
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert await ref.ask(lambda reply: Get(reply)) == 6


async def test_an_ask_still_queued_when_the_actor_closes_fails_at_once() -> None:
    gate, seen = trio.Event(), list[int]()
    async with open_actor_system() as system:
        ref = system.spawn(gated(MailboxPolicy.CLOSE_SLOW_CONSUMER, gate, seen), name="g")
        await fill(ref, 0, 2)
        async with trio.open_nursery() as nursery:
            outcome: list[BaseException] = []

            async def asker() -> None:
                try:
                    await ref.ask(lambda reply: Get(reply), timeout=3600)
                except ActorStopped as exc:
                    outcome.append(exc)

            nursery.start_soon(asker)
            await trio.testing.wait_all_tasks_blocked()
            ref.tell(Add(3))  # overflow: closed as a slow consumer, the queued ask is failed
        assert [str(e) for e in outcome] == ["actor /parley/g stopped before handling the request"]
        gate.set()


class Batcher(Actor[Add]):
    """Handles its first message alone, then everything queued behind it in one batch."""

    mailbox_capacity = 16
    gate: trio.Event
    batches: list[list[int]]

    async def receive(self, msg: Add) -> None:
        await self.gate.wait()
        rest = self.ref.take_queued(limit=4)
        self.batches.append([msg.n] + [m.n for m in rest])


async def test_take_queued_hands_over_waiting_messages_in_order_up_to_the_limit() -> None:
    gate, batches = trio.Event(), list[list[int]]()
    cls = type("BatcherT", (Batcher,), {"gate": gate, "batches": batches})
    async with open_actor_system() as system:
        ref = system.spawn(cls, name="b")
        await fill(ref, 0, 6)  # 0 is in hand, 1..6 wait
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert batches == [[0, 1, 2, 3, 4], [5, 6]]
        assert ref.mailbox_depth == 0
        assert ref.take_queued(limit=10) == []
