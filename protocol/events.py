"""The records that cross Kafka, in one place: what a gateway produces and a core consumes.

    chat.commands  key=thread_id  value=PostMessage      (accepted, not yet stored; an
                                                            assistant's reply has a turn_id)
                                        | EditMessage      (an edit by the sender, accepted)
                                        | DeleteMessage    (a delete, accepted)
                                        | TurnStopRequest  (a member asked to stop a turn: on
                                                            the thread's partition, so it
                                                            reaches the core that runs it)
    chat.events    key=thread_id  value=MessageEvent     (stored, with its per-thread seq)
                                        | MessageEdited    (stored, with a seq of its own)
                                        | MessageDeleted   (stored, with a seq of its own)
                                        | TypingEvent      (ephemeral, never stored)
                                        | PresenceEvent    (ephemeral, never stored)
                                        | MembershipEvent  (members changed: gateways re-check)

Values are compact JSON objects with a ``type`` tag; unknown tags are ignored by readers so
that a newer producer never breaks an older gateway during a rolling deploy. Each record's JSON
Schema and version come from ``protocol.catalog`` (the ``Annotated`` constraints below are
what the schemas say; the decoders here enforce the same by hand, because they are on the hot
path). A record may carry its schema version as ``"v"``; one this reader does not know is
skipped like an unknown tag (an event) or refused (a command).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field

__all__ = [
    "ChangeCommand",
    "DeleteMessage",
    "EditMessage",
    "Event",
    "EventDecodeError",
    "MembershipEvent",
    "MessageChange",
    "MessageDeleted",
    "MessageEdited",
    "MessageEvent",
    "PostMessage",
    "PresenceEvent",
    "ProfileEvent",
    "ThreadCommand",
    "ThreadEvent",
    "TurnStopRequest",
    "TypingEvent",
    "decode_command",
    "decode_event",
    "decode_thread_command",
    "encode",
    "utc_now_iso",
]


def utc_now_iso() -> str:
    """Server time as clients see it: ISO 8601, milliseconds, UTC with a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Every record here is at version 1 (protocol.catalog.Payload.version says so per payload).
SCHEMA_VERSION = 1

# Constraints the JSON Schemas carry (protocol.catalog); decoding below enforces the same.
NonEmpty = Annotated[str, Field(min_length=1)]
# How an assistant's turn ended (protocol.turns.TurnStatus is this type); on its stored reply.
ReplyStatus = Literal["complete", "stopped", "error"]
_REPLY_STATUSES: tuple[ReplyStatus, ...] = ("complete", "stopped", "error")
PositiveSeq = Annotated[int, Field(ge=1, le=2**63 - 1)]


class EventDecodeError(ValueError):
    """Raised when a Kafka record is not a valid Parley record; the reason names the field."""


@dataclass(frozen=True, slots=True)
class PostMessage:
    """A message the gateway accepted: Kafka has it, no store has it yet."""

    message_id: NonEmpty
    thread_id: NonEmpty
    sender_id: NonEmpty
    text: str
    created_at: NonEmpty
    client_msg_id: str | None = None
    # Set on an assistant's reply: the turn that produced it (its message_id derives from it),
    # how the turn ended, and why when it did not complete (stopped or error).
    turn_id: str | None = None
    turn_status: ReplyStatus | None = None
    turn_reason: str | None = None
    type: Literal["post"] = "post"


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A stored message with its per-thread sequence number; what clients receive."""

    thread_id: NonEmpty
    seq: PositiveSeq
    message_id: NonEmpty
    sender_id: NonEmpty
    text: str
    created_at: NonEmpty
    client_msg_id: str | None = None
    # Set only when read back from the store after a change (history, replay): the current
    # text was edited at edited_at, or the message was deleted (text "" then; seq stays).
    edited_at: str | None = None
    deleted_at: str | None = None
    # An assistant's reply: the turn that produced it (`turn` frames named the same id), how
    # it ended (complete, stopped, error: the `finished` frame's status) and, when it did not
    # complete, why (the `finished` frame's reason).
    turn_id: str | None = None
    turn_status: ReplyStatus | None = None
    turn_reason: str | None = None
    type: Literal["message"] = "message"

    def client_frame(self) -> dict[str, Any]:
        # Built field by field (not dataclasses.asdict, which copies recursively): this runs
        # once per event on the fan-out path. Optional fields are left out when unset.
        frame: dict[str, Any] = {
            "thread_id": self.thread_id,
            "seq": self.seq,
            "message_id": self.message_id,
            "sender_id": self.sender_id,
            "text": self.text,
            "created_at": self.created_at,
        }
        if self.client_msg_id is not None:
            frame["client_msg_id"] = self.client_msg_id
        if self.edited_at is not None:
            frame["edited_at"] = self.edited_at
        if self.deleted_at is not None:
            frame["deleted_at"] = self.deleted_at
        if self.turn_id is not None:
            frame["turn_id"] = self.turn_id
        if self.turn_status is not None:
            frame["turn_status"] = self.turn_status
        if self.turn_reason is not None:
            frame["turn_reason"] = self.turn_reason
        frame["type"] = "message"
        return frame


@dataclass(frozen=True, slots=True)
class EditMessage:
    """An edit the gateway accepted (the sender changes the text): Kafka has it, no store yet.

    ``change_id`` (UUIDv7, from the gateway) makes storing it idempotent, like a message_id.
    """

    change_id: NonEmpty
    thread_id: NonEmpty
    message_id: NonEmpty
    editor_id: NonEmpty
    text: str
    edited_at: NonEmpty
    type: Literal["edit"] = "edit"


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    """A delete the gateway accepted (by the sender or the thread's creator)."""

    change_id: NonEmpty
    thread_id: NonEmpty
    message_id: NonEmpty
    deleted_by: NonEmpty
    deleted_at: NonEmpty
    type: Literal["delete"] = "delete"


@dataclass(frozen=True, slots=True)
class TurnStopRequest:
    """A member asked to stop an assistant's turn (WebSocket `stop` or REST), accepted.

    Keyed by thread_id like every command, so it lands on the partition of the core whose
    ThreadActor runs the turn; a turn that already finished ignores it.
    """

    thread_id: NonEmpty
    turn_id: NonEmpty
    stopped_by: NonEmpty
    requested_at: NonEmpty
    type: Literal["turn.stop"] = "turn.stop"


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """A stored edit, with a seq of its own in the thread: replayed after ``since_seq``."""

    thread_id: NonEmpty
    seq: PositiveSeq
    change_id: NonEmpty
    message_id: NonEmpty
    editor_id: NonEmpty
    text: str
    edited_at: NonEmpty
    type: Literal["message_edited"] = "message_edited"


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """A stored delete, with a seq of its own; the message's text is gone from the store."""

    thread_id: NonEmpty
    seq: PositiveSeq
    change_id: NonEmpty
    message_id: NonEmpty
    deleted_by: NonEmpty
    deleted_at: NonEmpty
    type: Literal["message_deleted"] = "message_deleted"


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """Someone is typing in a thread (ephemeral, never stored)."""

    thread_id: NonEmpty
    user_id: NonEmpty
    type: Literal["typing"] = "typing"


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A user's first connection to a thread opened (online) or its last one closed."""

    thread_id: NonEmpty
    user_id: NonEmpty
    status: Literal["online", "offline"]
    type: Literal["presence"] = "presence"


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    """Members of a thread changed (gateways drop subscriptions of removed users), or its
    title did (``title`` set) or it was archived (``archived``): every member's connection
    is told of those two."""

    thread_id: NonEmpty
    members: tuple[str, ...]
    title: str | None = None
    archived: bool = False
    type: Literal["membership"] = "membership"


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """A user changed their display name; every gateway tells the connections of
    ``audience`` (the users who share a thread with them, and they themselves)."""

    user_id: NonEmpty
    display_name: str
    audience: tuple[str, ...]
    type: Literal["profile"] = "profile"


ChangeCommand = EditMessage | DeleteMessage
ThreadCommand = PostMessage | ChangeCommand | TurnStopRequest
MessageChange = MessageEdited | MessageDeleted
# What a thread's log holds, each with its own seq: a replay sends these in seq order.
ThreadEvent = MessageEvent | MessageChange
Event = MessageEvent | TypingEvent | PresenceEvent | MembershipEvent | MessageChange | ProfileEvent


def encode(record: ThreadCommand | Event) -> bytes:
    return orjson.dumps(record)


def _str(obj: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise EventDecodeError(f"field {key!r} must be a non-empty string")
    return value


def _load(raw: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"value is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError("value must be a JSON object")
    return obj


def decode_command(raw: bytes) -> PostMessage:
    obj = _load(raw)
    if obj.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise EventDecodeError(
            f"field 'v': schema version {str(obj.get('v'))[:20]} is not supported"
        )
    if obj.get("type") != "post":
        raise EventDecodeError(f"unknown command type {obj.get('type')!r}")
    return PostMessage(
        message_id=_str(obj, "message_id"),
        thread_id=_str(obj, "thread_id"),
        sender_id=_str(obj, "sender_id"),
        text=_text(obj),
        created_at=_str(obj, "created_at"),
        client_msg_id=_str(obj, "client_msg_id", optional=True),
        turn_id=_str(obj, "turn_id", optional=True),
        turn_status=_reply_status(obj),
        turn_reason=_str(obj, "turn_reason", optional=True),
    )


def _reply_status(obj: dict[str, Any]) -> ReplyStatus | None:
    status = obj.get("turn_status")
    if status is None:
        return None
    for known in _REPLY_STATUSES:
        if status == known:
            return known
    raise EventDecodeError("field 'turn_status' must be 'complete', 'stopped' or 'error'")


def decode_thread_command(raw: bytes) -> ThreadCommand:
    """Decode any chat.commands value: a post, an edit or a delete."""
    obj = _load(raw)
    kind = obj.get("type")
    if kind == "post":
        return decode_command(raw)
    if obj.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise EventDecodeError(
            f"field 'v': schema version {str(obj.get('v'))[:20]} is not supported"
        )
    if kind == "edit":
        return EditMessage(
            change_id=_str(obj, "change_id"),
            thread_id=_str(obj, "thread_id"),
            message_id=_str(obj, "message_id"),
            editor_id=_str(obj, "editor_id"),
            text=_text(obj),
            edited_at=_str(obj, "edited_at"),
        )
    if kind == "delete":
        return DeleteMessage(
            change_id=_str(obj, "change_id"),
            thread_id=_str(obj, "thread_id"),
            message_id=_str(obj, "message_id"),
            deleted_by=_str(obj, "deleted_by"),
            deleted_at=_str(obj, "deleted_at"),
        )
    if kind == "turn.stop":
        return TurnStopRequest(
            thread_id=_str(obj, "thread_id"),
            turn_id=_str(obj, "turn_id"),
            stopped_by=_str(obj, "stopped_by"),
            requested_at=_str(obj, "requested_at"),
        )
    raise EventDecodeError(f"unknown command type {str(kind)[:40]!r}")


def _seq_of(obj: dict[str, Any]) -> int:
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise EventDecodeError("field 'seq' must be a positive integer")
    return seq


def _text(obj: dict[str, Any]) -> str:
    text = obj.get("text")
    if not isinstance(text, str):
        raise EventDecodeError("field 'text' must be a string")
    return text


def decode_event(raw: bytes) -> Event | None:
    """Decode a chat.events value; None for a tag this version does not know."""
    obj = _load(raw)
    if obj.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        return None  # a newer writer's record: skipped like an unknown tag
    kind = obj.get("type")
    if kind == "message":
        seq = obj.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise EventDecodeError("field 'seq' must be a positive integer")
        return MessageEvent(
            thread_id=_str(obj, "thread_id"),
            seq=seq,
            message_id=_str(obj, "message_id"),
            sender_id=_str(obj, "sender_id"),
            text=_text(obj),
            created_at=_str(obj, "created_at"),
            client_msg_id=_str(obj, "client_msg_id", optional=True),
            turn_id=_str(obj, "turn_id", optional=True),
            turn_status=_reply_status(obj),
            turn_reason=_str(obj, "turn_reason", optional=True),
        )
    if kind == "typing":
        return TypingEvent(thread_id=_str(obj, "thread_id"), user_id=_str(obj, "user_id"))
    if kind == "presence":
        status = obj.get("status")
        if status not in ("online", "offline"):
            raise EventDecodeError("field 'status' must be 'online' or 'offline'")
        return PresenceEvent(
            thread_id=_str(obj, "thread_id"), user_id=_str(obj, "user_id"), status=status
        )
    if kind == "message_edited":
        return MessageEdited(
            thread_id=_str(obj, "thread_id"),
            seq=_seq_of(obj),
            change_id=_str(obj, "change_id"),
            message_id=_str(obj, "message_id"),
            editor_id=_str(obj, "editor_id"),
            text=_text(obj),
            edited_at=_str(obj, "edited_at"),
        )
    if kind == "message_deleted":
        return MessageDeleted(
            thread_id=_str(obj, "thread_id"),
            seq=_seq_of(obj),
            change_id=_str(obj, "change_id"),
            message_id=_str(obj, "message_id"),
            deleted_by=_str(obj, "deleted_by"),
            deleted_at=_str(obj, "deleted_at"),
        )
    if kind == "membership":
        members = obj.get("members")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise EventDecodeError("field 'members' must be a list of strings")
        title = obj.get("title")
        return MembershipEvent(
            thread_id=_str(obj, "thread_id"),
            members=tuple(members),
            title=title if isinstance(title, str) else None,
            archived=obj.get("archived") is True,
        )
    if kind == "profile":
        audience = obj.get("audience")
        if not isinstance(audience, list) or not all(isinstance(m, str) for m in audience):
            raise EventDecodeError("field 'audience' must be a list of strings")
        name = obj.get("display_name")
        if not isinstance(name, str):
            raise EventDecodeError("field 'display_name' must be a string")
        return ProfileEvent(
            user_id=_str(obj, "user_id"), display_name=name, audience=tuple(audience)
        )
    return None
