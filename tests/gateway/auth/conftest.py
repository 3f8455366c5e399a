"""Fixtures for the identity tests (helpers live in ``_auth_support``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio
from _auth_support import JwksServer, SigningKey, TokenFactory, settings_for
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.auth import TokenVerifier


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey(
        "key-a", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


@pytest.fixture(scope="session")
def rsa_key_b() -> SigningKey:
    return SigningKey(
        "key-b", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey("key-ec", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
async def jwks_server(nursery: trio.Nursery, rsa_key: SigningKey, ec_key: SigningKey) -> JwksServer:
    server = JwksServer(keys=[rsa_key, ec_key])
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def make_verifier(
    jwks_server: JwksServer, http_client: httpx.AsyncClient
) -> Callable[..., TokenVerifier]:
    def make(**overrides: Any) -> TokenVerifier:
        return TokenVerifier(settings_for(jwks_server, **overrides), http_client)

    return make


@pytest.fixture
async def verifier(make_verifier: Callable[..., TokenVerifier]) -> TokenVerifier:
    v = make_verifier()
    await v.start()
    return v


@pytest.fixture
def tokens(jwks_server: JwksServer, rsa_key: SigningKey) -> TokenFactory:
    return TokenFactory(jwks_server.issuer, rsa_key)
