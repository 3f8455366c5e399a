"""Errors raised by the actor runtime.

    ActorError                    base of every error the runtime raises
    ├── ActorStopped              the actor was stopped (Closed: it ended, by request or for good)
    ├── ActorCrashed              ask(): the actor failed while handling this very request
    ├── MailboxFull               tell() to a full mailbox whose policy is REJECT
    ├── AskTimeout                ask() got no reply before its deadline (also a TimeoutError)
    ├── StopTimeout               a child outlived its shutdown timeout; its group was cancelled
    ├── RestartIntensityExceeded  a supervisor gave up (Broken): too many restarts in its window
    ├── NoSuchActor               restart(path): nothing lives at that path
    └── NotRestartable            restart(path): the node may not be restarted by an operator

Following trio's split, *stopped* means "it was closed on purpose" (by a stop request, a
passivation, the slow-consumer policy, or a supervisor that gave up), while
RestartIntensityExceeded means the children kept failing and the failure travels upwards.
"""

from __future__ import annotations

__all__ = [
    "ActorCrashed",
    "ActorError",
    "ActorStopped",
    "AskTimeout",
    "MailboxFull",
    "NoSuchActor",
    "NotRestartable",
    "RestartIntensityExceeded",
    "StopTimeout",
]


class ActorError(Exception):
    """Base of every error raised by the actor runtime."""


class ActorStopped(ActorError):
    """Raised by tell()/ask() when the target actor has stopped and will not run again.

    Also raised when spawning into a supervisor or registry that is not running.
    """

    def __init__(self, path: str, detail: str = "is stopped") -> None:
        super().__init__(f"actor {path} {detail}")
        self.path = path


class ActorCrashed(ActorError):
    """Raised by ask() when the actor crashed while handling the request (it may restart)."""

    def __init__(self, path: str, failure: str) -> None:
        super().__init__(f"actor {path} crashed handling the request: {failure}")
        self.path = path
        self.failure = failure


class MailboxFull(ActorError):
    """Raised by tell() when the mailbox is full and the actor's policy is REJECT."""

    def __init__(self, path: str, capacity: int) -> None:
        super().__init__(f"mailbox of {path} is full ({capacity} messages)")
        self.path = path
        self.capacity = capacity


class AskTimeout(ActorError, TimeoutError):
    """Raised by ask() when no reply arrived within the deadline."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"no reply from {path} within {timeout:g}s")
        self.path = path
        self.timeout = timeout


class StopTimeout(ActorError):
    """Reported when a child did not stop within its shutdown timeout.

    A message-only actor is stopped between two messages; one whose handler hangs past the
    timeout is cancelled together with its whole group (supervisor or registry), which then
    ends with this error and is handled by its own parent like any failure.
    """

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"{path} did not stop within {timeout:g}s; its group was cancelled")
        self.path = path
        self.timeout = timeout


class RestartIntensityExceeded(ActorError):
    """A supervisor saw more than max_restarts failures within its window and gave up.

    The supervisor stops its children and ends with this error, which its parent treats as a
    failure of the supervisor (restart, or escalate again). At the root, the actor system stops
    and open_actor_system()/run_actor_system() raise it. `__cause__` is the last failure.
    """

    def __init__(self, path: str, max_restarts: int, within: float, cause: BaseException | None):
        what = f"{type(cause).__name__}: {cause}" if cause is not None else "a child ended"
        super().__init__(
            f"supervisor {path} gave up after {max_restarts} restarts within {within:g}s; "
            f"last failure: {what}"
        )
        self.path = path
        self.max_restarts = max_restarts
        self.within = within
        self.cause = cause


class NoSuchActor(ActorError, LookupError):
    """Raised by ActorSystem.restart() when no live node has the given path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no actor at {path}")
        self.path = path


class NotRestartable(ActorError):
    """Raised by ActorSystem.restart() for a node an operator may not restart: the root, a
    service (its stop is a drain), a temporary actor, or a group holding one of those."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path} {why}")
        self.path = path
        self.why = why
