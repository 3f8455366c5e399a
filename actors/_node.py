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
from ._policy import ChildPolicy, Restart

if TYPE_CHECKING:
    from ._system import ActorSystem

__all__ = ["ActorState"]

logger = logging.getLogger("actors")

DEFAULT_POLICY = ChildPolicy.of(Restart.TRANSIENT, 5.0)
_CLOCK = [0.0]

Waiter = trio.Event | Callable[[Down], None]


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
        "_history",
        "_name",
        "_parent",
        "_policy",
        "_started_at",
        "_state",
        "_stop_mode",
    )
    kind: ClassVar[str] = "node"

    def __init__(self, parent: Parent | None, name: object) -> None:
        self._parent = parent
        self._name = name
        self._state = ActorState.STARTING
        self._stop_mode = RUN
        self._policy = DEFAULT_POLICY
        self._started_at = 0.0
        # (restarts, last failure, exit reason, when it last failed) once any is known: one
        # slot, and nothing is allocated for the common case of an actor that never failed.
        self._history: tuple[int, str | None, ExitReason | None, float | None] | None = None

    # -- identity ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        name = self._name
        return self._anonymous_name() if name is None else str(name)

    def _anonymous_name(self) -> str:
        return f"{type(self).__name__}@{id(self):x}"

    @property
    def path(self) -> str:
        parent = self._parent
        if parent is None:
            return f"/{self.name}"
        return f"{parent.path}/{self.name}"

    @property
    def system(self) -> ActorSystem:
        assert self._parent is not None
        return self._parent.system

    @property
    def state(self) -> ActorState:
        return self._state

    @property
    def _restarts(self) -> int:
        history = self._history
        return 0 if history is None else history[0]

    @_restarts.setter
    def _restarts(self, value: int) -> None:
        history = self._history
        self._history = (value, self._failure, None, None if history is None else history[3])

    @property
    def _failure(self) -> str | None:
        history = self._history
        return None if history is None else history[1]

    @_failure.setter
    def _failure(self, value: str | None) -> None:
        failed_at = trio.current_time() if value is not None else None
        self._history = (self._restarts, value, None, failed_at)

    @property
    def last_failure_at(self) -> float | None:
        """When the last failure happened, on trio's clock (None if it never failed)."""
        history = self._history
        return None if history is None else history[3]

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the node ended for good (None while it has not)."""
        history = self._history
        return None if history is None else history[2]

    @property
    def restarts(self) -> int:
        return self._restarts

    def _count_restart(self) -> None:
        self._restarts += 1
        # Kept as it happens, so the process's total is read without walking the tree.
        self.system._restarts_total += 1

    def _deepest_mailbox(self) -> int:
        """The deepest mailbox at or below this node (0 for a node without one)."""
        return 0

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
            reason = self.exit_reason or ExitReason.NORMAL
            _notify(watcher, Down(self, self.path, reason, None))  # type: ignore[arg-type]
            return
        self._waiters(create=True).append(watcher)  # type: ignore[union-attr]

    def unwatch(self, watcher: Callable[[Down], None]) -> None:
        waiters = self._waiters()
        if waiters is not None and watcher in waiters:
            waiters.remove(watcher)

    def _waiters(self, *, create: bool = False) -> list[Waiter] | None:
        """trio.Events waiting for the current incarnation to end and watchers (callables)
        waiting for the node to end for good. Kept in a table on the system, not in a slot:
        few nodes are ever waited on, and every slot costs 8 bytes per idle actor."""
        table = self.system._waiters
        waiters = table.get(self)
        if waiters is None and create:
            waiters = table[self] = []
        return waiters

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
        self._state = ActorState.RUNNING if self._stop_mode == RUN else ActorState.STOPPING
        # Uptime is for operators and may be up to a second long: nodes started within the same
        # second share one float object, which saves 24 bytes per idle actor.
        now = trio.current_time()
        last = _CLOCK[0]
        if 0.0 <= now - last < 1.0:
            now = last
        else:
            _CLOCK[0] = now
        self._started_at = now

    def _incarnation_ended(self, error: BaseException | None) -> None:
        mode = self._stop_mode
        if error is not None:
            self._failure = describe(error)
        waiters = self._waiters()
        if waiters:
            events = [w for w in waiters if isinstance(w, trio.Event)]
            if events:
                for event in events:
                    waiters.remove(event)
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
        event = trio.Event()
        self._waiters(create=True).append(event)  # type: ignore[union-attr]
        await event.wait()

    def _finish(self, reason: ExitReason, error: BaseException | None) -> None:
        """End the node for good: release resources, tell watchers, leave the parent."""
        if self._state is ActorState.STOPPED:
            return
        self._state = ActorState.STOPPED
        self._history = (self._restarts, self._failure, reason, self.last_failure_at)
        self._release()
        waiters = self.system._waiters.pop(self, None)
        if waiters:
            down = Down(self, self.path, reason, error)  # type: ignore[arg-type]
            for waiter in waiters:
                if isinstance(waiter, trio.Event):
                    waiter.set()
                else:
                    _notify(waiter, down)
        if self._parent is not None:
            self._parent._child_finished(self)
        self._forget()

    def _release(self) -> None:
        """Free what the node holds once it has ended for good (overridden)."""

    def _forget(self) -> None:
        """Drop what would keep a reference cycle alive once everyone was told (overridden)."""

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
            "last_failure_ago": _ago(now, self.last_failure_at),
        }

    def _find(self, names: list[str]) -> Node | None:
        """The descendant at `names` (path components below this node); overridden by groups."""
        return self if not names else None

    def _not_restartable(self) -> str | None:
        """Why an operator may not restart this node (None: it may); overridden."""
        return None


def _ago(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 3)


def _notify(watcher: Callable[[Down], None], down: Down) -> None:
    try:
        watcher(down)
    except Exception as exc:
        # A watcher that stopped, is flooded or is broken must not break the node that is
        # ending (this runs in that node's task, or in its supervisor's).
        logger.warning("watcher of %s could not be told: %s", down.path, exc)
