"""A token reused by its client is not verified from scratch every time, yet nothing that
could change its answer is skipped: expiry is re-checked, and a retired key refuses it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from _auth_support import JwksServer, SigningKey, TokenFactory, settings_for

import gateway.auth._verifier as verifier_module
from gateway.auth import TokenVerifier
from protocol.refusals import ExpiredToken, UnknownSigningKey


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = verifier_module.decode_verified

    def counting(token: str, key: Any) -> dict[str, Any]:
        seen.append(token)
        return real(token, key)

    monkeypatch.setattr(verifier_module, "decode_verified", counting)
    return seen


async def test_a_reused_token_is_checked_once(
    verifier: TokenVerifier, tokens: TokenFactory, signature_checks: list[str]
) -> None:
    token = tokens.make()
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first == second
    assert signature_checks == [token]


async def test_expiry_is_checked_on_every_use(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    now = [time.time()]
    verifier = TokenVerifier(settings_for(jwks_server), http_client, wall_clock=lambda: now[0])
    await verifier.start()
    token = tokens.make(exp=int(now[0]) + 60)
    await verifier.verify(token)
    now[0] += 3600
    with pytest.raises(ExpiredToken, match=r"^token has expired$"):
        await verifier.verify(token)


async def test_a_retired_key_refuses_a_token_that_passed_before(
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key: SigningKey,
) -> None:
    token = tokens.make()
    await verifier.verify(token)
    jwks_server.keys.remove(rsa_key)
    assert await verifier.keys.refresh()
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(token)


async def test_a_different_token_is_checked_again(
    verifier: TokenVerifier, tokens: TokenFactory, signature_checks: list[str]
) -> None:
    a, b = tokens.make(sub="alice"), tokens.make(sub="bob")
    assert (await verifier.verify(a)).user_id == "alice"
    assert (await verifier.verify(b)).user_id == "bob"
    assert signature_checks == [a, b]


async def test_the_memory_is_bounded(
    verifier: TokenVerifier,
    tokens: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    signature_checks: list[str],
) -> None:
    monkeypatch.setattr(verifier_module, "_VERIFIED_TOKENS", 2)
    first, second, third = (tokens.make(sub=sub) for sub in ("u1", "u2", "u3"))
    for token in (first, second, third, first):
        await verifier.verify(token)
    # The oldest was forgotten when the third came, so the first is checked again.
    assert signature_checks == [first, second, third, first]
