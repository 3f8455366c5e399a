"""The actor system: the root supervisor, signal handling, ordered drain, introspection."""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, Unpack

import trio

from ._actor import Actor, ActorRef
from ._errors import NoSuchActor, NotRestartable, RestartIntensityExceeded
from ._group import Group
from ._node import PERMANENT, ActorState, Node, Waiter, logger
from ._options import RegistryOptions, SpawnOptions, SupervisorOptions
from ._policy import Backoff
from ._registry import Registry
from ._supervisor import Supervisor

__all__ = ["ActorSystem", "open_actor_system", "run_actor_system"]

M = TypeVar("M")
K = TypeVar("K", bound=Hashable)


class ActorSystem:
    """Root of the tree. Spawn through it (it forwards to the root supervisor)."""

    def __init__(
        self,
        name: str = "parley",
        *,
        shutdown_timeout: float = 10.0,
        max_restarts: int = 3,
        within: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.shutdown_timeout = shutdown_timeout
        self.root = Supervisor(
            self, name, max_restarts=max_restarts, within=within, backoff=backoff
        )
        self._hook_scopes: set[trio.CancelScope] = set()
        self._waiters: dict[Node, list[Waiter]] = {}
        self._body_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._failure: BaseException | None = None
        self._draining = False
        self._stopped = trio.Event()
        self._hard = False
        self._restarts_total = 0

    # -- Parent protocol for the root ------------------------------------------------------
    @property
    def path(self) -> str:
        return ""

    @property
    def system(self) -> ActorSystem:
        return self

    def _child_failed(self, child: Node, error: BaseException | None) -> None:
        # The root supervisor gave up: nothing above it, so the whole system stops.
        self._failure = error
        self.shutdown()

    def _child_finished(self, child: Node) -> None:
        pass

    # -- spawning (forwarded to the root supervisor, same keywords and defaults) ----------
    def spawn(
        self, factory: Callable[[], Actor[M]], **options: Unpack[SpawnOptions]
    ) -> ActorRef[M]:
        return self.root.spawn(factory, **options)

    async def start(
        self, factory: Callable[[], Actor[M]], **options: Unpack[SpawnOptions]
    ) -> ActorRef[M]:
        return await self.root.start(factory, **options)

    async def start_supervisor(self, name: str, **options: Unpack[SupervisorOptions]) -> Supervisor:
        return await self.root.start_supervisor(name, **options)

    async def start_registry(
        self, name: str, factory: Callable[[K], Actor[M]], **options: Unpack[RegistryOptions]
    ) -> Registry[K, M]:
        return await self.root.start_registry(name, factory, **options)

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def draining(self) -> bool:
        """True once a shutdown has begun (signal, shutdown(), or the root gave up)."""
        return self._draining

    def shutdown(self) -> None:
        """Begin an orderly stop: the tree drains in reverse order, then the body is cancelled."""
        if self._draining or self._nursery is None:
            return
        self._draining = True
        self._nursery.start_soon(self._drain)

    def stop_now(self) -> None:
        """Stop at once: cancel everything, including stop hooks still inside their grace."""
        self._hard = True
        for scope in list(self._hook_scopes):
            scope.cancel()
        self.root._force_stop()
        if self._body_scope is not None:
            self._body_scope.cancel()

    async def wait_stopped(self) -> None:
        """Wait until the tree has been stopped."""
        await self._stopped.wait()

    async def _drain(self) -> None:
        with trio.move_on_after(self.shutdown_timeout) as scope:
            await self._stop_tree()
        if scope.cancelled_caught:
            logger.warning("shutdown took longer than %gs; cancelling", self.shutdown_timeout)
            self.stop_now()
            await self.root._wait_ended()
        self._stopped.set()
        if self._body_scope is not None:
            self._body_scope.cancel()

    async def _stop_tree(self) -> None:
        self.root._request_stop(PERMANENT)
        await self.root._wait_ended()

    async def _watch_signals(self, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                if not self._draining:
                    logger.info("%s received: draining", signal.Signals(signum).name)
                    self.shutdown()
                else:
                    logger.warning("second %s: stopping at once", signal.Signals(signum).name)
                    self.stop_now()

    # -- operator commands ---------------------------------------------------------------
    def find(self, path: str) -> Node:
        """The live node at `path` (as snapshots show it: "/parley/threads/t_1");
        NoSuchActor if there is none."""
        names = [part for part in path.split("/") if part]
        node = None
        if names and names[0] == self.root.name:
            node = self.root._find(names[1:])
        if node is None or node.state is ActorState.STOPPED:
            raise NoSuchActor(path)
        return node

    async def restart(self, path: str) -> Node:
        """Restart the node at `path` with everything below it, as an operator asks; returns
        once it runs again. A registry forgets its live actors (they come back on their next
        message); a supervisor restarts its children in order.

        NoSuchActor if nothing lives there; NotRestartable for the root (drain the process),
        services, temporary actors and groups that hold one of those.
        """
        node = self.find(path)
        parent = node._parent
        if node is self.root or not isinstance(parent, Group):
            raise NotRestartable(node.path, "is the root: drain the process instead")
        why = node._not_restartable()
        if why is not None:
            raise NotRestartable(node.path, why)
        await parent._operator_restart(node)
        return node

    # -- introspection -------------------------------------------------------------------
    @property
    def restarts(self) -> int:
        """Restarts of every node since the system started (counted as they happen)."""
        return self._restarts_total

    def deepest_mailbox(self) -> int:
        """Messages queued in the fullest mailbox now, for a metrics scrape: a walk of every
        live actor, without building the snapshot's dict per node."""
        return self.root._deepest_mailbox()

    def snapshot(self, *, limit_per_registry: int = 100) -> list[dict[str, Any]]:
        """The live tree, depth first, as JSON-serialisable dicts (path, kind, state, restarts,
        uptime, last_failure, mailbox depth/capacity for actors, counts for groups).

        A registry lists at most `limit_per_registry` of its live actors, and a supervisor as
        many of its anonymous children; the counts are always complete."""
        out: list[dict[str, Any]] = []
        self.root._snapshot(trio.current_time(), out, limit_per_registry)
        return out


@asynccontextmanager
async def open_actor_system(
    name: str = "parley",
    *,
    trap_signals: bool = False,
    shutdown_timeout: float = 10.0,
    max_restarts: int = 3,
    within: float = 5.0,
    backoff: Backoff | None = None,
) -> AsyncIterator[ActorSystem]:
    """Run an actor system for the duration of the block.

    Leaving the block (or a first SIGTERM/SIGINT with `trap_signals`, which then cancels the
    block) stops the tree in reverse start order within `shutdown_timeout`; a second signal
    stops at once. If the root supervisor gives up, RestartIntensityExceeded is raised here.
    """
    if trap_signals and threading.current_thread() is not threading.main_thread():
        raise RuntimeError("trap_signals=True needs the main thread (trio.open_signal_receiver)")
    system = ActorSystem(
        name,
        shutdown_timeout=shutdown_timeout,
        max_restarts=max_restarts,
        within=within,
        backoff=backoff,
    )
    body_error: Exception | None = None
    async with trio.open_nursery() as nursery:
        system._nursery = nursery
        await nursery.start(system.root._run)
        if trap_signals:
            await nursery.start(system._watch_signals)
        try:
            with trio.CancelScope() as body:
                system._body_scope = body
                yield system
        except Exception as exc:
            # Re-raised below, outside the nursery, so the caller sees its own exception
            # rather than an ExceptionGroup made by our nursery.
            body_error = exc
        finally:
            system._body_scope = None
            with trio.CancelScope(shield=not system._hard):
                if not system._draining:
                    system._draining = True
                    await system._drain()
                else:
                    await system._stopped.wait()
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
    failure = system._failure
    if failure is not None:
        if isinstance(failure, RestartIntensityExceeded):
            raise failure
        raise RestartIntensityExceeded(
            system.root.path,
            system.root._intensity.max_restarts,
            system.root._intensity.within,
            failure,
        )


def run_actor_system(
    main: Callable[[ActorSystem], Awaitable[None]],
    *,
    name: str = "parley",
    trap_signals: bool = True,
    shutdown_timeout: float = 10.0,
) -> None:
    """trio.run() an actor system around `main(system)`; returns after an orderly stop.

    With `trap_signals` (the default) SIGTERM/SIGINT drain the tree and return normally, so the
    process exits 0. When `main` returns, the system stops too.
    """

    async def _root() -> None:
        async with open_actor_system(
            name, trap_signals=trap_signals, shutdown_timeout=shutdown_timeout
        ) as system:
            await main(system)

    trio.run(_root)
