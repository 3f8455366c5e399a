"""`GET /openapi.json` and `GET /asyncapi.json`: the APIs described from the models themselves.

The REST bodies come from the pydantic models that validate them (gateway.schemas); the
message objects history answers with, and the whole WebSocket protocol (AsyncAPI 3), come
from protocol.catalog, the one list of payloads the browser module is generated from too.
"""

from __future__ import annotations

import json
from typing import Any

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


def _history_answers() -> dict[str, Any]:
    answers = _answers("200", "a page of messages", 403, 404)
    answers["200"]["content"] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/History"}}
    }
    return answers


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
        },
    }


@openapi_blueprint.get("/openapi.json")
async def openapi_json() -> Response:
    return Response(json.dumps(openapi_document()), content_type="application/json")


@openapi_blueprint.get("/asyncapi.json")
async def asyncapi_json() -> Response:
    return Response(json.dumps(asyncapi_document()), content_type="application/json")
