"""Adapters and servers as supervised actors, so the actor system starts and stops them in order.

An adapter (`KafkaProducer`, `KafkaConsumer`, `MongoStore`) or a server exposes
`run(task_status=...)` and `stop()`. `ServiceActor` runs it inside the actor's own nursery and,
when the system drains, calls `stop()` and waits (shielded, within the grace) for `run()` to
return — so a consumer commits and a producer flushes before whatever was started before it
(the store, the producer) is stopped.
"""

from __future__ import annotations

from typing import Protocol

import trio

from ._actor import Actor

__all__ = ["Service", "ServiceActor"]


class Service(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...
    def stop(self) -> None: ...


class ServiceActor(Actor[None]):
    # Long enough for a producer flush or a final commit; the system's deadline caps it.
    stop_grace = 30.0

    def __init__(self, service: Service) -> None:
        self.service = service
        self._running = False
        self._ended = trio.Event()

    async def run(self) -> None:
        self._running = True
        try:
            await self.service.run()
        finally:
            self._running = False
            self._ended.set()

    async def on_stopping(self) -> None:
        self.service.stop()
        # An incarnation stopped before its run() began (a restart cut short by a shutdown)
        # has nothing to wait for.
        if self._running:
            await self._ended.wait()
