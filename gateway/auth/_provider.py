"""OIDC discovery and JWKS download over httpx (async, so it runs on Trio's loop)."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["MAX_DOCUMENT_BYTES", "ProviderClient", "ProviderError"]

# Discovery documents and key sets are a few KB; a provider (or something impersonating
# one) streaming megabytes must not exhaust memory.
MAX_DOCUMENT_BYTES = 512 * 1024


class ProviderError(Exception):
    """Raised when discovery or a JWKS download fails; the message names the URL, not keys."""


class ProviderClient:
    """Knows where the provider's keys are and downloads them.

    With a JWKS URL override (``PARLEY_OIDC_JWKS_URL`` / ``CLERK_JWKS_URL``) discovery is
    skipped; otherwise ``{issuer}/.well-known/openid-configuration`` names ``jwks_uri``, and
    its ``issuer`` must equal the configured one exactly (OIDC Discovery section 4.3).
    """

    def __init__(self, client: httpx.AsyncClient, issuer: str, jwks_url: str = "") -> None:
        self._client = client
        self._issuer = issuer
        self._jwks_url_override = jwks_url
        self._jwks_url = jwks_url
        self.jwks_fetches = 0  # downloads attempted, for tests and metrics

    @property
    def discovery_url(self) -> str:
        return self._issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def fetch_jwks(self) -> Any:
        """Return the parsed JWKS document, discovering its URL first when needed."""
        if not self._jwks_url:
            self._jwks_url = await self._discover()
        self.jwks_fetches += 1
        try:
            return await self._get_json(self._jwks_url)
        except ProviderError:
            # The provider may have moved its keys: discover again on the next attempt.
            self._jwks_url = self._jwks_url_override
            raise

    async def _discover(self) -> str:
        document = await self._get_json(self.discovery_url)
        if not isinstance(document, dict):
            raise ProviderError(f"{self.discovery_url} is not a JSON object")
        if document.get("issuer") != self._issuer:
            raise ProviderError(
                f"{self.discovery_url} names a different issuer than PARLEY_OIDC_ISSUER"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ProviderError(f"{self.discovery_url} has no usable jwks_uri")
        return jwks_uri

    async def _get_json(self, url: str) -> Any:
        try:
            async with self._client.stream(
                "GET", url, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise ProviderError(f"GET {url} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise ProviderError(f"GET {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise ProviderError(f"GET {url} failed: {type(exc).__name__}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ProviderError(f"GET {url} is not JSON") from None
