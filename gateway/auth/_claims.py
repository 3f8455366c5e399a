"""Signature check and claim validation of a compact JWS whose header already passed.

PyJWT supplies the keys and algorithm objects (``PyJWK``); the decode itself is done here
because ``jwt.decode`` re-validates every character of every segment in Python (~70 % of
the cost of a warm verification), which ``parse_header`` has already done with one regex.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import jwt

from protocol.refusals import BadSignature, ClaimRejected, ExpiredToken, MalformedToken

__all__ = ["REQUIRED_CLAIMS", "decode_verified", "validate_claims"]

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
MAX_SUBJECT_CHARS = 255


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON; an `exp` of Infinity would never expire.
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    claims = dict(pairs)
    if len(claims) != len(pairs):
        raise ValueError("duplicate claim")
    return claims


# Built once: json.loads with hooks would construct a new decoder on every call.
_CLAIMS_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_no_duplicates)


def decode_verified(token: str, key: jwt.PyJWK) -> dict[str, Any]:
    """Verify the signature with ``key`` (bound to the header's alg); return the claims."""
    signing_input, _, signature_b64 = token.rpartition(".")
    payload_b64 = signing_input.partition(".")[2]
    try:
        signature = _b64(signature_b64)
        raw_payload = _b64(payload_b64)
    except (binascii.Error, ValueError):
        raise MalformedToken("token payload is not valid base64url JSON") from None
    if not key.Algorithm.verify(signing_input.encode("ascii"), key.key, signature):
        raise BadSignature("token signature does not verify")
    # Parsed only after the signature holds: unauthenticated JSON is never interpreted.
    try:
        claims = _CLAIMS_DECODER.decode(raw_payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedToken("token payload is not valid base64url JSON") from None
    if not isinstance(claims, dict):
        raise MalformedToken("token payload is not a JSON object")
    return claims


def _number(claims: dict[str, Any], name: str, label: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ClaimRejected(f"token {label} ({name}) is not a number")
    return float(value)


def validate_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, leeway_s: float, now: float
) -> None:
    """Apply the access-token rules; raise ``ClaimRejected``/``ExpiredToken`` on the first miss."""
    for name in REQUIRED_CLAIMS:
        if claims.get(name) in (None, "", []):
            raise ClaimRejected(f"token has no '{name}' claim")
    exp = _number(claims, "exp", "expiry")
    iat = _number(claims, "iat", "issued-at")
    nbf = _number(claims, "nbf", "not-before")
    if (iat is not None and iat > now + leeway_s) or (nbf is not None and nbf > now + leeway_s):
        raise ClaimRejected("token is not valid yet (nbf or iat is in the future)")
    if exp is not None and exp <= now - leeway_s:
        raise ExpiredToken("token has expired")
    iss = claims["iss"]
    if not isinstance(iss, str) or iss != issuer:
        raise ClaimRejected("token issuer (iss) is not the configured issuer")
    aud = claims["aud"]
    if isinstance(aud, str):
        accepted = aud == audience
    elif isinstance(aud, list):
        # RFC 7519 4.1.3: one of the values identifies us. Any non-string makes it malformed.
        accepted = all(isinstance(a, str) for a in aud) and audience in aud
    else:
        accepted = False
    if not accepted:
        raise ClaimRejected(f"token audience (aud) does not include {audience!r}")
    sub = claims["sub"]
    if not isinstance(sub, str):
        raise ClaimRejected("token subject (sub) is not a string")
    if len(sub) > MAX_SUBJECT_CHARS or not sub.isprintable():
        raise ClaimRejected("token subject (sub) is empty, too long or has control characters")
