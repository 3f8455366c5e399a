"""WebSocket authentication logic: bearer subprotocol, auth frame deadline, Origin, expiry."""

from __future__ import annotations

import json
import time

import pytest
import trio
import trio.testing
from _auth_support import TokenFactory

from config.errors import ConfigurationError
from config.settings import load_settings
from gateway.auth import (
    AUTH_DEADLINE_S,
    ExpiryWatch,
    OriginPolicy,
    Principal,
    SubprotocolOffer,
    TokenVerifier,
    offered_subprotocols,
    parse_auth_frame,
    parse_bearer_subprotocol,
    receive_auth,
)
from protocol.refusals import (
    AuthFrameRejected,
    AuthTimeout,
    ClaimRejected,
    ExpiredToken,
    OriginRejected,
    PrincipalMismatch,
)

# --- bearer subprotocol -------------------------------------------------------------------


def test_bearer_subprotocol_header_value() -> None:
    offer = parse_bearer_subprotocol(["bearer, eyJ.a.b"])
    assert offer == SubprotocolOffer(token="eyJ.a.b", selected="bearer")


def test_bearer_subprotocol_split_values_and_other_protocols() -> None:
    assert parse_bearer_subprotocol(["parley.v1", "Bearer", "t.o.k"]) == SubprotocolOffer("t.o.k")


def test_no_bearer_subprotocol_means_auth_frame() -> None:
    assert parse_bearer_subprotocol([]) is None
    assert parse_bearer_subprotocol(["parley.v1"]) is None


def test_bearer_without_token() -> None:
    with pytest.raises(
        AuthFrameRejected, match=r"^the bearer subprotocol is offered without a token after it$"
    ):
        parse_bearer_subprotocol(["parley.v1, bearer"])


def test_bearer_twice() -> None:
    with pytest.raises(
        AuthFrameRejected, match=r"^the bearer subprotocol is offered more than once$"
    ):
        parse_bearer_subprotocol(["bearer, a.b.c, bearer, d.e.f"])


def test_offered_subprotocols_from_raw_headers() -> None:
    headers = [(b"host", b"x"), (b"Sec-WebSocket-Protocol", b"bearer, a.b.c")]
    assert offered_subprotocols(headers) == ["bearer, a.b.c"]


# --- auth frame ---------------------------------------------------------------------------


def test_auth_frame() -> None:
    assert parse_auth_frame('{"type":"auth","token":"a.b.c"}') == "a.b.c"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"type":"auth","token":"a.b.c"}', "the auth frame must be a text frame"),
        ("not json", "the auth frame is not JSON"),
        ('{"type":"subscribe","thread_id":"t"}', "the first frame must be an auth frame"),
        ("[1]", "the first frame must be an auth frame"),
        ('{"type":"auth"}', "the auth frame has no token string"),
        ('{"type":"auth","token":5}', "the auth frame has no token string"),
        ('{"type":"auth","token":"' + "x" * 20_000 + '"}', "the auth frame is too large"),
    ],
)
def test_bad_auth_frames(frame: str | bytes, reason: str) -> None:
    with pytest.raises(AuthFrameRejected, match=rf"^{reason}$") as info:
        parse_auth_frame(frame)
    assert info.value.close_code == 1008


async def test_no_auth_frame_within_5_s(
    autojump_clock: trio.testing.MockClock, verifier: TokenVerifier
) -> None:
    send, receive = trio.open_memory_channel[str](1)
    start = trio.current_time()
    with pytest.raises(AuthTimeout, match=r"^no auth frame within 5 s$") as info:
        await receive_auth(receive.receive, verifier)
    assert trio.current_time() - start == pytest.approx(AUTH_DEADLINE_S)
    assert info.value.close_code == 1008
    await send.aclose()


async def test_auth_frame_in_time(
    autojump_clock: trio.testing.MockClock, verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    send, receive = trio.open_memory_channel[str](1)

    async def client() -> None:
        await trio.sleep(4.9)
        await send.send(json.dumps({"type": "auth", "token": tokens.make()}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        principal = await receive_auth(receive.receive, verifier)
    assert principal.user_id == "alice"


async def test_auth_frame_with_bad_token(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    send, receive = trio.open_memory_channel[str](1)
    await send.send(json.dumps({"type": "auth", "token": tokens.make(aud="other")}))
    with pytest.raises(
        ClaimRejected, match=r"^token audience \(aud\) does not include 'parley'$"
    ) as info:
        await receive_auth(receive.receive, verifier)
    assert info.value.close_code == 1008


# --- Origin -------------------------------------------------------------------------------

ALLOWED = ["https://app.example.com", "http://localhost:5173"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com",
        "https://APP.example.com",
        "https://app.example.com:443",
        "http://localhost:5173",
        "https://app.example.com/",
    ],
)
def test_allowed_origins(origin: str) -> None:
    OriginPolicy(ALLOWED).check(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "https://app.example.com.evil.com",
        "https://evil.com/app.example.com",
        "https://app.example.com@evil.com",
        "https://app.example.com:8443",
        "http://app.example.com",
        "http://localhost:5174",
        "wss://app.example.com",
        "https://app.example.co",
        "https://xapp.example.com",
        "app.example.com",
        "https://app.example.com/path",
        "https://app.example.com:99999",
    ],
)
def test_rejected_origins(origin: str) -> None:
    with pytest.raises(OriginRejected, match=r"^this Origin is not allowed to use Parley$") as info:
        OriginPolicy(ALLOWED).check(origin)
    assert (info.value.status, info.value.close_code) == (403, 1008)


def test_missing_origin_per_policy() -> None:
    OriginPolicy(ALLOWED).check(None)  # CLI and bots send none; browsers always do
    with pytest.raises(
        OriginRejected, match=r"^requests without an Origin header are not accepted$"
    ):
        OriginPolicy(ALLOWED, allow_missing=False).check(None)


def test_policy_from_settings_includes_own_origin() -> None:
    settings = load_settings(cors_origins="https://app.example.com", http_port=8080, public_url="")
    policy = OriginPolicy.from_settings(settings)
    assert policy.allows("http://127.0.0.1:8080")
    assert policy.allows("https://app.example.com")
    assert not policy.allows("https://other.example.com")


def test_wildcard_is_explicit_and_still_refuses_null() -> None:
    policy = OriginPolicy(["*"])
    assert policy.allows("https://anything.example")
    assert not policy.allows("null")


def test_bad_configured_origin() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^CORS_ORIGINS entry 'app\.example\.com' is not an origin "
        r"\(scheme://host\[:port\]\)$",
    ):
        OriginPolicy(["app.example.com"])


# --- expiry on an open connection -----------------------------------------------------------


def principal(user: str, expires_at: float) -> Principal:
    return Principal(user_id=user, expires_at=expires_at, claims={})


async def test_connection_closes_when_token_expires(autojump_clock: trio.testing.MockClock) -> None:
    base = time.time()
    watch = ExpiryWatch(
        principal("alice", base + 60), wall_clock=lambda: base + trio.current_time()
    )
    start = trio.current_time()
    await watch.wait_expired()
    assert trio.current_time() - start == pytest.approx(60)
    err = watch.expired_error()
    assert isinstance(err, ExpiredToken) and err.close_code == 1008
    assert err.to_ws_frame().startswith('{"type":"error","code":"token_expired"')


async def test_refresh_frame_postpones_the_close(autojump_clock: trio.testing.MockClock) -> None:
    base = time.time()
    watch = ExpiryWatch(
        principal("alice", base + 60), wall_clock=lambda: base + trio.current_time()
    )
    start = trio.current_time()

    async def refresher() -> None:
        await trio.sleep(50)
        watch.refresh(principal("alice", base + 180))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(refresher)
        await watch.wait_expired()
    assert trio.current_time() - start == pytest.approx(180)
    assert watch.principal.expires_at == base + 180


async def test_already_expired_returns_at_once(autojump_clock: trio.testing.MockClock) -> None:
    watch = ExpiryWatch(principal("alice", time.time() - 1))
    with trio.fail_after(0.001):
        await watch.wait_expired()


def test_refresh_for_another_user_is_refused() -> None:
    watch = ExpiryWatch(principal("alice", time.time() + 60))
    with pytest.raises(PrincipalMismatch, match=r"^the refreshed token belongs to another user$"):
        watch.refresh(principal("mallory", time.time() + 600))
    assert watch.principal.user_id == "alice"
