"""The local OIDC provider: discovery, and tokens with the expected iss, aud and sub."""

from __future__ import annotations

import httpx
import jwt
import pytest

from infra import Endpoints, fetch_access_token
from parley.settings import Settings

pytestmark = pytest.mark.integration


def _verify(token: str, issuer: str, audience: str) -> dict[str, object]:
    disc = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    key = jwt.PyJWKClient(disc["jwks_uri"]).get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(
        token, key.key, algorithms=["RS256", "ES256"], audience=audience, issuer=issuer
    )
    return claims


def test_discovery_names_the_issuer(services: Endpoints) -> None:
    disc = httpx.get(f"{services.oidc_issuer}/.well-known/openid-configuration", timeout=10)
    assert disc.status_code == 200
    assert disc.json()["issuer"] == services.oidc_issuer
    assert "S256" in disc.json().get("code_challenge_methods_supported", ["S256"])


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "any-name"])
def test_token_has_issuer_audience_and_user_as_subject(settings: Settings, user: str) -> None:
    token = fetch_access_token(settings.oidc_issuer, user, settings.oidc_audience)
    claims = _verify(token, settings.oidc_issuer, settings.oidc_audience)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (
        settings.oidc_issuer,
        settings.oidc_audience,
        user,
    )


def test_token_for_another_audience_is_rejected_for_ours(settings: Settings) -> None:
    token = fetch_access_token(settings.oidc_issuer, "alice", audience="someone-else")
    with pytest.raises(jwt.InvalidAudienceError, match=r"^Audience doesn't match$"):
        _verify(token, settings.oidc_issuer, settings.oidc_audience)
