"""What every member of the supervision tree shares: identity, state, stop modes, watchers.

A node (an actor's ref, a supervisor, a registry) keeps its identity across restarts; each run
of it is an *incarnation*: one task in the parent's nursery. The parent is told when an
incarnation ends and decides what happens next (restart, or finish the node for good).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import trio

from ._mailbox import Down, ExitReason
from ._policy import Restart

if TYPE_CHECKING:
    from ._system import ActorSystem

__all__ = ["ActorState"]

logger = logging.getLogger("actors")


class ActorState(enum.Enum):
    """Lifecycle state shown in snapshots."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    RESTARTING = "restarting"
    STOPPED = "stopped"


# Why an incarnation is asked to end. Plain ints: checked after every message.
RUN = 0
RESTART = 1  # end at the next message boundary, keep the mailbox for the next incarnation
PERMANENT = 2  # close the mailbox, drain what is queued, then end for good
PASSIVATE = 3  # like PERMANENT, but a registry keeps a dormant entry
SLOW = 4  # slow consumer: mailbox closed and emptied, end for good

_REASONS = {
    PERMANENT: ExitReason.NORMAL,
    PASSIVATE: ExitReason.PASSIVATED,
    SLOW: ExitReason.SLOW_CONSUMER,
}


class Parent(Protocol):
    """What a node needs from whoever supervises it."""

    @property
    def path(self) -> str: ...

    @property
    def system(self) -> ActorSystem: ...

    def _child_failed(self, child: Node, error: BaseException | None) -> None: ...

    def _child_finished(self, child: Node) -> None: ...


def describe(error: BaseException) -> str:
    """One line for snapshots and logs: the exception type and message."""
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return describe(error.exceptions[0])
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def unwrap(error: BaseException) -> BaseException:
    """The single failure inside nested one-member exception groups (a task's nursery)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class Node:
    """Base of ActorRef, Supervisor and Registry."""

    __slots__ = (
        "_ended_event",
        "_failure",
        "_name",
        "_parent",
        "_restart",
        "_restarts",
        "_shutdown",
        "_started_at",
        "_state",
        "_stop_mode",
        "_watchers",
    )
    kind: ClassVar[str] = "node"

    def __init__(self, parent: Parent | None, name: object) -> None:
        self._parent = parent
        self._name = name
        self._state = ActorState.STARTING
        self._stop_mode = RUN
        self._restarts = 0
        self._restart = Restart.TRANSIENT
        self._shutdown = 5.0
        self._started_at = 0.0
        self._failure: str | None = None
        self._ended_event: trio.Event | None = None
        self._watchers: list[Callable[[Down], None]] | None = None

    # -- identity ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._name)

    @property
    def path(self) -> str:
        parent = self._parent
        if parent is None:
            return f"/{self._name}"
        return f"{parent.path}/{self._name}"

    @property
    def system(self) -> ActorSystem:
        assert self._parent is not None
        return self._parent.system

    @property
    def state(self) -> ActorState:
        return self._state

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def last_failure(self) -> str | None:
        return self._failure

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} {self._state.value}>"

    # -- monitors ----------------------------------------------------------------------
    def watch(self, watcher: Callable[[Down], None]) -> None:
        """Call `watcher(Down(...))` once when this node ends for good.

        Pass another actor's `ref.tell` to be told as a message (a stopped watcher is skipped).
        If the node has already ended, the watcher is called at once.
        """
        if self._state is ActorState.STOPPED:
            _notify(watcher, Down(self, self.path, ExitReason.NORMAL, None))  # type: ignore[arg-type]
            return
        if self._watchers is None:
            self._watchers = []
        self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[Down], None]) -> None:
        if self._watchers is not None and watcher in self._watchers:
            self._watchers.remove(watcher)

    async def wait_stopped(self) -> Down:
        """Wait until this node ends for good and return why."""
        event = trio.Event()
        box: list[Down] = []

        def on_down(down: Down) -> None:
            box.append(down)
            event.set()

        self.watch(on_down)
        await event.wait()
        return box[0]

    # -- incarnation bookkeeping (called by the node's own task) -------------------------
    def _incarnation_started(self) -> None:
        self._state = ActorState.RUNNING
        self._started_at = trio.current_time()

    def _incarnation_ended(self, error: BaseException | None) -> None:
        mode = self._stop_mode
        if error is not None:
            self._failure = describe(error)
        event = self._ended_event
        if event is not None:
            self._ended_event = None
            event.set()
        if mode == RESTART:
            self._state = ActorState.RESTARTING
            return
        if mode != RUN:
            self._finish(_REASONS[mode], error)
            return
        self._state = ActorState.RESTARTING
        parent = self._parent
        if parent is not None:
            parent._child_failed(self, error)

    async def _wait_ended(self) -> None:
        """Wait until the running incarnation (if any) has ended."""
        if self._state in (ActorState.RESTARTING, ActorState.STOPPED):
            return
        if self._ended_event is None:
            self._ended_event = trio.Event()
        await self._ended_event.wait()

    def _finish(self, reason: ExitReason, error: BaseException | None) -> None:
        """End the node for good: release resources, tell watchers, leave the parent."""
        if self._state is ActorState.STOPPED:
            return
        self._state = ActorState.STOPPED
        self._release()
        watchers, self._watchers = self._watchers, None
        if watchers:
            down = Down(self, self.path, reason, error)  # type: ignore[arg-type]
            for watcher in watchers:
                _notify(watcher, down)
        if self._parent is not None:
            self._parent._child_finished(self)

    def _release(self) -> None:
        """Free what the node holds once it has ended for good (overridden)."""

    # -- overridden by the concrete nodes ------------------------------------------------
    def _launch(self, nursery: trio.Nursery) -> None:
        raise NotImplementedError

    def _renew(self) -> None:
        """Prepare the next incarnation after a restart decision."""
        raise NotImplementedError

    async def _launch_and_wait(self, nursery: trio.Nursery) -> None:
        raise NotImplementedError

    def _request_stop(self, mode: int) -> None:
        raise NotImplementedError

    def _force_stop(self) -> bool:
        """Cancel the running incarnation if it owns a cancel scope; False if it cannot."""
        return False

    def _snapshot(self, now: float, out: list[dict[str, Any]], limit: int) -> None:
        raise NotImplementedError

    def _base_snapshot(self, now: float) -> dict[str, Any]:
        running = self._state in (ActorState.RUNNING, ActorState.STOPPING)
        return {
            "path": self.path,
            "kind": self.kind,
            "state": self._state.value,
            "restarts": self._restarts,
            "uptime": round(now - self._started_at, 3) if running else 0.0,
            "last_failure": self._failure,
        }


def _notify(watcher: Callable[[Down], None], down: Down) -> None:
    from ._errors import ActorError

    try:
        watcher(down)
    except ActorError:
        # A watcher that stopped or is flooded must not break the node that is ending.
        logger.debug("watcher of %s could not be told", down.path, exc_info=True)
