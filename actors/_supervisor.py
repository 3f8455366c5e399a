"""Supervisor: children started in order, stopped in reverse order, restarted by strategy."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import trio

from ._actor import Actor, ActorRef
from ._errors import StopTimeout
from ._group import Group
from ._mailbox import ExitReason
from ._node import PERMANENT, ActorState, Node, Parent
from ._policy import Backoff, ChildPolicy, Restart, Strategy

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["ChildSpec", "Supervisor"]

M = TypeVar("M")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """A static child of a supervisor: started in list order, stopped in reverse order."""

    name: str
    factory: Callable[[], Actor[Any]]
    restart: Restart = Restart.PERMANENT
    #: seconds to stop (drain the mailbox, run the stop hooks) before being cancelled;
    #: None: the actor class's stop_grace
    shutdown: float | None = None


class Supervisor(Group):
    """Owns a nursery of children (actors, supervisors, registries) and restarts them.

    A child's ActorRef stays valid across restarts; its mailbox is kept. Exceeding
    `max_restarts` within `within` seconds stops every child and fails this supervisor with
    RestartIntensityExceeded, which its own parent handles (restart it, or give up in turn).
    """

    __slots__ = ("_children", "_strategy")
    kind: ClassVar[str] = "supervisor"

    def __init__(
        self,
        parent: Parent | None,
        name: object,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        within: float = 5.0,
        backoff: Backoff | None = None,
        children: Sequence[ChildSpec] = (),
    ) -> None:
        super().__init__(
            parent, name, max_restarts=max_restarts, within=within, backoff=backoff or Backoff()
        )
        self._strategy = strategy
        self._children: dict[object, Node] = {}
        for spec in children:
            self._add_actor(spec.factory, spec.name, spec.restart, spec.shutdown)

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    # -- public API --------------------------------------------------------------------
    def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        restart: Restart = Restart.TRANSIENT,
        shutdown: float | None = None,
    ) -> ActorRef[M]:
        """Start an actor now without waiting for its on_started(); returns its ref.

        `factory` builds a fresh instance for the first run and every restart (a class works).
        Messages told before on_started() finishes wait in the mailbox. `shutdown` bounds how
        long a stop may take (queued messages, then hooks) before the actor is cancelled; by
        default the actor class's `stop_grace`.
        """
        nursery = self._running_nursery()
        ref = self._add_actor(factory, name, restart, shutdown)
        ref._launch(nursery)
        return ref

    async def start(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        restart: Restart = Restart.TRANSIENT,
        shutdown: float | None = None,
    ) -> ActorRef[M]:
        """Like spawn(), but returns once the actor's on_started() has finished."""
        nursery = self._running_nursery()
        ref = self._add_actor(factory, name, restart, shutdown)
        await ref._launch_and_wait(nursery)
        return ref

    async def start_supervisor(
        self,
        name: str,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        children: Sequence[ChildSpec] = (),
        max_restarts: int = 3,
        within: float = 5.0,
        backoff: Backoff | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = math.inf,
    ) -> Supervisor:
        """Start a child supervisor whose `children` are started in order before returning."""
        nursery = self._running_nursery()
        sup = Supervisor(
            self,
            self._claim(name),
            strategy=strategy,
            max_restarts=max_restarts,
            within=within,
            backoff=backoff,
            children=children,
        )
        self._adopt(sup, restart, shutdown)
        await sup._launch_and_wait(nursery)
        return sup

    async def start_registry(
        self,
        name: str,
        factory: Callable[[K], Actor[M]],
        *,
        idle_timeout: float | None = None,
        max_restarts: int = 10,
        within: float = 10.0,
        backoff: Backoff | None = None,
        child_shutdown: float | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = math.inf,
    ) -> Registry[K, M]:
        """Start a registry: one actor per key, built by `factory(key)` on first use.

        `idle_timeout`: passivate a key after that many idle seconds (None: never).
        `child_shutdown`: how long the live actors get to drain when the registry stops
        (None: the longest stop_grace among them).
        """
        from ._registry import Registry

        nursery = self._running_nursery()
        registry: Registry[K, M] = Registry(
            self,
            self._claim(name),
            factory,
            idle_timeout=idle_timeout,
            max_restarts=max_restarts,
            within=within,
            backoff=backoff,
            child_shutdown=child_shutdown,
        )
        self._adopt(registry, restart, shutdown)
        await registry._launch_and_wait(nursery)
        return registry

    def child(self, name: str) -> Node:
        """The child called `name` (an ActorRef, Supervisor or Registry); KeyError if none."""
        return self._children[name]

    @property
    def children(self) -> list[Node]:
        return list(self._children.values())

    async def stop_child(self, name: str) -> None:
        """Stop a child for good (queued messages first) and wait until it has ended."""
        child = self._children.get(name)
        if child is None:
            return
        await self._stop_in_order([child], PERMANENT)

    # -- internals ---------------------------------------------------------------------
    def _find(self, names: list[str]) -> Node | None:
        if not names:
            return self
        for child in list(self._children.values()):
            if child.name == names[0]:
                return child._find(names[1:])
        return None

    def _not_restartable(self) -> str | None:
        for child in list(self._children.values()):
            why = child._not_restartable()
            if why is not None:
                return f"holds {child.path}, which {why}"
        return None

    def _claim(self, name: str | None) -> object:
        if name is None:
            return None
        if name in self._children:
            raise ValueError(f"{self.path} already has a child named {name!r}")
        return name

    def _adopt(self, node: Node, restart: Restart, shutdown: float) -> None:
        node._policy = ChildPolicy.of(restart, shutdown)
        # Anonymous children are keyed by themselves: no name object per child (memory).
        self._children[node if node._name is None else node._name] = node

    def _add_actor(
        self,
        factory: Callable[[], Actor[M]],
        name: str | None,
        restart: Restart,
        shutdown: float | None,
    ) -> ActorRef[M]:
        key = self._claim(name)
        actor = factory()
        ref = ActorRef(self, key, actor, factory)
        # By default a child gets as long to stop as its stop hooks may take.
        self._adopt(ref, restart, actor.stop_grace if shutdown is None else shutdown)
        return ref

    def _child_finished(self, child: Node) -> None:
        key = child if child._name is None else child._name
        if self._children.get(key) is child:
            del self._children[key]

    def _affected(self, child: Node) -> list[Node]:
        children = list(self._children.values())
        if self._strategy is Strategy.ONE_FOR_ALL:
            return children
        if self._strategy is Strategy.REST_FOR_ONE:
            return children[children.index(child) :]
        return [child]

    async def _start_children(self, nursery: trio.Nursery) -> None:
        for child in list(self._children.values()):
            if child._state is ActorState.RESTARTING:
                child._renew()
            if child._state is ActorState.STARTING:
                await child._launch_and_wait(nursery)

    async def _stop_children(self, mode: int) -> StopTimeout | None:
        # Anonymous children (spawned on demand, one per connection say) go first and all at
        # once; named children, the static tree, then stop one by one in reverse start order.
        children = list(self._children.values())
        anonymous = [c for c in children if c._name is None]
        stuck = await self._stop_together(anonymous, mode)
        if stuck is not None:
            return stuck
        named = [c for c in children if c._name is not None]
        return await self._stop_in_order(reversed(named), mode)

    def _release(self) -> None:
        reason = ExitReason.FAILED if self._failure else ExitReason.NORMAL
        for child in reversed(list(self._children.values())):
            child._stop_mode = PERMANENT
            child._finish(reason, None)

    def _deepest_mailbox(self) -> int:
        return max((child._deepest_mailbox() for child in self._children.values()), default=0)

    def _snapshot(self, now: float, out: list[dict[str, Any]], limit: int) -> None:
        entry = self._base_snapshot(now)
        entry["strategy"] = self._strategy.value
        entry["children"] = len(self._children)
        out.append(entry)
        # Named children are the static tree and are always listed; anonymous ones (one per
        # connection, say) are capped like a registry's live actors.
        anonymous = 0
        for child in list(self._children.values()):
            if child._name is None:
                anonymous += 1
                if anonymous > limit:
                    continue
            child._snapshot(now, out, limit)
