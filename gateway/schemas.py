"""REST request bodies, validated strictly: unknown or server-owned fields are refused.

Validation errors become 422 answers naming the first offending field, so a client learns
exactly what to fix. Text limits are in UTF-8 bytes because that is what is stored and sent.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.refusals import PayloadTooLarge, ValidationFailed

__all__ = [
    "AddMember",
    "CreateThread",
    "EditMessageBody",
    "HistoryQuery",
    "MarkRead",
    "PostMessageBody",
    "PostThreadMessageBody",
    "RenameThread",
    "UpdateProfile",
    "check_text",
    "parse_body",
    "parse_json",
]

M = TypeVar("M", bound=BaseModel)

_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
# Fields the server owns; a client sending them is confused or hostile, so it is told.
SERVER_OWNED = frozenset({"sender_id", "seq", "created_at", "message_id", "accepted_at"})
_MAX_DEPTH = 32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PostMessageBody(_Strict):
    thread_id: str = Field(pattern=_ID_PATTERN)
    text: str
    client_msg_id: str | None = Field(default=None, pattern=_ID_PATTERN)


class PostThreadMessageBody(_Strict):
    text: str
    client_msg_id: str | None = Field(default=None, pattern=_ID_PATTERN)


class EditMessageBody(_Strict):
    """``PATCH /api/threads/{id}/messages/{message_id}``: the new text (sender only)."""

    text: str
    client_msg_id: str | None = Field(default=None, pattern=_ID_PATTERN)


class CreateThread(_Strict):
    title: str = Field(min_length=1, max_length=200)
    members: list[str] = Field(default_factory=list, max_length=1000)


class RenameThread(_Strict):
    """``PATCH /api/threads/{id}``: a new title and/or ``archived: true`` (the creator only;
    archiving is final: the thread stays readable and takes no new messages)."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    archived: bool | None = None


class UpdateProfile(_Strict):
    """``PATCH /api/v1/me``: the signed-in user's display name."""

    display_name: str = Field(max_length=200)


class MarkRead(_Strict):
    """``POST /api/threads/{id}/read``: read up to ``seq`` (the marker only moves forward)."""

    seq: int = Field(ge=0, le=2**63 - 1)


class AddMember(_Strict):
    user_id: str = Field(pattern=_ID_PATTERN)


class HistoryQuery(_Strict):
    after_seq: int | None = Field(default=None, ge=0)
    before_seq: int | None = Field(default=None, ge=1)
    limit: int = Field(default=50, ge=1, le=200)


def _reject_constant(name: str) -> Any:
    raise ValidationFailed(f"JSON constant {name} is not allowed", field="body")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValidationFailed(f"duplicate key {key!r}", field=key)
        obj[key] = value
    return obj


def _depth_ok(raw: str) -> bool:
    # Reject deep nesting before the parser recurses into it.
    if raw.count("[") + raw.count("{") <= _MAX_DEPTH:
        # Cannot nest deeper than it opens; spares the per-character walk for every post.
        return True
    depth = 0
    for ch in raw:
        if ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("body is not valid UTF-8", field="body") from None
    if not _depth_ok(text):
        raise ValidationFailed(f"JSON nested deeper than {_MAX_DEPTH} levels", field="body")
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except ValueError as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(f"body is not valid JSON: {exc}", field="body") from None


def _bounded_int(digits: str) -> int:
    if len(digits) > 18:
        raise ValidationFailed("number too large", field="body")
    return int(digits)


def _finite_float(digits: str) -> float:
    value = float(digits)
    if len(digits) > 40 or not math.isfinite(value):
        raise ValidationFailed("number out of range", field="body")
    return value


def parse_body(model: type[M], payload: Any) -> M:
    if not isinstance(payload, dict):
        raise ValidationFailed("body must be a JSON object", field="body")
    for key in payload:
        # A field of the model itself is the client's to send (a read marker's `seq`).
        if key in SERVER_OWNED and key not in model.model_fields:
            raise ValidationFailed(f"field {key!r} is set by the server", field=key)
        if key.startswith("$") or "." in key:
            raise ValidationFailed(f"field name {key!r} is not allowed", field=key)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None


def check_text(text: str, max_bytes: int) -> str:
    """Return the text if it may be stored; refuse what would corrupt or abuse a thread."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationFailed("text contains a lone surrogate", field="text") from None
    if size > max_bytes:
        raise PayloadTooLarge(f"text is {size} bytes; the limit is {max_bytes}", field="text")
    if not text.strip():
        raise ValidationFailed("text must not be empty", field="text")
    if "\x00" in text:
        raise ValidationFailed("text must not contain NUL characters", field="text")
    return text
