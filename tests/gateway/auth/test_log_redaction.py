"""Tokens never reach a log line: URL redaction, the record filter, and the verifier itself."""

from __future__ import annotations

import logging
import secrets

import pytest
import trio
from _auth_support import SigningKey, TokenFactory, forge

from gateway.auth import (
    TokenRedactingFilter,
    TokenVerifier,
    install_log_redaction,
    redact_token_in_url,
    redact_tokens,
)
from protocol.refusals import InvalidToken

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS1hIn0"
    ".eyJzdWIiOiJhbGljZSIsImF1ZCI6InBhcmxleSJ9"
    ".c2lnbmF0dXJlLWJ5dGVzLWdvLWhlcmUtYW5kLW1vcmU"
)


def fragments(token: str) -> list[str]:
    """Every 10-character window of every long segment: what must never appear in logs."""
    out = []
    for segment in token.split("."):
        out += [
            segment[i : i + 10] for i in range(0, max(1, len(segment) - 9), 5) if len(segment) >= 10
        ]
    return out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"/ws?token={JWT}", "/ws?token=[REDACTED]"),
        (f"/ws?thread=1&token={JWT}&x=2", "/ws?thread=1&token=[REDACTED]&x=2"),
        ("/ws?TOKEN=opaque-value#frag", "/ws?TOKEN=[REDACTED]#frag"),
        ("/cb?code=abc&state=s", "/cb?code=[REDACTED]&state=s"),
        (f"https://h/p?access_token={JWT}", "https://h/p?access_token=[REDACTED]"),
        (f"/api/threads/{JWT}", "/api/threads/[REDACTED]"),
        ("/api/threads?limit=5", "/api/threads?limit=5"),
        ("/ws?tokens_seen=3", "/ws?tokens_seen=3"),
    ],
)
def test_redact_token_in_url(url: str, expected: str) -> None:
    assert redact_token_in_url(url) == expected


@pytest.mark.parametrize(
    "text",
    [
        "gateway.auth._verifier ready",
        "connected to 127.0.0.1:9092 in 3.5 ms",
        "www.example.com and config.settings.Settings",
        "thread 0191a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b seq 17",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_tokens(text) == text


def test_bearer_headers_and_unprefixed_tokens() -> None:
    opaque = "abcdefgh12345678ijklmnop"
    assert redact_tokens(f"Authorization: Bearer {opaque}") == "Authorization: Bearer [REDACTED]"
    assert redact_tokens(f"Sec-WebSocket-Protocol: bearer, {opaque}") == (
        "Sec-WebSocket-Protocol: bearer, [REDACTED]"
    )
    message = "the bearer subprotocol is offered more than once"
    assert redact_tokens(message) == message
    three = "A" * 20 + "." + "B" * 20 + "." + "C" * 20
    assert redact_tokens(f"x {three} y") == "x [REDACTED] y"


def make_record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_filter_scrubs_message_args_extra_and_exception() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = make_record(
        "GET %s from %s", f"/ws?token={JWT}", "1.2.3.4", request={"query": f"token={JWT}"}
    )
    record.exc_info = exc_info
    assert TokenRedactingFilter().filter(record)
    formatted = logging.Formatter("%(message)s %(request)s").format(record)
    assert "GET /ws?token=[REDACTED] from 1.2.3.4" in formatted
    assert "bad token [REDACTED]" in formatted
    assert all(f not in formatted for f in fragments(JWT))


def test_installed_redaction_covers_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    logging.getLogger("some.library").warning("retrying %s", f"http://idp/keys?access_token={JWT}")
    assert caplog.records[-1].getMessage() == "retrying http://idp/keys?access_token=[REDACTED]"


async def test_no_token_fragment_in_any_log_line(
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: object,
    rsa_key_b: SigningKey,
) -> None:
    """Every attack plus valid tokens, JWKS refetches and failures, all at DEBUG."""
    caplog.set_level(logging.DEBUG)
    now = int(trio.current_time())  # only for variety; PyJWT uses the wall clock
    corpus = [
        tokens.make(),
        tokens.make(rsa_key_b),
        tokens.make(exp=1, iat=0, nbf=0),
        tokens.make(aud="other"),
        tokens.make(iss="http://evil"),
        tokens.make(at_hash="x"),
        tokens.make(header={"kid": secrets.token_urlsafe(16)}),
        tokens.make(header={"jwk": {"kty": "RSA"}}),
        tokens.make(header={"crit": ["exp"]}),
        forge(tokens.header(alg="HS256"), tokens.claims(), signature=b"s" * 32),
        tokens.make(header={"kid": "k" * 300}),
        forge({"alg": "none", "kid": "key-a"}, tokens.claims(jti=str(now)), signature=b"x" * 40),
        tokens.make() + ".extra-segment-here",
        tokens.make(sub="\u0000evil"),
        tokens.make(header={"pad": "p" * 9000}),
    ]
    for round_ in range(2):
        for token in corpus:
            try:
                await verifier.verify(token)
            except InvalidToken as exc:
                logging.getLogger("parley.gateway").info("refused: %s", exc)
        await trio.sleep(31)  # let the next round refetch for unknown kids
        if round_ == 0:
            jwks_server.mode = "down"  # type: ignore[attr-defined]
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("JWKS refresh failed" in line for line in lines)  # something was logged
    for token in corpus:
        for fragment in fragments(token):
            assert all(fragment not in line for line in lines), fragment
