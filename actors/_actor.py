"""Actor base class, ActorRef (the address and the runtime cell), and the actor's task.

Hot paths are kept short on purpose (see perf-notes): tell() is one send_nowait on a bounded
trio memory channel; an idle actor is one task parked in MemoryReceiveChannel.receive() with no
cancel scope of its own (an entered scope costs ~850 bytes per task), so a message-only actor is
stopped between two messages, by closing its mailbox or by queueing a wake-up sentinel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import trio

from ._errors import ActorCrashed, ActorStopped, AskTimeout, MailboxFull
from ._mailbox import WAKE, MailboxPolicy, Reply, fail_replies
from ._node import (
    PERMANENT,
    RESTART,
    RUN,
    SLOW,
    ActorState,
    Node,
    Parent,
    describe,
    logger,
    unwrap,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = ["Actor", "ActorRef"]

M = TypeVar("M")
R = TypeVar("R")

# Bits of Actor._hooks: which optional hooks a class overrides (computed once per class).
_H_STARTED = 1
_H_STOPPING = 2
_H_STOPPED = 4
_H_NURSERY = 8
_H_RUN = 16

_H_STOP_ANY = _H_STOPPING | _H_STOPPED

_TASK_NAME = "actors.actor"
_MAILBOX_ENDED = (trio.EndOfChannel, trio.ClosedResourceError)


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
    _hooks: ClassVar[int] = 0

    ref: ActorRef[M]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = 0
        if cls.on_started is not Actor.on_started:
            hooks |= _H_STARTED
        if cls.on_stopping is not Actor.on_stopping:
            hooks |= _H_STOPPING
        if cls.on_stopped is not Actor.on_stopped:
            hooks |= _H_STOPPED
        if cls.run is not Actor.run:
            hooks |= _H_RUN | _H_NURSERY
        if cls.uses_nursery:
            hooks |= _H_NURSERY
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
        """Stop this actor for good after the messages already queued."""
        self.ref.stop()


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
        self._restarts += 1
        self._stop_mode = RUN
        self._state = ActorState.STARTING

    def _launch(self, nursery: trio.Nursery) -> None:
        # A constant task name: trio would otherwise format one string per task.
        if self._actor._hooks & _H_NURSERY:
            nursery.start_soon(_run_actor_with_nursery, self, name=_TASK_NAME)
        else:
            nursery.start_soon(_run_actor, self, name=_TASK_NAME)

    async def _launch_and_wait(self, nursery: trio.Nursery) -> None:
        if self._actor._hooks & _H_NURSERY:
            await nursery.start(_run_actor_with_nursery, self, name=_TASK_NAME)
        else:
            await nursery.start(_run_actor_started, self, name=_TASK_NAME)

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

    def _snapshot(self, now: float, out: list[dict[str, Any]], limit: int) -> None:
        entry = self._base_snapshot(now)
        entry["actor"] = type(self._actor).__qualname__
        entry["mailbox"] = {
            "depth": self._rx.statistics().current_buffer_used,
            "capacity": self._actor.mailbox_capacity,
            "policy": self._actor.mailbox_policy.value,
        }
        out.append(entry)


async def _run_actor(cell: ActorRef[Any]) -> None:
    """One incarnation of a message-only actor.

    The idle wait sits in this frame, which keeps few locals and a shallow stack on purpose:
    trio keeps both the coroutine and a frame object per task, so each slot here costs 16 bytes
    per idle actor (see bench/actors_bench.py). Hence no try/finally and cold paths in helpers.
    """
    if cell._state is ActorState.STARTING:  # not yet started by _run_actor_started
        if not cell._actor._hooks & _H_STARTED:
            cell._incarnation_started()
        elif not await _start(cell, None):
            return
    try:
        while cell._stop_mode != RESTART:
            try:
                msg = await cell._rx.receive()
            except _MAILBOX_ENDED:
                break
            # Then drain what is already queued without a scheduler round trip per message
            # (perf-notes: the writer drains its mailbox). A handler that never yields can hold
            # the CPU for at most one mailbox's worth; one that yields lets the others run.
            while True:
                if msg is not WAKE:
                    await cell._actor.receive(msg)
                if cell._stop_mode == RESTART or not cell._rx._state.data:
                    break
                msg = cell._rx.receive_nowait()
    except BaseException as exc:
        # Exception: a crash while handling `msg`, reported to the parent. Cancelled and
        # KeyboardInterrupt: the hooks still run (shielded), then _ended() re-raises.
        await _ended(cell, exc)
    else:
        await _ended(cell, None)


async def _run_actor_started(cell: ActorRef[Any], task_status: trio.TaskStatus[None]) -> None:
    """Like _run_actor, for nursery.start(): reports started once on_started() has finished."""
    if await _start(cell, task_status):
        await _run_actor(cell)


async def _start(cell: ActorRef[Any], task_status: trio.TaskStatus[None] | None) -> bool:
    try:
        if cell._actor._hooks & _H_STARTED:
            await cell._actor.on_started()
    except BaseException as exc:
        if task_status is not None and isinstance(exc, Exception):
            task_status.started()
        await _ended(cell, exc)
        return False
    cell._incarnation_started()
    if task_status is not None:
        task_status.started()
    return True


async def _ended(cell: ActorRef[Any], exc: BaseException | None) -> None:
    error = _crashed(cell, exc) if isinstance(exc, Exception) else None
    if error is not None and exc is not None and exc.__traceback__ is not None:
        # The asker of the request that crashed the actor learns it now, not at its deadline.
        # The request is the `msg` local of the frame that caught the crash (_run_actor):
        # read from the traceback rather than passed along, which would deepen that frame's
        # stack, a cost every idle actor pays.
        msg = exc.__traceback__.tb_frame.f_locals.get("msg")
        if msg is not None:
            fail_replies([msg], ActorCrashed(cell.path, describe(error)))
    if cell._actor._hooks & _H_STOP_ANY:
        await _stop_hooks(cell, error, stopping_pending=True)
    cell._incarnation_ended(error)
    if exc is not None and error is None:
        raise exc


async def _run_actor_with_nursery(
    cell: ActorRef[Any], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """One incarnation of an actor that owns tasks: run() and/or self.nursery."""
    actor = cell._actor
    error: BaseException | None = None
    stopping_pending = True
    try:
        try:
            if actor._hooks & _H_STARTED:
                await actor.on_started()
            cell._incarnation_started()
            task_status.started()
            stopping_pending = False
            await _run_with_nursery(cell, actor)
        except Exception as exc:
            if cell._state is ActorState.STARTING:
                task_status.started()
            error = _crashed(cell, exc)
    finally:
        if actor._hooks & _H_STOP_ANY:
            await _stop_hooks(cell, error, stopping_pending=stopping_pending)
        cell._incarnation_ended(error)


def _crashed(cell: ActorRef[Any], exc: BaseException) -> BaseException:
    error = unwrap(exc)
    if cell._stop_mode == RUN:
        logger.warning("%s crashed: %s", cell.path, error, exc_info=error)
    return error


async def _run_with_nursery(cell: ActorRef[Any], actor: Actor[Any]) -> None:
    hooks = actor._hooks
    async with trio.open_nursery() as nursery:
        try:
            actor._nursery = nursery  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError(
                f"{type(actor).__name__} owns tasks but its __slots__ lack '_nursery'"
            ) from None
        try:
            if hooks & _H_RUN:
                nursery.start_soon(_run_loop, cell, actor)
            rx = cell._rx
            receive = actor.receive
            while cell._stop_mode != RESTART:
                try:
                    msg = await rx.receive()
                except _MAILBOX_ENDED:
                    break
                if msg is not WAKE:
                    await receive(msg)
        finally:
            if hooks & _H_STOPPING:
                await _shielded(cell, actor.stop_grace, actor.on_stopping)
            nursery.cancel_scope.cancel()
    actor._nursery = None  # type: ignore[attr-defined]


async def _run_loop(cell: ActorRef[Any], actor: Actor[Any]) -> None:
    await actor.run()
    if cell._stop_mode == RUN:
        cell._request_stop(PERMANENT)
    else:
        # A restart request: the mailbox loop may be parked in receive(); wake it.
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            cell._tx.send_nowait(WAKE)


async def _stop_hooks(
    cell: ActorRef[Any], error: BaseException | None, *, stopping_pending: bool
) -> None:
    actor = cell._actor
    hooks = actor._hooks
    if stopping_pending and hooks & _H_STOPPING:
        await _shielded(cell, actor.stop_grace, actor.on_stopping)
    if hooks & _H_STOPPED:
        await _shielded(cell, actor.stop_grace, lambda: actor.on_stopped(error))


async def _shielded(cell: Node, grace: float, hook: Callable[[], Awaitable[None]]) -> None:
    """Run a stop hook shielded for at most `grace` s; a second signal cancels it at once."""
    system = cell.system
    with trio.move_on_after(grace, shield=True) as scope:
        system._hook_scopes.add(scope)
        try:
            await hook()
        except Exception as exc:
            logger.warning("%s: stop hook failed: %s", cell.path, exc, exc_info=exc)
        finally:
            system._hook_scopes.discard(scope)
    if scope.cancelled_caught:
        logger.warning("%s: stop hook cut short after %gs", cell.path, grace)
