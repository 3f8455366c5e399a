"""Structural checks done before any key lookup: size, shape, and the JOSE header.

Everything here is pure and cheap, so hostile tokens (1 MB headers, 4 segments, a 10 KB
``kid``, keys offered in the header) are refused before they can cost a JWKS fetch.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from protocol.refusals import MalformedToken, MissingToken, UnsafeTokenHeader, WrongTokenType

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "ASYMMETRIC_ALGORITHMS",
    "MAX_KID_CHARS",
    "MAX_TOKEN_BYTES",
    "TokenHeader",
    "bearer_token",
    "parse_header",
]

# Real access tokens are 0.7-2 KB; 8 KB leaves room for many claims and bounds parse cost.
MAX_TOKEN_BYTES = 8192
MAX_KID_CHARS = 128

# Only signatures whose verification key is public: a shared-secret algorithm would let
# anyone holding the published key (everyone) mint tokens.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# Header parameters that carry or point at a key: trusting them lets the token vouch for
# itself (RFC 8725 section 3.10). Refused outright rather than ignored, so the client learns.
_KEY_OFFERING_PARAMS = ("jwk", "jku", "x5u", "x5c")

# `typ` values that an access token may carry (RFC 9068 uses at+jwt); anything else, such as
# "id_token" or "logout+jwt", is some other kind of JWT.
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt", "application/jwt"})

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Key ids seen in the wild are base64(url), hex, UUIDs or short names. Excluding leading "/"
# and ".." keeps a path-shaped kid from ever being usable as one by a future cache or store.
_KID = re.compile(r"[A-Za-z0-9._~+/=:-]+")


@dataclass(frozen=True, slots=True)
class TokenHeader:
    alg: str
    kid: str


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _b64url_json(segment: str, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken(f"token {what} is not valid base64url") from None
    try:
        return _HEADER_DECODER.decode(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a few KB of "[[[[" nest deeper than the parser's stack allows.
        raise MalformedToken(f"token {what} is not valid JSON") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "alg" entries would be read differently by different parsers; refuse the ambiguity.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError("duplicate key")
        obj[key] = value
    return obj


_HEADER_DECODER = json.JSONDecoder(
    parse_constant=_no_constants, object_pairs_hook=_no_duplicate_keys
)


def parse_header(token: object, allowed_algorithms: frozenset[str]) -> TokenHeader:
    """Check the token's shape and header; return the ``alg`` and ``kid`` to verify with."""
    if not isinstance(token, str):
        raise MalformedToken("token is not a string")
    if not token:
        raise MalformedToken("token is empty")
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedToken(f"token is longer than {MAX_TOKEN_BYTES} bytes")
    if _COMPACT_JWS.fullmatch(token) is None:
        raise MalformedToken("token is not three non-empty base64url segments")
    header = _b64url_json(token.split(".", 1)[0], "header")
    if not isinstance(header, dict):
        raise MalformedToken("token header is not a JSON object")
    return _check_header(header, allowed_algorithms)


def _check_header(header: dict[str, Any], allowed: frozenset[str]) -> TokenHeader:
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise UnsafeTokenHeader("token header has no algorithm")
    if alg.lower() == "none":
        raise UnsafeTokenHeader("unsigned tokens (alg none) are not accepted")
    if alg.upper().startswith("HS"):
        raise UnsafeTokenHeader("shared-secret algorithms (HS*) are not accepted")
    if alg not in allowed:
        names = ", ".join(sorted(allowed))
        raise UnsafeTokenHeader(f"token algorithm is not one of the allowed ({names})")
    for param in _KEY_OFFERING_PARAMS:
        if param in header:
            raise UnsafeTokenHeader(
                "token header offers its own key (jwk/jku/x5u/x5c), which is never trusted"
            )
    if "crit" in header:
        # We implement no JWS extensions, so every critical one is unknown (RFC 7515 4.1.11).
        raise UnsafeTokenHeader("token header declares critical extensions (crit)")
    if "b64" in header:
        raise UnsafeTokenHeader("unencoded payloads (b64) are not accepted")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES):
        raise WrongTokenType("token type (typ) is not an access token")
    kid = header.get("kid")
    if kid is None:
        raise UnsafeTokenHeader("token header has no key id (kid)")
    if not isinstance(kid, str):
        raise UnsafeTokenHeader("token key id (kid) is not a string")
    if len(kid) > MAX_KID_CHARS:
        raise UnsafeTokenHeader(f"token key id (kid) is longer than {MAX_KID_CHARS} characters")
    if _KID.fullmatch(kid) is None or kid.startswith("/") or ".." in kid:
        raise UnsafeTokenHeader("token key id (kid) has characters a key id never has")
    return TokenHeader(alg=alg, kid=kid)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value (RFC 6750 2.1).

    Raises ``MissingToken`` when there is no header, ``MalformedToken`` for another scheme.
    """
    if authorization is None or not authorization.strip():
        raise MissingToken("the request has no bearer token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MalformedToken("the Authorization header is not 'Bearer <token>'")
    return token.strip()
