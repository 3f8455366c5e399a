"""The Parley WebSocket protocol without I/O: client commands in, server frames out.

Client → server (JSON text frames)::

    {"type":"auth","token":T}                       first frame (unless the bearer subprotocol
                                                     carried the token); later: refresh
    {"type":"subscribe","thread_id":ID,"since_seq":N}   N >= 0: "I have everything up to N"
    {"type":"unsubscribe","thread_id":ID}
    {"type":"send","thread_id":ID,"client_msg_id":C,"text":S}
    {"type":"typing","thread_id":ID}
    {"type":"ping"}
    {"type":"edit","thread_id":ID,"message_id":M,"client_msg_id":C,"text":S}   sender only
    {"type":"delete","thread_id":ID,"message_id":M,"client_msg_id":C}  sender or creator
    {"type":"read","thread_id":ID,"seq":N}          read up to N (the marker only moves forward)
    {"type":"stop","thread_id":ID,"turn_id":T}      stop an assistant's turn (any member)

Server → client (a frame holds one object, or on the HTTP-port route a JSON array of them)::

    {"type":"message","thread_id","seq","message_id","sender_id","text","created_at"}
    {"type":"message_edited","thread_id","seq","change_id","message_id","editor_id","text",
     "edited_at"}                                    an edit, with a seq of its own
    {"type":"message_deleted","thread_id","seq","change_id","message_id","deleted_by",
     "deleted_at"}                                   a delete, with a seq of its own
    {"type":"ack","client_msg_id","message_id","thread_id"}
    {"type":"subscribed","thread_id","last_seq","online"}  replay done; live from last_seq + 1;
                                                      online: others subscribed here now
    {"type":"thread","thread_id","members","title"?,"archived"?}  you are a member of a thread
                                                      you do not follow yet (created or added):
                                                      list it; with title: a thread of yours was
                                                      renamed; archived: it was archived
    {"type":"profile","user_id","display_name"}      someone you share a thread with renamed
                                                      themselves
    {"type":"typing","thread_id","user_id"}
    {"type":"presence","thread_id","user_id","status":"online"|"offline"}
    {"type":"turn","phase":"started"|"delta"|"finished","thread_id","turn_id",...}
                                                      an assistant's reply as it streams
                                                      (protocol.turns: a subscriber joining
                                                      mid-turn gets `started` with the text
                                                      so far, then the deltas after it)
    {"type":"pong"}
    {"type":"error","code","message","field"?,"thread_id"?,"client_msg_id"?,"retry_after_s"?}

Close codes (``CloseCode``): 1000 normal · 1001 server going away (drain: reconnect
elsewhere) · 1003 binary frame · 1007 invalid UTF-8 or invalid JSON · 1008 policy (auth
missing/invalid/expired, Origin refused, too many connections, rate abuse) · 1009 frame
too big · 1011 internal error · 1013 try again later (identity or store not ready) ·
4000 slow consumer (the mailbox overflowed): reconnect and subscribe with ``since_seq``
set to the last seq received; nothing is lost.

Every frame is a model of ``protocol.frames`` (or a record of ``protocol.events``) listed in
``protocol.catalog``, which also gives the JSON Schemas, ``/asyncapi.json`` and the browser's
``frontend/app/protocol.js``. A command may carry its schema version as ``"v"`` (absent: 1);
a version this server does not speak, or a field its model does not have, is refused with an
``error`` frame naming the field.

Hostile JSON is refused with ``FrameRejected`` (close 1007): NaN/Infinity, duplicate keys,
numbers beyond 64 bits, lone surrogates, nesting deeper than a command ever needs. A valid
JSON object that is not a valid command raises ``CommandInvalid`` naming the field (an
``error`` frame; the connection stays open).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

import orjson

from gateway.ws._errors import CommandInvalid, FrameRejected
from protocol.catalog import Payload, field_names, payloads_on
from protocol.events import (
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    PresenceEvent,
    TypingEvent,
)
from protocol.frames import (
    ID_PATTERN,
    MAX_SEQ,
    MAX_TOKEN_CHARS,
    AckFrame,
    Auth,
    Delete,
    Edit,
    ErrorFrame,
    Ping,
    PongFrame,
    ProfileFrame,
    Read,
    Send,
    Subscribe,
    SubscribedFrame,
    ThreadFrame,
    Typing,
    Unsubscribe,
)
from protocol.turns import StopTurn

__all__ = [
    "PONG",
    "Auth",
    "CloseCode",
    "Command",
    "Delete",
    "Edit",
    "Ping",
    "Read",
    "Send",
    "StopTurn",
    "Subscribe",
    "Typing",
    "Unsubscribe",
    "ack_frame",
    "close_reason",
    "encode_event",
    "error_frame",
    "parse_command",
    "profile_frame",
    "subscribed_frame",
    "text_frame_header",
    "thread_frame",
    "wire_text_frame",
]


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN_LATER = 1013
    SLOW_CONSUMER = 4000


# Fields only the server sets; a client that sends them gets a clear refusal.
SERVER_OWNED = frozenset({"sender_id", "seq", "created_at", "message_id", "accepted_at"})
_ID_RE = re.compile(ID_PATTERN)
_SCALARS = (str, int, float, bool, type(None))
_MAX_CLOSE_REASON_BYTES = 123


Command = (
    Auth | Subscribe | Unsubscribe | Send | Typing | Ping | Edit | Delete | Read | StopTurn
)


# --- parsing ------------------------------------------------------------------------------


def _id(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or _ID_RE.match(value) is None:
        raise CommandInvalid(
            f"field {key!r} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", field=key
        )
    return value


def _seq(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQ:
        raise CommandInvalid(f"field {key!r} must be an integer >= 0", field=key)
    return value


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise CommandInvalid(f"field {key!r} must be a string", field=key)
    return value


def _token(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN_CHARS:
        raise CommandInvalid(
            f"field {key!r} must be a non-empty string of at most {MAX_TOKEN_CHARS} characters",
            field=key,
        )
    return value


# How a field is checked, by the name of its annotation in protocol.frames (the models are
# written with `from __future__ import annotations`, so a field's type is that name).
_CHECKS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "Id": _id,
    "Seq": _seq,
    "str": _string,
    "Token": _token,
}


@dataclass(frozen=True, slots=True)
class _Reader:
    """What the catalog says of one command: its model, fields with their checks, version."""

    model: Callable[..., Command]
    allowed: frozenset[str]
    checks: tuple[tuple[str, Callable[[dict[str, Any], str], Any]], ...]
    version: int


def _reader(payload: Payload) -> _Reader:
    checks = []
    for f in fields(payload.model):
        if f.name == "type":
            continue
        check = _CHECKS.get(str(f.type))
        if check is None:  # a new kind of field in a command: teach the parser its rule
            raise TypeError(f"{payload.name}.{f.name}: no check for a {f.type!r} field")
        checks.append((f.name, check))
    return _Reader(payload.model, field_names(payload.model), tuple(checks), payload.version)


# Every client command, read off protocol.catalog alone: adding one there is all it takes.
_READERS = {p.tag: _reader(p) for p in payloads_on("ws.client")}


def parse_command(text: str) -> Command:
    """One client text frame → a command; ``FrameRejected`` or ``CommandInvalid`` otherwise."""
    obj = _load(text)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise CommandInvalid("field 'type' must be a string", field="type")
    reader = _READERS.get(kind)
    if reader is None:
        raise CommandInvalid(f"unknown command type {kind[:40]!r}", field="type")
    if not reader.allowed.issuperset(obj):
        _refuse_extra(obj, reader.allowed)
    if "v" in obj and (type(obj["v"]) is not int or obj["v"] != reader.version):
        raise CommandInvalid(
            f"field 'v': schema version {str(obj['v'])[:20]} of {kind[:40]!r} is not "
            f"supported (this server speaks {reader.version})",
            field="v",
        )
    return reader.model(**{name: check(obj, name) for name, check in reader.checks})


def _refuse_extra(obj: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(k for k in obj if k not in allowed)
    for key in extra:
        if key in SERVER_OWNED:
            raise CommandInvalid(f"field {key!r} is set by the server", field=key)
    key = extra[0][:40]
    raise CommandInvalid(f"field {key!r} is not part of a {obj['type']!r} command", field=key)


def _load(text: str) -> dict[str, Any]:
    try:
        # orjson refuses NaN/Infinity, lone surrogates, numbers beyond a double and nesting
        # past 1024 levels, all without recursion in Python.
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameRejected(f"frame is not valid JSON: {_short(str(exc))}") from None
    if not isinstance(obj, dict):
        raise CommandInvalid("a command must be a JSON object")
    for key, value in obj.items():
        if not isinstance(value, _SCALARS):
            raise CommandInvalid(
                f"field {key[:40]!r} must not be an object or an array", field=key[:40]
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SEQ:
            raise FrameRejected(f"field {key[:40]!r} holds a number out of range")
    # orjson keeps the last of duplicate keys silently; a second, flat-only parse finds them
    # (flat, so the stdlib parser cannot recurse).
    json.loads(text, object_pairs_hook=_refuse_duplicates)
    return obj


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise FrameRejected(f"duplicate key {key[:40]!r}")
        seen[key] = value
    return seen


def _short(text: str) -> str:
    return text[:80]


# --- server frames ------------------------------------------------------------------------

PONG = orjson.dumps(PongFrame())


def encode_event(
    event: MessageEvent | TypingEvent | PresenceEvent | MessageEdited | MessageDeleted,
) -> bytes:
    """The JSON payload of one event frame (``message``, ``typing``, ``presence``, or a
    ``message_edited`` / ``message_deleted`` change)."""
    if isinstance(event, MessageEvent):
        return orjson.dumps(event.client_frame())
    return orjson.dumps(event)


def ack_frame(client_msg_id: str, message_id: str, thread_id: str) -> bytes:
    return orjson.dumps(AckFrame(client_msg_id, message_id, thread_id))


def thread_frame(
    thread_id: str, members: list[str], title: str | None = None, archived: bool | None = None
) -> bytes:
    return _without_none(ThreadFrame(thread_id, members, title, archived))


def profile_frame(user_id: str, display_name: str) -> bytes:
    return orjson.dumps(ProfileFrame(user_id, display_name))


def subscribed_frame(thread_id: str, last_seq: int, online: list[str] | None = None) -> bytes:
    return _without_none(SubscribedFrame(thread_id, last_seq, online))


def _without_none(frame: SubscribedFrame | ErrorFrame | ThreadFrame) -> bytes:
    # Optional fields are left out rather than sent as null (what clients have always seen).
    return orjson.dumps(
        {f.name: v for f in fields(frame) if (v := getattr(frame, f.name)) is not None}
    )


def error_frame(
    code: str,
    message: str,
    *,
    field: str | None = None,
    thread_id: str | None = None,
    client_msg_id: str | None = None,
    retry_after_s: float | None = None,
) -> bytes:
    retry = None if retry_after_s is None else round(retry_after_s, 3)
    return _without_none(ErrorFrame(code, message, field, thread_id, client_msg_id, retry))


def close_reason(text: str) -> str:
    """A close reason cut to RFC 6455's 123 bytes without splitting a character."""
    return text.encode("utf-8")[:_MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")


# --- wire framing (server → client frames are never masked) -------------------------------


def text_frame_header(length: int) -> bytes:
    """The header of one final, unmasked text frame carrying ``length`` payload bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65_536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def wire_text_frame(payload: bytes) -> bytes:
    """A complete server text frame: identical bytes for every recipient, so built once."""
    return text_frame_header(len(payload)) + payload
