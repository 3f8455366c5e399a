"""Mailbox policies, the one-shot reply handle used by ask(), and system messages."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import outcome
import trio

if TYPE_CHECKING:
    from ._actor import ActorRef

__all__ = ["Down", "ExitReason", "MailboxPolicy", "Reply"]

T = TypeVar("T")


class MailboxPolicy(enum.Enum):
    """What tell() does when the target's bounded mailbox is full."""

    #: raise MailboxFull to the sender; nothing is queued (commands that must not vanish)
    REJECT = "reject"
    #: discard the oldest queued message to make room (ephemeral traffic: typing, presence)
    DROP_OLDEST = "drop_oldest"
    #: stop the actor as a slow consumer: queued messages are discarded, the send succeeds
    #: silently and later tells raise ActorStopped (a WebSocket that does not read)
    CLOSE_SLOW_CONSUMER = "close_slow_consumer"


class ExitReason(enum.Enum):
    """Why an actor ended for good (carried by Down)."""

    NORMAL = "normal"  #: stopped on request, by itself, or by an orderly shutdown
    FAILED = "failed"  #: crashed and was not restarted (temporary, or its supervisor gave up)
    SLOW_CONSUMER = "slow_consumer"  #: closed by the CLOSE_SLOW_CONSUMER mailbox policy
    PASSIVATED = "passivated"  #: a registry passivated it after its idle timeout


@dataclass(frozen=True, slots=True)
class Down:
    """Told to every watcher when the watched actor ends for good."""

    ref: ActorRef[Any]
    path: str
    reason: ExitReason
    error: BaseException | None = None


class Reply(Generic[T]):
    """One-shot answer channel handed to the target of an ask().

    The first send()/fail() wins; later ones, and answers that arrive after the asker gave up,
    are ignored, so a slow replier never crashes because its asker timed out.
    """

    __slots__ = ("_done", "_outcome", "_task")

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None
        self._outcome: outcome.Outcome[T] | None = None
        self._done = False

    def send(self, value: T) -> None:
        """Answer the asker with `value`."""
        self._resolve(outcome.Value(value))

    def fail(self, error: BaseException) -> None:
        """Make the asker's ask() raise `error`."""
        self._resolve(outcome.Error(error))

    @property
    def done(self) -> bool:
        """True once answered or abandoned by the asker."""
        return self._done

    def _resolve(self, result: outcome.Outcome[T]) -> None:
        if self._done:
            return
        self._done = True
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task, result)
        else:
            self._outcome = result

    async def _wait(self) -> T:
        if self._outcome is not None:
            await trio.lowlevel.checkpoint()
            return self._outcome.unwrap()
        self._task = trio.lowlevel.current_task()

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._task = None
            self._done = True
            return trio.lowlevel.Abort.SUCCEEDED

        value: T = await trio.lowlevel.wait_task_rescheduled(abort)
        return value


def fail_replies(messages: list[object], error: BaseException) -> None:
    """Fail every Reply carried by `messages` (a field of a dataclass message, or an item of a
    tuple message) that has not been answered yet."""
    for msg in messages:
        if dataclasses.is_dataclass(msg) and not isinstance(msg, type):
            values: tuple[object, ...] = tuple(
                getattr(msg, f.name, None) for f in dataclasses.fields(msg)
            )
        elif isinstance(msg, tuple):
            values = msg
        else:
            continue
        for value in values:
            if isinstance(value, Reply):
                value.fail(error)


class _Wake:
    """Sentinel queued to wake an idle actor whose supervisor asked it to stop."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<wake>"


WAKE: Any = _Wake()
