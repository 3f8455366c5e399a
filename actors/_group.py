"""What supervisors and registries share: a nursery for children, the failure loop with
restart intensity and backoff, and ordered, bounded stops."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio

from ._errors import ActorStopped, RestartIntensityExceeded, StopTimeout
from ._mailbox import ExitReason
from ._node import PERMANENT, RESTART, RUN, ActorState, Node, Parent, describe, logger
from ._policy import Backoff, ChildPolicy, Intensity, Restart

if TYPE_CHECKING:
    from ._actor import Actor
    from ._system import ActorSystem

_STOP = object()


class Group(Node):
    """A node that owns a nursery of children and restarts them when they fail."""

    __slots__ = ("_backoff", "_events", "_handling", "_intensity", "_nursery", "_rng", "_scope")

    def __init__(
        self,
        parent: Parent | None,
        name: object,
        *,
        max_restarts: int,
        within: float,
        backoff: Backoff,
    ) -> None:
        super().__init__(parent, name)
        self._intensity = Intensity(max_restarts, within)
        self._backoff = backoff
        self._rng = random.Random()
        self._events: trio.MemorySendChannel[Any] | None = None
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self._handling: trio.CancelScope | None = None
        self._policy = ChildPolicy.of(Restart.PERMANENT, math.inf)

    # -- parent protocol -----------------------------------------------------------------
    def _child_failed(self, child: Node, error: BaseException | None) -> None:
        events = self._events
        if events is not None:
            events.send_nowait((child, error))

    def _child_finished(self, child: Node) -> None:
        raise NotImplementedError

    def _make_actor(self, key: Any) -> Actor[Any]:
        raise RuntimeError(f"{self.path} cannot build an actor for {key!r}")

    def _running_nursery(self) -> trio.Nursery:
        nursery = self._nursery
        if nursery is None or self._stop_mode != RUN:
            raise ActorStopped(self.path, "is not running")
        return nursery

    # -- node protocol -----------------------------------------------------------------
    def _renew(self) -> None:
        self._count_restart()
        self._stop_mode = RUN
        self._state = ActorState.STARTING
        self._intensity.reset()

    def _launch(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._run)

    async def _launch_and_wait(self, nursery: trio.Nursery) -> None:
        await nursery.start(self._run)

    def _request_stop(self, mode: int) -> None:
        if self._state is ActorState.STOPPED:
            return
        if self._stop_mode != RUN and mode == RESTART:
            return
        self._stop_mode = mode
        if self._state is ActorState.RESTARTING:
            self._incarnation_ended(None)
            return
        self._state = ActorState.STOPPING
        if self._handling is not None:
            self._handling.cancel()
        if self._events is not None:
            self._events.send_nowait(_STOP)

    def _force_stop(self) -> bool:
        if self._scope is None:
            return False
        self._scope.cancel()
        return True

    # -- the group's task --------------------------------------------------------------
    async def _run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        error: BaseException | None = None
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    events_tx, events_rx = trio.open_memory_channel[Any](math.inf)
                    self._events = events_tx
                    self._nursery = nursery
                    await self._start_children(nursery)
                    self._incarnation_started()
                    task_status.started()
                    error = await self._control(events_rx, nursery)
                    mode = PERMANENT if self._stop_mode >= PERMANENT else RESTART
                    stuck = await self._stop_children(mode)
                    if stuck is not None:
                        logger.error("%s", stuck)
                        error = error or stuck
                    nursery.cancel_scope.cancel()
        finally:
            self._events = None
            self._nursery = None
            self._scope = None
            self._handling = None
            self._incarnation_ended(error)

    async def _control(
        self, events: trio.MemoryReceiveChannel[Any], nursery: trio.Nursery
    ) -> BaseException | None:
        # Restarts of a single child wait out their backoff in tasks of their own, so one
        # child's backoff never delays another's restart; they end with this loop.
        async with trio.open_nursery() as restarts:
            try:
                # The stop flag is checked before each wait: a stop may have been requested
                # before this incarnation had an events channel to receive _STOP on.
                while self._stop_mode == RUN:
                    event = await events.receive()
                    if event is _STOP or self._stop_mode != RUN:
                        continue
                    child: Node = event[0]
                    error: BaseException | None = event[1]
                    if child._state is not ActorState.RESTARTING or child._parent is not self:
                        continue
                    result = await self._handle_failure(child, error, nursery, restarts)
                    if result is not None:
                        return result
                return None
            finally:
                restarts.cancel_scope.cancel()

    async def _handle_failure(
        self,
        child: Node,
        error: BaseException | None,
        nursery: trio.Nursery,
        restarts: trio.Nursery,
    ) -> BaseException | None:
        restart = child._policy.restart
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and error is None):
            child._finish(ExitReason.FAILED if error else ExitReason.NORMAL, error)
            return None
        rank = self._intensity.allow(trio.current_time())
        if rank == 0:
            exc = RestartIntensityExceeded(
                self.path, self._intensity.max_restarts, self._intensity.within, error
            )
            exc.__cause__ = error
            # Logged here, once, with the cause; the parent only sees the exception.
            logger.error("%s", exc, exc_info=error)
            return exc
        if isinstance(error, RestartIntensityExceeded):
            logger.warning("%s: restarting %s, whose children kept failing", self.path, child.path)
        affected = self._affected(child)
        delay = self._backoff.delay(rank, self._rng)
        if affected == [child]:
            restarts.start_soon(self._restart_one, child, delay, nursery)
            return None
        with trio.CancelScope() as handling:
            self._handling = handling
            others = [c for c in affected if c is not child]
            stuck = await self._stop_in_order(reversed(others), RESTART)
            if stuck is not None:
                self._handling = None
                return stuck
            await trio.sleep(delay)
            for node in affected:
                if self._stop_mode != RUN:
                    break
                await self._restart_now(node, nursery)
        self._handling = None
        return None

    async def _restart_one(self, child: Node, delay: float, nursery: trio.Nursery) -> None:
        await trio.sleep(delay)
        if self._stop_mode == RUN:
            await self._restart_now(child, nursery)

    async def _restart_now(self, node: Node, nursery: trio.Nursery) -> None:
        if node._state is not ActorState.RESTARTING:
            return  # stopped for good, or already restarted, meanwhile
        try:
            node._renew()
        except Exception as exc:
            # The factory itself failed: that counts as a failure of the child.
            logger.warning("%s: could not rebuild %s: %s", self.path, node.path, exc)
            node._failure = describe(exc)
            node._state = ActorState.RESTARTING
            self._child_failed(node, exc)
            return
        await self._relaunch(node, nursery)

    async def _stop_in_order(self, children: Iterable[Node], mode: int) -> StopTimeout | None:
        """Stop each child in turn; a child that outlives its timeout and cannot be cancelled
        alone makes the whole group fail (the caller cancels the nursery)."""
        for child in children:
            if child._state is ActorState.STOPPED:
                continue
            child._request_stop(mode)
            with trio.move_on_after(child._policy.shutdown) as waited:
                await child._wait_ended()
            if waited.cancelled_caught:
                if not child._force_stop():
                    return StopTimeout(child.path, child._policy.shutdown)
                await child._wait_ended()
        return None

    async def _stop_together(self, children: list[Node], mode: int) -> StopTimeout | None:
        """Stop many children at once, under one deadline (the longest of their shutdown
        timeouts): for dynamic children, where one scheduler round trip each would make
        stopping 100,000 of them take seconds, and whose order means nothing."""
        live = [c for c in children if c._state is not ActorState.STOPPED]
        for child in live:
            child._request_stop(mode)
        timeout = max((c._policy.shutdown for c in live), default=0.0)
        with trio.move_on_after(timeout) as waited:
            for child in live:
                await child._wait_ended()
        if not waited.cancelled_caught:
            return None
        stuck = [c for c in live if c._state not in (ActorState.RESTARTING, ActorState.STOPPED)]
        for child in stuck:
            if not child._force_stop():
                return StopTimeout(child.path, child._policy.shutdown)
        for child in stuck:
            await child._wait_ended()
        return None

    async def _operator_restart(self, child: Node) -> None:
        """Restart `child` (and what it holds) because an operator asked: stop it as for a
        restart, then start it again at once. Counted in its restarts, not in this group's
        restart intensity: nothing failed."""
        nursery = self._running_nursery()
        stuck = await self._stop_in_order([child], RESTART)
        if stuck is not None:
            raise stuck
        if child._state is ActorState.RESTARTING and self._stop_mode == RUN:
            await self._restart_now(child, nursery)

    # -- overridden ----------------------------------------------------------------------
    async def _start_children(self, nursery: trio.Nursery) -> None:
        raise NotImplementedError

    async def _stop_children(self, mode: int) -> StopTimeout | None:
        raise NotImplementedError

    def _affected(self, child: Node) -> list[Node]:
        return [child]

    async def _relaunch(self, node: Node, nursery: trio.Nursery) -> None:
        await node._launch_and_wait(nursery)


def system_of(parent: Parent | None, system: ActorSystem | None) -> ActorSystem:
    if system is not None:
        return system
    assert parent is not None
    return parent.system
