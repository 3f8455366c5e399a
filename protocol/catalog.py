"""Every payload Parley puts on a wire, listed once, with the JSON Schema read off its model.

    PAYLOADS    (tag, model, channels, version) for every WebSocket frame and Kafka record
    schema_of   the JSON Schema (2020-12, draft-07 compatible) of one payload
    ws_schemas  {"client": {tag: schema}, "server": {tag: schema}}: what the browser checks

The models are the frozen dataclasses of ``protocol.frames`` and ``protocol.events``; pydantic
only *reads* them here (``TypeAdapter(...).json_schema()``), so the hot paths keep encoding
with orjson and decoding by hand, and the tests hold those hand-written paths to these
schemas with one set of fixtures (tests/protocol/fixtures/frames.json).

Versions: each payload has a schema version (``Payload.version``, 1 for all today). A frame
may carry it as ``"v"``; a frame without ``v`` is version 1, so the frames external clients
send today stay valid. A reader refuses a client command with a version it does not know
(``error`` frame naming ``v``); a Kafka record of an unknown version is skipped like an
unknown tag. Client commands allow no other fields (``additionalProperties: false``); server
frames may grow fields (additive changes), so their schemas allow extra ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from protocol.domain import (
    MemberAdded,
    MemberRemoved,
    MessageDeletedEvent,
    MessageEditedEvent,
    ThreadArchived,
    ThreadCreated,
    ThreadRenamed,
    UserProfileUpdated,
)
from protocol.events import (
    DeleteMessage,
    EditMessage,
    MembershipEvent,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    PostMessage,
    PresenceEvent,
    ProfileEvent,
    TurnStopRequest,
    TypingEvent,
)
from protocol.frames import (
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
from protocol.plugins import PluginVersion
from protocol.turns import StopTurn, TurnFrame

__all__ = [
    "PAYLOADS",
    "Channel",
    "Payload",
    "field_names",
    "payloads_on",
    "schema_of",
    "ws_schemas",
]

Channel = Literal[
    "ws.client", "ws.server", "chat.commands", "chat.events", "chat.turns", "domain-changes",
    "plugin-versions",
]


@dataclass(frozen=True, slots=True)
class Payload:
    """One payload: its ``type`` tag, the model that defines it, where it travels."""

    tag: str
    model: type[Any]
    channels: tuple[Channel, ...]
    version: int = 1

    @property
    def name(self) -> str:
        return self.model.__name__


PAYLOADS: tuple[Payload, ...] = (
    Payload("auth", Auth, ("ws.client",)),
    Payload("subscribe", Subscribe, ("ws.client",)),
    Payload("unsubscribe", Unsubscribe, ("ws.client",)),
    Payload("send", Send, ("ws.client",)),
    Payload("typing", Typing, ("ws.client",)),
    Payload("ping", Ping, ("ws.client",)),
    Payload("edit", Edit, ("ws.client",)),
    Payload("delete", Delete, ("ws.client",)),
    Payload("read", Read, ("ws.client",)),
    Payload("stop", StopTurn, ("ws.client",)),
    Payload("message", MessageEvent, ("ws.server", "chat.events")),
    Payload("message_edited", MessageEdited, ("ws.server", "chat.events")),
    Payload("message_deleted", MessageDeleted, ("ws.server", "chat.events")),
    Payload("ack", AckFrame, ("ws.server",)),
    Payload("subscribed", SubscribedFrame, ("ws.server",)),
    Payload("thread", ThreadFrame, ("ws.server",)),
    Payload("profile", ProfileFrame, ("ws.server",)),
    Payload("typing", TypingEvent, ("ws.server", "chat.events")),
    Payload("presence", PresenceEvent, ("ws.server", "chat.events")),
    Payload("pong", PongFrame, ("ws.server",)),
    Payload("error", ErrorFrame, ("ws.server",)),
    Payload("turn", TurnFrame, ("ws.server", "chat.turns")),
    Payload("post", PostMessage, ("chat.commands",)),
    Payload("edit", EditMessage, ("chat.commands",)),
    Payload("delete", DeleteMessage, ("chat.commands",)),
    Payload("turn.stop", TurnStopRequest, ("chat.commands",)),
    Payload("membership", MembershipEvent, ("chat.events",)),
    Payload("profile", ProfileEvent, ("chat.events",)),
    Payload("thread.created", ThreadCreated, ("domain-changes",)),
    Payload("thread.renamed", ThreadRenamed, ("domain-changes",)),
    Payload("member.added", MemberAdded, ("domain-changes",)),
    Payload("member.removed", MemberRemoved, ("domain-changes",)),
    Payload("thread.archived", ThreadArchived, ("domain-changes",)),
    Payload("message.edited", MessageEditedEvent, ("domain-changes",)),
    Payload("message.deleted", MessageDeletedEvent, ("domain-changes",)),
    Payload("user.profile_updated", UserProfileUpdated, ("domain-changes",)),
    Payload("plugin.version", PluginVersion, ("plugin-versions",)),
)


def payloads_on(channel: Channel) -> tuple[Payload, ...]:
    return tuple(p for p in PAYLOADS if channel in p.channels)


def field_names(model: type[Any]) -> frozenset[str]:
    """The wire fields of a model (every dataclass field, ``type`` included, plus ``v``)."""
    return frozenset(f.name for f in dataclasses.fields(model)) | {"v"}


def schema_of(payload: Payload) -> dict[str, Any]:
    raw = TypeAdapter(payload.model).json_schema()
    properties: dict[str, Any] = {}
    for name, prop in raw.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        if name == "type":
            prop = {"const": payload.tag}
        properties[name] = prop
    properties["v"] = {
        "const": payload.version,
        "description": "schema version; absent means 1",
    }
    required = [n for n in raw.get("required", []) if n != "type"]
    schema: dict[str, Any] = {
        "title": payload.name,
        "description": _doc(payload.model),
        "type": "object",
        "properties": properties,
        "required": ["type", *required],
        "x-parley-version": payload.version,
    }
    if "ws.client" in payload.channels:
        schema["additionalProperties"] = False
    return schema


def ws_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "client": {p.tag: schema_of(p) for p in payloads_on("ws.client")},
        "server": {p.tag: schema_of(p) for p in payloads_on("ws.server")},
    }


def _doc(model: type[Any]) -> str:
    doc = (model.__doc__ or "").strip()
    if doc.startswith(f"{model.__name__}("):  # dataclass's generated signature, not prose
        return model.__name__
    return " ".join(doc.split("\n\n")[0].split())
