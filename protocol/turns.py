"""An assistant's turn as records: started, delta, finished; and the `stop` command. No I/O.

A turn is an assistant's reply being generated in a thread. It belongs to the thread (the
core that owns the thread runs it), not to a connection. Deltas are not durable: they travel on
a path that may lose them, and a (re)subscribing client gets the text so far in a `started`
record instead, then the deltas after it, with no gap and no duplicate (`TurnText`). The
finished reply is stored once as an ordinary message; `finished` names its `message_id`.

Records (JSON objects, ``type`` "turn" with a ``phase``), the same on the internal path and as
WebSocket frames (server → client)::

    {"type":"turn","phase":"started","thread_id","turn_id","assistant_id","reply_to",
     "message_id","started_at","text","next_index"}
        the turn runs; `text` is everything up to delta `next_index` (both empty/0 when it
        has just begun, more for a client that joins mid-turn)
    {"type":"turn","phase":"delta","thread_id","turn_id","index","text"}
        append `text`; `index` counts from 0 within the turn, one by one
    {"type":"turn","phase":"finished","thread_id","turn_id","status","reason"?,
     "deltas","message_id"?}
        status "complete" | "stopped" (a member stopped it) | "error" (the model failed;
        `reason` says how); `deltas` is how many were sent, so a client knows whether it
        missed the tail; `message_id` is the stored reply (absent if nothing was stored:
        an error before any text)

Client → server (WebSocket)::

    {"type":"stop","thread_id":ID,"turn_id":T}   any member may stop the thread's turn

Bad input follows `protocol.events`: a record that is not a valid turn record raises
`EventDecodeError` naming the field; a record of an unknown phase decodes to None (a newer
writer during a rolling deploy). A `stop` command that is not valid raises `TurnCommandError`
naming the field (the gateway answers it with an error frame; the connection stays open).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field

from protocol.events import EventDecodeError, ReplyStatus
from protocol.frames import Id

__all__ = [
    "MAX_DELTA_CHARS",
    "MAX_REASON_CHARS",
    "StopTurn",
    "TurnCommandError",
    "TurnDelta",
    "TurnFinished",
    "TurnFrame",
    "TurnGapError",
    "TurnRecord",
    "TurnStarted",
    "TurnStatus",
    "TurnText",
    "decode_stop",
    "decode_turn",
    "encode_turn",
    "turn_frame",
]

TurnStatus = ReplyStatus
_STATUSES: tuple[TurnStatus, ...] = ("complete", "stopped", "error")
# One delta is a token or a few; a snapshot (`started.text`) is bounded by the reply's size.
MAX_DELTA_CHARS = 4096
MAX_TEXT_CHARS = 262_144
MAX_REASON_CHARS = 500
MAX_INDEX = 2**31 - 1
# Same rule as gateway.ws.protocol.ID_PATTERN (ids a client may name).
_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class TurnCommandError(ValueError):
    """Raised by `decode_stop` for a command that is not a valid `stop`; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TurnGapError(ValueError):
    """Raised by `TurnText.apply` when a delta skips an index: the client must resubscribe."""


@dataclass(frozen=True, slots=True)
class TurnStarted:
    thread_id: str
    turn_id: str
    assistant_id: str  # the assistant member answering (its user id)
    reply_to: str  # message_id of the message the turn answers
    message_id: str  # the id the finished reply is stored under
    started_at: str
    text: str = ""  # the text so far (mid-turn snapshot)
    next_index: int = 0  # the index of the first delta after `text`
    type: Literal["turn"] = "turn"
    phase: Literal["started"] = "started"


@dataclass(frozen=True, slots=True)
class TurnDelta:
    thread_id: str
    turn_id: str
    index: int
    text: str
    type: Literal["turn"] = "turn"
    phase: Literal["delta"] = "delta"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    thread_id: str
    turn_id: str
    status: TurnStatus
    deltas: int
    reason: str | None = None
    message_id: str | None = None
    type: Literal["turn"] = "turn"
    phase: Literal["finished"] = "finished"

    def __post_init__(self) -> None:
        if self.status != "complete" and not self.reason:
            raise ValueError(f"a turn finished as {self.status!r} needs a reason")


TurnRecord = TurnStarted | TurnDelta | TurnFinished


@dataclass(frozen=True, slots=True)
class TurnFrame:
    """An assistant's turn: `phase` started (text so far, next_index), delta (index, text)
    or finished (status, reason, deltas, message_id).

    One schema for the three phases, for the catalog (a tag has one schema); the records
    above are what the code builds, and `decode_turn` checks each phase's fields.
    """

    thread_id: Annotated[str, Field(min_length=1, max_length=128)]
    turn_id: Annotated[str, Field(min_length=1, max_length=128)]
    phase: Literal["started", "delta", "finished"]
    assistant_id: str | None = None
    reply_to: str | None = None
    message_id: str | None = None
    started_at: str | None = None
    text: str | None = None
    next_index: Annotated[int, Field(ge=0, le=MAX_INDEX)] | None = None
    index: Annotated[int, Field(ge=0, le=MAX_INDEX)] | None = None
    status: Literal["complete", "stopped", "error"] | None = None
    reason: str | None = None
    deltas: Annotated[int, Field(ge=0, le=MAX_INDEX)] | None = None
    type: Literal["turn"] = "turn"


@dataclass(frozen=True, slots=True)
class StopTurn:
    """Stop the thread's running turn `turn_id` (any member may)."""

    thread_id: Id
    turn_id: Id
    type: Literal["stop"] = "stop"


# --- encoding ------------------------------------------------------------------------------


def encode_turn(record: TurnRecord) -> bytes:
    return orjson.dumps(turn_frame(record))


def turn_frame(record: TurnRecord) -> dict[str, Any]:
    """The record as a WebSocket frame object (absent optional fields left out)."""
    return {k: v for k, v in asdict(record).items() if v is not None}


# --- decoding ------------------------------------------------------------------------------


def _load(raw: bytes | str) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"value is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError("value must be a JSON object")
    return obj


def _id(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise EventDecodeError(f"field {key!r} must be a non-empty string of at most 128")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INDEX:
        raise EventDecodeError(f"field {key!r} must be an integer from 0 to {MAX_INDEX}")
    return value


def _text(obj: dict[str, Any], key: str, limit: int, *, empty: bool = True) -> str:
    value = obj.get(key, "" if empty else None)
    if not isinstance(value, str) or len(value) > limit or (not empty and not value):
        size = "a" if empty else "a non-empty"
        raise EventDecodeError(f"field {key!r} must be {size} string of at most {limit} chars")
    return value


def decode_turn(raw: bytes | str) -> TurnRecord | None:
    """A turn record; None for a phase this version does not know."""
    obj = _load(raw)
    if obj.get("type") != "turn":
        raise EventDecodeError(f"field 'type' must be 'turn', not {str(obj.get('type'))[:40]!r}")
    phase = obj.get("phase")
    thread_id, turn_id = _id(obj, "thread_id"), _id(obj, "turn_id")
    if phase == "delta":
        return TurnDelta(
            thread_id, turn_id, _int(obj, "index"), _text(obj, "text", MAX_DELTA_CHARS, empty=False)
        )
    if phase == "started":
        return TurnStarted(
            thread_id=thread_id,
            turn_id=turn_id,
            assistant_id=_id(obj, "assistant_id"),
            reply_to=_id(obj, "reply_to"),
            message_id=_id(obj, "message_id"),
            started_at=_id(obj, "started_at"),
            text=_text(obj, "text", MAX_TEXT_CHARS),
            next_index=_int(obj, "next_index") if "next_index" in obj else 0,
        )
    if phase == "finished":
        status = obj.get("status")
        if status not in _STATUSES:
            raise EventDecodeError("field 'status' must be 'complete', 'stopped' or 'error'")
        reason = obj.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise EventDecodeError(
                f"field 'reason' must be a string of at most {MAX_REASON_CHARS} chars"
            )
        if status != "complete" and not reason:
            raise EventDecodeError(f"field 'reason' is required when the status is {status!r}")
        message_id = _id(obj, "message_id") if obj.get("message_id") is not None else None
        return TurnFinished(
            thread_id, turn_id, status, _int(obj, "deltas"), reason or None, message_id
        )
    if not isinstance(phase, str):
        raise EventDecodeError("field 'phase' must be a string")
    return None


def decode_stop(obj: dict[str, Any]) -> StopTurn:
    """A parsed client command object (the gateway's JSON hygiene already ran) → `StopTurn`."""
    if obj.get("type") != "stop":
        raise TurnCommandError("field 'type' must be 'stop'", field="type")
    for key in ("thread_id", "turn_id"):
        value = obj.get(key)
        if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
            raise TurnCommandError(
                f"field {key!r} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", field=key
            )
    extra = sorted(set(obj) - {"type", "thread_id", "turn_id"})
    if extra:
        name = extra[0][:40]
        raise TurnCommandError(f"field {name!r} is not part of 'stop'", field=name)
    return StopTurn(thread_id=obj["thread_id"], turn_id=obj["turn_id"])


# --- the text of a turn as a subscriber sees it -------------------------------------------


class TurnText:
    """A turn's text from a `started` record and the deltas after it: no gap, no duplicate.

    What a gateway keeps per running turn (to answer a late subscriber with a snapshot) and
    what a client does with the frames it receives.
    """

    def __init__(self, started: TurnStarted) -> None:
        self.turn_id = started.turn_id
        self._parts = [started.text] if started.text else []
        self.next_index = started.next_index

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def apply(self, delta: TurnDelta) -> bool:
        """Append `delta`; False for one already applied; `TurnGapError` when one is missing."""
        if delta.turn_id != self.turn_id:
            raise ValueError(f"delta of turn {delta.turn_id!r} applied to turn {self.turn_id!r}")
        if delta.index < self.next_index:
            return False
        if delta.index > self.next_index:
            raise TurnGapError(
                f"turn {self.turn_id} missed deltas {self.next_index}..{delta.index - 1}"
            )
        self._parts.append(delta.text)
        self.next_index += 1
        return True

    def snapshot(self, started: TurnStarted) -> TurnStarted:
        """`started` carrying the text so far: what a client joining mid-turn receives."""
        return TurnStarted(
            thread_id=started.thread_id,
            turn_id=started.turn_id,
            assistant_id=started.assistant_id,
            reply_to=started.reply_to,
            message_id=started.message_id,
            started_at=started.started_at,
            text=self.text,
            next_index=self.next_index,
        )
