"""One incarnation of an actor: the task that runs its hooks and reads its mailbox.

The idle wait of every actor sits in run_actor()'s frame, so that function is written for
memory first: few locals, a shallow stack, cold paths in helpers. See bench/actors_bench.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ._errors import ActorCrashed
from ._mailbox import WAKE, fail_replies
from ._node import PERMANENT, RESTART, RUN, ActorState, Node, describe, logger, unwrap

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ._actor import Actor, ActorRef

# Bits of Actor._hooks: which optional hooks a class overrides (computed once per class).
H_STARTED = 1
H_STOPPING = 2
H_STOPPED = 4
H_NURSERY = 8
H_RUN = 16

H_STOP_ANY = H_STOPPING | H_STOPPED

TASK_NAME = "actors.actor"
_MAILBOX_ENDED = (trio.EndOfChannel, trio.ClosedResourceError)


async def run_actor(cell: ActorRef[Any]) -> None:
    """One incarnation of a message-only actor.

    The idle wait sits in this frame, which keeps few locals and a shallow stack on purpose:
    trio keeps both the coroutine and a frame object per task, so each slot here costs 16 bytes
    per idle actor (see bench/actors_bench.py). Hence no try/finally and cold paths in helpers.
    """
    if cell._state is ActorState.STARTING:  # not yet started by run_actor_started
        if not cell._actor._hooks & H_STARTED:
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


async def run_actor_started(cell: ActorRef[Any], task_status: trio.TaskStatus[None]) -> None:
    """Like run_actor, for nursery.start(): reports started once on_started() has finished."""
    if await _start(cell, task_status):
        await run_actor(cell)


async def _start(cell: ActorRef[Any], task_status: trio.TaskStatus[None] | None) -> bool:
    try:
        if cell._actor._hooks & H_STARTED:
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
        # The request is the `msg` local of the frame that caught the crash (run_actor):
        # read from the traceback rather than passed along, which would deepen that frame's
        # stack, a cost every idle actor pays.
        msg = exc.__traceback__.tb_frame.f_locals.get("msg")
        if msg is not None:
            fail_replies([msg], ActorCrashed(cell.path, describe(error)))
    if cell._actor._hooks & H_STOP_ANY:
        await _stop_hooks(cell, error, stopping_pending=True)
    cell._incarnation_ended(error)
    if exc is not None and error is None:
        raise exc


async def run_actor_with_nursery(
    cell: ActorRef[Any], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """One incarnation of an actor that owns tasks: run() and/or self.nursery."""
    actor = cell._actor
    error: BaseException | None = None
    stopping_pending = True
    try:
        try:
            if actor._hooks & H_STARTED:
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
        if actor._hooks & H_STOP_ANY:
            await _stop_hooks(cell, error, stopping_pending=stopping_pending)
        cell._incarnation_ended(error)


def _crashed(cell: ActorRef[Any], exc: BaseException) -> BaseException:
    error = unwrap(exc)
    if cell._stop_mode == RUN:
        logger.warning("%s crashed: %s", cell.path, error, exc_info=error)
    return error


async def _run_with_nursery(cell: ActorRef[Any], actor: Actor[Any]) -> None:
    hooks = actor._hooks
    try:
        await _serve_with_nursery(cell, actor, hooks)
    finally:
        # Also after a crash: a stale nursery would make the actor look cancellable.
        actor._nursery = None  # type: ignore[attr-defined]


async def _serve_with_nursery(cell: ActorRef[Any], actor: Actor[Any], hooks: int) -> None:
    async with trio.open_nursery() as nursery:
        try:
            actor._nursery = nursery  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError(
                f"{type(actor).__name__} owns tasks but its __slots__ lack '_nursery'"
            ) from None
        try:
            if hooks & H_RUN:
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
            if hooks & H_STOPPING:
                await _shielded(cell, actor.stop_grace, actor.on_stopping)
            nursery.cancel_scope.cancel()


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
    if stopping_pending and hooks & H_STOPPING:
        await _shielded(cell, actor.stop_grace, actor.on_stopping)
    if hooks & H_STOPPED:
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
