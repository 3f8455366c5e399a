"""Actor system: snapshot, orderly shutdown, signals in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing
from _actor_support import Add, Boom, Journal, counter

from actors import ActorStopped, ChildSpec, open_actor_system

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import trio
from actors import Actor, ChildSpec, run_actor_system

SLOW = sys.argv[1] == "slow"


class Marker(Actor[object]):
    stop_grace = 120.0

    def __init__(self, name):
        self.name = name

    async def on_started(self):
        print(f"started {self.name}", flush=True)

    async def receive(self, msg):
        print(f"got {msg} at {self.name}", flush=True)

    async def on_stopping(self):
        print(f"stopping {self.name}", flush=True)
        if SLOW and self.name == "a":
            await trio.sleep(100)

    async def on_stopped(self, error):
        print(f"stopped {self.name}", flush=True)


async def main(system):
    children = [ChildSpec(n, lambda n=n: Marker(n)) for n in ("a", "b")]
    await system.start_supervisor("core", children=children)
    threads = await system.start_registry("threads", Marker)
    threads.tell("t1", "hello")
    await trio.sleep(0.05)
    print("ready", flush=True)
    await trio.sleep_forever()


run_actor_system(main, shutdown_timeout=300)
print("exited cleanly", flush=True)
"""


class Child:
    """A Python subprocess running SCRIPT, with its stdout collected line by line."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.buffer = b""

    @property
    def lines(self) -> list[str]:
        return self.buffer.decode().splitlines()

    async def wait_for(self, line: str) -> None:
        assert self.proc.stdout is not None
        while line not in self.lines:
            chunk = await self.proc.stdout.receive_some()
            if not chunk:
                raise AssertionError(f"{line!r} never printed; got {self.lines}")
            self.buffer += chunk

    async def finish(self) -> int:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.receive_some():
            self.buffer += chunk
        return await self.proc.wait()


async def start_child(tmp_path: Path, mode: str) -> Child:
    script = tmp_path / "system.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await trio.lowlevel.open_process(
        [sys.executable, str(script), mode], stdout=subprocess.PIPE, env=env
    )
    return Child(proc)


async def test_sigterm_drains_in_reverse_order_and_exits_0(tmp_path: Path) -> None:
    child = await start_child(tmp_path, "fast")
    try:
        with trio.fail_after(60):
            await child.wait_for("ready")
            child.proc.send_signal(signal.SIGTERM)
            code = await child.finish()
    finally:
        child.proc.kill()
    assert code == 0, child.lines
    assert child.lines[child.lines.index("ready") + 1 :] == [
        "stopping t1",
        "stopped t1",
        "stopping b",
        "stopped b",
        "stopping a",
        "stopped a",
        "exited cleanly",
    ]
    assert "got hello at t1" in child.lines


async def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    child = await start_child(tmp_path, "slow")
    try:
        with trio.fail_after(60):
            await child.wait_for("ready")
            child.proc.send_signal(signal.SIGINT)
            await child.wait_for("stopping a")  # now sleeping 100 s in a shielded hook
            child.proc.send_signal(signal.SIGTERM)
            code = await child.finish()
    finally:
        child.proc.kill()
    assert code == 0, child.lines
    assert child.lines[-2:] == ["stopped a", "exited cleanly"]


async def test_snapshot_is_json_and_shows_the_tree(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        sup = await system.start_supervisor(
            "core", children=[ChildSpec("a", lambda: counter(journal, "a"))]
        )
        sup.child("a").tell(Boom("bad"))  # type: ignore[attr-defined]
        sup.child("a").tell(Add(1))  # type: ignore[attr-defined]
        await trio.sleep(2)
        rows = json.loads(json.dumps(system.snapshot()))
    assert [r["path"] for r in rows] == ["/parley", "/parley/core", "/parley/core/a"]
    actor = rows[2]
    assert actor["kind"] == "actor"
    assert actor["state"] == "running"
    assert actor["restarts"] == 1
    assert actor["last_failure"] == "ValueError: bad"
    assert actor["mailbox"] == {"depth": 0, "capacity": 64, "policy": "reject"}
    assert actor["uptime"] > 0
    assert rows[1]["strategy"] == "one_for_one"


async def test_shutdown_cancels_the_body_after_the_drain(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    async with open_actor_system() as system:
        system.spawn(lambda: counter(journal, "x"), name="x")
        await trio.testing.wait_all_tasks_blocked()
        system.shutdown()
        assert system.draining
        await trio.sleep_forever()  # cancelled once the tree has stopped
    assert journal.events == ["started x", "stopping x", "stopped x"]  # type: ignore[unreachable]


async def test_spawning_after_shutdown_raises() -> None:
    async with open_actor_system() as system:
        system.shutdown()
        await system.wait_stopped()
        with pytest.raises(ActorStopped, match=r"^actor /parley is not running$"):
            system.spawn(lambda: counter(Journal()))


async def test_trap_signals_needs_the_main_thread() -> None:
    async def body() -> None:
        async with open_actor_system(trap_signals=True):
            pass  # pragma: no cover

    def in_thread() -> None:
        trio.run(body)

    with pytest.raises(
        RuntimeError,
        match=r"^trap_signals=True needs the main thread \(trio\.open_signal_receiver\)$",
    ):
        await trio.to_thread.run_sync(in_thread)


async def test_an_exception_in_the_body_propagates_after_the_drain() -> None:
    journal = Journal()
    with pytest.raises(KeyError, match=r"^'oops'$"):
        async with open_actor_system() as system:
            system.spawn(lambda: counter(journal, "x"), name="x")
            await trio.testing.wait_all_tasks_blocked()
            raise KeyError("oops")
    assert journal.events == ["started x", "stopping x", "stopped x"]


async def test_snapshot_caps_anonymous_children_but_counts_them() -> None:
    async with open_actor_system() as system:
        for _ in range(5):
            system.spawn(lambda: counter(Journal()))
        system.spawn(lambda: counter(Journal()), name="named")
        rows = system.snapshot(limit_per_registry=2)
    assert rows[0]["children"] == 6
    paths = [r["path"] for r in rows[1:]]
    assert len(paths) == 3
    assert "/parley/named" in paths
