"""gateway.fast_ingest answers the posting routes exactly as the Quart app does.

Each case is played through the fast layer and through the bare Quart app (the reference:
the same routes, kept in gateway.rest) over an in-memory ASGI exchange, and the answers must
be identical: status, headers in order, body. A stub verifier and a stub ingest stand in for
the OIDC provider and Kafka; the real server is covered by tests/pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from quart_trio import QuartTrio

from config.settings import load_settings
from gateway.app import create_app
from gateway.auth import Principal
from gateway.context import GatewayContext
from gateway.fast_ingest import FastIngest, match_post_route
from gateway.ingest import Accepted
from protocol.refusals import Forbidden, MalformedToken, Unavailable
from telemetry import ProcessStatus

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}


class StubVerifier:
    async def verify(self, token: object) -> Principal:
        if not isinstance(token, str) or token not in TOKENS:
            raise MalformedToken("token is not three non-empty base64url segments")
        return Principal(user_id=TOKENS[token], expires_at=2e9, claims={})


@dataclass
class StubIngest:
    """Accepts into a list, or raises `fail`, or waits forever when `hang` is set."""

    posts: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)
    fail: Exception | None = None
    hang: bool = False
    cancelled: int = 0

    async def accept(
        self, principal: Principal, thread_id: str, text: str, client_msg_id: str | None, via: str
    ) -> Accepted:
        if self.hang:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                self.cancelled += 1
                raise
        if self.fail is not None:
            raise self.fail
        self.posts.append((principal.user_id, thread_id, text, client_msg_id, via))
        return Accepted(message_id="m-1", thread_id=thread_id, accepted_at="2026-01-01T00:00:00Z")


@dataclass
class Answer:
    status: int | None
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


@pytest.fixture
def ingest() -> StubIngest:
    return StubIngest()


@pytest.fixture
def ctx(ingest: StubIngest) -> GatewayContext:
    # The posting paths touch only the verifier, the ingest and the drain flag.
    return GatewayContext(
        settings=load_settings(max_body_bytes=1024, max_text_bytes=64),
        status=ProcessStatus(role="gateway", process_id="test-gateway"),
        verifier=StubVerifier(),  # type: ignore[arg-type]
        ingest=ingest,  # type: ignore[arg-type]
        threads=None,  # type: ignore[arg-type]
        ws=None,  # type: ignore[arg-type]
        board=None,  # type: ignore[arg-type]
        ws_url="",
    )


@pytest.fixture
def quart_app(ctx: GatewayContext) -> QuartTrio:
    return create_app(ctx)


@pytest.fixture
def fast(quart_app: QuartTrio, ctx: GatewayContext) -> FastIngest:
    return FastIngest(quart_app, ctx)


async def exchange(
    app: ASGI,
    method: str,
    path: str,
    body: bytes | Sequence[bytes] = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    query: bytes = b"",
    *,
    declare_length: bool = True,
    then_disconnect: bool = False,
) -> Answer:
    """One request through `app`; the body may come in several chunks."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    sent_headers = list(headers)
    if declare_length:
        sent_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.1"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": sent_headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
        "state": {},
        "extensions": {},
    }
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        if then_disconnect:
            await trio.sleep(0.1)
            return {"type": "http.disconnect"}
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    answer = Answer(None, [], b"")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = [(bytes(k), bytes(v)) for k, v in message["headers"]]
        else:
            answer.body += message.get("body", b"")

    with trio.fail_after(120):
        await app(scope, receive, send)
    return answer


def post_json(obj: object, token: str | None = "tok-alice") -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"body": json.dumps(obj).encode(), "headers": headers}


SAME_ANSWER_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("accepted", "POST", "/api/messages", post_json({"thread_id": "t1", "text": "hi"})),
    ("legacy path", "POST", "/messages", post_json({"thread_id": "t1", "text": "hi"})),
    (
        "thread path",
        "POST",
        "/api/threads/t-9/messages",
        post_json({"text": "hi", "client_msg_id": "c-1"}),
    ),
    ("no token", "POST", "/api/messages", post_json({"thread_id": "t1", "text": "x"}, None)),
    ("bad token", "POST", "/api/messages", post_json({"thread_id": "t1", "text": "x"}, "nope")),
    (
        "not bearer",
        "POST",
        "/api/messages",
        {"body": b"{}", "headers": [(b"authorization", b"Basic abc")]},
    ),
    (
        "query token",
        "POST",
        "/api/messages",
        {**post_json({"thread_id": "t1", "text": "x"}, None), "query": b"a=1&token=tok-bob"},
    ),
    (
        "header wins over query",
        "POST",
        "/api/messages",
        {**post_json({"thread_id": "t1", "text": "x"}, "nope"), "query": b"token=tok-bob"},
    ),
    (
        "empty query token",
        "POST",
        "/api/messages",
        {**post_json({"thread_id": "t1", "text": "x"}, None), "query": b"token="},
    ),
    ("empty body", "POST", "/api/messages", {**post_json(None), "body": b""}),
    ("not json", "POST", "/api/messages", {**post_json(None), "body": b"{nope"}),
    ("array", "POST", "/api/messages", post_json(["t1"])),
    ("extra field", "POST", "/api/messages", post_json({"thread_id": "t1", "text": "x", "y": 1})),
    ("server-owned", "POST", "/api/messages", post_json({"thread_id": "t", "text": "x", "seq": 1})),
    ("bad id", "POST", "/api/messages", post_json({"thread_id": "a b", "text": "x"})),
    (
        "thread in body on thread path",
        "POST",
        "/api/threads/t/messages",
        post_json({"thread_id": "t", "text": "x"}),
    ),
    ("text over limit", "POST", "/api/messages", post_json({"thread_id": "t", "text": "x" * 65})),
    ("blank text", "POST", "/api/messages", post_json({"thread_id": "t", "text": "  "})),
    ("body over limit", "POST", "/api/messages", {**post_json(None), "body": b"x" * 1025}),
    (
        "streamed body over limit",
        "POST",
        "/api/messages",
        {**post_json(None), "body": [b"x" * 600, b"x" * 600], "declare_length": False},
    ),
    (
        "streamed body",
        "POST",
        "/api/messages",
        {
            **post_json(None),
            "body": [b'{"thread_id": "t1",', b' "text": "hi"}'],
            "declare_length": False,
        },
    ),
    ("over limit without a token", "POST", "/api/messages", {"body": b"x" * 2000}),
    # Not ours: handed to Quart whole.
    ("GET on a posting path", "GET", "/api/messages", {}),
    ("trailing slash", "POST", "/api/messages/", post_json({"thread_id": "t1", "text": "x"})),
    ("empty thread segment", "POST", "/api/threads//messages", post_json({"text": "x"})),
    ("health", "GET", "/healthz", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "request_kw"),
    [c[1:] for c in SAME_ANSWER_CASES],
    ids=[c[0] for c in SAME_ANSWER_CASES],
)
async def test_same_answer_as_quart(
    fast: FastIngest,
    quart_app: QuartTrio,
    ingest: StubIngest,
    method: str,
    path: str,
    request_kw: dict[str, Any],
) -> None:
    reference = await exchange(quart_app, method, path, **request_kw)
    posted_by_quart = list(ingest.posts)
    ingest.posts.clear()
    delegated: list[str] = []

    async def spy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        delegated.append(scope["path"])
        await quart_app(scope, receive, send)

    fast._app = spy  # type: ignore[assignment]
    ours = await exchange(fast, method, path, **request_kw)
    assert ours == reference
    assert ingest.posts == posted_by_quart
    ours_to_answer = method == "POST" and match_post_route(path) is not None
    assert delegated == ([] if ours_to_answer else [path])


@pytest.mark.parametrize(
    "refusal",
    [
        Forbidden("you are not a member of this thread", field="thread_id"),
        Unavailable("too many messages in flight; retry shortly", retry_after_s=1),
        RuntimeError("boom"),
    ],
    ids=["forbidden", "unavailable with Retry-After", "unexpected error"],
)
async def test_refusals_from_ingest_answer_as_quart(
    fast: FastIngest, quart_app: QuartTrio, ingest: StubIngest, refusal: Exception
) -> None:
    ingest.fail = refusal
    request = post_json({"thread_id": "t1", "text": "hi"})
    reference = await exchange(quart_app, "POST", "/api/messages", **request)
    ours = await exchange(fast, "POST", "/api/messages", **request)
    assert ours == reference
    assert ours.status is not None and ours.status >= 400
    assert ours.header(b"connection") == b"close"


async def test_accepted_answer(fast: FastIngest, ingest: StubIngest) -> None:
    answer = await exchange(
        fast, "POST", "/api/threads/t-9/messages", **post_json({"text": "hi", "client_msg_id": "c"})
    )
    assert answer.status == 202
    assert json.loads(answer.body) == {
        "message_id": "m-1",
        "thread_id": "t-9",
        "accepted_at": "2026-01-01T00:00:00Z",
    }
    assert answer.header(b"connection") is None
    assert ingest.posts == [("alice", "t-9", "hi", "c", "rest")]


async def test_refusal_codes(fast: FastIngest) -> None:
    no_token = await exchange(fast, "POST", "/api/messages", **post_json({}, None))
    invalid = await exchange(fast, "POST", "/api/messages", **post_json({"thread_id": "t"}))
    too_big = await exchange(
        fast,
        "POST",
        "/api/messages",
        body=b"x" * 1025,
        headers=[(b"authorization", b"Bearer tok-alice")],
    )
    assert (no_token.status, invalid.status, too_big.status) == (401, 422, 413)
    assert json.loads(invalid.body)["error"]["field"] == "text"
    assert json.loads(too_big.body) == {
        "error": {"code": "too_large", "message": "request body exceeds 1024 bytes"}
    }
    assert {a.header(b"connection") for a in (no_token, invalid, too_big)} == {b"close"}


async def test_connection_closes_after_a_success_while_draining(
    fast: FastIngest, quart_app: QuartTrio, ctx: GatewayContext
) -> None:
    ctx.readiness.draining.set()
    request = post_json({"thread_id": "t1", "text": "hi"})
    ours = await exchange(fast, "POST", "/api/messages", **request)
    reference = await exchange(quart_app, "POST", "/api/messages", **request)
    assert ours.status == 202
    assert ours.header(b"connection") == b"close"
    assert ours == reference


async def test_a_client_that_leaves_cancels_its_post(fast: FastIngest, ingest: StubIngest) -> None:
    ingest.hang = True
    request = post_json({"thread_id": "t1", "text": "hi"})
    answer = await exchange(fast, "POST", "/api/messages", then_disconnect=True, **request)
    assert answer == Answer(None, [], b"")
    assert ingest.cancelled == 1


async def test_a_body_that_never_ends_times_out_as_in_quart(
    quart_app: QuartTrio, ctx: GatewayContext, autojump_clock: trio.abc.Clock
) -> None:
    quart_app.config["BODY_TIMEOUT"] = 5
    ours = await _with_open_body(FastIngest(quart_app, ctx))
    reference = await _with_open_body(quart_app)
    assert ours.status == 408
    assert ours == reference


async def _with_open_body(app: ASGI) -> Answer:
    """A request whose body starts and never finishes."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/messages",
        "raw_path": b"/api/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", b"Bearer tok-alice")],
        "client": None,
        "server": None,
        "state": {},
        "extensions": {},
    }
    first = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> dict[str, Any]:
        if first:
            return first.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    answer = Answer(None, [], b"")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message["headers"])
        else:
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/messages", ""),
        ("/messages", ""),
        ("/api/threads/t_1/messages", "t_1"),
        ("/api/threads/a b/messages", "a b"),
        ("/api/threads//messages", None),
        ("/api/threads/a/b/messages", None),
        ("/api/messages/", None),
        ("/api/threads/t/messages/", None),
        ("/api/threads", None),
    ],
)
def test_route_matching(path: str, expected: str | None) -> None:
    assert match_post_route(path) == expected


def test_the_fast_routes_are_the_documented_posting_routes() -> None:
    from gateway.openapi import openapi_document

    paths = openapi_document()["paths"]
    for path in ("/api/messages", "/messages", "/api/threads/{thread_id}/messages"):
        assert "post" in paths[path]
        assert match_post_route(path.replace("{thread_id}", "t1")) is not None
