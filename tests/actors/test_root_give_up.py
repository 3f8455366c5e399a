"""When the root supervisor gives up, the system must stop the rest and raise — not hang.

Found by the chaos suite: a core whose HTTP listener crash-looped (port taken) never exited.
Children started after the crashing one (here "last") must be stopped too.
"""

from __future__ import annotations

import pytest
import trio

from actors import Actor, Restart, RestartIntensityExceeded, open_actor_system


class Crash(Actor[None]):
    async def run(self) -> None:
        raise ValueError("boom")


class Idle(Actor[None]):
    async def run(self) -> None:
        await trio.sleep_forever()


async def test_root_give_up_stops_everything_and_raises(autojump_clock: trio.abc.Clock) -> None:
    with (
        trio.fail_after(120),
        pytest.raises(
            RestartIntensityExceeded,
            match=r"^supervisor /t gave up after 3 restarts within 5s; last failure: "
            r"ValueError: boom$",
        ),
    ):
        async with open_actor_system("t", max_restarts=3, within=5) as system:
            await system.start(Idle, name="first", restart=Restart.TRANSIENT)
            await system.start(Crash, name="crash", restart=Restart.TRANSIENT)
            await system.start(Idle, name="last", restart=Restart.TRANSIENT)
            await trio.sleep_forever()
