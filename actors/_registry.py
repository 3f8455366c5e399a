"""Registry: exactly one actor per key, spawned on first use, passivated when idle.

A passivated key costs a dict slot plus what the actor's on_passivate() returned (nothing by
default): no task, no mailbox. Address registry actors through the registry (tell/ask/get):
a ref obtained from get() stops working once its actor is passivated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, Generic, TypeVar

import trio

from ._actor import Actor, ActorRef
from ._errors import StopTimeout
from ._group import Group
from ._mailbox import ExitReason, Reply
from ._node import PASSIVATE, PERMANENT, RESTART, RUN, ActorState, Node, Parent, logger
from ._policy import Backoff

__all__ = ["Registry"]

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")
R = TypeVar("R")


class _Dormant:
    """A passivated entry that kept some state from on_passivate()."""

    __slots__ = ("state",)

    def __init__(self, state: object) -> None:
        self.state = state


_DORMANT = _Dormant(None)


class Registry(Group, Generic[K, M]):
    """Get-or-spawn by key under one_for_one supervision, with idle passivation."""

    __slots__ = (
        "_child_shutdown",
        "_entries",
        "_factory",
        "_idle_timeout",
        "_live",
        "_successors",
        "_touched",
    )
    kind: ClassVar[str] = "registry"

    def __init__(
        self,
        parent: Parent | None,
        name: object,
        factory: Callable[[K], Actor[M]],
        *,
        idle_timeout: float | None = None,
        max_restarts: int = 10,
        within: float = 10.0,
        backoff: Backoff | None = None,
        child_shutdown: float | None = None,
    ) -> None:
        super().__init__(
            parent, name, max_restarts=max_restarts, within=within, backoff=backoff or Backoff()
        )
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self._factory = factory
        self._idle_timeout = idle_timeout
        self._child_shutdown = child_shutdown
        self._entries: dict[K, ActorRef[M] | _Dormant] = {}
        self._successors: dict[K, ActorRef[M]] = {}
        # Keys used since the last sweep; only kept when there is an idle timeout to enforce.
        self._touched: set[K] | None = set() if idle_timeout is not None else None
        self._live = 0

    # -- public API --------------------------------------------------------------------
    def tell(self, key: K, msg: M) -> None:
        """Deliver `msg` to the actor for `key`, spawning or reactivating it first."""
        entry = self._entries.get(key)
        if entry.__class__ is ActorRef and entry._stop_mode == RUN:
            if self._touched is not None:
                self._touched.add(key)
            entry.tell(msg)
            return
        self._ensure(key, entry).tell(msg)

    # The deadline is part of the ask protocol (AskTimeout, not Cancelled), hence the parameter.
    async def ask(
        self,
        key: K,
        make: Callable[[Reply[R]], M],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> R:
        """ask() the actor for `key` (spawned or reactivated if needed)."""
        return await self.get(key).ask(make, timeout=timeout)

    def get(self, key: K) -> ActorRef[M]:
        """The live actor for `key`, spawned or reactivated if needed."""
        entry = self._entries.get(key)
        if entry.__class__ is ActorRef and entry._stop_mode == RUN:
            if self._touched is not None:
                self._touched.add(key)
            return entry
        return self._ensure(key, entry)

    def passivate(self, key: K) -> bool:
        """Passivate `key` now (its queued messages are handled first); False if not live."""
        entry = self._entries.get(key)
        if isinstance(entry, ActorRef) and entry._stop_mode == RUN:
            entry._request_stop(PASSIVATE)
            return True
        return False

    def is_live(self, key: K) -> bool:
        entry = self._entries.get(key)
        return isinstance(entry, ActorRef) and entry._state is not ActorState.STOPPED

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def live_count(self) -> int:
        return self._live

    # -- internals ---------------------------------------------------------------------
    def _ensure(self, key: K, entry: ActorRef[M] | _Dormant | None) -> ActorRef[M]:
        nursery = self._running_nursery()
        if self._touched is not None:
            self._touched.add(key)
        if isinstance(entry, ActorRef):
            # Still draining towards passivation or a stop: the successor queues messages now
            # and starts when the old actor has ended, so one key never has two live actors.
            successor = self._successors.get(key)
            if successor is None:
                successor = ActorRef(self, key, self._factory(key), None)
                self._successors[key] = successor
                self._live += 1
            return successor
        actor = self._factory(key)
        if entry is not None and entry.state is not None:
            _reactivate(actor, entry.state, key)
        ref = ActorRef(self, key, actor, None)
        self._entries[key] = ref
        self._live += 1
        ref._launch(nursery)
        return ref

    def _make_actor(self, key: Any) -> Actor[Any]:
        return self._factory(key)

    def _find(self, names: list[str]) -> Node | None:
        if not names:
            return self
        for entry in list(self._entries.values()):
            if isinstance(entry, ActorRef) and entry.name == names[0]:
                return entry._find(names[1:])
        return None

    def _child_finished(self, child: Node) -> None:
        assert isinstance(child, ActorRef)
        key: K = child._name  # type: ignore[assignment]
        self._live -= 1
        if self._entries.get(key) is child:
            successor = self._successors.pop(key, None)
            state = None
            if child._stop_mode == PASSIVATE:
                try:
                    state = child._actor.on_passivate()
                except Exception as exc:
                    # Runs in the ending actor's task: a broken hook costs the state, not more.
                    logger.warning("%s: on_passivate failed: %s", child.path, exc, exc_info=exc)
            if successor is not None:
                if state is not None:
                    _reactivate(successor._actor, state, key)
                self._entries[key] = successor
                nursery = self._nursery
                if nursery is not None and self._stop_mode == RUN:
                    successor._launch(nursery)
                else:
                    successor._stop_mode = PERMANENT
                    successor._finish(ExitReason.NORMAL, None)
            elif child._stop_mode == PASSIVATE:
                self._entries[key] = _DORMANT if state is None else _Dormant(state)
            else:
                del self._entries[key]

    async def _start_children(self, nursery: trio.Nursery) -> None:
        if self._idle_timeout is not None:
            nursery.start_soon(self._sweep, self._idle_timeout / 2)

    async def _relaunch(self, node: Node, nursery: trio.Nursery) -> None:
        node._launch(nursery)

    async def _sweep(self, period: float) -> None:
        previous: set[K] = set()
        while True:
            await trio.sleep(period)
            current = self._touched or set()
            self._touched = set()
            for key, entry in list(self._entries.items()):
                if (
                    entry.__class__ is ActorRef
                    and key not in current
                    and key not in previous
                    and entry._stop_mode == RUN
                    and entry._state is ActorState.RUNNING
                    and entry.mailbox_depth == 0
                ):
                    entry._request_stop(PASSIVATE)
            previous = current

    def _live_refs(self) -> list[ActorRef[M]]:
        refs = [e for e in self._entries.values() if isinstance(e, ActorRef)]
        return [r for r in refs if r._state is not ActorState.STOPPED]

    def _drop_successors(self) -> None:
        # Successors never ran (they wait for their predecessor): nothing to drain or stop.
        for successor in list(self._successors.values()):
            successor._stop_mode = PERMANENT
            successor._finish(ExitReason.NORMAL, None)
        self._successors.clear()

    async def _stop_children(self, mode: int) -> StopTimeout | None:
        self._drop_successors()
        refs = self._live_refs()
        for ref in refs:
            ref._request_stop(PERMANENT if mode == PERMANENT else RESTART)
        stuck: StopTimeout | None = None
        # One deadline for all of them: they drain in parallel. By default, as long as the
        # actors' stop hooks may take.
        timeout = self._child_shutdown
        if timeout is None:
            timeout = max((ref._actor.stop_grace for ref in refs), default=5.0)
        with trio.move_on_after(timeout) as waited:
            for ref in refs:
                await ref._wait_ended()
        if waited.cancelled_caught:
            stuck = StopTimeout(f"{self.path}/*", timeout)
        if mode == RESTART:
            # A registry that gives up forgets its live actors; keys come back on demand.
            for ref in refs:
                ref._stop_mode = PERMANENT
                ref._finish(ExitReason.FAILED, None)
        return stuck

    def _release(self) -> None:
        self._drop_successors()
        for ref in self._live_refs():
            ref._stop_mode = PERMANENT
            ref._finish(ExitReason.NORMAL, None)
        if self._live:
            logger.debug("%s released with %d live entries", self.path, self._live)

    def _deepest_mailbox(self) -> int:
        return max(
            (e._deepest_mailbox() for e in self._entries.values() if isinstance(e, ActorRef)),
            default=0,
        )

    def _snapshot(self, now: float, out: list[dict[str, Any]], limit: int) -> None:
        entry = self._base_snapshot(now)
        entry["entries"] = len(self._entries)
        entry["live"] = self._live
        entry["passivated"] = len(self._entries) - (self._live - len(self._successors))
        entry["idle_timeout"] = self._idle_timeout
        out.append(entry)
        live = (e for e in self._entries.values() if isinstance(e, ActorRef))
        for ref in itertools.islice(live, limit):
            ref._snapshot(now, out, limit)


def _reactivate(actor: Actor[Any], state: object, key: object) -> None:
    try:
        actor.on_reactivate(state)
    except Exception as exc:
        logger.warning("reactivating %r: on_reactivate failed: %s", key, exc, exc_info=exc)
