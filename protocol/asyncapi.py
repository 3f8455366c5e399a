"""The AsyncAPI 3 document of Parley's WebSocket protocol and Kafka records (``/asyncapi.json``).

Read off ``protocol.catalog`` like the browser module, so the three cannot disagree. From the
application's side (AsyncAPI's point of view): the gateway *receives* client commands on
``/ws`` and *sends* server frames there; the core receives ``chat.commands`` and sends
``chat.events``.
"""

from __future__ import annotations

from typing import Any

from protocol.catalog import Channel, Payload, payloads_on, schema_of

__all__ = ["asyncapi_document"]

_CHANNELS: dict[str, tuple[str, str, tuple[Channel, ...]]] = {
    # channel id: (address, server, payload channels)
    "ws": ("/ws", "gateway", ("ws.client", "ws.server")),
    "chatCommands": ("chat.commands", "kafka", ("chat.commands",)),
    "chatEvents": ("chat.events", "kafka", ("chat.events",)),
    "chatTurns": ("chat.turns", "kafka", ("chat.turns",)),
    "domainChanges": ("parley.domain-changes", "kafka", ("domain-changes",)),
    "pluginVersions": ("parley.plugin-versions", "kafka", ("plugin-versions",)),
}
_OPERATIONS: dict[str, tuple[str, str, Channel, str]] = {
    # operation id: (action, channel id, payload channel, summary)
    "receiveCommand": ("receive", "ws", "ws.client", "A client command (one JSON object)"),
    "sendFrame": ("send", "ws", "ws.server", "A server frame (an object, or an array of them)"),
    "consumeChatCommand": ("receive", "chatCommands", "chat.commands", "Accepted, not stored"),
    "produceChatEvent": ("send", "chatEvents", "chat.events", "Stored or ephemeral events"),
    "produceTurn": ("send", "chatTurns", "chat.turns", "Assistant turns as they stream (lossy)"),
    "publishDomainChange": (
        "send",
        "domainChanges",
        "domain-changes",
        "Thread changes, from the outbox (dedupe by event_id)",
    ),
    "announcePluginVersion": (
        "send",
        "pluginVersions",
        "plugin-versions",
        "The version of a plugin every plugin host runs (compacted, key = plugin id)",
    ),
}


def _message_id(payload: Payload, channel: Channel) -> str:
    side = {"ws.client": "Command", "ws.server": "Frame"}.get(channel, "Record")
    return f"{payload.name}{side}" if not payload.name.endswith(side) else payload.name


def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for channel_id, (address, server, kinds) in _CHANNELS.items():
        channel_messages: dict[str, Any] = {}
        for kind in kinds:
            for payload in payloads_on(kind):
                schemas[payload.name] = schema_of(payload)
                message_id = _message_id(payload, kind)
                messages[message_id] = {
                    "name": payload.tag,
                    "title": payload.name,
                    "summary": schemas[payload.name]["description"],
                    "contentType": "application/json",
                    "payload": {"$ref": f"#/components/schemas/{payload.name}"},
                }
                channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": address,
            "servers": [{"$ref": f"#/servers/{server}"}],
            "messages": channel_messages,
        }
    operations = {
        op_id: {
            "action": action,
            "summary": summary,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{_message_id(p, kind)}"}
                for p in payloads_on(kind)
            ],
        }
        for op_id, (action, channel_id, kind, summary) in _OPERATIONS.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley",
            "version": version,
            "description": (
                "Parley's WebSocket protocol (JSON text frames on /ws; the token goes in a "
                "first auth frame or a bearer subprotocol) and its Kafka records. Every "
                "payload has a type tag and a schema version (x-parley-version; a frame may "
                "carry it as v, absent means 1)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "gateway": {"host": "127.0.0.1:8080", "protocol": "ws", "pathname": "/ws"},
            "kafka": {"host": "127.0.0.1:9092", "protocol": "kafka"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
