"""`GET /openapi.json` and `GET /asyncapi.json`: the APIs described from the models themselves.

The REST bodies come from the pydantic models that validate them (gateway.schemas); the
message objects history answers with, and the whole WebSocket protocol (AsyncAPI 3), come
from protocol.catalog, the one list of payloads the browser module is generated from too.

The plugin routes (served by the plugin platform's blueprint, which the gateway does not
import) and the operations API's plugin routes are listed with the refusals they answer,
read off the classes in protocol.refusals: per status, the machine codes (an ``enum`` on
``error.code``) and when each is answered. A test compares them with what the running
routes answer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response

from gateway.schemas import (
    AddMember,
    CreateThread,
    EditMessageBody,
    MarkRead,
    PostMessageBody,
    PostThreadMessageBody,
    RenameThread,
    UpdateProfile,
)
from protocol.asyncapi import asyncapi_document
from protocol.catalog import PAYLOADS, schema_of
from protocol.events import MessageEvent
from protocol.refusals import (
    AdminRequired,
    CommandNotTaken,
    ExpiredToken,
    InvalidToken,
    MissingToken,
    NotFound,
    PayloadTooLarge,
    PluginFailed,
    PluginTimeout,
    PluginUnavailable,
    ProviderUnavailable,
    Unavailable,
    ValidationFailed,
)

if TYPE_CHECKING:
    from protocol.refusals import Refusal

__all__ = ["asyncapi_json", "openapi_blueprint", "openapi_document"]

openapi_blueprint = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}
_ACCEPTED = {
    "type": "object",
    "required": ["message_id", "thread_id", "accepted_at"],
    "properties": {
        "message_id": {"type": "string"},
        "thread_id": {"type": "string"},
        "accepted_at": {"type": "string", "format": "date-time"},
    },
}


def _body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _answers(ok: str, description: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": description}}
    for status in (401, 422, *errors):
        out[str(status)] = {
            "description": "error",
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


# (refusal class, when the route answers it)
_Why = tuple["type[Refusal]", str]

_TOKEN: tuple[_Why, ...] = (
    (MissingToken, "no bearer token"),
    (InvalidToken, "the token does not verify"),
    (ExpiredToken, "the token expired"),
    (ProviderUnavailable, "the identity provider's keys were never loaded"),
)
_OPERATOR: tuple[_Why, ...] = (
    *_TOKEN,
    (AdminRequired, "the token lacks the admin claim"),
    (ValidationFailed, "field plugin_id: not a plugin id (lowercase letters, digits, -)"),
    (NotFound, "field plugin_id: no live plugin host runs the plugin"),
    (Unavailable, "the store failed or did not answer"),
)


def _refusals(ok: str, description: str, *refusals: _Why) -> dict[str, Any]:
    """Responses: `ok`, then one per status the refusals answer with, naming their codes."""
    by_status: dict[int, list[_Why]] = {}
    for why in refusals:
        by_status.setdefault(why[0].status, []).append(why)
    out: dict[str, Any] = {ok: {"description": description}}
    for status, whys in sorted(by_status.items()):
        codes = sorted({cls.code for cls, _ in whys})
        schema = {
            "allOf": [
                _ERROR,
                {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
            ]
        }
        out[str(status)] = {
            "description": "; ".join(f"{cls.code}: {text}" for cls, text in whys),
            "content": {"application/json": {"schema": schema}},
        }
    return out


def _history_answers() -> dict[str, Any]:
    answers = _answers("200", "a page of messages", 403, 404)
    answers["200"]["content"] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/History"}}
    }
    return answers


def _string_param(name: str, where: str = "path", description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": {"type": "string"}}
    if where == "path":
        param["required"] = True
    if description:
        param["description"] = description
    return param


_NULLABLE_STRINGS = (
    "id", "version", "commit", "state", "last_error", "bot_user_id", "description", "host",
    "browser_entry", "ui_url",
)  # fmt: skip
_PLUGIN = {
    "type": "object",
    "properties": {
        **{name: {"type": ["string", "null"]} for name in _NULLABLE_STRINGS},
        **{
            name: {"type": ["number", "null"]}
            for name in ("hook_calls", "failures", "restarts", "p50_ms", "p99_ms")
        },
        "routes": {"type": ["array", "null"], "items": {"type": "string"}},
        "kind": {"enum": ["assistant", "bot"]},
    },
}
_PLUGIN_ROUTE: tuple[_Why, ...] = (
    *_TOKEN,
    (
        NotFound,
        "field plugin_id: no plugin host runs the plugin, or the one asked has not loaded it; "
        "field path: the plugin has no such route",
    ),
    (PayloadTooLarge, "field body: a body over 64 KiB"),
    (ValidationFailed, "field body: a body that is not JSON"),
    (
        PluginFailed,
        "field path: the handler raised, or answered no JSON, a bad status or over 1 MiB (the "
        "plugin's log has the details)",
    ),
    (
        PluginUnavailable,
        "field plugin_id: the plugin is failed, refused or stopped (the message has its last "
        "error), or its host cannot be reached; + Retry-After",
    ),
    (
        PluginTimeout,
        "field path: the handler overran the plugin's hook_timeout_s, or its host did not "
        "answer in time",
    ),
)


def _plugin_paths() -> dict[str, Any]:
    plugin_id = _string_param("plugin_id")
    route = {
        "summary": "Call a plugin's own HTTP route, run in a plugin host as the caller; the "
        "route's status and JSON body, or a refusal",
        "parameters": [
            plugin_id,
            _string_param("path", description="the route's path; may hold '/', may be empty"),
        ],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {}}},
        },
        "responses": _refusals(
            "200", "the route's answer (its own status and JSON)", *_PLUGIN_ROUTE
        ),
    }
    switch = {
        "type": "object",
        "required": ["plugin", "state", "hosts"],
        "properties": {
            "plugin": {"type": "object"},
            "state": {"enum": ["running", "stopped"]},
            "hosts": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    switched: tuple[_Why, ...] = (
        *_OPERATOR,
        (CommandNotTaken, "recorded, but not every host announced it in time; + Retry-After"),
    )

    def switch_route(action: str) -> dict[str, Any]:
        answers = _refusals("200", f"every live host announced the {action}", *switched)
        answers["200"]["content"] = {"application/json": {"schema": switch}}
        return {
            "post": {
                "summary": f"{action.capitalize()} a plugin on every plugin host (operators)",
                "parameters": [plugin_id],
                "responses": answers,
            }
        }

    listed = _refusals("200", "the plugins the hosts report (never cached)", *_TOKEN)
    listed["200"]["content"] = {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["plugins"],
                "properties": {"plugins": {"type": "array", "items": _PLUGIN}},
            }
        }
    }
    ui_file = _refusals(
        "200",
        "the file, cached immutably (a new version is a new URL)",
        (NotFound, "field path: no version of the plugin has that file"),
    )
    return {
        "/api/plugins": {"get": {"summary": "The plugins and their state", "responses": listed}},
        "/api/plugins/{plugin_id}/{path}": {
            method: {**route, "operationId": f"pluginRoute{method.capitalize()}"}
            for method in ("get", "post", "put", "patch", "delete")
        },
        "/plugins/{plugin_id}/{version}/{path}": {
            "get": {
                "summary": "A plugin version's browser file (public, as the shell's files)",
                "security": [],
                "parameters": [
                    plugin_id,
                    _string_param("version"),
                    _string_param("path", description="may hold '/'"),
                ],
                "responses": ui_file,
            }
        },
        "/api/v1/ops/plugins/{plugin_id}/stop": switch_route("stop"),
        "/api/v1/ops/plugins/{plugin_id}/start": switch_route("start"),
    }


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        model.__name__: model.model_json_schema()
        for model in (
            PostMessageBody,
            PostThreadMessageBody,
            CreateThread,
            AddMember,
            EditMessageBody,
            RenameThread,
            MarkRead,
            UpdateProfile,
        )
    }
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "retry_after_s": {"type": "number"},
                },
            }
        },
    }
    schemas["Accepted"] = _ACCEPTED
    schemas["Message"] = schema_of(next(p for p in PAYLOADS if p.model is MessageEvent))
    schemas["History"] = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "next_before_seq": {"type": "integer"},
            "next_after_seq": {"type": "integer"},
        },
    }
    thread_id = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string"}}
    message_id = {
        "name": "message_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    post_message = {
        "summary": "Post a message; 202 once Kafka acknowledged it",
        "requestBody": _body("PostMessageBody"),
        "responses": _answers("202", "accepted", 403, 404, 409, 413, 429, 503),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Parley", "version": "0.1.0"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/messages": {"post": post_message},
            "/messages": {"post": post_message},
            "/api/threads": {
                "post": {
                    "summary": "Create a thread (the creator is a member)",
                    "requestBody": _body("CreateThread"),
                    "responses": _answers("201", "created"),
                },
                "get": {
                    "summary": "Threads you are a member of",
                    "responses": _answers("200", "threads"),
                },
            },
            "/api/threads/{thread_id}": {
                "get": {"parameters": [thread_id], "responses": _answers("200", "thread", 403)},
                "patch": {
                    "summary": "Rename and/or archive (the creator only); a thread.renamed or "
                    "thread.archived domain event",
                    "parameters": [thread_id],
                    "requestBody": _body("RenameThread"),
                    "responses": _answers("200", "thread", 403, 404),
                },
            },
            "/api/threads/{thread_id}/read": {
                "post": {
                    "summary": "Raise your read marker of the thread (never lowered)",
                    "parameters": [thread_id],
                    "requestBody": _body("MarkRead"),
                    "responses": _answers("200", "read_seq", 403, 404),
                }
            },
            "/api/v1/me": {
                "patch": {
                    "summary": "Your display name; a user.profile_updated domain event",
                    "requestBody": _body("UpdateProfile"),
                    "responses": _answers("200", "profile"),
                }
            },
            "/api/threads/{thread_id}/messages/{message_id}": {
                "patch": {
                    "summary": "Edit (the sender only): a message_edited with a seq of its own",
                    "parameters": [thread_id, message_id],
                    "requestBody": _body("EditMessageBody"),
                    "responses": _answers("202", "accepted", 403, 404, 413, 429, 503),
                },
                "delete": {
                    "summary": "Delete (the sender or the thread's creator): a tombstone",
                    "parameters": [thread_id, message_id],
                    "responses": _answers("202", "accepted", 403, 404, 429, 503),
                },
            },
            "/api/threads/{thread_id}/members": {
                "post": {
                    "parameters": [thread_id],
                    "requestBody": _body("AddMember"),
                    "responses": _answers("200", "thread", 403, 404),
                }
            },
            "/api/threads/{thread_id}/messages": {
                "post": {
                    "parameters": [thread_id],
                    "requestBody": _body("PostThreadMessageBody"),
                    "responses": _answers("202", "accepted", 403, 404, 409, 413, 429, 503),
                },
                "get": {
                    "summary": "History by seq, both directions",
                    "parameters": [
                        thread_id,
                        *(
                            {"name": n, "in": "query", "schema": {"type": "integer"}}
                            for n in ("after_seq", "before_seq", "limit")
                        ),
                    ],
                    "responses": _history_answers(),
                },
            },
            **_plugin_paths(),
        },
    }


@openapi_blueprint.get("/openapi.json")
async def openapi_json() -> Response:
    return Response(json.dumps(openapi_document()), content_type="application/json")


@openapi_blueprint.get("/asyncapi.json")
async def asyncapi_json() -> Response:
    return Response(json.dumps(asyncapi_document()), content_type="application/json")
