"""Access-token verification against the OIDC provider's published keys.

Decisions (to be carried into ARCHITECTURE.md):
- Algorithms: ``PARLEY_OIDC_ALGORITHMS`` intersected with the asymmetric ones; configuring
  ``none`` or an HS* algorithm is a configuration error, not a silent downgrade.
- Required claims: exp, iat, iss, aud, sub; leeway 30 s for clock skew on exp/nbf/iat.
- ``iss`` must equal ``PARLEY_OIDC_ISSUER`` exactly (no prefix/suffix/slash tolerance).
- ``aud`` may be a string or a list (RFC 7519 4.1.3): accepted when it is or contains
  ``PARLEY_OIDC_AUDIENCE``; a list must be non-empty and hold only strings.
- ID tokens are refused as access tokens by several independent signals: their ``aud`` is
  the browser client id (keep ``PARLEY_OIDC_AUDIENCE`` different from the client id), a
  header ``typ`` other than JWT/at+jwt, an ``at_hash``/``c_hash``/``s_hash`` claim (only ID
  tokens carry them, OIDC Core 3.1.3.6), ``token_use`` other than ``access`` (Cognito) and a
  ``typ`` claim of ``ID``/``Refresh`` (Keycloak). ``nonce`` is NOT a signal: Keycloak and
  mock-oauth2-server copy it into access tokens.
"""

from __future__ import annotations

import logging
import math
import ssl
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import trio

from config.errors import ConfigurationError
from config.settings import Settings
from gateway.auth._claims import REQUIRED_CLAIMS, decode_verified, validate_claims
from gateway.auth._header import ASYMMETRIC_ALGORITHMS, parse_header
from gateway.auth._jwks_cache import Clock, JwksCache
from gateway.auth._principal import Principal
from gateway.auth._provider import ProviderClient
from protocol.refusals import ProviderUnavailable, WrongTokenType

__all__ = ["LEEWAY_S", "REQUIRED_CLAIMS", "TokenVerifier", "allowed_algorithms"]

log = logging.getLogger("parley.auth")

LEEWAY_S = 30.0
_ID_TOKEN_ONLY_CLAIMS = ("at_hash", "c_hash", "s_hash")
_NON_ACCESS_TYP_CLAIMS = frozenset({"id", "refresh", "offline"})

# Verified tokens remembered (each up to MAX_TOKEN_BYTES): about one per active user.
_VERIFIED_TOKENS = 4096

# Loading a CA bundle reads files: keep it off the event loop, one at a time.
_TLS_SETUP_LIMITER_TOKENS = 1


def allowed_algorithms(settings: Settings) -> frozenset[str]:
    """Parse ``PARLEY_OIDC_ALGORITHMS``; refuse symmetric or unsigned algorithms outright."""
    names = [a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()]
    unsafe = [a for a in names if a.lower() == "none" or a.upper().startswith("HS")]
    if unsafe:
        raise ConfigurationError(
            "PARLEY_OIDC_ALGORITHMS may not contain 'none' or HS* algorithms "
            "(anyone holding the provider's public key could forge tokens)"
        )
    unknown = [a for a in names if a not in ASYMMETRIC_ALGORITHMS]
    if unknown or not names:
        raise ConfigurationError(
            "PARLEY_OIDC_ALGORITHMS must list algorithms among "
            + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
        )
    return frozenset(names)


class TokenVerifier:
    """Verifies bearer access tokens; one per gateway process.

    Lifecycle: ``await nursery.start(verifier.run)`` loads the keys (readiness) and keeps
    them fresh until cancelled. Or, without a background task: ``await verifier.start()``
    then ``verify``; ``aclose()`` (or ``async with``) closes the HTTP client it created.
    """

    def __init__(
        self,
        settings: Settings,
        http_client: httpx.AsyncClient | None = None,
        *,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        fetch_timeout_s: float = 5.0,
        unknown_kid_interval_s: float = 30.0,
        max_age_s: float = 300.0,
    ) -> None:
        if not settings.oidc_issuer:
            raise ConfigurationError("PARLEY_OIDC_ISSUER is empty")
        if not settings.oidc_audience:
            raise ConfigurationError("PARLEY_OIDC_AUDIENCE is empty")
        self._issuer = settings.oidc_issuer
        self._audience = settings.oidc_audience
        self._algorithms = allowed_algorithms(settings)
        if settings.oidc_audience == settings.oidc_client_id:
            # ID tokens carry aud = client id; with equal names the aud check cannot tell.
            log.warning(
                "PARLEY_OIDC_AUDIENCE equals PARLEY_OIDC_CLIENT_ID: ID tokens may pass as "
                "access tokens; give the API its own audience"
            )
        self._settings = settings
        self._fetch_timeout_s = fetch_timeout_s
        self._wall_clock = wall_clock
        self._client = http_client
        self._owns_client = http_client is None
        self._provider: ProviderClient | None = None
        # Tokens that passed, so a client reusing its token (every REST call does) costs a
        # dictionary lookup instead of a signature check (an RSA verify was ~8% of a post).
        self._verified: dict[str, _Verified] = {}
        self.keys = JwksCache(
            self._fetch_jwks,
            self._algorithms,
            clock=clock if clock is not None else trio.current_time,
            unknown_kid_interval_s=unknown_kid_interval_s,
            max_age_s=max_age_s,
        )

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """For /readyz: keys have been loaded at least once."""
        return self.keys.ready

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    @property
    def jwks_fetches(self) -> int:
        return 0 if self._provider is None else self._provider.jwks_fetches

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            ca_bundle = self._settings.oidc_ca_bundle
            if ca_bundle:
                try:
                    verify = await trio.to_thread.run_sync(
                        _tls_context,
                        ca_bundle,
                        limiter=trio.CapacityLimiter(_TLS_SETUP_LIMITER_TOKENS),
                    )
                except OSError as exc:  # includes ssl.SSLError and FileNotFoundError
                    raise ConfigurationError(
                        f"PARLEY_OIDC_CA_BUNDLE {ca_bundle!r} cannot be loaded "
                        f"({type(exc).__name__})"
                    ) from None
            self._client = httpx.AsyncClient(
                verify=verify,
                timeout=httpx.Timeout(self._fetch_timeout_s),
                follow_redirects=False,
                headers={"User-Agent": "parley-gateway"},
            )
        return self._client

    async def _fetch_jwks(self) -> Any:
        if self._provider is None:
            self._provider = ProviderClient(
                await self._http(), self._issuer, self._settings.oidc_jwks_url
            )
        return await self._provider.fetch_jwks()

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Load the keys, retrying with backoff; raise ``ProviderUnavailable`` after timeout."""
        with trio.move_on_after(timeout_s):
            while True:
                if await self.keys.refresh():
                    return
                await trio.sleep(self.keys.retry_delay())
        raise ProviderUnavailable(
            f"no signing keys from {self._issuer} within {timeout_s:g} s "
            f"({self.keys.last_error or 'no answer'})"
        )

    async def run(
        self,
        *,
        wait_for_keys: bool = True,
        start_timeout_s: float = 30.0,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Load keys, report started, then keep them fresh until cancelled.

        ``wait_for_keys=True``: started only once keys are loaded (``ProviderUnavailable``
        after ``start_timeout_s``). ``False``: started at once and retried with backoff for
        as long as it takes; meanwhile ``ready`` is False and ``verify`` answers 503.
        """
        try:
            if wait_for_keys:
                await self.start(timeout_s=start_timeout_s)
                task_status.started()
            else:
                task_status.started()
                await self.start(timeout_s=math.inf)
            await self.keys.run_refresher()
        finally:
            with trio.CancelScope(shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            client, self._client, self._provider = self._client, None, None
            await client.aclose()

    async def __aenter__(self) -> TokenVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- verification ------------------------------------------------------------------
    async def verify(self, token: object) -> Principal:
        """Return who the access token names, or raise an ``InvalidToken`` subclass."""
        seen = self._verified.get(token) if isinstance(token, str) else None
        # A token that passed before has the same header, signature and claim bytes; while
        # the provider still publishes the same key, checking the signature again would give
        # the same answer. The time-dependent claims are checked again below, as for a new
        # token.
        if seen is None or await self.keys.key_for(seen.kid, seen.alg) is not seen.key:
            seen = await self._check_signature(token)
        assert isinstance(token, str)  # _check_signature refused everything else
        claims = seen.claims
        validate_claims(
            claims,
            issuer=self._issuer,
            audience=self._audience,
            leeway_s=LEEWAY_S,
            now=self._wall_clock(),
        )
        _refuse_non_access_token(claims)
        self._remember(token, seen)
        return Principal(
            user_id=claims["sub"],
            expires_at=float(claims["exp"]),
            claims=types.MappingProxyType(claims),
        )

    async def _check_signature(self, token: object) -> _Verified:
        header = parse_header(token, self._algorithms)
        assert isinstance(token, str)  # parse_header refused everything else
        key = await self.keys.key_for(header.kid, header.alg)
        return _Verified(header.kid, header.alg, key, decode_verified(token, key))

    def _remember(self, token: str, verified: _Verified) -> None:
        cache = self._verified
        if token in cache:
            return
        if len(cache) >= _VERIFIED_TOKENS:
            # Oldest first: a client's token is reused for its whole life, then replaced.
            del cache[next(iter(cache))]
        cache[token] = verified


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature held, with the key that held it and its decoded claims."""

    kid: str
    alg: str
    key: jwt.PyJWK
    claims: dict[str, Any]


def _refuse_non_access_token(claims: dict[str, Any]) -> None:
    if any(name in claims for name in _ID_TOKEN_ONLY_CLAIMS):
        raise WrongTokenType("an ID token was offered where an access token is required")
    token_use = claims.get("token_use")
    if token_use is not None and token_use != "access":
        raise WrongTokenType("token is not an access token (token_use)")
    typ = claims.get("typ")
    if isinstance(typ, str) and typ.lower() in _NON_ACCESS_TYP_CLAIMS:
        raise WrongTokenType("token is not an access token (typ claim)")


def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle)
