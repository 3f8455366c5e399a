"""The JWT attack corpus of the reliability notes, built from one genuine access token.

Reusable by gateway-level tests (REST: 401, WebSocket: close 1008)::

    from tests.gateway.auth.jwt_attacks import attack_tokens
    for attack in attack_tokens(real_token, public_jwk=provider_key):
        ...  # expect attack.status, .close_code, .message; no token fragment in any log

Every attack here must be refused whatever the provider: header and shape attacks are
derived from the genuine token, claim attacks are re-signed with an attacker's key under the
provider's ``kid`` (the attacker has no provider key, so they must fail as well).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["Attack", "attack_tokens", "token_fragments"]


# The refusal messages, word for word: tests anchor on the whole message.
_NOT_THREE_SEGMENTS = "token is not three non-empty base64url segments"
_TOO_LONG = "token is longer than 8192 bytes"
_UNSIGNED = "unsigned tokens (alg none) are not accepted"
_SHARED_SECRET = "shared-secret algorithms (HS*) are not accepted"
_UNKNOWN_KEY = "token was signed with a key the provider does not publish"
_KID_CHARACTERS = "token key id (kid) has characters a key id never has"
_KID_NOT_A_STRING = "token key id (kid) is not a string"
_NO_KID = "token header has no key id (kid)"
_OWN_KEY = "token header offers its own key (jwk/jku/x5u/x5c), which is never trusted"
_CRIT = "token header declares critical extensions (crit)"
_BAD_SIGNATURE = "token signature does not verify"
_HEADER_NOT_JSON = "token header is not valid JSON"


@dataclass(frozen=True)
class Attack:
    name: str
    token: str
    refusal: str  # the gateway.auth class that must refuse it
    message: str  # the whole message it refuses with
    status: int = 401
    close_code: int = 1008


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _encode(obj: Any) -> str:
    return _b64(json.dumps(obj).encode())


def token_fragments(token: str, width: int = 10) -> list[str]:
    """Overlapping slices of each long segment: none may appear in any log line."""
    out: list[str] = []
    for segment in token.split("."):
        if len(segment) >= width:
            out += [segment[i : i + width] for i in range(0, len(segment) - width + 1, width // 2)]
    return out


def attack_tokens(genuine: str, *, public_pem: bytes | None = None) -> list[Attack]:
    """All attacks derived from ``genuine`` (a valid access token of the provider).

    ``public_pem``: the provider's public key (PEM) for the "HS256 signed with the public key"
    attack; a stand-in key is used when not given (the refusal is the same).
    """
    head_b64, body_b64, sig_b64 = genuine.split(".")
    header: dict[str, Any] = _unb64(head_b64)
    claims: dict[str, Any] = _unb64(body_b64)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(RSAAlgorithm.to_jwk(attacker.public_key()))
    now = int(time.time())

    def with_header(**changes: Any) -> str:
        return f"{_encode({**header, **changes})}.{body_b64}.{sig_b64}"

    def resigned(head: dict[str, Any], body: dict[str, Any]) -> str:
        signing_input = f"{_encode(head)}.{_encode(body)}"
        signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input.encode(), attacker)
        return f"{signing_input}.{_b64(signature)}"

    def claims_with(**changes: Any) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return resigned({**header, "alg": "RS256"}, body)

    # Without the provider's key a stand-in is used: the refusal is the same.
    pem = public_pem or attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = f"{_encode({**header, 'alg': 'HS256'})}.{body_b64}"
    hs_sig = hmac.new(pem, hs_input.encode(), hashlib.sha256).digest()
    issuer = str(claims.get("iss", ""))

    attacks = [
        Attack(
            "alg none, empty signature",
            f"{_encode({**header, 'alg': 'none'})}.{body_b64}.",
            "MalformedToken",
            _NOT_THREE_SEGMENTS,
        ),
        Attack("alg none with signature", with_header(alg="none"), "UnsafeTokenHeader", _UNSIGNED),
        Attack("alg None", with_header(alg="None"), "UnsafeTokenHeader", _UNSIGNED),
        Attack("alg NONE", with_header(alg="NONE"), "UnsafeTokenHeader", _UNSIGNED),
        Attack(
            "HS256 signed with the public key",
            f"{hs_input}.{_b64(hs_sig)}",
            "UnsafeTokenHeader",
            _SHARED_SECRET,
        ),
        Attack(
            "random kid",
            with_header(kid=secrets.token_urlsafe(12)),
            "UnknownSigningKey",
            _UNKNOWN_KEY,
        ),
        Attack(
            "kid path",
            with_header(kid="../../../../etc/passwd"),
            "UnsafeTokenHeader",
            _KID_CHARACTERS,
        ),
        Attack(
            "kid absolute path", with_header(kid="/dev/null"), "UnsafeTokenHeader", _KID_CHARACTERS
        ),
        Attack("kid 10 KB", with_header(kid="k" * 10_240), "MalformedToken", _TOO_LONG),
        Attack("kid number", with_header(kid=1), "UnsafeTokenHeader", _KID_NOT_A_STRING),
        Attack("kid null", with_header(kid=None), "UnsafeTokenHeader", _NO_KID),
        Attack(
            "kid list", with_header(kid=[header.get("kid")]), "UnsafeTokenHeader", _KID_NOT_A_STRING
        ),
        Attack(
            "jwk header",
            resigned({**header, "jwk": attacker_jwk}, claims),
            "UnsafeTokenHeader",
            _OWN_KEY,
        ),
        Attack(
            "jku header",
            resigned({**header, "jku": "http://127.0.0.1:1/jwks"}, claims),
            "UnsafeTokenHeader",
            _OWN_KEY,
        ),
        Attack(
            "x5u header",
            resigned({**header, "x5u": "http://127.0.0.1:1/c.pem"}, claims),
            "UnsafeTokenHeader",
            _OWN_KEY,
        ),
        Attack(
            "x5c header",
            resigned({**header, "x5c": ["MIIB"]}, claims),
            "UnsafeTokenHeader",
            _OWN_KEY,
        ),
        Attack("unknown crit", with_header(crit=["exp"]), "UnsafeTokenHeader", _CRIT),
        Attack("missing exp", claims_with(exp=None), "BadSignature", _BAD_SIGNATURE),
        Attack(
            "expired",
            claims_with(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
            "BadSignature",
            _BAD_SIGNATURE,
        ),
        Attack("future nbf", claims_with(nbf=now + 3600), "BadSignature", _BAD_SIGNATURE),
        Attack("future iat", claims_with(iat=now + 3600), "BadSignature", _BAD_SIGNATURE),
        Attack("missing aud", claims_with(aud=None), "BadSignature", _BAD_SIGNATURE),
        Attack("wrong aud", claims_with(aud="someone-else"), "BadSignature", _BAD_SIGNATURE),
        Attack(
            "multi-valued aud without ours",
            claims_with(aud=["a", "b"]),
            "BadSignature",
            _BAD_SIGNATURE,
        ),
        Attack("issuer prefix", claims_with(iss=issuer[:-1]), "BadSignature", _BAD_SIGNATURE),
        Attack("issuer suffix", claims_with(iss=issuer + "x"), "BadSignature", _BAD_SIGNATURE),
        Attack(
            "ID token claims",
            claims_with(at_hash="AAAA", nonce="n"),
            "BadSignature",
            _BAD_SIGNATURE,
        ),
        Attack("two segments", f"{head_b64}.{body_b64}", "MalformedToken", _NOT_THREE_SEGMENTS),
        Attack("four segments", f"{genuine}.{sig_b64}", "MalformedToken", _NOT_THREE_SEGMENTS),
        Attack(
            "bad base64", f"{head_b64}.{body_b64}!.{sig_b64}", "MalformedToken", _NOT_THREE_SEGMENTS
        ),
        Attack(
            "1 MB header",
            f"{_encode({**header, 'pad': 'x' * 1_000_000})}.{body_b64}.{sig_b64}",
            "MalformedToken",
            _TOO_LONG,
        ),
        Attack(
            "tampered payload",
            f"{head_b64}.{_encode({**claims, 'sub': 'mallory'})}.{sig_b64}",
            "BadSignature",
            _BAD_SIGNATURE,
        ),
        Attack(
            "nested JSON header",
            f"{_b64(b'[' * 1500 + b']' * 1500)}.{body_b64}.{sig_b64}",
            "MalformedToken",
            _HEADER_NOT_JSON,
        ),
    ]
    return attacks
