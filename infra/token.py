"""`parley token USER`: an access token from the local OIDC provider, for curl and scripts.

The provider is a mock: the password grant accepts any user name with any password, so no
secret is involved. The browser uses authorization code + PKCE with the same provider.
"""

from __future__ import annotations

import sys

import httpx

from config.errors import ServiceStartError
from config.settings import Settings, load_settings
from infra._oidc import ISSUER_ID

__all__ = ["fetch_access_token", "local_issuer", "token_main"]


def fetch_access_token(
    issuer: str, user: str, audience: str = "parley", *, client_id: str = "parley-web"
) -> str:
    """A signed access token with `sub` = user and `aud` = audience, via the password grant."""
    form = {
        "grant_type": "password",
        "username": user,
        "password": user,
        "client_id": client_id,
        "scope": "openid",
        "audience": audience,
    }
    try:
        resp = httpx.post(f"{issuer.rstrip('/')}/token", data=form, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ServiceStartError(
            f"OIDC provider {issuer} unreachable ({exc}): run `parley infra up`"
        ) from exc
    if resp.status_code != 200:
        raise ServiceStartError(
            f"OIDC provider {issuer} refused the token request: HTTP {resp.status_code} "
            f"{resp.text[:200]}"
        )
    token = resp.json().get("access_token")
    if not isinstance(token, str):
        raise ServiceStartError(f"OIDC provider {issuer} answered without an access_token")
    return token


def local_issuer(settings: Settings) -> str:
    """The configured issuer, else the local provider on whatever PARLEY_OIDC_PORT says."""
    if "oidc_issuer" in settings.model_fields_set:
        return settings.oidc_issuer
    return f"http://127.0.0.1:{settings.oidc_port}/{ISSUER_ID}"


def token_main(user: str) -> int:
    settings = load_settings()
    issuer = local_issuer(settings)
    token = fetch_access_token(
        issuer, user, settings.oidc_audience, client_id=settings.oidc_client_id
    )
    sys.stdout.write(token + "\n")
    return 0
