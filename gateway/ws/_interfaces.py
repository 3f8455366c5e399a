"""The interfaces a WebSocket connection needs from the rest of the gateway, checked by mypy.

The gateway's assembly provides these (the token verifier, the ingest, the thread
directory); unit tests pass in-memory fakes of these same interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio

    from gateway.auth import Principal
    from protocol.events import PresenceEvent, ThreadEvent, TypingEvent
    from protocol.refusals import Refusal

__all__ = [
    "AcceptedMessage",
    "ConnectionServices",
    "Intake",
    "PlainHttp",
    "ThreadAccess",
    "Verifier",
]


class PlainHttp(Protocol):
    """What the fast listener does with a connection that is not a WebSocket handshake
    (the gateway's REST posting routes: `gateway.fast_posts`)."""

    async def serve(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        """Answer requests on ``stream``; ``prefix`` is what was already read from it."""
        ...

    async def drain(self) -> None:
        """After the drain began: close the connections once requests went quiet."""
        ...


class Verifier(Protocol):
    async def verify(self, token: object) -> Principal:
        """The token's principal, or a ``protocol.refusals.InvalidToken`` subclass."""
        ...


class AcceptedMessage(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def thread_id(self) -> str: ...


class Intake(Protocol):
    async def submit(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
        on_outcome: Callable[[AcceptedMessage | Refusal], None],
    ) -> None:
        """Queue the message for Kafka; ``on_outcome`` gets the ack or the refusal later.

        Refusals found before producing (validation, membership, rate) are raised here as
        ``protocol.refusals.Refusal`` subclasses, and ``on_outcome`` is then never called.
        """
        ...

    async def accept_change(
        self,
        principal: Principal,
        thread_id: str,
        message_id: str,
        text: str | None,
        client_msg_id: str | None,
        via: str,
    ) -> AcceptedMessage:
        """An edit (``text``) or a delete (``text`` None); returns once Kafka has it, or
        raises the refusal (not a member, not the sender or the creator, no such message)."""
        ...

    async def publish_ephemeral(self, event: TypingEvent | PresenceEvent) -> None: ...

    async def request_stop(self, principal: Principal, thread_id: str, turn_id: str) -> str:
        """Ask the thread's core to stop turn ``turn_id``; returns once Kafka has it, or
        raises the refusal (not a member, bad id, shutting down)."""
        ...


class ThreadAccess(Protocol):
    async def require_member(self, user_id: str, thread_id: str) -> None:
        """Raises ``protocol.refusals.Forbidden`` or ``NotFound``."""
        ...

    async def history(self, thread_id: str, after_seq: int, limit: int) -> list[ThreadEvent]:
        """Stored messages with seq > after_seq, ascending, at most ``limit``."""
        ...

    async def mark_read(self, user_id: str, thread_id: str, seq: int) -> dict[str, Any]:
        """Raise the user's read marker; raises the refusal (not a member, seq too high)."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectionServices:
    verifier: Verifier
    ingest: Intake
    threads: ThreadAccess
