"""The three message-posting routes answered at the ASGI level; everything else goes to Quart.

Why: under load a post spent more of the gateway's one core in Quart's per-request machinery
(request and app contexts, a receiver task and a handler task, werkzeug headers and routing,
the response wrapper) than in authenticating, validating and producing the message. These
routes are answered here with the functions the Quart routes use (``gateway._posting``), in
the same order and with the same answers, byte for byte:

- auth first (Authorization header, else ``?token=``), then the body: 413 as soon as it is
  over ``MAX_CONTENT_LENGTH`` (declared or streamed), 408 after ``BODY_TIMEOUT``;
- refusals as the app's ``Refusal`` handler answers them (status, ``headers()``, JSON);
- ``Connection: close`` on status >= 400 or while draining (the app's after_request rule);
- an unexpected error is logged on the app's logger and answered 500 like Quart does;
- a client that disconnects while its post awaits Kafka cancels the wait, as Quart does.

Anything that is not exactly one of these paths with POST (other methods, trailing slashes,
a root path, WebSockets, lifespan) is handed to the Quart app untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import trio
import werkzeug.urls  # noqa: F401  registers the "werkzeug.url_quote" codec error handler
from werkzeug.exceptions import HTTPException, InternalServerError, RequestTimeout

from gateway._posting import (
    accept_post,
    accepted_json,
    closes_connection,
    parse_post,
    principal_of,
    too_large_json,
)
from protocol.refusals import Refusal

if TYPE_CHECKING:
    import logging

    from hypercorn.typing import (
        ASGIFramework,
        ASGIReceiveCallable,
        ASGISendCallable,
        HTTPScope,
        Scope,
    )
    from quart_trio import QuartTrio

    from gateway.auth import TokenVerifier
    from gateway.context import GatewayContext
    from gateway.ingest import Accepted, Ingest
    from telemetry import Readiness

__all__ = ["FastIngest", "PostRoutes", "match_post_route"]

_JSON = b"application/json"
_THREAD_MESSAGES = re.compile(r"/api/threads/([^/]+)/messages")
# The thread id of a body-addressed post comes from the body, not the path.
_FROM_BODY = ""

Headers = list[tuple[bytes, bytes]]


def match_post_route(path: str) -> str | None:
    """For a posting route: "" when the body names the thread, else the path's thread id."""
    if path == "/api/messages" or path == "/messages":
        return _FROM_BODY
    # Quart's <thread_id> converter takes any non-empty segment without "/"; so does this.
    m = _THREAD_MESSAGES.fullmatch(path)
    return m.group(1) if m is not None else None


class _Disconnected(Exception):
    """The client went away before its request was answered: nothing is sent."""


class _TooLarge(Exception):
    """The request body is over MAX_CONTENT_LENGTH (answered like the app's 413 handler)."""


class PostRoutes:
    """The posting routes as an ASGI app of their own: called only for a request that
    `match_post_route` recognised, with ``path_thread_id`` from it.

    Served in front of Quart on the HTTP port (`FastIngest`) and by the fast listener
    (`gateway.fast_posts`): one implementation, so both ports answer alike.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        ingest: Ingest,
        readiness: Readiness,
        *,
        max_body: int | None,
        body_timeout_s: float | None,
        log: logging.Logger,
    ) -> None:
        self._verifier = verifier
        self._ingest = ingest
        self._readiness = readiness
        self._log = log
        self._max_body = max_body
        self._body_timeout = float("inf") if body_timeout_s is None else body_timeout_s
        self._too_large = too_large_json(max_body or 0).encode()

    @classmethod
    def of_app(cls, app: QuartTrio, ctx: GatewayContext) -> PostRoutes:
        """Limits and logger read from the Quart app, so both paths enforce the same ones."""
        return cls(
            ctx.verifier,
            ctx.ingest,
            ctx.readiness,
            max_body=app.config["MAX_CONTENT_LENGTH"],
            body_timeout_s=app.config["BODY_TIMEOUT"],
            log=app.logger,
        )

    async def answer(
        self,
        scope: HTTPScope,
        path_thread_id: str | None,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        *,
        cancel_on_disconnect: bool = True,
    ) -> None:
        """Answer one post. With ``cancel_on_disconnect`` (Quart's behaviour) a client that
        leaves while its post awaits Kafka cancels the wait; without, the post runs to its
        outcome and only the answer is lost (the record may be in Kafka either way)."""
        try:
            accepted = await self._accept(scope, path_thread_id, receive, cancel_on_disconnect)
        except _Disconnected:
            return
        except Refusal as exc:
            extra = [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
            await self._answer(send, exc.status, exc.to_json().encode(), _JSON, extra)
            return
        except _TooLarge:
            await self._answer(send, 413, self._too_large, _JSON)
            return
        except HTTPException as exc:  # 408 from the body timeout: werkzeug's page, as Quart
            await self._answer_http_exception(send, exc)
            return
        except Exception:
            # Quart's handle_exception: log with the request line, answer its 500 page.
            self._log.exception(f"Exception on request POST {scope['path']}")
            await self._answer_http_exception(send, InternalServerError())
            return
        if accepted is not None:
            await self._answer(send, 202, accepted_json(accepted).encode(), _JSON)

    async def _accept(
        self,
        scope: HTTPScope,
        path_thread_id: str | None,
        receive: ASGIReceiveCallable,
        cancel_on_disconnect: bool,
    ) -> Accepted | None:
        """The post's outcome; None if the client left while Kafka was being waited for."""
        authorization, content_length = _request_headers(scope["headers"])
        principal = await principal_of(self._verifier, authorization, _query_token(scope))
        fields = parse_post(await self._read_body(receive, content_length), path_thread_id)
        if not cancel_on_disconnect:
            return await accept_post(self._ingest, principal, fields)
        accepted: Accepted | None = None
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            # Quart cancels a handler whose client disconnected; keep that.
            nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
            try:
                accepted = await accept_post(self._ingest, principal, fields)
            except Exception as exc:
                # Raised outside the nursery, so it is not wrapped in an exception group.
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return accepted

    async def _read_body(self, receive: ASGIReceiveCallable, content_length: int | None) -> bytes:
        limit = self._max_body
        if limit is not None and content_length is not None and content_length > limit:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(self._body_timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Disconnected
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise _TooLarge
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        raise RequestTimeout()

    async def _answer(
        self,
        send: ASGISendCallable,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: Headers | None = None,
    ) -> None:
        # Header order as Quart's Response builds it: the refusal's own headers, the content
        # type and length, then the app's Connection rule.
        headers: Headers = [] if extra is None else extra
        headers.append((b"content-type", content_type))
        headers.append((b"content-length", str(len(body)).encode()))
        if closes_connection(self._readiness, status):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _answer_http_exception(self, send: ASGISendCallable, exc: HTTPException) -> None:
        status = exc.code if exc.code is not None else 500
        await self._answer(send, status, exc.get_body().encode(), b"text/html; charset=utf-8")


class FastIngest:
    """An ASGI app wrapping the Quart app; hand this to Hypercorn instead of the app."""

    def __init__(self, app: QuartTrio, ctx: GatewayContext) -> None:
        self._app: ASGIFramework = app
        self.posts = PostRoutes.of_app(app, ctx)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope["root_path"]:
            thread_id = match_post_route(scope["path"])
            if thread_id is not None:
                await self.posts.answer(scope, thread_id or None, receive, send)
                return
        await self._app(scope, receive, send)


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, int | None]:
    """The first Authorization header (as werkzeug's Headers.get) and the Content-Length."""
    authorization: str | None = None
    content_length: int | None = None
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"authorization":
            if authorization is None:
                authorization = value.decode("latin1")
        elif lowered == b"content-length" and content_length is None:
            # h11 has validated it; werkzeug reads a bad one as 0.
            try:
                content_length = max(0, int(value))
            except ValueError:
                content_length = 0
    return authorization, content_length


def _query_token(scope: HTTPScope) -> str | None:
    query = scope["query_string"]
    if not query:
        return None
    # As werkzeug's request.args: blank values kept, the first "token" wins.
    for name, value in parse_qsl(
        query.decode(), keep_blank_values=True, errors="werkzeug.url_quote"
    ):
        if name == "token":
            return value
    return None


async def _cancel_on_disconnect(receive: ASGIReceiveCallable, scope: trio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
