"""ConnectionActor hooks in isolation (the listener tests cover it over real sockets)."""

from __future__ import annotations

import trio
from _ws_fakes import FakeIngest, FakeThreads, FakeVerifier

from gateway.ws import ConnectionServices, FanoutHub, WsOptions
from gateway.ws.connection import ConnectionActor


def make_actor(hub: FanoutHub, auth_timeout_s: float = 5.0) -> ConnectionActor:
    threads = FakeThreads()
    services = ConnectionServices(FakeVerifier(), FakeIngest(hub, threads), threads)  # type: ignore[arg-type]
    return ConnectionActor(
        services=services,
        hub=hub,
        outbox=hub.new_outbox(),
        options=WsOptions(auth_timeout_s=auth_timeout_s),
    )


async def test_auth_deadline_counts_from_construction_not_from_the_first_hook(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = FanoutHub()
    actor = make_actor(hub)
    # The listener's timer may run before the runtime started the actor: no false timeout.
    actor.check_deadlines()
    assert not actor._outbox.closing
    await trio.sleep(5.1)
    actor.check_deadlines()
    assert actor._outbox.closing and actor._outbox.close_code == 1008
