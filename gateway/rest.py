"""REST API: threads, members, messages and history. Bodies are JSON; errors are ApiError."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, current_app, request

from gateway._errors import ValidationFailed
from gateway.auth import bearer_token
from gateway.schemas import (
    AddMember,
    CreateThread,
    HistoryQuery,
    PostMessageBody,
    PostThreadMessageBody,
    parse_body,
    parse_json,
)

if TYPE_CHECKING:
    from gateway.auth import Principal
    from gateway.context import GatewayContext

__all__ = ["rest_blueprint"]

rest_blueprint = Blueprint("rest", __name__)


def _ctx() -> GatewayContext:
    ctx: GatewayContext = current_app.config["PARLEY_CONTEXT"]
    return ctx


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json")


async def _principal() -> Principal:
    header = request.headers.get("Authorization")
    query_token = request.args.get("token")
    if header is None and query_token:
        # Accepted for compatibility with the original clients; redacted from every log.
        return await _ctx().authenticate(query_token)
    return await _ctx().authenticate(bearer_token(header))


async def _body() -> Any:
    raw = await request.get_data(cache=False)
    if not isinstance(raw, bytes):
        raw = raw.encode()
    if not raw:
        raise ValidationFailed("request body is empty; send a JSON object", field="body")
    return parse_json(raw)


@rest_blueprint.post("/api/messages")
@rest_blueprint.post("/messages")
async def post_message() -> Response:
    principal = await _principal()
    body = parse_body(PostMessageBody, await _body())
    accepted = (
        await _ctx()
        .require_ingest()
        .accept(principal, body.thread_id, body.text, body.client_msg_id, via="rest")
    )
    return _json(accepted.body(), 202)


@rest_blueprint.post("/api/threads/<thread_id>/messages")
async def post_thread_message(thread_id: str) -> Response:
    principal = await _principal()
    body = parse_body(PostThreadMessageBody, await _body())
    accepted = (
        await _ctx()
        .require_ingest()
        .accept(principal, thread_id, body.text, body.client_msg_id, via="rest")
    )
    return _json(accepted.body(), 202)


@rest_blueprint.post("/api/threads")
async def create_thread() -> Response:
    principal = await _principal()
    body = parse_body(CreateThread, await _body())
    thread = await _ctx().require_threads().create(principal.user_id, body.title, body.members)
    return _json(thread, 201)


@rest_blueprint.get("/api/threads")
async def list_threads() -> Response:
    principal = await _principal()
    threads = await _ctx().require_threads().list_for(principal.user_id)
    return _json({"threads": threads})


@rest_blueprint.get("/api/threads/<thread_id>")
async def get_thread(thread_id: str) -> Response:
    principal = await _principal()
    return _json(await _ctx().require_threads().get_for(principal.user_id, thread_id))


@rest_blueprint.post("/api/threads/<thread_id>/members")
async def add_member(thread_id: str) -> Response:
    principal = await _principal()
    body = parse_body(AddMember, await _body())
    thread = await _ctx().require_threads().add_member(principal.user_id, thread_id, body.user_id)
    return _json(thread)


@rest_blueprint.delete("/api/threads/<thread_id>/members/<user_id>")
async def remove_member(thread_id: str, user_id: str) -> Response:
    principal = await _principal()
    thread = await _ctx().require_threads().remove_member(principal.user_id, thread_id, user_id)
    return _json(thread)


@rest_blueprint.get("/api/threads/<thread_id>/messages")
async def history(thread_id: str) -> Response:
    principal = await _principal()
    query = _history_query(request.args.to_dict())
    if query.after_seq is not None and query.before_seq is not None:
        raise ValidationFailed("give after_seq or before_seq, not both", field="before_seq")
    page = (
        await _ctx()
        .require_threads()
        .history_page(
            principal.user_id,
            thread_id,
            after_seq=query.after_seq,
            before_seq=query.before_seq,
            limit=query.limit,
        )
    )
    return _json(page)


def _history_query(args: dict[str, str]) -> HistoryQuery:
    values: dict[str, int] = {}
    for name in ("after_seq", "before_seq", "limit"):
        raw = args.get(name)
        if raw is None or raw == "":
            continue
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationFailed(f"{name} must be a non-negative integer", field=name)
        values[name] = int(raw)
    unknown = set(args) - {"after_seq", "before_seq", "limit", "token"}
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"unknown query parameter {field!r}", field=field)
    return parse_body(HistoryQuery, values)
