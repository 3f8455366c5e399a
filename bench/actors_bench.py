"""Actor runtime against the raw Trio primitives it is built on, side by side in one run.

    python -m bench.actors_bench [--tiny] [--rounds N] [--json]

The reference ("raw") is a bare task reading a bare bounded memory channel
(`async for msg in rx`), spawned with `nursery.start_soon`. Figures:

- spawns/s: N actors spawned into a supervisor (or a registry) until all are parked, against N
  raw tasks with their channel;
- tell msgs/s: one actor telling another as fast as the mailbox allows (yielding when full),
  against a raw task doing the same with `send_nowait` on a raw channel. The actor drains its
  queued messages in one scheduler turn where the bare reader takes a turn per message, so
- ping-pong msgs/s (one message in flight, where no batching can help) is reported as well;
- bytes per idle actor (tracemalloc, 100,000 actors): a supervisor child, a registry child
  (its key string excluded: the caller owns it), against a raw task with its channel; and bytes
  per passivated registry entry (key string included, ~65 B of it), keys activated and
  passivated in waves of 1,000.

Rates are medians over rounds that alternate raw and actors, so both see the same machine, and
are timed with the process CPU clock (time.process_time), not wall time, so that other work on a
shared machine does not count against either side.
`results()` returns rows for the `python -m bench` harness; `measure()` returns a dict.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from actors import Actor, ActorSystem, MailboxFull, Registry, open_actor_system

__all__ = ["main", "measure", "results"]

CAPACITY = 64

# Rates are taken on the process's CPU clock: the machines this runs on are shared, and wall
# time would mostly measure the neighbours. Both subjects are single-threaded and CPU-bound.
_clock = time.process_time


# -- the subjects -------------------------------------------------------------------------
async def _raw_reader(rx: trio.MemoryReceiveChannel[object]) -> None:
    async for _ in rx:
        pass


class _Idle(Actor[object]):
    __slots__ = ()
    mailbox_capacity = CAPACITY

    async def receive(self, msg: object) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Go:
    target: Any
    count: int


class _Sink(Actor[object]):
    mailbox_capacity = CAPACITY

    def __init__(self, expected: int, done: trio.Event) -> None:
        self.left = expected
        self.done = done

    async def receive(self, msg: object) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


class _Source(Actor[_Go]):
    async def receive(self, msg: _Go) -> None:
        tell = msg.target.tell
        for i in range(msg.count):
            while True:
                try:
                    tell(i)
                    break
                except MailboxFull:
                    await trio.lowlevel.checkpoint()


# -- spawns -------------------------------------------------------------------------------
async def _spawn_raw(n: int) -> float:
    async with trio.open_nursery() as nursery:
        keep = []
        start = _clock()
        for _ in range(n):
            tx, rx = trio.open_memory_channel[object](CAPACITY)
            keep.append(tx)
            nursery.start_soon(_raw_reader, rx)
        await trio.testing.wait_all_tasks_blocked()
        elapsed = _clock() - start
        nursery.cancel_scope.cancel()
    return n / elapsed


async def _spawn_actors(n: int) -> float:
    async with open_actor_system("bench") as system:
        sup = await system.start_supervisor("s")
        start = _clock()
        for _ in range(n):
            sup.spawn(_Idle)
        await trio.testing.wait_all_tasks_blocked()
        elapsed = _clock() - start
        system.stop_now()
    return n / elapsed


async def _spawn_registry(n: int) -> float:
    async with open_actor_system("bench") as system:
        registry: Registry[object, object] = await system.start_registry("r", lambda key: _Idle())
        keys = list(range(n))
        start = _clock()
        for key in keys:
            registry.get(key)
        await trio.testing.wait_all_tasks_blocked()
        elapsed = _clock() - start
        system.stop_now()
    return n / elapsed


# -- tell ---------------------------------------------------------------------------------
async def _tell_raw(n: int) -> float:
    done = trio.Event()
    tx, rx = trio.open_memory_channel[object](CAPACITY)

    async def sink() -> None:
        left = n
        async for _ in rx:
            left -= 1
            if left == 0:
                done.set()

    async def source() -> None:
        send = tx.send_nowait
        for i in range(n):
            while True:
                try:
                    send(i)
                    break
                except trio.WouldBlock:
                    await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sink)
        await trio.testing.wait_all_tasks_blocked()
        start = _clock()
        nursery.start_soon(source)
        await done.wait()
        elapsed = _clock() - start
        nursery.cancel_scope.cancel()
    return n / elapsed


async def _tell_actors(n: int) -> float:
    done = trio.Event()
    async with open_actor_system("bench") as system:
        sink = system.spawn(lambda: _Sink(n, done), name="sink")
        source = system.spawn(_Source, name="source")
        await trio.testing.wait_all_tasks_blocked()
        start = _clock()
        source.tell(_Go(sink, n))
        await done.wait()
        elapsed = _clock() - start
        system.stop_now()
    return n / elapsed


# -- ping-pong: one message in flight, so no batching can help ---------------------------
async def _pingpong_raw(n: int) -> float:
    done = trio.Event()
    a_tx, a_rx = trio.open_memory_channel[int](CAPACITY)
    b_tx, b_rx = trio.open_memory_channel[int](CAPACITY)

    async def ponger() -> None:
        async for i in b_rx:
            a_tx.send_nowait(i)

    async def pinger() -> None:
        b_tx.send_nowait(0)
        async for i in a_rx:
            if i + 1 == n:
                done.set()
                return
            b_tx.send_nowait(i + 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ponger)
        await trio.testing.wait_all_tasks_blocked()
        start = _clock()
        nursery.start_soon(pinger)
        await done.wait()
        elapsed = _clock() - start
        nursery.cancel_scope.cancel()
    return n / elapsed


class _Pong(Actor[tuple[Any, int]]):
    async def receive(self, msg: tuple[Any, int]) -> None:
        msg[0].tell(msg[1])


class _Ping(Actor[int]):
    def __init__(self, n: int, done: trio.Event) -> None:
        self.n = n
        self.done = done
        self.peer: Any = None

    async def receive(self, msg: int) -> None:
        if msg + 1 == self.n:
            self.done.set()
        else:
            self.peer.tell((self.ref, msg + 1))


async def _pingpong_actors(n: int) -> float:
    done = trio.Event()
    async with open_actor_system("bench") as system:
        pong = system.spawn(_Pong, name="pong")
        ping_actor = _Ping(n, done)
        ping_actor.peer = pong
        ping = system.spawn(lambda: ping_actor, name="ping")
        await trio.testing.wait_all_tasks_blocked()
        start = _clock()
        pong.tell((ping, 0))
        await done.wait()
        elapsed = _clock() - start
        system.stop_now()
    return n / elapsed


# -- memory -------------------------------------------------------------------------------
async def _traced(n: int, populate: Callable[[int], Awaitable[Any]]) -> float:
    """Bytes per item that `populate` keeps alive once every task is parked."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keep = await populate(n)
        await trio.testing.wait_all_tasks_blocked()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return (after - before) / n


async def _memory_raw(n: int) -> float:
    async with trio.open_nursery() as nursery:
        await trio.testing.wait_all_tasks_blocked()

        async def populate(k: int) -> list[object]:
            keep: list[object] = []
            for _ in range(k):
                tx, rx = trio.open_memory_channel[object](CAPACITY)
                keep.append(tx)
                nursery.start_soon(_raw_reader, rx)
            return keep

        per = await _traced(n, populate)
        nursery.cancel_scope.cancel()
    return per


async def _with_system(body: Callable[[ActorSystem], Awaitable[float]]) -> float:
    # Leaving the block drains the tree (not measured); 100,000 actors take a few seconds.
    async with open_actor_system("bench", shutdown_timeout=120) as system:
        value = await body(system)
    return value


async def _memory_supervised(n: int) -> float:
    async def body(system: ActorSystem) -> float:
        sup = await system.start_supervisor("s")
        await trio.testing.wait_all_tasks_blocked()

        async def populate(k: int) -> list[object]:
            return [sup.spawn(_Idle) for _ in range(k)]

        return await _traced(n, populate)

    return await _with_system(body)


async def _memory_registry(n: int) -> float:
    async def body(system: ActorSystem) -> float:
        registry: Registry[object, object] = await system.start_registry("r", lambda key: _Idle())
        await trio.testing.wait_all_tasks_blocked()

        # The keys exist before tracing starts: they are the caller's data (a thread id is
        # already held by the message that names it), not the registry's cost.
        keys = [f"thread-{i:08d}" for i in range(n)]

        async def populate(k: int) -> None:
            for key in keys[:k]:
                registry.get(key)

        return await _traced(n, populate)

    return await _with_system(body)


async def _memory_passivated(n: int) -> float:
    async def body(system: ActorSystem) -> float:
        registry: Registry[object, object] = await system.start_registry("r", lambda key: _Idle())
        await trio.testing.wait_all_tasks_blocked()

        async def populate(k: int) -> None:
            # Keys come and go in waves, as threads do: all of them live at once would leave
            # trio's task sets at a 100,000-task high-water mark (~300 B per key) that says
            # nothing about what a dormant key costs.
            keys = [f"thread-{i:08d}" for i in range(k)]
            for start in range(0, k, 1_000):
                wave = keys[start : start + 1_000]
                for key in wave:
                    registry.get(key)
                await trio.testing.wait_all_tasks_blocked()
                for key in wave:
                    registry.passivate(key)
                await trio.testing.wait_all_tasks_blocked()
            assert registry.live_count == 0, registry.live_count
            del keys, wave

        return await _traced(n, populate)

    return await _with_system(body)


# -- driver -------------------------------------------------------------------------------
def _run(fn: Callable[[int], Awaitable[float]], n: int) -> float:
    gc.collect()
    return trio.run(fn, n)


def measure(*, tiny: bool = False, rounds: int = 5) -> dict[str, Any]:
    """Run every figure; rates alternate raw/actors per round and report medians."""
    spawn_n = 2_000 if tiny else 20_000
    tell_n = 20_000 if tiny else 200_000
    idle_n = 2_000 if tiny else 100_000
    rounds = 1 if tiny else rounds
    rates: dict[str, list[float]] = {
        k: []
        for k in (
            "spawn_raw",
            "spawn_actor",
            "spawn_registry",
            "tell_raw",
            "tell_actor",
            "pingpong_raw",
            "pingpong_actor",
        )
    }
    for _ in range(rounds):
        rates["spawn_raw"].append(_run(_spawn_raw, spawn_n))
        rates["spawn_actor"].append(_run(_spawn_actors, spawn_n))
        rates["spawn_registry"].append(_run(_spawn_registry, spawn_n))
        rates["tell_raw"].append(_run(_tell_raw, tell_n))
        rates["tell_actor"].append(_run(_tell_actors, tell_n))
        rates["pingpong_raw"].append(_run(_pingpong_raw, tell_n // 2))
        rates["pingpong_actor"].append(_run(_pingpong_actors, tell_n // 2))
    med = {k: statistics.median(v) for k, v in rates.items()}
    mem = {
        "raw": _run(_memory_raw, idle_n),
        "supervised": _run(_memory_supervised, idle_n),
        "registry": _run(_memory_registry, idle_n),
        "passivated": _run(_memory_passivated, idle_n),
    }
    return {
        "python": sys.version.split()[0],
        "trio": trio.__version__,
        "rounds": rounds,
        "n": {"spawn": spawn_n, "tell": tell_n, "idle": idle_n},
        "samples": rates,
        "spawns_per_s": {
            "raw": med["spawn_raw"],
            "supervisor": med["spawn_actor"],
            "registry": med["spawn_registry"],
            "ratio_supervisor": med["spawn_actor"] / med["spawn_raw"],
            "ratio_registry": med["spawn_registry"] / med["spawn_raw"],
        },
        "tell_msgs_per_s": {
            "raw": med["tell_raw"],
            "actor": med["tell_actor"],
            "ratio": med["tell_actor"] / med["tell_raw"],
        },
        "pingpong_msgs_per_s": {
            "raw": med["pingpong_raw"],
            "actor": med["pingpong_actor"],
            "ratio": med["pingpong_actor"] / med["pingpong_raw"],
        },
        "bytes_per_idle": {
            "raw": mem["raw"],
            "supervised_actor": mem["supervised"],
            "registry_actor": mem["registry"],
            "passivated_entry": mem["passivated"],
            "ratio_supervised": mem["supervised"] / mem["raw"],
            "ratio_registry": mem["registry"] / mem["raw"],
        },
        "goals": {
            "rates_ratio_min": 0.8,
            "live_memory_ratio_max": 1.0,
            "passivated_bytes_max": 500,
        },
    }


def results(tiny: bool = False) -> list[dict[str, Any]]:
    """Rows for the `python -m bench` harness (metric, unit, values, peer, peer_values)."""
    m = measure(tiny=tiny)
    s = m["samples"]
    b = m["bytes_per_idle"]
    raw = "raw trio (task + memory channel)"
    return [
        {
            "metric": "actor spawns/s (supervisor)",
            "unit": "1/s",
            "better": "higher",
            "values": s["spawn_actor"],
            "peer": raw,
            "peer_values": s["spawn_raw"],
            "note": f"ratio {m['spawns_per_s']['ratio_supervisor']:.2f} (goal >= 0.8)",
        },
        {
            "metric": "actor spawns/s (registry get-or-spawn)",
            "unit": "1/s",
            "better": "higher",
            "values": s["spawn_registry"],
            "peer": raw,
            "peer_values": s["spawn_raw"],
            "note": f"ratio {m['spawns_per_s']['ratio_registry']:.2f} (goal >= 0.8)",
        },
        {
            "metric": "tell msgs/s between two actors",
            "unit": "1/s",
            "better": "higher",
            "values": s["tell_actor"],
            "peer": raw,
            "peer_values": s["tell_raw"],
            "note": f"ratio {m['tell_msgs_per_s']['ratio']:.2f} (goal >= 0.8)",
        },
        {
            "metric": "ping-pong msgs/s (one in flight)",
            "unit": "1/s",
            "better": "higher",
            "values": s["pingpong_actor"],
            "peer": raw,
            "peer_values": s["pingpong_raw"],
            "note": f"ratio {m['pingpong_msgs_per_s']['ratio']:.2f} (no batching possible)",
        },
        {
            "metric": "bytes per idle supervised actor",
            "unit": "B",
            "better": "lower",
            "values": [b["supervised_actor"]],
            "peer": raw,
            "peer_values": [b["raw"]],
            "note": f"ratio {b['ratio_supervised']:.2f} (goal <= 1.0), {m['n']['idle']} actors",
        },
        {
            "metric": "bytes per idle registry actor",
            "unit": "B",
            "better": "lower",
            "values": [b["registry_actor"]],
            "peer": raw,
            "peer_values": [b["raw"]],
            "note": f"ratio {b['ratio_registry']:.2f} (goal <= 1.0), key string excluded",
        },
        {
            "metric": "bytes per passivated registry entry",
            "unit": "B",
            "better": "lower",
            "values": [b["passivated_entry"]],
            "note": "goal <= 500 B, key string included",
        },
    ]


def _table(m: dict[str, Any]) -> str:
    sp, tl, by = m["spawns_per_s"], m["tell_msgs_per_s"], m["bytes_per_idle"]
    pp = m["pingpong_msgs_per_s"]
    lines = [
        f"python {m['python']}, trio {m['trio']}, {m['rounds']} rounds, n={m['n']}",
        f"{'figure':40} {'actors':>12} {'raw trio':>12} {'ratio':>7}",
        f"{'spawns/s (supervisor.spawn)':40} {sp['supervisor']:12,.0f} {sp['raw']:12,.0f} "
        f"{sp['ratio_supervisor']:7.2f}",
        f"{'spawns/s (registry.get)':40} {sp['registry']:12,.0f} {sp['raw']:12,.0f} "
        f"{sp['ratio_registry']:7.2f}",
        f"{'tell msgs/s (actor -> actor)':40} {tl['actor']:12,.0f} {tl['raw']:12,.0f} "
        f"{tl['ratio']:7.2f}",
        f"{'ping-pong msgs/s (one in flight)':40} {pp['actor']:12,.0f} {pp['raw']:12,.0f} "
        f"{pp['ratio']:7.2f}",
        f"{'bytes per idle supervised actor':40} {by['supervised_actor']:12,.0f} "
        f"{by['raw']:12,.0f} {by['ratio_supervised']:7.2f}",
        f"{'bytes per idle registry actor':40} {by['registry_actor']:12,.0f} "
        f"{by['raw']:12,.0f} {by['ratio_registry']:7.2f}",
        f"{'bytes per passivated entry (+key)':40} {by['passivated_entry']:12,.0f} "
        f"{'-':>12} {'-':>7}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.actors_bench")
    parser.add_argument("--tiny", action="store_true", help="small sizes, one round (smoke)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    m = measure(tiny=args.tiny, rounds=args.rounds)
    print(json.dumps(m, indent=2) if args.json else _table(m))


if __name__ == "__main__":
    main()
