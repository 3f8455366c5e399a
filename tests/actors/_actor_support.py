"""Actors and messages shared by the actor runtime tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from actors import Actor, Reply


@dataclass(frozen=True)
class Add:
    n: int


@dataclass(frozen=True)
class Get:
    reply: Reply[int]


@dataclass(frozen=True)
class Boom:
    text: str = "boom"


@dataclass(frozen=True)
class Hang:
    """Sleeps in the handler until cancelled."""


Msg = Add | Get | Boom | Hang


@dataclass
class Journal:
    """Records lifecycle events across incarnations (actors are rebuilt on restart)."""

    events: list[str] = field(default_factory=list)
    instances: int = 0

    def add(self, event: str) -> None:
        self.events.append(event)


class Counter(Actor[Msg]):
    """Sums Add messages; Boom raises; Get answers the running total of this incarnation."""

    def __init__(self, journal: Journal | None = None, name: str = "counter") -> None:
        self.total = 0
        self.journal = journal or Journal()
        self.label = name
        self.journal.instances += 1

    async def on_started(self) -> None:
        self.journal.add(f"started {self.label}")

    async def receive(self, msg: Msg) -> None:
        if isinstance(msg, Add):
            self.total += msg.n
        elif isinstance(msg, Get):
            msg.reply.send(self.total)
        elif isinstance(msg, Boom):
            raise ValueError(msg.text)
        else:
            await trio.sleep_forever()

    async def on_stopping(self) -> None:
        self.journal.add(f"stopping {self.label}")

    async def on_stopped(self, error: BaseException | None) -> None:
        self.journal.add(f"stopped {self.label}" + (f" {error}" if error else ""))


def counter(journal: Journal, name: str = "counter") -> Counter:
    return Counter(journal, name)


def all_tasks() -> set[trio.lowlevel.Task]:
    """Every task of the running trio run (for "no task left behind" checks)."""
    found: set[trio.lowlevel.Task] = set()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        found.add(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found


async def ask_total(ref: object) -> int:
    value: int = await ref.ask(lambda reply: Get(reply), timeout=1.0)  # type: ignore[attr-defined]
    return value
