"""Actor base class and ActorRef (the address and the runtime cell of an actor).

Hot paths are kept short on purpose (see perf-notes): tell() is one send_nowait on a bounded
trio memory channel; an idle actor is one task parked in MemoryReceiveChannel.receive() with no
cancel scope of its own (an entered scope costs ~850 bytes per task), so a message-only actor is
stopped between two messages, by closing its mailbox or by queueing a wake-up sentinel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import trio

from ._errors import ActorStopped, AskTimeout, MailboxFull
from ._incarnation import (
    H_NURSERY,
    H_RUN,
    H_STARTED,
    H_STOPPED,
    H_STOPPING,
    TASK_NAME,
    run_actor,
    run_actor_started,
    run_actor_with_nursery,
)
from ._mailbox import WAKE, MailboxPolicy, Reply, fail_replies
from ._node import PERMANENT, RESTART, RUN, SLOW, ActorState, Node, Parent, logger
from ._policy import Restart

__all__ = ["Actor", "ActorRef"]

M = TypeVar("M")
R = TypeVar("R")


class Actor(Generic[M]):
    """Subclass and override receive(); the runtime calls it for one message at a time.

    Optional hooks: on_started() before the first message; on_stopping() when the actor begins
    to stop (its own tasks still run) and on_stopped(error) after everything it owned ended —
    both shielded from cancellation for at most `stop_grace` seconds. Override run() for a
    long-running loop (a socket reader, a poll bridge): it runs in the actor's own nursery
    (`self.nursery`, also available with `uses_nursery = True`) next to the mailbox, and the
    actor stops when it returns. `self.ref` is set before on_started(), not in __init__.
    """

    # Only `ref`: a nursery-owning actor keeps its nursery in its __dict__ (a subclass that
    # declares __slots__ and owns tasks must list "_nursery").
    __slots__ = ("ref",)

    #: bound of the mailbox (a trio memory channel)
    mailbox_capacity: ClassVar[int] = 64
    #: what tell() does when the mailbox is full
    mailbox_policy: ClassVar[MailboxPolicy] = MailboxPolicy.REJECT
    #: seconds each of on_stopping()/on_stopped() may take, shielded from cancellation
    stop_grace: ClassVar[float] = 5.0
    #: give the actor a nursery for tasks it owns (implied when run() is overridden)
    uses_nursery: ClassVar[bool] = False
    #: why an operator may not restart it (None: restarting it is safe); see ActorSystem.restart
    not_restartable: ClassVar[str | None] = None
    _hooks: ClassVar[int] = 0

    ref: ActorRef[M]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = 0
        if cls.on_started is not Actor.on_started:
            hooks |= H_STARTED
        if cls.on_stopping is not Actor.on_stopping:
            hooks |= H_STOPPING
        if cls.on_stopped is not Actor.on_stopped:
            hooks |= H_STOPPED
        if cls.run is not Actor.run:
            hooks |= H_RUN | H_NURSERY
        if cls.uses_nursery:
            hooks |= H_NURSERY
        cls._hooks = hooks
        if cls.mailbox_capacity < 1:
            # A zero-size trio channel only hands over to a waiting receiver: tell() would fail
            # whenever the actor is busy, which no policy can make sense of.
            raise ValueError(f"{cls.__name__}.mailbox_capacity must be at least 1")

    async def receive(self, msg: M) -> None:
        """Handle one message. An exception crashes this incarnation (the supervisor decides)."""
        raise NotImplementedError(f"{type(self).__name__} does not handle {msg!r}")

    async def on_started(self) -> None:
        """Runs before the first message; a supervisor's ordered start waits for it."""

    async def on_stopping(self) -> None:
        """Runs when the actor starts to stop, while its own tasks are still running."""

    async def on_stopped(self, error: BaseException | None) -> None:
        """Runs last; `error` is the failure that ended this incarnation, if any."""

    async def run(self) -> None:
        """Override for a loop owned by the actor; returning stops the actor normally."""

    def on_passivate(self) -> object:
        """A registry is passivating this actor: return a small state to keep (or None)."""
        return None

    def on_reactivate(self, state: object) -> None:
        """Called before on_started() with what on_passivate() returned last time."""

    @property
    def nursery(self) -> trio.Nursery:
        """The actor's own nursery (only for actors with run() or `uses_nursery = True`)."""
        nursery: trio.Nursery | None = getattr(self, "_nursery", None)
        if nursery is None:
            raise RuntimeError(
                f"{type(self).__name__} has no nursery: set uses_nursery = True or override run()"
            )
        return nursery

    def stop(self) -> None:
        """Stop this actor for good after the messages already queued (no-op once ended)."""
        ref: ActorRef[M] | None = getattr(self, "ref", None)
        if ref is not None:
            ref.stop()


class ActorRef(Node, Generic[M]):
    """Address of an actor: stays valid across restarts (the mailbox is kept), raises
    ActorStopped once the actor has ended for good."""

    __slots__ = ("_actor", "_make", "_rx", "_tx")
    kind: ClassVar[str] = "actor"

    def __init__(
        self,
        parent: Parent,
        name: object,
        actor: Actor[M],
        make: Callable[[], Actor[M]] | None,
    ) -> None:
        super().__init__(parent, name)
        self._tx, self._rx = trio.open_memory_channel[M](actor.mailbox_capacity)
        self._actor = actor
        self._make = make
        actor.ref = self

    # -- messaging ---------------------------------------------------------------------
    def tell(self, msg: M) -> None:
        """Queue `msg` without blocking or yielding; a full mailbox applies the actor's policy.

        Raises ActorStopped if the actor has ended for good, MailboxFull under REJECT.
        """
        try:
            self._tx.send_nowait(msg)
        except trio.WouldBlock:
            self._mailbox_full(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorStopped(self.path) from None

    def take_queued(self, limit: int) -> list[M]:
        """Up to `limit` messages already waiting in the mailbox, taken without yielding.

        For an actor that does its work in batches (one store write for many messages): call
        it from receive() to take what queued up behind the message in hand. The messages are
        the actor's from then on, exactly as if receive() had been called with each of them.
        """
        taken: list[M] = []
        rx = self._rx
        while len(taken) < limit:
            try:
                msg = rx.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if msg is not WAKE:  # a restart's wake-up: the mailbox loop checks the mode anyway
                taken.append(msg)
        return taken

    # The deadline is part of the ask protocol (AskTimeout, not Cancelled), hence the parameter.
    async def ask(self, make: Callable[[Reply[R]], M], *, timeout: float = 5.0) -> R:  # noqa: ASYNC109
        """Send `make(reply)` and wait for `reply.send(value)`; AskTimeout after `timeout` s."""
        reply: Reply[R] = Reply()
        self.tell(make(reply))
        with trio.move_on_after(timeout):
            return await reply._wait()
        raise AskTimeout(self.path, timeout)

    def _mailbox_full(self, msg: M) -> None:
        policy = self._actor.mailbox_policy
        if policy is MailboxPolicy.DROP_OLDEST:
            with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                self._rx.receive_nowait()
            self._tx.send_nowait(msg)
        elif policy is MailboxPolicy.CLOSE_SLOW_CONSUMER:
            logger.warning("%s: mailbox full, closed as a slow consumer", self.path)
            restarting = self._state is ActorState.RESTARTING
            self._stop_mode = SLOW
            self._state = ActorState.STOPPING
            self._release()
            if restarting:
                # No incarnation runs to notice the closed mailbox: end for good here.
                self._incarnation_ended(None)
        else:
            raise MailboxFull(self.path, self._actor.mailbox_capacity) from None

    def stop(self) -> None:
        """Stop for good: no new messages, the queued ones are handled, then the hooks run."""
        if self._stop_mode in (RUN, RESTART):
            self._request_stop(PERMANENT)

    @property
    def alive(self) -> bool:
        return self._state is not ActorState.STOPPED and self._stop_mode in (RUN, RESTART)

    @property
    def mailbox_depth(self) -> int:
        return self._rx.statistics().current_buffer_used

    @property
    def mailbox_capacity(self) -> int:
        return self._actor.mailbox_capacity

    # -- supervision -------------------------------------------------------------------
    def _request_stop(self, mode: int) -> None:
        if self._state is ActorState.STOPPED:
            return
        if mode == RESTART:
            if self._state is ActorState.RESTARTING:
                return  # between incarnations already: nothing runs that could stop
            if self._stop_mode == RUN:
                self._stop_mode = RESTART
                if self._force_stop():
                    # An actor with its own loop is interrupted: run() would not see a flag.
                    self._state = ActorState.STOPPING
                elif self._state is ActorState.RUNNING:
                    self._state = ActorState.STOPPING
                    # Wakes an idle actor; a full mailbox means it is busy and sees the flag.
                    with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                        self._tx.send_nowait(WAKE)
            return
        self._stop_mode = mode
        if self._state is ActorState.RESTARTING:
            # Between incarnations nothing will read the mailbox: end for good right away.
            self._incarnation_ended(None)
            return
        if self._state is not ActorState.STARTING:  # STARTING: on_started() has yet to run
            self._state = ActorState.STOPPING
        self._tx.close()

    def _anonymous_name(self) -> str:
        return f"{type(self._actor).__name__}@{id(self):x}"

    def _force_stop(self) -> bool:
        if self._state in (ActorState.RESTARTING, ActorState.STOPPED):
            return False  # no incarnation is running
        actor = self._actor
        nursery = getattr(actor, "_nursery", None)
        if nursery is None:
            return False
        nursery.cancel_scope.cancel()
        return True

    def _renew(self) -> None:
        """Build the next actor instance for a restart (the mailbox is kept)."""
        make = self._make
        actor = make() if make is not None else self._parent._make_actor(self._name)  # type: ignore[union-attr]
        actor.ref = self
        self._actor = actor
        self._count_restart()
        self._stop_mode = RUN
        self._state = ActorState.STARTING

    def _launch(self, nursery: trio.Nursery) -> None:
        # A constant task name: trio would otherwise format one string per task.
        if self._actor._hooks & H_NURSERY:
            nursery.start_soon(run_actor_with_nursery, self, name=TASK_NAME)
        else:
            nursery.start_soon(run_actor, self, name=TASK_NAME)

    async def _launch_and_wait(self, nursery: trio.Nursery) -> None:
        if self._actor._hooks & H_NURSERY:
            await nursery.start(run_actor_with_nursery, self, name=TASK_NAME)
        else:
            await nursery.start(run_actor_started, self, name=TASK_NAME)

    def _release(self) -> None:
        self._tx.close()
        # Whatever is still queued will never be handled: an ask waiting in there learns it
        # now rather than at its deadline.
        pending: list[object] = []
        with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            while True:
                pending.append(self._rx.receive_nowait())
        self._rx.close()
        if pending:
            fail_replies(pending, ActorStopped(self.path, "stopped before handling the request"))

    def _forget(self) -> None:
        # The actor points at its ref and the ref at its actor: left as it is, every actor that
        # ended became cyclic garbage that only a full collection frees, with all it held
        # (~22 objects per closed WebSocket connection; after 6,000 connections had closed,
        # one full collection stopped the event loop for 294 ms). Without the actor's edge
        # both go by reference counting once the last holder lets go. `_actor` stays: a
        # registry reads on_passivate() through it, and `stop()` on an ended actor is a no-op.
        actor = self._actor
        if getattr(actor, "ref", None) is self:
            del actor.ref
        self._make = None

    def _not_restartable(self) -> str | None:
        if self._policy.restart is Restart.TEMPORARY:
            return "is temporary: it is never restarted, only stopped"
        return self._actor.not_restartable

    def _deepest_mailbox(self) -> int:
        return self._rx.statistics().current_buffer_used

    def _snapshot(self, now: float, out: list[dict[str, Any]], limit: int) -> None:
        entry = self._base_snapshot(now)
        entry["actor"] = type(self._actor).__qualname__
        entry["mailbox"] = {
            "depth": self._rx.statistics().current_buffer_used,
            "capacity": self._actor.mailbox_capacity,
            "policy": self._actor.mailbox_policy.value,
        }
        out.append(entry)
