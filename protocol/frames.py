"""The WebSocket frames as typed values: one definition each, from which everything else comes.

Client → server commands and the server frames that are not Kafka records live here; the
server frames that *are* Kafka records (``message``, ``typing``, ``presence``) are the records
of ``protocol.events`` themselves, so a frame and its record cannot drift apart.
``protocol.catalog`` lists every one of them with its direction and schema version; the JSON
Schemas, the AsyncAPI document and the generated browser module are all read off these
classes, and the WebSocket parser (``gateway.ws.protocol``) takes the allowed field names of
each command from them.

Field constraints are ``Annotated`` metadata that only the schema generator reads, so the
classes stay plain frozen dataclasses: orjson writes them natively and building one costs
what a dataclass costs (the fan-out path builds one per event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

__all__ = [
    "ID_PATTERN",
    "MAX_SEQ",
    "MAX_TOKEN_CHARS",
    "AckFrame",
    "Auth",
    "Delete",
    "Edit",
    "ErrorFrame",
    "Id",
    "Ping",
    "PongFrame",
    "ProfileFrame",
    "Read",
    "Send",
    "Seq",
    "Subscribe",
    "SubscribedFrame",
    "ThreadFrame",
    "Typing",
    "Unsubscribe",
]

# Same rule as the REST schemas (gateway.schemas._ID_PATTERN; a test keeps them equal).
ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
MAX_TOKEN_CHARS = 16_384
MAX_SEQ = 2**63 - 1

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
Token = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]


# --- client → server ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Auth:
    """The first frame (unless the bearer subprotocol carried the token); later, a refresh."""

    token: Token
    type: Literal["auth"] = "auth"

    def __repr__(self) -> str:  # never print a token into a log or a test report
        return "Auth(token=<redacted>)"


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Follow a thread; ``since_seq`` N >= 0 means "I have everything up to N"."""

    thread_id: Id
    since_seq: Seq
    type: Literal["subscribe"] = "subscribe"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop following a thread."""

    thread_id: Id
    type: Literal["unsubscribe"] = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Send:
    """Post a message; answered by ``ack`` once Kafka has it."""

    thread_id: Id
    client_msg_id: Id
    text: str
    type: Literal["send"] = "send"


@dataclass(frozen=True, slots=True)
class Edit:
    """Change the text of your own message; ``ack`` (its message_id) once Kafka has it, then
    ``message_edited`` with a seq of its own."""

    thread_id: Id
    message_id: Id
    client_msg_id: Id
    text: str
    type: Literal["edit"] = "edit"


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete a message (yours, or any in a thread you created); ``ack``, then
    ``message_deleted``."""

    thread_id: Id
    message_id: Id
    client_msg_id: Id
    type: Literal["delete"] = "delete"


@dataclass(frozen=True, slots=True)
class Typing:
    """The user is typing in a thread (ephemeral)."""

    thread_id: Id
    type: Literal["typing"] = "typing"


@dataclass(frozen=True, slots=True)
class Read:
    """I have read a thread up to ``seq`` (its read marker only moves forward); the
    boot snapshot counts ``unread`` from it. No answer unless refused (``error``)."""

    thread_id: Id
    seq: Seq
    type: Literal["read"] = "read"


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness; answered by ``pong``."""

    type: Literal["ping"] = "ping"


# --- server → client (besides the Kafka records message, typing, presence) ----------------


@dataclass(frozen=True, slots=True)
class AckFrame:
    """A ``send`` was accepted: Kafka acknowledged it; ``message`` with its seq follows."""

    client_msg_id: Id
    message_id: str
    thread_id: Id
    type: Literal["ack"] = "ack"


@dataclass(frozen=True, slots=True)
class SubscribedFrame:
    """Replay done; live from ``last_seq`` + 1; ``online``: others subscribed here now."""

    thread_id: Id
    last_seq: Seq
    online: list[str] | None = None
    type: Literal["subscribed"] = "subscribed"


@dataclass(frozen=True, slots=True)
class ThreadFrame:
    """You are a member of a thread you do not follow yet (created or added): list it; or a
    thread of yours was renamed (``title`` set) or archived (``archived`` true: readable,
    closed to new messages)."""

    thread_id: Id
    members: list[str]
    title: str | None = None
    archived: bool | None = None
    type: Literal["thread"] = "thread"


@dataclass(frozen=True, slots=True)
class ProfileFrame:
    """Someone you share a thread with (or you) changed their display name."""

    user_id: Id
    display_name: str
    type: Literal["profile"] = "profile"


@dataclass(frozen=True, slots=True)
class PongFrame:
    """The answer to ``ping``."""

    type: Literal["pong"] = "pong"


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """A command was refused; ``field`` names what to fix; the connection stays open."""

    code: str
    message: str
    field: str | None = None
    thread_id: str | None = None
    client_msg_id: str | None = None
    retry_after_s: float | None = None
    type: Literal["error"] = "error"
