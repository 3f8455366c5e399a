"""Posting a message over REST, in one place for every way a post reaches the gateway.

The Quart routes in ``gateway.rest`` and the ASGI posting routes in ``gateway.fast_ingest``
(served in front of Quart on the HTTP port, and on the fast listener's port) call these same
functions in the same order (authenticate → read the body → validate → accept), so they
cannot drift apart in what they accept or how they refuse.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gateway.auth import bearer_token
from gateway.schemas import PostMessageBody, PostThreadMessageBody, parse_body, parse_json
from protocol.refusals import ValidationFailed

if TYPE_CHECKING:
    from gateway.auth import Principal, TokenVerifier
    from gateway.ingest import Accepted, Ingest
    from telemetry import Readiness

__all__ = [
    "BODY_TIMEOUT_S",
    "PostFields",
    "accept_post",
    "accepted_json",
    "closes_connection",
    "parse_post",
    "principal_of",
    "too_large_json",
]

# A request body not received within this long is answered 408 (Quart's default, set on the
# app explicitly so that every posting path reads it from here).
BODY_TIMEOUT_S = 60.0

# (thread_id, text, client_msg_id)
PostFields = tuple[str, str, str | None]


async def principal_of(
    verifier: TokenVerifier, authorization: str | None, query_token: str | None
) -> Principal:
    """Who sent the request: the Authorization header, else a `?token=` query parameter;
    raises an InvalidToken refusal (401) otherwise."""
    if authorization is None and query_token:
        # Accepted for compatibility with the original clients; redacted from every log.
        return await verifier.verify(query_token)
    return await verifier.verify(bearer_token(authorization))


def parse_post(raw: bytes, path_thread_id: str | None) -> PostFields:
    """Validate a post's body; the thread comes from the path when the route names one."""
    if not raw:
        raise ValidationFailed("request body is empty; send a JSON object", field="body")
    payload = parse_json(raw)
    if path_thread_id is None:
        body = parse_body(PostMessageBody, payload)
        return body.thread_id, body.text, body.client_msg_id
    in_thread = parse_body(PostThreadMessageBody, payload)
    return path_thread_id, in_thread.text, in_thread.client_msg_id


async def accept_post(ingest: Ingest, principal: Principal, fields: PostFields) -> Accepted:
    thread_id, text, client_msg_id = fields
    return await ingest.accept(principal, thread_id, text, client_msg_id, via="rest")


def accepted_json(accepted: Accepted) -> str:
    return json.dumps(accepted.body())


def closes_connection(readiness: Readiness, status: int) -> bool:
    """Whether an answer ends its connection (the rule of every HTTP answer, not just posts).

    Hypercorn stops reading further requests on a kept-alive connection once it drains,
    which a client would see as silence; closing after this answer makes its next request
    fail fast (refused) or go to another gateway. A refusal may be answered before the
    request body was read; Hypercorn would then leave the next request on that kept-alive
    connection unanswered.
    """
    return status >= 400 or readiness.draining.is_set()


def too_large_json(max_body_bytes: int) -> str:
    """The 413 body for a request body over the limit (not the `text` limit, which names it)."""
    body = {
        "error": {"code": "too_large", "message": f"request body exceeds {max_body_bytes} bytes"}
    }
    return json.dumps(body)
