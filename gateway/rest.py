"""REST API: threads, members, messages and history. Bodies are JSON; errors are ApiError."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, current_app, request

from gateway._posting import accept_post, accepted_json, parse_post, principal_of
from gateway.schemas import (
    AddMember,
    CreateThread,
    EditMessageBody,
    HistoryQuery,
    MarkRead,
    RenameThread,
    UpdateProfile,
    parse_body,
    parse_json,
)
from protocol.events import utc_now_iso
from protocol.refusals import ValidationFailed

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
    return await principal_of(
        _ctx().verifier, request.headers.get("Authorization"), request.args.get("token")
    )


async def _raw_body() -> bytes:
    raw = await request.get_data(cache=False)
    return raw if isinstance(raw, bytes) else raw.encode()


async def _body() -> Any:
    raw = await _raw_body()
    if not raw:
        raise ValidationFailed("request body is empty; send a JSON object", field="body")
    return parse_json(raw)


# The three posting routes are normally answered by gateway.fast_ingest before Quart sees
# them; these stay as the reference behaviour (same functions) for an app served without it.
@rest_blueprint.post("/api/messages")
@rest_blueprint.post("/messages")
async def post_message() -> Response:
    principal = await _principal()
    accepted = await accept_post(_ctx().ingest, principal, parse_post(await _raw_body(), None))
    return Response(accepted_json(accepted), status=202, content_type="application/json")


@rest_blueprint.post("/api/threads/<thread_id>/messages")
async def post_thread_message(thread_id: str) -> Response:
    principal = await _principal()
    accepted = await accept_post(_ctx().ingest, principal, parse_post(await _raw_body(), thread_id))
    return Response(accepted_json(accepted), status=202, content_type="application/json")


@rest_blueprint.post("/api/threads")
async def create_thread() -> Response:
    principal = await _principal()
    body = parse_body(CreateThread, await _body())
    thread = await _ctx().threads.create(principal.user_id, body.title, body.members)
    return _json(thread, 201)


@rest_blueprint.get("/api/threads")
async def list_threads() -> Response:
    principal = await _principal()
    threads = await _ctx().threads.list_for(principal.user_id)
    return _json({"threads": threads})


@rest_blueprint.get("/api/threads/<thread_id>")
async def get_thread(thread_id: str) -> Response:
    principal = await _principal()
    return _json(await _ctx().threads.get_for(principal.user_id, thread_id))


@rest_blueprint.patch("/api/threads/<thread_id>")
async def change_thread(thread_id: str) -> Response:
    """Rename (``title``) and/or archive (``archived: true``); the creator only."""
    principal = await _principal()
    body = parse_body(RenameThread, await _body())
    if body.title is None and body.archived is None:
        raise ValidationFailed("give a title or archived: true", field="body")
    if body.archived is False:
        raise ValidationFailed("archiving is final: only archived: true", field="archived")
    threads = _ctx().threads
    thread: dict[str, Any] = {}
    if body.title is not None:
        thread = await threads.rename(principal.user_id, thread_id, body.title)
    if body.archived:
        thread = await threads.archive(principal.user_id, thread_id)
    return _json(thread)


@rest_blueprint.post("/api/threads/<thread_id>/read")
async def mark_read(thread_id: str) -> Response:
    """The signed-in user read the thread up to ``seq`` (members only)."""
    principal = await _principal()
    body = parse_body(MarkRead, await _body())
    return _json(await _ctx().threads.mark_read(principal.user_id, thread_id, body.seq))


@rest_blueprint.patch("/api/v1/me")
async def update_profile() -> Response:
    """The signed-in user's display name; the people they share a thread with see it live."""
    principal = await _principal()
    body = parse_body(UpdateProfile, await _body())
    people = _ctx().threads.people
    return _json(await people.update_profile(principal.user_id, body.display_name))


@rest_blueprint.post("/api/threads/<thread_id>/members")
async def add_member(thread_id: str) -> Response:
    principal = await _principal()
    body = parse_body(AddMember, await _body())
    thread = await _ctx().threads.add_member(principal.user_id, thread_id, body.user_id)
    return _json(thread)


@rest_blueprint.delete("/api/threads/<thread_id>/members/<user_id>")
async def remove_member(thread_id: str, user_id: str) -> Response:
    principal = await _principal()
    thread = await _ctx().threads.remove_member(principal.user_id, thread_id, user_id)
    return _json(thread)


@rest_blueprint.patch("/api/threads/<thread_id>/messages/<message_id>")
async def edit_message(thread_id: str, message_id: str) -> Response:
    principal = await _principal()
    body = parse_body(EditMessageBody, await _body())
    accepted = await _ctx().ingest.accept_change(
        principal, thread_id, message_id, body.text, body.client_msg_id, via="rest"
    )
    return _json(accepted.body(), 202)


@rest_blueprint.delete("/api/threads/<thread_id>/messages/<message_id>")
async def delete_message(thread_id: str, message_id: str) -> Response:
    principal = await _principal()
    accepted = await _ctx().ingest.accept_change(
        principal, thread_id, message_id, None, None, via="rest"
    )
    return _json(accepted.body(), 202)


@rest_blueprint.post("/api/threads/<thread_id>/turns/<turn_id>/stop")
async def stop_turn(thread_id: str, turn_id: str) -> Response:
    """Stop an assistant's turn (any member): 202 once the request is on its way to the
    core that runs it; the `turn` frame `finished` with status `stopped` follows."""
    principal = await _principal()
    accepted_at = await _ctx().ingest.request_stop(principal, thread_id, turn_id)
    return _json({"thread_id": thread_id, "turn_id": turn_id, "accepted_at": accepted_at}, 202)


@rest_blueprint.get("/api/v1/server")
async def boot_snapshot() -> Response:
    """Everything the browser needs to boot, for the signed-in user, in one answer."""
    principal = await _principal()
    ctx = _ctx()
    user = principal.user_id
    threads = await ctx.threads.boot_threads(user)
    hub = ctx.hub
    online: dict[str, None] = {}
    for thread in threads:
        thread["online"] = hub.online(thread["thread_id"], besides=user)
        online.update(dict.fromkeys(thread["online"]))
    claims = principal.claims
    profile = {"user_id": user}
    for claim in ("name", "preferred_username", "email"):
        if isinstance(claims.get(claim), str):
            profile[claim] = claims[claim]
    people = {user, *online}
    for thread in threads:
        people.update(thread["members"])
    # Display names people chose (PATCH /api/v1/me), for everyone this user meets.
    names = await ctx.threads.people.names(sorted(people))
    if user in names:
        profile["display_name"] = names[user]
    return _json(
        {
            "profile": profile,
            "threads": threads,
            "online": sorted(online),
            "display_names": names,
            "generated_at": utc_now_iso(),
        }
    )


@rest_blueprint.get("/api/messages")
async def list_messages() -> Response:
    """The original chat system's listing path: history of ``thread_id`` (a query parameter)."""
    principal = await _principal()
    args = request.args.to_dict()
    thread_id = args.pop("thread_id", None)
    if not thread_id:
        raise ValidationFailed("thread_id is required", field="thread_id")
    return _json(await _history(principal.user_id, thread_id, args))


@rest_blueprint.get("/api/threads/<thread_id>/messages")
async def history(thread_id: str) -> Response:
    principal = await _principal()
    return _json(await _history(principal.user_id, thread_id, request.args.to_dict()))


async def _history(user_id: str, thread_id: str, args: dict[str, str]) -> dict[str, Any]:
    query = _history_query(args)
    if query.after_seq is not None and query.before_seq is not None:
        raise ValidationFailed("give after_seq or before_seq, not both", field="before_seq")
    return await _ctx().threads.history_page(
        user_id,
        thread_id,
        after_seq=query.after_seq,
        before_seq=query.before_seq,
        limit=query.limit,
    )


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
