"""The local OIDC provider: discovery, and tokens with the expected iss, aud and sub."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from config.settings import Settings
from infra import Endpoints, fetch_access_token

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


def test_parley_token_prints_only_the_access_token(services: Endpoints) -> None:
    env = dict(os.environ, PARLEY_OIDC_ISSUER=services.oidc_issuer)
    parley = str(Path(sys.executable).with_name("parley"))
    out = subprocess.run(
        [parley, "token", "carol"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", out.stdout)
    claims = _verify(out.stdout.strip(), services.oidc_issuer, "parley")
    assert claims["sub"] == "carol"


def test_browser_login_with_code_and_pkce_gives_the_typed_user(settings: Settings) -> None:
    origin = "http://127.0.0.1:8080"
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": f"{origin}/",
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(timeout=10) as http:
        page = http.get(f"{settings.oidc_issuer}/authorize", params=params)
        assert page.status_code == 200
        assert 'name="username"' in page.text  # the interactive login form
        login = http.post(str(page.url), data={"username": "dave"})
        assert login.status_code == 302
        redirect = httpx.URL(login.headers["location"])
        assert redirect.params["state"] == "st-1"
        token = http.post(
            f"{settings.oidc_issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": redirect.params["code"],
                "redirect_uri": f"{origin}/",
                "client_id": settings.oidc_client_id,
                "code_verifier": verifier,
            },
            headers={"Origin": origin},
        )
    assert token.status_code == 200
    assert token.headers["access-control-allow-origin"] == origin
    claims = _verify(token.json()["access_token"], settings.oidc_issuer, settings.oidc_audience)
    assert (claims["sub"], claims["aud"]) == ("dave", settings.oidc_audience)
