"""Adapters and servers as supervised actors, so the actor system starts and stops them in order.

An adapter (`KafkaProducer`, `KafkaConsumer`, `MongoStore`) or a server exposes
`run(task_status=...)` and `stop()`. `ServiceActor` runs it inside the actor's own nursery and,
when the system drains, calls `stop()` and waits (shielded, within the grace) for `run()` to
return — so a consumer commits and a producer flushes before whatever was started before it
(the store, the producer) is stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import trio

from ._actor import Actor
from ._policy import Restart

if TYPE_CHECKING:
    from ._supervisor import Supervisor
    from ._system import ActorSystem

__all__ = ["Service", "ServiceActor", "TaskService", "start_service"]


class Service(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...
    def stop(self) -> None: ...


class ServiceActor(Actor[None]):
    # Long enough for a producer flush or a final commit; the system's deadline caps it.
    stop_grace = 30.0
    # A service's stop() is its drain (a consumer commits and leaves, a server refuses new
    # work), not a pause: the way to "restart" one is to drain the whole process.
    not_restartable = "is a service (an adapter or a server): drain the process instead"

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


class TaskService:
    """A plain `async fn(task_status=...)` as a Service: stop() cancels it, or calls `on_stop`
    for a task that ends by itself once told (a server that drains its connections)."""

    def __init__(
        self, fn: Callable[..., Awaitable[object]], on_stop: Callable[[], None] | None = None
    ) -> None:
        self._fn = fn
        self._on_stop = on_stop
        self._scope: trio.CancelScope | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # A fresh scope per incarnation: the supervisor may run this again after a crash.
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._fn)
                task_status.started()

    def stop(self) -> None:
        if self._on_stop is not None:
            self._on_stop()
        elif self._scope is not None:
            self._scope.cancel()


async def start_service(parent: ActorSystem | Supervisor, name: str, service: Service) -> None:
    """Run `service` as a supervised child of `parent`, returning once it is running.

    TRANSIENT: restarted after a crash, but a service that returns because it was asked to
    stop (the drain) stays stopped.
    """
    await parent.start(lambda: ServiceActor(service), name=name, restart=Restart.TRANSIENT)
